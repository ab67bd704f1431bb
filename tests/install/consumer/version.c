/* SPDX-License-Identifier: MIT */
/* A program that links libhvcore.so (hvcore::hvcore, or pkg-config --libs):
 * prints the library's version next to the header's; tests/install checks
 * both against the project's. */
#include <stdio.h>
#include <string.h>

#include <hvcore/hv.h>

int main(void) {
    printf("header %s, library %s\n", HV_VERSION_STRING, hv_version_string());
    return hv_version() == HV_VERSION_NUMBER && strcmp(hv_version_string(), HV_VERSION_STRING) == 0 ? 0 : 1;
}

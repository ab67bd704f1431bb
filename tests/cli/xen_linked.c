/* SPDX-License-Identifier: MIT */
/* A program linked against Debian's Xen libraries (libxendevicemodel.so.1,
 * libxenevtchn.so.1, libxenforeignmemory.so.1), as a Xen device model is:
 * it prints the path of every libxen* and libhvcore* file the dynamic
 * loader mapped into it (/proc/self/maps), one per line, so the
 * `hvcore xen-exec` tests see which copies were loaded (and that hvcore's
 * found libhvcore.so.1 through their RUNPATH). It binds one versioned symbol of
 * libxenforeignmemory (xenforeignmemory_open@VERS_1.0), so the loader
 * also checks the version node of whichever copy it found. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include <xenforeignmemory.h>

int main(void) {
    char line[4096];
    char seen[16][1024];
    int n = 0, i;
    FILE *maps = fopen("/proc/self/maps", "r");
    volatile const void *bind = (const void *)&xenforeignmemory_open;
    if (maps == NULL || bind == NULL) return 2;
    while (fgets(line, sizeof line, maps) != NULL) {
        char *path = strchr(line, '/');
        if (path == NULL || (strstr(path, "/libxen") == NULL && strstr(path, "/libhvcore") == NULL)) continue;
        path[strcspn(path, "\n")] = '\0';
        for (i = 0; i < n && strcmp(seen[i], path) != 0; ++i) {
        }
        if (i < n || n == 16) continue;
        snprintf(seen[n++], sizeof seen[0], "%s", path);
        printf("%s\n", path);
    }
    fclose(maps);
    return 0;
}

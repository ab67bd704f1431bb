/* SPDX-License-Identifier: MIT */
/* A plug-in that declares plug-in ABI 1 (hvdm_plugin_abi = 1): the loader
 * must refuse it, naming both ABIs, before calling hvdm_plugin_main (which
 * says so if called). Declared by hand, as a module built against another
 * copy of the header would be. */
#include <stdint.h>
#include <stdio.h>

__attribute__((visibility("default"))) extern const uint32_t hvdm_plugin_abi;
__attribute__((visibility("default"))) int hvdm_plugin_main(const void *env);

const uint32_t hvdm_plugin_abi = 1;

int hvdm_plugin_main(const void *env) {
    (void)env;
    fprintf(stderr, "hvdm_plugin_main was called\n");
    return 1;
}

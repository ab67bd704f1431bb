/* SPDX-License-Identifier: MIT */
/* A plug-in built for hvcore 1.0 (examples/dm/hvdm_example.h, plug-in ABI
 * 1): it exports hvdm_example_main and no hvdm_plugin_abi. The loader must
 * refuse it before calling anything; each entry point says so if called.
 * Declared by hand: the test must not depend on the header it checks. */
#include <stdio.h>

__attribute__((visibility("default"))) int hvdm_example_main(const void *env);
__attribute__((visibility("default"))) int hvdm_plugin_main(const void *env);

int hvdm_example_main(const void *env) {
    (void)env;
    fprintf(stderr, "hvdm_example_main was called\n");
    return 1;
}

int hvdm_plugin_main(const void *env) {
    (void)env;
    fprintf(stderr, "hvdm_plugin_main was called\n");
    return 1;
}

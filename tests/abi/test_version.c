/* SPDX-License-Identifier: MIT */
/* hv_version() and hv_version_string(): the library this program runs with
 * reports the version of the headers it was built with (<hvcore/hv_version.h>,
 * generated) and the project's version (PROJECT_VERSION in CMakeLists.txt,
 * passed by the build as HVCORE_TEST_PROJECT_VERSION and its parts). */
#include "abi_test.h"

static void runtime_number_is_the_header_macros(void) {
    EXPECT_U64(HV_VERSION_NUMBER, hv_version());
    EXPECT_U64(((uint32_t)HV_VERSION_MAJOR << 16) | ((uint32_t)HV_VERSION_MINOR << 8) | (uint32_t)HV_VERSION_PATCH,
               hv_version());
}

static void runtime_string_is_the_header_string(void) {
    REQUIRE_TRUE(hv_version_string() != NULL);
    EXPECT_EQ(0, strcmp(HV_VERSION_STRING, hv_version_string()));
}

static void version_is_the_projects(void) {
    char expect[32];
    EXPECT_EQ(0, strcmp(HVCORE_TEST_PROJECT_VERSION, hv_version_string()));
    EXPECT_EQ(HVCORE_TEST_PROJECT_VERSION_MAJOR, HV_VERSION_MAJOR);
    EXPECT_EQ(HVCORE_TEST_PROJECT_VERSION_MINOR, HV_VERSION_MINOR);
    EXPECT_EQ(HVCORE_TEST_PROJECT_VERSION_PATCH, HV_VERSION_PATCH);
    EXPECT_U64(((uint32_t)HVCORE_TEST_PROJECT_VERSION_MAJOR << 16) | ((uint32_t)HVCORE_TEST_PROJECT_VERSION_MINOR << 8) |
                   (uint32_t)HVCORE_TEST_PROJECT_VERSION_PATCH,
               hv_version());
    /* the string is the three numbers */
    snprintf(expect, sizeof expect, "%u.%u.%u", (unsigned)(hv_version() >> 16), (unsigned)((hv_version() >> 8) & 0xff),
             (unsigned)(hv_version() & 0xff));
    EXPECT_EQ(0, strcmp(expect, hv_version_string()));
}

static void this_library_has_the_1_1_functions(void) {
    /* a library at least 1.1.0: the HVCORE_1.1 node these calls need */
    EXPECT_TRUE(hv_version() >= 0x010100u);
}

int main(void) {
    RUN(runtime_number_is_the_header_macros);
    RUN(runtime_string_is_the_header_string);
    RUN(version_is_the_projects);
    RUN(this_library_has_the_1_1_functions);
    return abi_finish("test_version");
}

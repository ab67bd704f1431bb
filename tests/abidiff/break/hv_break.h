/* SPDX-License-Identifier: MIT */
/* The public header of the deliberately broken stand-in library
 * (../abi_break.cpp): <hvcore/hv.h>'s hv_domain_config with ram_bytes
 * narrowed to 32 bits (the struct shrinks, nr_vcpus and flags move), and
 * hv_guest_read with its len narrowed to uint32_t. */
#ifndef HVCORE_ABI_BREAK_H
#define HVCORE_ABI_BREAK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hv_host hv_host;
typedef struct hv_domain hv_domain;
typedef struct hv_domain_config {
    uint32_t size;
    uint32_t arch;
    uint32_t ram_bytes; /* was uint64_t */
    uint32_t nr_vcpus;
    uint32_t flags;
} hv_domain_config;

int hv_domain_create(hv_host *host, const hv_domain_config *cfg, hv_domain **out);
int hv_guest_read(hv_domain *d, uint64_t gpa, void *buf, uint32_t len); /* len was size_t */

#ifdef __cplusplus
}
#endif

#endif

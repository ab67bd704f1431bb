/* SPDX-License-Identifier: MIT */
/* shadow: a shadowing device model in the GVT-g pattern (plain C99,
 * <hvcore/hvdm_plugin.h> only).
 *
 * A GPU mediator must see every write the guest makes to its GPU page
 * tables. This model claims the ioreq_server memory type for writes,
 * write-protects the guest's table pages with set_mem_type, maps them
 * (hvdm_map_guest_memory, as a Xen device model uses
 * xenforeignmemory_map), and for each forwarded write applies it both to
 * its own shadow copy and to guest RAM through its mapping (a device
 * model's own write to a claimed page is not trapped), then answers. Reads
 * of the pages never reach it. When the guest reports its checksum (report
 * registers: ports 0x510-0x517, or MMIO at HVG_REPORT_MMIO; low half at
 * +0, high half at +4), it checks the checksum against the shadow,
 * disclaims the type, checks that every page is ram_rw again and that the
 * shadow equals guest RAM. It uses the device-model API only (no hv_*
 * call): guest RAM is reached through the mapping alone.
 *
 * Arguments (comma separated, all optional):
 *   base=GPA    first byte of the table region (default HVG_PT_BASE)
 *   pages=N     pages in it (default HVG_PT_PAGES)
 *   noreport    do not require the report: check at the end instead
 * Exit status 0 when every check passed. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../guests/guest_abi.h"
#include "dm_serve.h"

#define PAGE 4096u
#define MAX_PAGES 1024u

struct shadow {
    dm_server srv;
    const hvdm_plugin_env *env;
    uint8_t *ram;        /* the table region in guest RAM: this model's mapping */
    uint64_t base;
    uint32_t pages;
    int require_report;
    uint8_t *copy;       /* the shadow: pages * 4 KiB */
    unsigned long writes; /* forwarded writes applied */
    uint32_t report_lo;
    int have_lo;
    int verified;         /* the final checks ran */
    int ok;               /* and passed */
    int claimed;
};

static int parse_args(struct shadow *s, const char *args) {
    const char *p = args;
    while (*p != '\0') {
        char *end = NULL;
        if (strncmp(p, "base=", 5) == 0) {
            s->base = strtoull(p + 5, &end, 0);
        } else if (strncmp(p, "pages=", 6) == 0) {
            s->pages = (uint32_t)strtoul(p + 6, &end, 0);
        } else if (strncmp(p, "noreport", 8) == 0) {
            s->require_report = 0;
            end = (char *)p + 8;
        }
        if (end == NULL || (*end != ',' && *end != '\0')) {
            fprintf(s->env->out, "%s: FAILED: cannot parse arguments \"%s\" (base=GPA,pages=N,noreport)\n",
                    s->env->name, args);
            return -EINVAL;
        }
        p = *end == ',' ? end + 1 : end;
    }
    if ((s->base & (PAGE - 1)) != 0 || s->pages == 0 || s->pages > MAX_PAGES) {
        fprintf(s->env->out, "%s: FAILED: base must be page aligned and pages 1..%u\n", s->env->name, MAX_PAGES);
        return -EINVAL;
    }
    return 0;
}

/* The guest's checksum (guest_abi.h): FNV-1a style over qwords. */
static uint64_t checksum(const uint8_t *bytes, size_t len) {
    uint64_t c = HVG_FNV_BASIS;
    size_t i;
    for (i = 0; i + 8 <= len; i += 8) {
        uint64_t q;
        memcpy(&q, bytes + i, 8);
        c = (c ^ q) * HVG_FNV_PRIME;
    }
    return c;
}

/* Disclaim, then check the pages and the shadow against guest RAM. */
static int finish(struct shadow *s, int have_sum, uint64_t guest_sum) {
    const size_t len = (size_t)s->pages * PAGE;
    const uint64_t shadow_sum = checksum(s->copy, len);
    uint32_t i, not_rw = 0;
    int rc, same;

    s->verified = 1;
    if (s->claimed) {
        rc = hvdm_map_mem_type_to_ioreq_server(s->srv.h, s->env->domid, s->srv.id, HVDM_MEM_IOREQ_SERVER, 0);
        if (rc != 0) return dm_fail(s->env, "disclaim the ioreq_server type", rc);
        s->claimed = 0;
    }
    for (i = 0; i < s->pages; ++i) {
        uint16_t type = 0;
        rc = hvdm_get_mem_type(s->srv.h, s->env->domid, (s->base / PAGE) + i, &type);
        if (rc != 0) return dm_fail(s->env, "hvdm_get_mem_type", rc);
        if (type != HVDM_MEM_RAM_RW) ++not_rw;
    }
    same = memcmp(s->ram, s->copy, len) == 0;

    s->ok = not_rw == 0 && same && (have_sum ? guest_sum == shadow_sum : !s->require_report);
    fprintf(s->env->out, "%s: %lu PTE writes forwarded, applied to the shadow and to guest RAM\n", s->env->name,
            s->writes);
    if (have_sum)
        fprintf(s->env->out, "%s: guest checksum 0x%016" PRIx64 " %s the shadow's 0x%016" PRIx64 "\n",
                s->env->name, guest_sum, guest_sum == shadow_sum ? "matches" : "DIFFERS FROM", shadow_sum);
    fprintf(s->env->out, "%s: disclaimed: %" PRIu32 " of %" PRIu32 " pages ram_rw again; shadow %s guest RAM\n",
            s->env->name, s->pages - not_rw, s->pages, same ? "==" : "!=");
    fprintf(s->env->out, "%s: %s\n", s->env->name, s->ok ? "PASS" : "FAILED");
    fflush(s->env->out);
    return 0;
}

static int handle(void *self, hvdm_ioreq_t *req) {
    struct shadow *s = (struct shadow *)self;
    const uint64_t end = s->base + (uint64_t)s->pages * PAGE;
    uint64_t report_off;

    if (req->count != 1 || req->data_is_ptr)
        return dm_fail(s->env, "a string (rep) access; this model handles single accesses", -EOPNOTSUPP);
    if (req->type == HVDM_IOREQ_TYPE_COPY && req->addr >= s->base && req->addr < end) {
        if (req->dir == HVDM_IOREQ_READ)
            return dm_fail(s->env, "a read of a write-protected page reached the device model", -EPROTO);
        if (req->addr + req->size > end) return dm_fail(s->env, "a write crossing the end of the region", -EINVAL);
        /* Little endian: the low req->size bytes of data. The store through
         * the mapping is in guest RAM before the answer releases the vCPU. */
        memcpy(s->copy + (req->addr - s->base), &req->data, req->size);
        memcpy(s->ram + (req->addr - s->base), &req->data, req->size);
        ++s->writes;
        return 0;
    }
    if (req->type == HVDM_IOREQ_TYPE_PIO)
        report_off = req->addr - HVG_REPORT_PORT;
    else if (req->type == HVDM_IOREQ_TYPE_COPY)
        report_off = req->addr - HVG_REPORT_MMIO;
    else
        return dm_fail(s->env, "a request of a type this model does not serve", -EINVAL);
    if (req->dir == HVDM_IOREQ_READ) {
        req->data = 0;
        return 0;
    }
    if (report_off == 0) {
        s->report_lo = (uint32_t)req->data;
        s->have_lo = 1;
    } else if (report_off == 4 && s->have_lo && !s->verified) {
        return finish(s, 1, (uint64_t)s->report_lo | ((uint64_t)(uint32_t)req->data << 32));
    }
    return 0;
}

HVDM_PLUGIN_DEFINE();

HVDM_PLUGIN_EXPORT int hvdm_plugin_main(const hvdm_plugin_env *env) {
    struct shadow s;
    void *map = NULL;
    uint64_t bad_gfn = 0;
    int rc;

    memset(&s, 0, sizeof s);
    s.env = env;
    s.base = HVG_PT_BASE;
    s.pages = HVG_PT_PAGES;
    s.require_report = 1;
    if (parse_args(&s, env->args) != 0) return 1;
    s.copy = (uint8_t *)calloc(s.pages, PAGE);
    if (s.copy == NULL) {
        dm_fail(env, "calloc", -ENOMEM);
        return 1;
    }
    rc = dm_server_open(&s.srv, env, "claimed ioreq_server pages, report port 0x510");
    if (rc == 0) {
        rc = hvdm_map_mem_type_to_ioreq_server(s.srv.h, env->domid, s.srv.id, HVDM_MEM_IOREQ_SERVER,
                                               HVDM_IOREQ_MEM_ACCESS_WRITE);
        if (rc != 0) rc = dm_fail(env, "claim the ioreq_server type for writes", rc);
        else s.claimed = 1;
    }
    if (rc == 0) {
        rc = hvdm_map_guest_memory(s.srv.h, env->domid, s.base / PAGE, s.pages, PROT_READ | PROT_WRITE, &map,
                                   &bad_gfn);
        if (rc == -EFAULT)
            fprintf(env->out, "%s: gfn 0x%" PRIx64 " of the table region is not RAM\n", env->name, bad_gfn);
        if (rc != 0) rc = dm_fail(env, "hvdm_map_guest_memory of the table region", rc);
        else s.ram = (uint8_t *)map;
    }
    /* The shadow starts as what the guest's RAM holds now. */
    if (rc == 0) memcpy(s.copy, s.ram, (size_t)s.pages * PAGE);
    if (rc == 0) {
        rc = hvdm_set_mem_type(s.srv.h, env->domid, HVDM_MEM_IOREQ_SERVER, s.base / PAGE, s.pages);
        if (rc != 0) rc = dm_fail(env, "set_mem_type(ioreq_server) on the table pages", rc);
    }
    if (rc == 0) {
        rc = hvdm_map_io_range_to_ioreq_server(s.srv.h, env->domid, s.srv.id, 0, HVG_REPORT_PORT,
                                               HVG_REPORT_PORT + HVG_REPORT_NR_PORTS - 1);
        if (rc != 0) rc = dm_fail(env, "map the report ports", rc);
    }
    if (rc == 0) {
        rc = hvdm_map_io_range_to_ioreq_server(s.srv.h, env->domid, s.srv.id, 1, HVG_REPORT_MMIO,
                                               HVG_REPORT_MMIO + HVG_REPORT_NR_PORTS - 1);
        if (rc != 0) rc = dm_fail(env, "map the report MMIO window", rc);
    }
    if (rc == 0) {
        fprintf(env->out, "%s: gfn 0x%" PRIx64 "..0x%" PRIx64 " write-protected (ioreq_server, claimed by server %u)\n",
                env->name, s.base / PAGE, s.base / PAGE + s.pages - 1, (unsigned)s.srv.id);
        fflush(env->out);
        env->ready(env->opaque);
        rc = dm_serve(&s.srv, env, handle, &s);
    }
    if (rc == 0 && !s.verified) {
        if (s.require_report) {
            fprintf(env->out, "%s: FAILED: the guest never reported its checksum\n", env->name);
            rc = -EPROTO;
        }
        if (finish(&s, 0, 0) != 0 && rc == 0) rc = -EIO;
    }
    if (s.ram != NULL) (void)hvdm_unmap_guest_memory(s.srv.h, s.ram, s.pages);
    dm_server_close(&s.srv);
    free(s.copy);
    return rc == 0 && s.ok ? 0 : 1;
}

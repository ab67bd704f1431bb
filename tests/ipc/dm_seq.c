/* SPDX-License-Identifier: MIT */
/* The sequence-checking device model (dm_seq.h). */
#include "dm_seq.h"

#include <string.h>
#include <sys/mman.h>

int dmseq_setup(dmseq *s, hvdm_handle *h, hvdm_domid_t domid, uint64_t gpa, uint64_t gfn, enum dmseq_arch arch,
                unsigned int irq, const char **what) {
    hvdm_shared_iopage *page = NULL;
    void *ram = NULL;
    uint64_t bad = 0;
    int rc;
    unsigned int i;
    memset(s, 0, sizeof *s);
    for (i = 0; i < DMSEQ_MAX_VCPUS; ++i) s->v[i].expected = 1;
    s->h = h;
    s->domid = domid;
    s->gpa = gpa;
    *what = "hvdm_create_ioreq_server";
    if ((rc = hvdm_create_ioreq_server(h, domid, HVDM_BUFIOREQ_OFF, &s->id)) != 0) return rc;
    *what = "hvdm_map_io_range_to_ioreq_server";
    if ((rc = hvdm_map_io_range_to_ioreq_server(h, domid, s->id, 1, gpa, gpa + 0xfff)) != 0) return rc;
    *what = "hvdm_map_ioreq_pages";
    if ((rc = hvdm_map_ioreq_pages(h, domid, s->id, &page, NULL)) != 0) return rc;
    *what = "hvdm_map_guest_memory";
    if ((rc = hvdm_map_guest_memory(h, domid, gfn, 1, PROT_READ | PROT_WRITE, &ram, &bad)) != 0) return rc;
    s->ram = (volatile uint64_t *)ram;
    *what = arch == DMSEQ_X86 ? "hvdm_set_isa_irq_level" : "hvdm_set_irq_level";
    rc = arch == DMSEQ_X86 ? hvdm_set_isa_irq_level(h, domid, (uint8_t)irq, 1) : hvdm_set_irq_level(h, domid, irq, 1);
    if (rc != 0) return rc;
    *what = "hvdm_set_ioreq_server_state";
    return hvdm_set_ioreq_server_state(h, domid, s->id, 1);
}

int dmseq_serve(void *opaque, hvdm_ioservid_t id, hvdm_ioreq_t *req) {
    dmseq *s = (dmseq *)opaque;
    uint64_t off;
    uint32_t v;
    dmseq_vcpu *c;
    (void)id;
    off = req->addr - s->gpa;
    v = req->vp_eport;
    if (req->type != HVDM_IOREQ_TYPE_COPY || req->size != 8 || req->count != 1 || req->data_is_ptr ||
        off != (uint64_t)v * 8 || v >= DMSEQ_MAX_VCPUS) {
        ++s->other;
        if (req->dir == HVDM_IOREQ_READ) req->data = ~(uint64_t)0;
        return 0;
    }
    c = &s->v[v];
    if (req->dir == HVDM_IOREQ_READ) {
        ++c->reads;
        req->data = c->received;
        return 0;
    }
    ++c->received;
    if (s->ram[v] != req->data) ++c->mem_bad;
    if (req->data == c->expected) {
        ++c->expected;
    } else if (req->data > c->expected) {
        c->lost += req->data - c->expected;
        c->expected = req->data + 1;
    } else {
        ++c->dup;
    }
    return 0;
}

uint64_t dmseq_report(const dmseq *s, FILE *out) {
    uint64_t r = 0, lost = 0, dup = 0, mem = 0;
    unsigned int i;
    for (i = 0; i < DMSEQ_MAX_VCPUS; ++i) {
        const dmseq_vcpu *c = &s->v[i];
        if (c->received == 0 && c->reads == 0) continue;
        fprintf(out, "vcpu %u received %llu last %llu lost %llu dup %llu mem_bad %llu reads %llu\n", i,
                (unsigned long long)c->received, (unsigned long long)(c->expected - 1), (unsigned long long)c->lost,
                (unsigned long long)c->dup, (unsigned long long)c->mem_bad, (unsigned long long)c->reads);
        r += c->received;
        lost += c->lost;
        dup += c->dup;
        mem += c->mem_bad;
    }
    fprintf(out, "total received %llu lost %llu dup %llu mem_bad %llu other %llu\n", (unsigned long long)r,
            (unsigned long long)lost, (unsigned long long)dup, (unsigned long long)mem,
            (unsigned long long)s->other);
    fflush(out);
    return lost + dup + mem + s->other;
}

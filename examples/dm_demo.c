/* SPDX-License-Identifier: MIT */
/* hvcore-demo: a device model in plain C, using only <hvcore/hvdm.h> and
 * <hvcore/hv.h>.
 *
 * It write-protects 4 pages of a guest with the ioreq_server memory type
 * (Xen's XEN_DMOP_map_mem_type_to_ioreq_server + set_mem_type, as a GPU
 * mediator does for shadowed page tables): every guest write to them comes
 * to this program as an ioreq, which it logs and applies to guest RAM before
 * answering; guest reads never leave the guest. Then it disclaims the type
 * and shows that the pages are plain RAM again.
 *
 * Exit status: 0 on success, 1 on any failure, 77 if this libhvcore has no
 * x86 VMX (EPT) backend. */
#define _POSIX_C_SOURCE 200809L

#include <hvcore/hv.h>
#include <hvcore/hvdm.h>

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define RAM_BYTES (16u * 1024u * 1024u) /* 16 MiB of guest RAM at GPA 0 */
#define PAGE_SIZE 4096u
#define FIRST_GFN 0x100u /* the protected pages: GPA 0x100000 .. 0x103fff */
#define NR_PAGES 4u
#define VCPU 0u              /* the domain's only vCPU */
#define POLL_TIMEOUT_MS 1000 /* a request is posted before we poll: never waits long */

struct demo {
    hv_host *host;
    hv_domain *dom;
    hvdm_domid_t domid;
    hvdm_handle *dm;
    hvdm_ioservid_t id;
    hvdm_shared_iopage *iopage;
    int fd;
    unsigned int forwarded;
};

static int failed(const char *what, int rc) {
    fprintf(stderr, "dm_demo: FAILED: %s: %d (%s)\n", what, rc, strerror(rc < 0 ? -rc : rc));
    return -1;
}

/* The device model's half of one synchronous request: wait for the
 * eventfd, take the slot, apply the write to guest RAM, answer. */
static int serve_one_request(struct demo *d) {
    struct pollfd p;
    uint64_t events = 0;
    hvdm_ioreq_t *req = &d->iopage->vcpu_ioreq[VCPU];
    int rc;

    p.fd = d->fd;
    p.events = POLLIN;
    p.revents = 0;
    rc = poll(&p, 1, POLL_TIMEOUT_MS);
    if (rc != 1) return failed("poll on the ioreq eventfd", rc == 0 ? -ETIMEDOUT : -errno);
    if (read(d->fd, &events, sizeof events) != (ssize_t)sizeof events) return failed("read eventfd", -errno);
    if (req->state != HVDM_STATE_IOREQ_READY) return failed("slot is not READY", (int)req->state);
    req->state = HVDM_STATE_IOREQ_INPROCESS;
    if (req->type != HVDM_IOREQ_TYPE_COPY || req->dir != HVDM_IOREQ_WRITE || req->count != 1)
        return failed("unexpected request kind", (int)req->type);
    printf("ioreq: write size=%" PRIu32 " gpa=0x%" PRIx64 " data=0x%" PRIx64 "\n", req->size, req->addr, req->data);
    /* The emulated device accepts every write: apply it (little endian). */
    rc = hv_guest_write(d->dom, req->addr, &req->data, req->size);
    if (rc != 0) return failed("hv_guest_write", rc);
    req->state = HVDM_STATE_IORESP_READY;
    rc = hvdm_ioreq_notify(d->dm, d->domid, d->id, VCPU);
    if (rc != 0) return failed("hvdm_ioreq_notify", rc);
    ++d->forwarded;
    return 0;
}

/* The guest's write: a real MOV on the vCPU; if it traps to us, serve it
 * and let the vCPU finish the instruction. */
static int guest_store(struct demo *d, uint64_t gpa, uint32_t size, uint64_t value) {
    uint64_t unused = 0;
    int rc = hv_vcpu_store(d->dom, VCPU, gpa, size, value);
    if (rc == HV_VCPU_DONE) return 0;
    if (rc != HV_VCPU_IOREQ_PENDING) return failed("hv_vcpu_store", rc);
    if (serve_one_request(d) != 0) return -1;
    rc = hv_vcpu_resume(d->dom, VCPU, &unused);
    if (rc != HV_VCPU_DONE) return failed("hv_vcpu_resume", rc);
    return 0;
}

static int guest_load(struct demo *d, uint64_t gpa, uint32_t size, uint64_t *value) {
    int rc = hv_vcpu_load(d->dom, VCPU, gpa, size, value);
    if (rc != HV_VCPU_DONE) return failed("hv_vcpu_load (reads of the pages never trap)", rc);
    return 0;
}

static int run(struct demo *d) {
    /* The guest's script: different widths, one write per protected page. */
    static const struct {
        uint64_t gpa;
        uint32_t size;
        uint64_t value;
    } writes[] = {
        {0x100010, 4, 0xdeadbeefu},
        {0x101020, 2, 0xcafe},
        {0x102003, 1, 0x5a},
        {0x103ff8, 8, 0x0123456789abcdefull},
    };
    const size_t nr_writes = sizeof writes / sizeof writes[0];
    hv_domain_config cfg;
    hvdm_buffered_iopage *bufpage = NULL;
    uint64_t count = 0, value = 0;
    uint16_t type = 0;
    size_t i;
    int rc;

    memset(&cfg, 0, sizeof cfg);
    cfg.size = sizeof cfg;
    cfg.arch = HV_ARCH_X86_VMX;
    cfg.ram_bytes = RAM_BYTES;
    cfg.nr_vcpus = 1;
    rc = hv_domain_create(d->host, &cfg, &d->dom);
    if (rc == -EOPNOTSUPP) {
        printf("SKIP: dm_demo: this libhvcore has no x86 VMX (EPT) backend (hv_domain_create: -EOPNOTSUPP)\n");
        return 77;
    }
    if (rc != 0) return failed("hv_domain_create", rc);
    d->domid = hv_domain_id(d->dom);
    printf("domain %u: %u MiB RAM, 1 vCPU, x86 VMX\n", (unsigned)d->domid, RAM_BYTES >> 20);

    d->dm = hvdm_open(d->host);
    if (d->dm == NULL) return failed("hvdm_open", -ENOMEM);
    rc = hvdm_create_ioreq_server(d->dm, d->domid, HVDM_BUFIOREQ_OFF, &d->id);
    if (rc != 0) return failed("hvdm_create_ioreq_server", rc);
    rc = hvdm_map_ioreq_pages(d->dm, d->domid, d->id, &d->iopage, &bufpage);
    if (rc != 0) return failed("hvdm_map_ioreq_pages", rc);
    d->fd = hvdm_ioreq_fd(d->dm, d->domid, d->id);
    if (d->fd < 0) return failed("hvdm_ioreq_fd", d->fd);
    rc = hvdm_set_ioreq_server_state(d->dm, d->domid, d->id, 1);
    if (rc != 0) return failed("hvdm_set_ioreq_server_state", rc);
    printf("ioreq server %u created and enabled\n", (unsigned)d->id);

    rc = hvdm_map_mem_type_to_ioreq_server(d->dm, d->domid, d->id, HVDM_MEM_IOREQ_SERVER,
                                           HVDM_IOREQ_MEM_ACCESS_WRITE);
    if (rc != 0) return failed("claim ioreq_server type", rc);
    rc = hvdm_set_mem_type(d->dm, d->domid, HVDM_MEM_IOREQ_SERVER, FIRST_GFN, NR_PAGES);
    if (rc != 0) return failed("hvdm_set_mem_type(ioreq_server)", rc);
    rc = hv_p2m_ioreq_entry_count(d->dom, &count);
    if (rc != 0 || count != NR_PAGES) return failed("entry count after set_mem_type", rc != 0 ? rc : (int)count);
    printf("claimed the ioreq_server type for writes; gfn 0x%x..0x%x write-protected (entry count %" PRIu64 ")\n",
           FIRST_GFN, FIRST_GFN + NR_PAGES - 1, count);

    for (i = 0; i < nr_writes; ++i)
        if (guest_store(d, writes[i].gpa, writes[i].size, writes[i].value) != 0) return -1;
    if (d->forwarded != nr_writes) return failed("writes forwarded", (int)d->forwarded);

    /* The guest reads back what the device model applied. */
    for (i = 0; i < nr_writes; ++i) {
        if (guest_load(d, writes[i].gpa, writes[i].size, &value) != 0) return -1;
        if (value != writes[i].value) return failed("read back a different value", (int)i);
    }
    rc = guest_load(d, writes[0].gpa, writes[0].size, &value);
    if (rc != 0) return -1;
    printf("guest read size=%" PRIu32 " gpa=0x%" PRIx64 " -> 0x%" PRIx64 " (served from RAM, no ioreq)\n",
           writes[0].size, writes[0].gpa, value);

    rc = hvdm_map_mem_type_to_ioreq_server(d->dm, d->domid, d->id, HVDM_MEM_IOREQ_SERVER, 0);
    if (rc != 0) return failed("disclaim ioreq_server type", rc);
    rc = hv_p2m_ioreq_entry_count(d->dom, &count);
    if (rc != 0 || count != 0) return failed("entry count after disclaim", rc != 0 ? rc : (int)count);
    for (i = 0; i < NR_PAGES; ++i) {
        rc = hvdm_get_mem_type(d->dm, d->domid, FIRST_GFN + i, &type);
        if (rc != 0) return failed("hvdm_get_mem_type", rc);
        if (type != HVDM_MEM_RAM_RW) return failed("page not ram_rw after disclaim", (int)type);
    }
    printf("disclaimed: gfn 0x%x..0x%x are ram_rw again, entry count %" PRIu64 "\n", FIRST_GFN,
           FIRST_GFN + NR_PAGES - 1, count);

    /* Now a guest write is a plain RAM write: no ioreq. */
    if (guest_store(d, writes[0].gpa, 4, 0x600df00du) != 0) return -1;
    if (d->forwarded != nr_writes) return failed("a write after the disclaim reached the device model", 0);

    printf("dm_demo: PASS: %u writes forwarded and applied, %u pages back to ram_rw, entry count 0\n",
           d->forwarded, NR_PAGES);
    return 0;
}

int main(void) {
    struct demo d;
    int rc;

    memset(&d, 0, sizeof d);
    d.fd = -1;
    rc = hv_host_create(&d.host);
    if (rc != 0) {
        failed("hv_host_create", rc);
        return 1;
    }
    rc = run(&d);
    /* Tear down in reverse order: the handle (destroys its servers), the
     * domain, the host. */
    if (d.dm != NULL && hvdm_close(d.dm) != 0 && rc == 0) rc = failed("hvdm_close", -EIO);
    if (d.dom != NULL && hv_domain_destroy(d.dom) != 0 && rc == 0) rc = failed("hv_domain_destroy", -EIO);
    hv_host_destroy(d.host);
    if (rc == 77) return 77;
    return rc == 0 ? 0 : 1;
}

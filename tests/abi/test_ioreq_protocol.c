/* SPDX-License-Identifier: MIT */
/* The synchronous ioreq handshake (Xen xen/common/ioreq.c ioreq_send(),
 * wait_for_io(); states from xen/include/public/hvm/ioreq.h):
 * NONE -> READY -> (INPROCESS) -> IORESP_READY -> NONE, the eventfd, resume
 * too early, -EBUSY while waiting, -EINVAL with nothing pending, and the
 * XSA-262 stop of a domain whose device model breaks the protocol. */
#include "abi_test.h"

#include <fcntl.h>

/* A claimed page: gfn 0x100 (GPA 1 MiB) */
#define CLAIMED_GPA 0x100000ull
#define CLAIMED_GFN (CLAIMED_GPA / TEST_PAGE_SIZE)
/* An unknown slot state: the 4-bit field holds up to 15, only 0..3 exist */
#define STATE_UNKNOWN 7u

/* A domain with one enabled server that claimed the type, CLAIMED_GFN of
 * type ioreq_server, and an MMIO range at TEST_MMIO_GPA (for reads). */
static int setup(struct fixture *f, struct server *s) {
    int rc = fixture_create(f);
    if (rc != 0) return rc;
    rc = server_create(f, f->dm, HVDM_BUFIOREQ_OFF, 1, s);
    if (rc != 0) return rc;
    rc = hvdm_map_mem_type_to_ioreq_server(f->dm, f->domid, s->id, HVDM_MEM_IOREQ_SERVER,
                                           HVDM_IOREQ_MEM_ACCESS_WRITE);
    if (rc != 0) return rc;
    rc = hvdm_set_mem_type(f->dm, f->domid, HVDM_MEM_IOREQ_SERVER, CLAIMED_GFN, 1);
    if (rc != 0) return rc;
    return hvdm_map_io_range_to_ioreq_server(f->dm, f->domid, s->id, MMIO, TEST_MMIO_GPA, TEST_MMIO_GPA + 0xfff);
}

static void store_to_claimed_page_fills_the_vcpus_slot_and_signals_the_fd(void) {
    struct fixture f;
    struct server s;
    const hvdm_ioreq_t *r;
    uint64_t value = 0;
    REQUIRE_EQ(0, setup(&f, &s));
    EXPECT_TRUE(!fd_readable(s.fd));
    EXPECT_TRUE((fcntl(s.fd, F_GETFL) & O_NONBLOCK) != 0); /* a device model's event loop never blocks on it */
    /* vCPU 1, so the slot index and vp_eport are not trivially 0 */
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_store(f.dom, 1, CLAIMED_GPA + 0x18, 8, 0x0123456789abcdefull));
    r = &s.page->vcpu_ioreq[1];
    EXPECT_EQ(HVDM_STATE_IOREQ_READY, r->state);
    EXPECT_EQ(HVDM_IOREQ_TYPE_COPY, r->type);
    EXPECT_EQ(HVDM_IOREQ_WRITE, r->dir);
    EXPECT_U64(CLAIMED_GPA + 0x18, r->addr);
    EXPECT_EQ(8, r->size);
    EXPECT_U64(0x0123456789abcdefull, r->data);
    EXPECT_EQ(1, r->count);
    EXPECT_EQ(1, r->vp_eport);
    EXPECT_EQ(0, r->data_is_ptr);
    EXPECT_EQ(0, r->df);
    EXPECT_EQ(HVDM_STATE_IOREQ_NONE, s.page->vcpu_ioreq[0].state); /* vCPU 0's slot is untouched */
    EXPECT_TRUE(fd_readable(s.fd));
    EXPECT_TRUE(fd_drain(s.fd) >= 1);
    EXPECT_TRUE(!fd_readable(s.fd));
    /* the answer: IORESP_READY, notify, resume; the slot returns to NONE */
    REQUIRE_EQ(0, server_answer(&f, f.dm, &s, 1, 0));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 1, &value));
    EXPECT_EQ(HVDM_STATE_IOREQ_NONE, s.page->vcpu_ioreq[1].state);
    fixture_destroy(&f);
}

static void read_completes_with_the_device_models_data(void) {
    struct fixture f;
    struct server s;
    uint64_t value = 0;
    REQUIRE_EQ(0, setup(&f, &s));
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_load(f.dom, 0, TEST_MMIO_GPA + 4, 4, &value));
    EXPECT_EQ(HVDM_IOREQ_READ, s.page->vcpu_ioreq[0].dir);
    EXPECT_EQ(4, s.page->vcpu_ioreq[0].size);
    /* upper bits beyond the 4-byte size are not the guest's */
    REQUIRE_EQ(0, server_answer(&f, f.dm, &s, 0, 0xffffffff87654321ull));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 0, &value));
    EXPECT_U64(0x87654321u, value);
    fixture_destroy(&f);
}

static void resume_before_the_answer_is_still_pending(void) {
    struct fixture f;
    struct server s;
    uint64_t value = 0;
    REQUIRE_EQ(0, setup(&f, &s));
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_load(f.dom, 0, TEST_MMIO_GPA, 2, &value));
    /* slot READY: not answered */
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_resume(f.dom, 0, &value));
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_resume(f.dom, 0, &value));
    /* the device model takes it: INPROCESS, still not answered */
    s.page->vcpu_ioreq[0].state = HVDM_STATE_IOREQ_INPROCESS;
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_resume(f.dom, 0, &value));
    REQUIRE_EQ(0, server_answer(&f, f.dm, &s, 0, 0x4242));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 0, &value));
    EXPECT_U64(0x4242, value);
    fixture_destroy(&f);
}

static void resume_with_nothing_pending_is_einval(void) {
    struct fixture f;
    struct server s;
    uint64_t value = 0;
    REQUIRE_EQ(0, setup(&f, &s));
    EXPECT_EQ(-EINVAL, hv_vcpu_resume(f.dom, 0, &value)); /* never ran */
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_store(f.dom, 0, CLAIMED_GPA, 4, 1));
    REQUIRE_EQ(0, server_answer(&f, f.dm, &s, 0, 0));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 0, &value));
    EXPECT_EQ(-EINVAL, hv_vcpu_resume(f.dom, 0, &value)); /* already completed */
    fixture_destroy(&f);
}

/* Plain RAM at GPA 4 KiB, and port 0x80 (the POST diagnostic port, which
 * nothing holds) for the calls that must be refused. */
#define RAM_GPA 0x1000u
#define UNHELD_PORT 0x80u

static void other_vcpu_calls_on_a_waiting_vcpu_are_ebusy(void) {
    static const uint8_t nop[] = {0x90}; /* x86 NOP */
    struct fixture f;
    struct server s;
    uint64_t value = 0;
    REQUIRE_EQ(0, setup(&f, &s));
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_store(f.dom, 0, CLAIMED_GPA, 4, 1));
    EXPECT_EQ(-EBUSY, hv_vcpu_store(f.dom, 0, RAM_GPA, 4, 1));
    EXPECT_EQ(-EBUSY, hv_vcpu_load(f.dom, 0, RAM_GPA, 4, &value));
    EXPECT_EQ(-EBUSY, hv_vcpu_pio(f.dom, 0, UNHELD_PORT, 1, 0, &value));
    EXPECT_EQ(-EBUSY, hv_vcpu_exec(f.dom, 0, nop, sizeof nop));
    EXPECT_EQ(-EBUSY, hv_vcpu_fetch(f.dom, 0, RAM_GPA));
    EXPECT_EQ(-EBUSY, hv_vcpu_set_reg(f.dom, 0, HV_REG_RAX, 1));
    /* vCPU 1 is not waiting */
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 1, RAM_GPA, 4, 0x77));
    EXPECT_U64(0x77, ram_u32(&f, RAM_GPA));
    REQUIRE_EQ(0, server_answer(&f, f.dm, &s, 0, 0));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 0, &value));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, RAM_GPA, 4, 0x78));
    fixture_destroy(&f);
}

static void slot_set_to_none_without_a_response_reads_all_ones(void) {
    struct fixture f;
    struct server s;
    uint64_t value = 0;
    REQUIRE_EQ(0, setup(&f, &s));
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_load(f.dom, 0, TEST_MMIO_GPA + 2, 2, &value));
    s.page->vcpu_ioreq[0].data = 0x1234; /* ignored: no IORESP_READY */
    s.page->vcpu_ioreq[0].state = HVDM_STATE_IOREQ_NONE;
    REQUIRE_EQ(0, hvdm_ioreq_notify(f.dm, f.domid, s.id, 0));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 0, &value));
    EXPECT_U64(0xffff, value); /* all ones, 2 bytes */
    /* the domain keeps running */
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, RAM_GPA, 4, 1));
    fixture_destroy(&f);
}

/* What a violation's observer returns: in process the domain stops
 * (-EPROTO, Xen's domain_crash); a device model behind a socket is
 * isolated, so it loses its servers and the waiting access completes. */
static int violation_rc(void) { return test_over_socket() ? HV_VCPU_DONE : -EPROTO; }

/* In process, the domain is stopped: reason given, every later call
 * -ESHUTDOWN. Over a socket, the device model's servers are destroyed and
 * its connection hung up (-ENODEV), and the domain runs on. */
static void expect_stopped(struct fixture *f, struct server *s) {
    char reason[256];
    uint64_t value = 0;
    memset(reason, 0, sizeof reason);
    if (test_over_socket()) {
        EXPECT_EQ(0, hv_domain_stop_reason(f->dom, reason, sizeof reason));
        EXPECT_TRUE(reason[0] == '\0');
        EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_store(f->dom, 1, RAM_GPA, 4, 1));
        EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_store(f->dom, 1, CLAIMED_GPA, 4, 1)); /* its claim is gone */
        EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_load(f->dom, 1, RAM_GPA, 4, &value));
        EXPECT_EQ(-ENODEV, hvdm_set_ioreq_server_state(f->dm, f->domid, s->id, 0));
        return;
    }
    EXPECT_EQ(1, hv_domain_stop_reason(f->dom, reason, sizeof reason));
    EXPECT_TRUE(reason[0] != '\0');
    EXPECT_EQ(-ESHUTDOWN, hv_vcpu_resume(f->dom, 0, &value));
    EXPECT_EQ(-ESHUTDOWN, hv_vcpu_store(f->dom, 1, RAM_GPA, 4, 1));
    EXPECT_EQ(-ESHUTDOWN, hv_vcpu_load(f->dom, 1, RAM_GPA, 4, &value));
    EXPECT_EQ(-ESHUTDOWN, hvdm_set_ioreq_server_state(f->dm, f->domid, s->id, 0));
}

static void running_domain_has_no_stop_reason(void) {
    struct fixture f;
    char reason[64];
    REQUIRE_EQ(0, fixture_create(&f));
    reason[0] = 'x';
    EXPECT_EQ(0, hv_domain_stop_reason(f.dom, reason, sizeof reason));
    EXPECT_EQ('\0', reason[0]);
    fixture_destroy(&f);
}

static void slot_moved_backwards_stops_the_domain_or_its_socket_dm(void) {
    struct fixture f;
    struct server s;
    uint64_t value = 0;
    REQUIRE_EQ(0, setup(&f, &s));
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_store(f.dom, 0, CLAIMED_GPA, 4, 1));
    s.page->vcpu_ioreq[0].state = HVDM_STATE_IOREQ_INPROCESS;
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_resume(f.dom, 0, &value)); /* INPROCESS observed */
    s.page->vcpu_ioreq[0].state = HVDM_STATE_IOREQ_READY;                /* backwards (XSA-262) */
    EXPECT_EQ(violation_rc(), hv_vcpu_resume(f.dom, 0, &value));
    expect_stopped(&f, &s);
    fixture_destroy(&f);
}

static void unknown_slot_state_stops_the_domain_or_its_socket_dm(void) {
    struct fixture f;
    struct server s;
    uint64_t value = 0;
    REQUIRE_EQ(0, setup(&f, &s));
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_store(f.dom, 0, CLAIMED_GPA, 4, 1));
    s.page->vcpu_ioreq[0].state = STATE_UNKNOWN;
    EXPECT_EQ(violation_rc(), hv_vcpu_resume(f.dom, 0, &value));
    expect_stopped(&f, &s);
    fixture_destroy(&f);
}

static void unknown_slot_state_seen_at_notify_stops_the_domain_or_its_socket_dm(void) {
    struct fixture f;
    struct server s;
    uint64_t value = 0;
    int rc;
    REQUIRE_EQ(0, setup(&f, &s));
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_store(f.dom, 0, CLAIMED_GPA, 4, 1));
    s.page->vcpu_ioreq[0].state = STATE_UNKNOWN;
    /* whichever call observes it first returns -EPROTO, the rest -ESHUTDOWN */
    rc = hvdm_ioreq_notify(f.dm, f.domid, s.id, 0);
    EXPECT_TRUE(rc == 0 || rc == -EPROTO);
    rc = hv_vcpu_resume(f.dom, 0, &value);
    if (test_over_socket())
        EXPECT_EQ(HV_VCPU_DONE, rc); /* its server is gone: completed */
    else
        EXPECT_TRUE(rc == -EPROTO || rc == -ESHUTDOWN);
    expect_stopped(&f, &s);
    fixture_destroy(&f);
}

static void slot_not_returned_to_none_stops_the_domain_or_its_socket_dm(void) {
    struct fixture f;
    struct server s;
    uint64_t value = 0;
    int rc;
    REQUIRE_EQ(0, setup(&f, &s));
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_store(f.dom, 0, CLAIMED_GPA, 4, 1));
    s.page->vcpu_ioreq[0].state = HVDM_STATE_IORESP_READY;
    REQUIRE_EQ(0, hvdm_ioreq_notify(f.dm, f.domid, s.id, 0));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 0, &value));
    /* the slot is NONE again; the device model makes it INPROCESS with no
     * request in flight, and the next request finds it so */
    s.page->vcpu_ioreq[0].state = HVDM_STATE_IOREQ_INPROCESS;
    rc = hv_vcpu_store(f.dom, 0, CLAIMED_GPA, 4, 2);
    if (test_over_socket()) {
        /* its servers are gone: the access waits on a destroyed server and
         * completes at once */
        EXPECT_EQ(HV_VCPU_IOREQ_PENDING, rc);
        EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 0, &value));
    } else {
        EXPECT_EQ(-EPROTO, rc);
    }
    expect_stopped(&f, &s);
    fixture_destroy(&f);
}

static void destroying_a_stopped_domain_still_works(void) {
    struct fixture f;
    struct server s;
    uint64_t value = 0;
    REQUIRE_EQ(0, setup(&f, &s));
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_store(f.dom, 0, CLAIMED_GPA, 4, 1));
    s.page->vcpu_ioreq[0].state = STATE_UNKNOWN;
    EXPECT_EQ(violation_rc(), hv_vcpu_resume(f.dom, 0, &value));
    /* close, destroy and host teardown must not fail or leak */
    fixture_destroy(&f);
}

int main(void) {
    skip_unless_vmx_backend("test_ioreq_protocol");
    RUN(store_to_claimed_page_fills_the_vcpus_slot_and_signals_the_fd);
    RUN(read_completes_with_the_device_models_data);
    RUN(resume_before_the_answer_is_still_pending);
    RUN(resume_with_nothing_pending_is_einval);
    RUN(other_vcpu_calls_on_a_waiting_vcpu_are_ebusy);
    RUN(slot_set_to_none_without_a_response_reads_all_ones);
    RUN(running_domain_has_no_stop_reason);
    RUN(slot_moved_backwards_stops_the_domain_or_its_socket_dm);
    RUN(unknown_slot_state_stops_the_domain_or_its_socket_dm);
    RUN(unknown_slot_state_seen_at_notify_stops_the_domain_or_its_socket_dm);
    RUN(slot_not_returned_to_none_stops_the_domain_or_its_socket_dm);
    RUN(destroying_a_stopped_domain_still_works);
    return abi_finish("test_ioreq_protocol");
}

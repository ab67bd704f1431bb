/* SPDX-License-Identifier: MIT */
/* Lifetimes across the ABI (hv.h "Lifetimes", hvdm.h): a device-model
 * handle, its servers, its mapped ioreq pages and its eventfd outlive the
 * destruction of their server, their domain or their host. Calls then fail
 * with an errno (-ENOENT: server gone, -ESRCH: domain gone, -ENODEV: host
 * gone), the pages stay mapped and the descriptor stays open (and readable,
 * so a waiting device model wakes) until hvdm_close, which always works and
 * frees everything (ASan's leak check runs these under the asan preset). */
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>

#include "abi_test.h"
#include "dmop_raw.h"

/* The slot of vCPU 0 and a value to write into its data field from the
 * device model's side, to prove the page is still mapped and writable. */
#define VCPU0 0u
#define MARK 0x5a5a5a5a5a5a5a5aull

/* 1 if fd is an open descriptor (F_GETFD fails with EBADF otherwise). */
static int fd_is_open(int fd) { return fcntl(fd, F_GETFD) != -1; }

static void calls_on_a_handle_of_a_destroyed_host_are_enodev_and_close_frees_it(void) {
    struct fixture f;
    struct server s;
    struct dm_op o = dm_op_make(HVDM_DMOP_NR_VCPUS);
    hvdm_buf b;
    hvdm_shared_iopage *page = NULL;
    uint16_t type = 0;
    unsigned int vcpus = 0;
    hvdm_ioservid_t id = 0;
    b.ptr = &o;
    b.size = sizeof o;
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, server_create(&f, f.dm, HVDM_BUFIOREQ_OFF, 1, &s));
    hv_host_destroy(f.host); /* the handle is still open: its domain goes with the host */
    f.host = NULL;
    f.dom = NULL;
    EXPECT_EQ(-ENODEV, hvdm_nr_vcpus(f.dm, f.domid, &vcpus));
    EXPECT_EQ(-ENODEV, hvdm_dm_op(f.dm, f.domid, 1, &b));
    EXPECT_EQ(-ENODEV, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &id));
    EXPECT_EQ(-ENODEV, hvdm_destroy_ioreq_server(f.dm, f.domid, s.id));
    EXPECT_EQ(-ENODEV, hvdm_set_ioreq_server_state(f.dm, f.domid, s.id, 0));
    EXPECT_EQ(-ENODEV, hvdm_map_io_range_to_ioreq_server(f.dm, f.domid, s.id, PORTS, 0x100, 0x10f));
    EXPECT_EQ(-ENODEV, hvdm_unmap_io_range_from_ioreq_server(f.dm, f.domid, s.id, PORTS, 0x100, 0x10f));
    EXPECT_EQ(-ENODEV, hvdm_map_pcidev_to_ioreq_server(f.dm, f.domid, s.id, 0, 0, 3, 0));
    EXPECT_EQ(-ENODEV, hvdm_unmap_pcidev_from_ioreq_server(f.dm, f.domid, s.id, 0, 0, 3, 0));
    EXPECT_EQ(-ENODEV, hvdm_map_mem_type_to_ioreq_server(f.dm, f.domid, s.id, HVDM_MEM_IOREQ_SERVER,
                                                         HVDM_IOREQ_MEM_ACCESS_WRITE));
    EXPECT_EQ(-ENODEV, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_RAM_RO, 0x100, 1));
    EXPECT_EQ(-ENODEV, hvdm_get_mem_type(f.dm, f.domid, 0x100, &type));
    EXPECT_EQ(-ENODEV, hvdm_map_ioreq_pages(f.dm, f.domid, s.id, &page, NULL));
    EXPECT_EQ(-ENODEV, hvdm_ioreq_fd(f.dm, f.domid, s.id));
    EXPECT_EQ(-ENODEV, hvdm_ioreq_notify(f.dm, f.domid, s.id, VCPU0));
    EXPECT_EQ(-ENODEV, hvdm_restrict(f.dm, f.domid));
    /* Before the fix hvdm_close locked a mutex in the freed host and hung
     * (ctest's timeout ends it); now it frees the handle. */
    EXPECT_EQ(0, hvdm_close(f.dm));
}

static int never_called(void *opaque, hvdm_ioservid_t id, hvdm_ioreq_t *req) {
    (void)opaque;
    (void)id;
    (void)req;
    return -EIO;
}

/* The calls whose verdict a handle can reach without its host: another
 * domid than the restriction's (-EPERM), a null out-argument or a bad
 * argument (-EINVAL). rc[i] is each call's result, in this order. */
#define LOCAL_VERDICTS 18
static void call_with_local_verdicts(struct fixture *f, hvdm_domid_t other, int rc[LOCAL_VERDICTS]) {
    unsigned int vcpus = 0;
    uint16_t type = 0;
    uint32_t port = 0, ports[1];
    void *addr = NULL;
    hvdm_ioservid_t id = 0;
    const uint64_t gfn = 1;
    int err = 0;
    int k = 0;
    rc[k++] = hvdm_nr_vcpus(f->dm, other, &vcpus);
    rc[k++] = hvdm_get_mem_type(f->dm, other, 0x10, &type);
    rc[k++] = hvdm_get_ioreq_server_info(f->dm, other, 0, NULL, NULL, &port);
    rc[k++] = hvdm_nr_vcpus(f->dm, f->domid, NULL);
    rc[k++] = hvdm_get_mem_type(f->dm, f->domid, 0x10, NULL);
    rc[k++] = hvdm_create_ioreq_server(f->dm, f->domid, HVDM_BUFIOREQ_OFF, NULL);
    rc[k++] = hvdm_create_ioreq_server(f->dm, f->domid, 0x100, &id);
    rc[k++] = hvdm_map_pcidev_to_ioreq_server(f->dm, f->domid, 0, 0, 0, 0x20, 0);
    rc[k++] = hvdm_map_ioreq_pages(f->dm, f->domid, 0, NULL, NULL);
    rc[k++] = hvdm_serve_pending(f->dm, f->domid, 0, NULL, NULL);
    rc[k++] = hvdm_serve(f->dm, f->domid, NULL, 0, -1, never_called, NULL);
    rc[k++] = hvdm_map_resource(f->dm, f->domid, 0, HVDM_RESOURCE_FRAME_IOREQ(0), 1, PROT_READ, NULL);
    rc[k++] = hvdm_ioreq_pending(f->dm, f->domid, 0, ports, 0);
    rc[k++] = hvdm_map_guest_memory(f->dm, f->domid, 0, 1, PROT_READ, NULL, NULL);
    rc[k++] = hvdm_map_guest_memory(f->dm, f->domid, 0, 0, PROT_READ, &addr, NULL);
    rc[k++] = hvdm_get_memory_map(f->dm, f->domid, NULL, NULL);
    rc[k++] = hvdm_map_guest_pages(f->dm, other, &gfn, 1, PROT_READ, 0, &addr, &err);
    rc[k++] = hvdm_map_guest_pages(f->dm, f->domid, &gfn, 1, PROT_READ, 0, &addr, NULL);
}

static void on_a_destroyed_host_enodev_comes_before_every_local_verdict(void) {
    /* hv.h: after hv_host_destroy every call on the handle is -ENODEV,
     * before the restriction and the call's own argument checks (in-process
     * the handle sees the destruction itself; over a socket the host is
     * asked, its listener still open, before a local verdict is returned). */
    static const int before[LOCAL_VERDICTS] = {-EPERM,  -EPERM,  -EPERM,  -EINVAL, -EINVAL, -EINVAL,
                                               -EINVAL, -EINVAL, -EINVAL, -EINVAL, -EINVAL, -EINVAL,
                                               -EINVAL, -EINVAL, -EINVAL, -EINVAL, -EPERM,  -EINVAL};
    struct fixture f;
    struct dm_op o = dm_op_make(HVDM_DMOP_NR_VCPUS);
    hvdm_buf b;
    hv_host *host;
    int rc[LOCAL_VERDICTS];
    int i;
    char *big;
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, hvdm_restrict(f.dm, f.domid));
    call_with_local_verdicts(&f, (hvdm_domid_t)(f.domid + 1), rc);
    for (i = 0; i < LOCAL_VERDICTS; i++) EXPECT_EQ(before[i], rc[i]);
    host = f.host;
    test_host_destroy_keep_listener(host);
    f.host = NULL;
    f.dom = NULL;
    call_with_local_verdicts(&f, (hvdm_domid_t)(f.domid + 1), rc);
    for (i = 0; i < LOCAL_VERDICTS; i++) EXPECT_EQ(-ENODEV, rc[i]);
    /* a DMOP too large for the socket's messages (-EMSGSIZE there) */
    big = calloc(1, 128 * 1024);
    REQUIRE_TRUE(big != NULL);
    memcpy(big, &o, sizeof o);
    b.ptr = big;
    b.size = 128 * 1024;
    EXPECT_EQ(-ENODEV, hvdm_dm_op(f.dm, f.domid, 1, &b));
    free(big);
    EXPECT_EQ(0, hvdm_close(f.dm));
    test_listener_close(host);
}

static void pages_and_descriptor_outlive_the_host_until_close(void) {
    struct fixture f;
    struct server s;
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, server_create(&f, f.dm, HVDM_BUFIOREQ_OFF, 1, &s));
    (void)fd_drain(s.fd);
    hv_host_destroy(f.host);
    /* the page is still mapped, readable and writable: no SIGSEGV */
    EXPECT_EQ(HVDM_STATE_IOREQ_NONE, s.page->vcpu_ioreq[VCPU0].state);
    s.page->vcpu_ioreq[VCPU0].data = MARK;
    EXPECT_U64(MARK, s.page->vcpu_ioreq[VCPU0].data);
    /* the descriptor is open, and readable: a device model waiting on it
     * wakes, and its next call says why (-ENODEV) */
    EXPECT_TRUE(fd_is_open(s.fd));
    EXPECT_TRUE(fd_readable(s.fd));
    EXPECT_EQ(-ENODEV, hvdm_ioreq_notify(f.dm, f.domid, s.id, VCPU0));
    EXPECT_EQ(0, hvdm_close(f.dm));
    EXPECT_TRUE(!fd_is_open(s.fd)); /* hvdm_close released it */
}

static void pages_and_descriptor_outlive_the_domain_and_calls_are_esrch(void) {
    struct fixture f;
    struct server s;
    hvdm_shared_iopage *page = NULL;
    unsigned int vcpus = 0;
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, server_create(&f, f.dm, HVDM_BUFIOREQ_LEGACY, 1, &s));
    REQUIRE_TRUE(s.buf != NULL);
    (void)fd_drain(s.fd);
    REQUIRE_EQ(0, hv_domain_destroy(f.dom));
    f.dom = NULL;
    EXPECT_EQ(HVDM_STATE_IOREQ_NONE, s.page->vcpu_ioreq[VCPU0].state);
    s.page->vcpu_ioreq[VCPU0].data = MARK;
    EXPECT_U64(MARK, s.page->vcpu_ioreq[VCPU0].data);
    EXPECT_U64(0, s.buf->write_pointer); /* the buffered page too */
    EXPECT_TRUE(fd_is_open(s.fd));
    EXPECT_TRUE(fd_readable(s.fd)); /* the server's destruction woke it */
    EXPECT_EQ(-ESRCH, hvdm_ioreq_notify(f.dm, f.domid, s.id, VCPU0));
    EXPECT_EQ(-ESRCH, hvdm_map_ioreq_pages(f.dm, f.domid, s.id, &page, NULL));
    EXPECT_EQ(-ESRCH, hvdm_nr_vcpus(f.dm, f.domid, &vcpus));
    /* the host and the handle go on: a new domain is served as usual */
    fixture_destroy(&f);
    EXPECT_TRUE(!fd_is_open(s.fd));
}

static void a_destroyed_servers_pages_stay_mapped_and_a_new_server_gets_its_own(void) {
    struct fixture f;
    struct server s, again;
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, server_create(&f, f.dm, HVDM_BUFIOREQ_OFF, 1, &s));
    (void)fd_drain(s.fd);
    s.page->vcpu_ioreq[VCPU0].data = MARK;
    REQUIRE_EQ(0, hvdm_destroy_ioreq_server(f.dm, f.domid, s.id));
    EXPECT_U64(MARK, s.page->vcpu_ioreq[VCPU0].data); /* still mapped */
    EXPECT_TRUE(fd_readable(s.fd));
    EXPECT_EQ(-ENOENT, hvdm_ioreq_notify(f.dm, f.domid, s.id, VCPU0));
    /* the lowest free id is the same id: a different server, fresh pages
     * and its own descriptor */
    REQUIRE_EQ(0, server_create(&f, f.dm, HVDM_BUFIOREQ_OFF, 1, &again));
    EXPECT_EQ(s.id, again.id);
    EXPECT_TRUE(again.page != s.page);
    EXPECT_TRUE(again.fd != s.fd);
    EXPECT_U64(0, again.page->vcpu_ioreq[VCPU0].data);
    EXPECT_U64(MARK, s.page->vcpu_ioreq[VCPU0].data);
    fixture_destroy(&f);
}

static void asking_again_gives_the_same_mapping_and_descriptor(void) {
    struct fixture f;
    struct server s;
    hvdm_shared_iopage *page = NULL;
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, server_create(&f, f.dm, HVDM_BUFIOREQ_OFF, 1, &s));
    EXPECT_EQ(0, hvdm_map_ioreq_pages(f.dm, f.domid, s.id, &page, NULL));
    EXPECT_TRUE(page == s.page);
    EXPECT_EQ(s.fd, hvdm_ioreq_fd(f.dm, f.domid, s.id));
    fixture_destroy(&f);
}

#ifndef HVCORE_TEST_NO_THREADS
/* A device model on its own thread keeps calling while the embedder
 * destroys the host: every call returns 0 or an errno of the rule (never a
 * crash, never a hang), the last ones -ENODEV; then the handle closes. */
struct caller_thread {
    hvdm_handle *dm;
    hvdm_domid_t domid;
    volatile int bad_rc; /* the first result outside the rule, 0 if none */
    int saw_enodev;
};

static void *keep_calling(void *arg) {
    struct caller_thread *t = (struct caller_thread *)arg;
    unsigned int vcpus = 0;
    uint16_t type = 0;
    /* Until the destruction shows: once -ENODEV, nothing else can come
     * back (a destruction that never shows hangs here; ctest's timeout
     * fails the test). */
    while (!t->saw_enodev) {
        const int a = hvdm_nr_vcpus(t->dm, t->domid, &vcpus);
        const int b = hvdm_get_mem_type(t->dm, t->domid, 0x10, &type);
        const int rcs[2] = {a, b};
        int k;
        for (k = 0; k < 2; ++k) {
            if (rcs[k] == -ENODEV) t->saw_enodev = 1;
            else if (rcs[k] != 0 && rcs[k] != -ESRCH && t->bad_rc == 0) t->bad_rc = rcs[k];
        }
    }
    return NULL;
}

static void a_device_model_thread_calling_while_the_host_is_destroyed_ends_with_enodev(void) {
    struct fixture f;
    struct caller_thread t;
    pthread_t th;
    unsigned int vcpus = 0;
    REQUIRE_EQ(0, fixture_create(&f));
    memset(&t, 0, sizeof t);
    t.dm = f.dm;
    t.domid = f.domid;
    REQUIRE_EQ(0, pthread_create(&th, NULL, keep_calling, &t));
    /* let the thread get going: its first call succeeds */
    while (hvdm_nr_vcpus(f.dm, f.domid, &vcpus) != 0) {
    }
    hv_host_destroy(f.host);
    REQUIRE_EQ(0, pthread_join(th, NULL));
    EXPECT_EQ(0, t.bad_rc);
    EXPECT_TRUE(t.saw_enodev);
    EXPECT_EQ(0, hvdm_close(f.dm));
}
#endif /* HVCORE_TEST_NO_THREADS */

int main(void) {
    skip_unless_vmx_backend("test_lifetimes");
    RUN(calls_on_a_handle_of_a_destroyed_host_are_enodev_and_close_frees_it);
    RUN(on_a_destroyed_host_enodev_comes_before_every_local_verdict);
    RUN(pages_and_descriptor_outlive_the_host_until_close);
    RUN(pages_and_descriptor_outlive_the_domain_and_calls_are_esrch);
    RUN(a_destroyed_servers_pages_stay_mapped_and_a_new_server_gets_its_own);
    RUN(asking_again_gives_the_same_mapping_and_descriptor);
#ifndef HVCORE_TEST_NO_THREADS
    RUN(a_device_model_thread_calling_while_the_host_is_destroyed_ends_with_enodev);
#else
    printf("skip a_device_model_thread_calling_while_the_host_is_destroyed_ends_with_enodev "
           "(built without threads: qemu-user)\n");
#endif
    return abi_finish("test_lifetimes");
}

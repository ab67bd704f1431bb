/* SPDX-License-Identifier: MIT */
/* A server's pages as Xen's ioreq-server resource (hvdm_map_resource, as
 * xenforeignmemory_map_resource of XENMEM_resource_ioreq_server;
 * xen/include/public/memory.h XENMEM_resource_ioreq_server_frame_bufioreq 0
 * and _frame_ioreq(n) 1 + n; xen/common/ioreq.c ioreq_server_get_frame):
 * frame 0 the buffered ring, frame 1 the slots, nothing beyond; frame 0 of
 * a server without a ring is -ENOENT; the mapping outlives the server, its
 * domain, the host and the handle until it is unmapped. */
#include "abi_test.h"

#include <sys/mman.h>

#define PAGE TEST_PAGE_SIZE

/* An enabled server holding TEST_MMIO_GPA's page and, with a ring, VGA's first page (server_setup). */
static int setup(struct fixture *f, struct server *s, int mode) {
    const int rc = fixture_create(f);
    return rc != 0 ? rc : server_setup(f, s, mode);
}

static const hvdm_buffered_iopage *ring_at(const void *m) { return (const hvdm_buffered_iopage *)m; }
static const hvdm_shared_iopage *slots_at(const void *m, size_t off) {
    return (const hvdm_shared_iopage *)(const void *)((const char *)m + off);
}

/* The permissions /proc/self/maps gives the mapping that starts at addr
 * ("rw-s"), in out[5]; 0 if found. */
static int maps_perms(const void *addr, char out[5]) {
    char line[512];
    FILE *f = fopen("/proc/self/maps", "r");
    int rc = -1;
    if (f == NULL) return -1;
    while (fgets(line, sizeof line, f) != NULL) {
        unsigned long long start = 0, end = 0;
        char perms[5] = {0};
        if (sscanf(line, "%llx-%llx %4s", &start, &end, perms) == 3 && start == (unsigned long long)(uintptr_t)addr) {
            memcpy(out, perms, 5);
            rc = 0;
            break;
        }
    }
    fclose(f);
    return rc;
}

/* 1 if /proc/self/maps shows a mapping of a server's pages memfd
 * ("/memfd:hvcore-ioreq") covering addr, 0 if not, -1 on error. After an
 * unmap the range may be reused at once (by the allocator, another
 * thread): "not that memfd any more" is what is checked, not "nothing". */
static int maps_ioreq_memfd_at(const void *addr) {
    char line[512];
    FILE *f = fopen("/proc/self/maps", "r");
    int rc = 0;
    if (f == NULL) return -1;
    while (fgets(line, sizeof line, f) != NULL) {
        unsigned long long start = 0, end = 0;
        const unsigned long long a = (unsigned long long)(uintptr_t)addr;
        if (sscanf(line, "%llx-%llx", &start, &end) == 2 && start <= a && a < end) {
            rc = strstr(line, "memfd:hvcore-ioreq") != NULL;
            break;
        }
    }
    fclose(f);
    return rc;
}

static void frames_0_and_1_put_the_ring_at_0_and_slot_0_at_4096(void) {
    struct fixture f;
    struct server s;
    void *m = NULL;
    void *slots_only = NULL;
    uint64_t value = 0;
    REQUIRE_EQ(0, setup(&f, &s, HVDM_BUFIOREQ_LEGACY));
    REQUIRE_EQ(0, hvdm_map_resource(f.dm, f.domid, s.id, HVDM_RESOURCE_FRAME_BUFIOREQ, 2, PROT_READ | PROT_WRITE, &m));
    REQUIRE_TRUE(m != NULL);
    /* +4096: the slots, each vp_eport its vCPU's index */
    EXPECT_EQ(0, slots_at(m, PAGE)->vcpu_ioreq[0].vp_eport);
    EXPECT_EQ(1, slots_at(m, PAGE)->vcpu_ioreq[1].vp_eport);
    /* +0: the ring; a buffered post moves its write_pointer */
    EXPECT_EQ(0, ring_at(m)->write_pointer);
    REQUIRE_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, TEST_VGA_GPA + 4, 4, 0xcafef00du));
    EXPECT_EQ(1, ring_at(m)->write_pointer);
    EXPECT_EQ(0xcafef00du, ring_at(m)->buf_ioreq[0].data);
    EXPECT_EQ(1, s.buf->write_pointer); /* the same pages as hvdm_map_ioreq_pages' */
    /* a synchronous request lands at +4096 */
    REQUIRE_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_load(f.dom, 1, TEST_MMIO_GPA + 8, 4, &value));
    EXPECT_EQ(HVDM_STATE_IOREQ_READY, slots_at(m, PAGE)->vcpu_ioreq[1].state);
    EXPECT_U64(TEST_MMIO_GPA + 8, slots_at(m, PAGE)->vcpu_ioreq[1].addr);
    /* frame 1 alone: the slots at +0, the same pages */
    REQUIRE_EQ(0, hvdm_map_resource(f.dm, f.domid, s.id, HVDM_RESOURCE_FRAME_IOREQ(0), 1, PROT_READ | PROT_WRITE,
                                    &slots_only));
    EXPECT_U64(TEST_MMIO_GPA + 8, slots_at(slots_only, 0)->vcpu_ioreq[1].addr);
    EXPECT_TRUE(slots_at(slots_only, 0) != s.page && (const void *)slots_at(m, PAGE) != (const void *)s.page);
    /* the device model answers through this mapping */
    ((hvdm_shared_iopage *)slots_only)->vcpu_ioreq[1].data = 0x1234;
    ((hvdm_shared_iopage *)slots_only)->vcpu_ioreq[1].state = HVDM_STATE_IORESP_READY;
    EXPECT_EQ(0, hvdm_ioreq_notify(f.dm, f.domid, s.id, 1));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 1, &value));
    EXPECT_U64(0x1234, value);
    EXPECT_EQ(0, hvdm_unmap_resource(f.dm, slots_only, 1));
    EXPECT_EQ(0, hvdm_unmap_resource(f.dm, m, 2));
    fixture_destroy(&f);
}

static void frame_0_without_a_ring_is_enoent_and_a_frame_past_1_einval(void) {
    struct fixture f;
    struct server off, ring;
    void *m = (void *)&f; /* unchanged on failure */
    void *const untouched = m;
    REQUIRE_EQ(0, setup(&f, &off, HVDM_BUFIOREQ_OFF));
    REQUIRE_EQ(0, server_create(&f, f.dm, HVDM_BUFIOREQ_ATOMIC, 0, &ring));
    EXPECT_EQ(-ENOENT, hvdm_map_resource(f.dm, f.domid, off.id, 0, 1, PROT_READ, &m));
    EXPECT_EQ(-ENOENT, hvdm_map_resource(f.dm, f.domid, off.id, 0, 2, PROT_READ, &m));
    EXPECT_EQ(-ENOENT, hvdm_map_resource(f.dm, f.domid, off.id, 0, 3, PROT_READ, &m)); /* frame 0 comes first */
    EXPECT_EQ(-EINVAL, hvdm_map_resource(f.dm, f.domid, ring.id, 0, 3, PROT_READ, &m));
    EXPECT_EQ(-EINVAL, hvdm_map_resource(f.dm, f.domid, ring.id, 2, 1, PROT_READ, &m)); /* hvcore's event page */
    EXPECT_EQ(-EINVAL, hvdm_map_resource(f.dm, f.domid, off.id, 2, 1, PROT_READ, &m));
    EXPECT_EQ(-EINVAL, hvdm_map_resource(f.dm, f.domid, ring.id, 1, 2, PROT_READ, &m));
    EXPECT_EQ(-EINVAL, hvdm_map_resource(f.dm, f.domid, ring.id, 0xffffffffu, 2, PROT_READ, &m)); /* no wrap */
    EXPECT_TRUE(m == untouched);
    /* the arguments */
    EXPECT_EQ(-EINVAL, hvdm_map_resource(NULL, f.domid, ring.id, 0, 1, PROT_READ, &m));
    EXPECT_EQ(-EINVAL, hvdm_map_resource(f.dm, f.domid, ring.id, 0, 1, PROT_READ, NULL));
    EXPECT_EQ(-EINVAL, hvdm_map_resource(f.dm, f.domid, ring.id, 0, 0, PROT_READ, &m));
    EXPECT_EQ(-EINVAL, hvdm_map_resource(f.dm, f.domid, ring.id, 0, 1, 0, &m));
    EXPECT_EQ(-EINVAL, hvdm_map_resource(f.dm, f.domid, ring.id, 0, 1, PROT_READ | PROT_EXEC, &m));
    EXPECT_TRUE(m == untouched);
    /* the server's and the domain's errnos */
    {
        hvdm_handle *other = hvdm_open(f.host);
        REQUIRE_TRUE(other != NULL);
        EXPECT_EQ(-EPERM, hvdm_map_resource(other, f.domid, ring.id, 1, 1, PROT_READ, &m));
        EXPECT_EQ(0, hvdm_restrict(other, (hvdm_domid_t)(f.domid + 1)));
        EXPECT_EQ(-EPERM, hvdm_map_resource(other, f.domid, ring.id, 0, 0, PROT_READ, NULL)); /* restriction first */
        EXPECT_EQ(0, hvdm_close(other));
    }
    EXPECT_EQ(-ENOENT, hvdm_map_resource(f.dm, f.domid, 7, 1, 1, PROT_READ, &m));
    EXPECT_EQ(-ESRCH, hvdm_map_resource(f.dm, (hvdm_domid_t)(f.domid + 100), ring.id, 1, 1, PROT_READ, &m));
    EXPECT_TRUE(m == untouched);
    /* the ring server's frames 0..1 and the other's frame 1 are fine */
    REQUIRE_EQ(0, hvdm_map_resource(f.dm, f.domid, ring.id, 0, 2, PROT_READ, &m));
    EXPECT_EQ(0, hvdm_unmap_resource(f.dm, m, 2));
    REQUIRE_EQ(0, hvdm_map_resource(f.dm, f.domid, off.id, 1, 1, PROT_READ, &m));
    EXPECT_EQ(1, slots_at(m, 0)->vcpu_ioreq[1].vp_eport);
    EXPECT_EQ(0, hvdm_unmap_resource(f.dm, m, 1));
    fixture_destroy(&f);
}

static void prot_is_the_mapping_s_protection(void) {
    struct fixture f;
    struct server s;
    void *ro = NULL, *rw = NULL;
    char perms[5] = {0};
    REQUIRE_EQ(0, setup(&f, &s, HVDM_BUFIOREQ_LEGACY));
    REQUIRE_EQ(0, hvdm_map_resource(f.dm, f.domid, s.id, 0, 2, PROT_READ, &ro));
    REQUIRE_EQ(0, hvdm_map_resource(f.dm, f.domid, s.id, 0, 2, PROT_READ | PROT_WRITE, &rw));
    EXPECT_TRUE(ro != rw); /* each call a mapping of its own */
    REQUIRE_EQ(0, maps_perms(ro, perms));
    EXPECT_TRUE(strcmp(perms, "r--s") == 0);
    REQUIRE_EQ(0, maps_perms(rw, perms));
    EXPECT_TRUE(strcmp(perms, "rw-s") == 0);
    EXPECT_EQ(0, hvdm_unmap_resource(f.dm, ro, 2));
    EXPECT_EQ(0, hvdm_unmap_resource(f.dm, rw, 2));
    fixture_destroy(&f);
}

static void unmap_takes_only_a_mapping_of_the_handle_s_with_its_size(void) {
    struct fixture f;
    struct server s;
    void *m = NULL;
    hvdm_handle *other = NULL;
    REQUIRE_EQ(0, setup(&f, &s, HVDM_BUFIOREQ_LEGACY));
    REQUIRE_EQ(0, hvdm_map_resource(f.dm, f.domid, s.id, 0, 2, PROT_READ, &m));
    other = hvdm_open(f.host);
    REQUIRE_TRUE(other != NULL);
    EXPECT_EQ(-EINVAL, hvdm_unmap_resource(NULL, m, 2));
    EXPECT_EQ(-EINVAL, hvdm_unmap_resource(other, m, 2));
    EXPECT_EQ(-EINVAL, hvdm_unmap_resource(f.dm, m, 1));
    EXPECT_EQ(-EINVAL, hvdm_unmap_resource(f.dm, (char *)m + PAGE, 1));
    EXPECT_EQ(-EINVAL, hvdm_unmap_resource(f.dm, NULL, 2));
    EXPECT_EQ(0, ring_at(m)->write_pointer); /* still mapped */
    EXPECT_EQ(0, hvdm_unmap_resource(f.dm, m, 2));
    EXPECT_EQ(-EINVAL, hvdm_unmap_resource(f.dm, m, 2)); /* once */
    EXPECT_EQ(0, hvdm_close(other));
    fixture_destroy(&f);
}

static void the_mapping_stays_valid_after_the_server_domain_and_host_go_until_hvdm_close(void) {
    struct fixture f;
    struct server s;
    void *m = NULL, *kept = NULL;
    REQUIRE_EQ(0, setup(&f, &s, HVDM_BUFIOREQ_LEGACY));
    REQUIRE_EQ(0, hvdm_map_resource(f.dm, f.domid, s.id, 0, 2, PROT_READ | PROT_WRITE, &m));
    REQUIRE_EQ(0, hvdm_map_resource(f.dm, f.domid, s.id, 1, 1, PROT_READ | PROT_WRITE, &kept));
    REQUIRE_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, TEST_VGA_GPA, 1, 0x5a));
    EXPECT_EQ(0, hvdm_destroy_ioreq_server(f.dm, f.domid, s.id));
    /* no SIGBUS: the pages, as they were */
    EXPECT_EQ(1, ring_at(m)->write_pointer);
    EXPECT_EQ(1, slots_at(m, PAGE)->vcpu_ioreq[1].vp_eport);
    ((hvdm_shared_iopage *)(void *)((char *)m + PAGE))->vcpu_ioreq[0].data = 77; /* still writable */
    EXPECT_EQ(-ENOENT, hvdm_map_resource(f.dm, f.domid, s.id, 0, 2, PROT_READ, &m)); /* the server is gone */
    EXPECT_EQ(0, hv_domain_destroy(f.dom));
    f.dom = NULL;
    EXPECT_U64(77, slots_at(m, PAGE)->vcpu_ioreq[0].data);
    hv_host_destroy(f.host);
    f.host = NULL;
    EXPECT_U64(77, slots_at(m, PAGE)->vcpu_ioreq[0].data);
    EXPECT_U64(77, slots_at(kept, 0)->vcpu_ioreq[0].data); /* the same pages */
    /* unmapping works after the host is gone */
    EXPECT_EQ(0, hvdm_unmap_resource(f.dm, m, 2));
    /* hvdm_close unmaps the mappings left, as it unmaps the ioreq pages
     * and guest RAM: the address no longer maps the pages' memfd (it may
     * already hold something else: the allocator reuses freed ranges) */
    EXPECT_EQ(1, maps_ioreq_memfd_at(kept));
    EXPECT_EQ(0, hvdm_close(f.dm));
    f.dm = NULL;
    EXPECT_EQ(0, maps_ioreq_memfd_at(kept));
    fixture_destroy(&f);
}

int main(void) {
    skip_unless_vmx_backend("abi_resource_order");
    RUN(frames_0_and_1_put_the_ring_at_0_and_slot_0_at_4096);
    RUN(frame_0_without_a_ring_is_enoent_and_a_frame_past_1_einval);
    RUN(prot_is_the_mapping_s_protection);
    RUN(unmap_takes_only_a_mapping_of_the_handle_s_with_its_size);
    RUN(the_mapping_stays_valid_after_the_server_domain_and_host_go_until_hvdm_close);
    return abi_finish("abi_resource_order");
}

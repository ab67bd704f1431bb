/* SPDX-License-Identifier: MIT */
/* hvdm_map_guest_memory, hvdm_unmap_guest_memory and hvdm_get_memory_map
 * through the C ABI (C99, linked with libhvcore as a device model is), on
 * every backend: the mapping is the guest's RAM both ways, read-only is
 * enforced by the kernel, holes and bad arguments are refused before
 * anything is mapped, the restriction comes first, a type change keeps the
 * mapping, a device model's write to a claimed page through it is not
 * trapped (the guest's is), and it outlives its domain and its host. */
#include "abi_test.h"

#include <sys/mman.h>
#include <sys/types.h>
#ifndef HVCORE_TEST_NO_FORK
#include <sys/wait.h>
#endif

#define PAGE TEST_PAGE_SIZE
#define RAM_PAGES ((uint64_t)TEST_RAM_BYTES / PAGE)
#define GFN 0x40u /* the pages these scenarios map: gfn 0x40.. (GPA 256 KiB) */
#define GPA ((uint64_t)GFN * PAGE)
#define UNTOUCHED ((void *)0x5a5a)
#define SENTINEL 0x5a5a5a5a5a5a5a5aull

/* Mappings of some domain's RAM memfd in this process (/proc/self/maps
 * names it "/memfd:hvcore-guest-ram"): each domain's own mapping, plus
 * what hvdm_map_guest_memory made. -1 if /proc is not readable. */
static int ram_mappings(void) {
    char line[512];
    int n = 0;
    FILE *f = fopen("/proc/self/maps", "r");
    if (f == NULL) return -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (strstr(line, "hvcore-guest-ram") != NULL) ++n;
    fclose(f);
    return n;
}

static uint64_t guest_u64(struct fixture *f, uint64_t gpa) {
    uint64_t v = 0;
    (void)hv_guest_read(f->dom, gpa, &v, sizeof v);
    return v;
}

static void rw_mapping_is_the_guests_ram_both_ways(void) {
    struct fixture f;
    void *addr = UNTOUCHED;
    volatile uint64_t *p;
    uint64_t v = 0;
    uint64_t bad = SENTINEL;
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, hvdm_map_guest_memory(f.dm, f.domid, GFN, 4, PROT_READ | PROT_WRITE, &addr, &bad));
    EXPECT_U64(SENTINEL, bad); /* written on -EFAULT only */
    REQUIRE_TRUE(addr != UNTOUCHED && addr != NULL);
    EXPECT_EQ(0, (uintptr_t)addr % PAGE);
    p = (volatile uint64_t *)addr;
    /* The device model writes; the loader view and a model vCPU load see it. */
    p[PAGE / 8 + 1] = 0x1122334455667788ull;
    EXPECT_U64(0x1122334455667788ull, guest_u64(&f, GPA + PAGE + 8));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_load(f.dom, 0, GPA + PAGE + 8, 8, &v));
    EXPECT_U64(0x1122334455667788ull, v);
    /* The guest writes (a vCPU store, the loader view); the mapping sees it. */
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 1, GPA + 3 * PAGE + 16, 4, 0xcafef00du));
    EXPECT_U64(0xcafef00du, p[3 * PAGE / 8 + 2] & 0xffffffffu);
    set_ram_u32(&f, GPA, 0xabcd0123u);
    EXPECT_U64(0xabcd0123u, p[0] & 0xffffffffu);
    /* Unmap: exactly the mapping given back, once. */
    EXPECT_EQ(-EINVAL, hvdm_unmap_guest_memory(f.dm, addr, 3));
    EXPECT_EQ(-EINVAL, hvdm_unmap_guest_memory(f.dm, (char *)addr + PAGE, 3));
    EXPECT_EQ(-EINVAL, hvdm_unmap_guest_memory(NULL, addr, 4));
    EXPECT_EQ(0, hvdm_unmap_guest_memory(f.dm, addr, 4));
    EXPECT_EQ(-EINVAL, hvdm_unmap_guest_memory(f.dm, addr, 4));
    fixture_destroy(&f);
}

static void two_mappings_of_one_page_are_the_same_ram(void) {
    struct fixture f;
    void *a = NULL;
    void *b = NULL;
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, hvdm_map_guest_memory(f.dm, f.domid, GFN, 2, PROT_READ | PROT_WRITE, &a, NULL));
    REQUIRE_EQ(0, hvdm_map_guest_memory(f.dm, f.domid, GFN + 1, 1, PROT_READ, &b, NULL));
    ((volatile uint32_t *)a)[PAGE / 4 + 5] = 0x600dbeefu;
    EXPECT_U64(0x600dbeefu, ((volatile uint32_t *)b)[5]);
    EXPECT_EQ(0, hvdm_unmap_guest_memory(f.dm, a, 2));
    EXPECT_EQ(0, hvdm_unmap_guest_memory(f.dm, b, 1));
    fixture_destroy(&f);
}

static void read_only_mapping_cannot_be_made_writable(void) {
    struct fixture f;
    void *addr = NULL;
    volatile uint64_t *p;
    REQUIRE_EQ(0, fixture_create(&f));
    set_ram_u32(&f, GPA + 8, 0x12345678u);
    REQUIRE_EQ(0, hvdm_map_guest_memory(f.dm, f.domid, GFN, 1, PROT_READ, &addr, NULL));
    p = (volatile uint64_t *)addr;
    EXPECT_U64(0x12345678u, p[1] & 0xffffffffu);
    /* The descriptor behind it was opened read-only: the kernel refuses. */
    errno = 0;
    EXPECT_EQ(-1, mprotect(addr, PAGE, PROT_READ | PROT_WRITE));
    EXPECT_EQ(EACCES, errno);
#ifndef HVCORE_TEST_NO_FORK
    {
        /* A store faults: the child dies (SIGSEGV, or a sanitizer's exit
         * status) and the shared page keeps its value. */
        int status = 0;
        const pid_t child = fork();
        REQUIRE_TRUE(child >= 0);
        if (child == 0) {
            p[1] = 0xbadbadbadull;
            _exit(0);
        }
        REQUIRE_EQ(child, waitpid(child, &status, 0));
        EXPECT_TRUE(!(WIFEXITED(status) && WEXITSTATUS(status) == 0));
        EXPECT_U64(0x12345678u, guest_u64(&f, GPA + 8));
    }
#endif
    EXPECT_EQ(0, hvdm_unmap_guest_memory(f.dm, addr, 1));
    fixture_destroy(&f);
}

static void hole_is_efault_naming_the_first_bad_gfn(void) {
    struct fixture f;
    void *addr = UNTOUCHED;
    uint64_t bad = SENTINEL;
    int before;
    REQUIRE_EQ(0, fixture_create(&f));
    before = ram_mappings();
    /* The last two RAM pages and two past them. */
    EXPECT_EQ(-EFAULT, hvdm_map_guest_memory(f.dm, f.domid, RAM_PAGES - 2, 4, PROT_READ, &addr, &bad));
    EXPECT_U64(RAM_PAGES, bad);
    EXPECT_TRUE(addr == UNTOUCHED);
    /* MMIO space well above RAM. */
    EXPECT_EQ(-EFAULT, hvdm_map_guest_memory(f.dm, f.domid, TEST_MMIO_GPA / PAGE, 1, PROT_READ, &addr, &bad));
    EXPECT_U64(TEST_MMIO_GPA / PAGE, bad);
    /* A RAM page made mmio_dm is not RAM to map; bad_gfn may be NULL. */
    REQUIRE_EQ(0, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_MMIO_DM, GFN + 2, 1));
    EXPECT_EQ(-EFAULT, hvdm_map_guest_memory(f.dm, f.domid, GFN, 4, PROT_READ | PROT_WRITE, &addr, &bad));
    EXPECT_U64(GFN + 2, bad);
    EXPECT_EQ(-EFAULT, hvdm_map_guest_memory(f.dm, f.domid, GFN, 4, PROT_READ, &addr, NULL));
    EXPECT_TRUE(addr == UNTOUCHED);
    EXPECT_EQ(before, ram_mappings());
    /* The whole of RAM maps. */
    REQUIRE_EQ(0, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_RAM_RW, 0, 1));
    EXPECT_EQ(0, hvdm_map_guest_memory(f.dm, f.domid, 0, GFN + 2, PROT_READ, &addr, &bad));
    EXPECT_EQ(0, hvdm_unmap_guest_memory(f.dm, addr, GFN + 2));
    fixture_destroy(&f);
}

static void bad_arguments_are_einval_and_map_nothing(void) {
    struct fixture f;
    void *addr = UNTOUCHED;
    uint64_t bad = SENTINEL;
    int before;
    REQUIRE_EQ(0, fixture_create(&f));
    before = ram_mappings();
    EXPECT_TRUE(before >= 1); /* the domain's own */
    EXPECT_EQ(-EINVAL, hvdm_map_guest_memory(f.dm, f.domid, GFN, 1, 0, &addr, &bad));
    EXPECT_EQ(-EINVAL, hvdm_map_guest_memory(f.dm, f.domid, GFN, 1, PROT_READ | PROT_EXEC, &addr, &bad));
    EXPECT_EQ(-EINVAL, hvdm_map_guest_memory(f.dm, f.domid, GFN, 1, 0x100, &addr, &bad));
    EXPECT_EQ(-EINVAL, hvdm_map_guest_memory(f.dm, f.domid, GFN, 0, PROT_READ, &addr, &bad));
    EXPECT_EQ(-EINVAL, hvdm_map_guest_memory(f.dm, f.domid, ~0ull - 1, 3, PROT_READ, &addr, &bad));
    EXPECT_EQ(-EINVAL, hvdm_map_guest_memory(f.dm, f.domid, GFN, 1, PROT_READ, NULL, &bad));
    EXPECT_EQ(-EINVAL, hvdm_map_guest_memory(NULL, f.domid, GFN, 1, PROT_READ, &addr, &bad));
    /* The arguments before the domain: -EINVAL for a domain that does not exist. */
    EXPECT_EQ(-EINVAL, hvdm_map_guest_memory(f.dm, 999, GFN, 0, PROT_READ, &addr, &bad));
    EXPECT_EQ(-ESRCH, hvdm_map_guest_memory(f.dm, 999, GFN, 1, PROT_READ, &addr, &bad));
    EXPECT_TRUE(addr == UNTOUCHED);
    EXPECT_U64(SENTINEL, bad);
    EXPECT_EQ(before, ram_mappings());
    fixture_destroy(&f);
}

static void restricted_handle_gets_eperm_first(void) {
    struct fixture f;
    hvdm_handle *r;
    void *addr = UNTOUCHED;
    uint64_t bad = SENTINEL;
    unsigned int n = 0;
    REQUIRE_EQ(0, fixture_create(&f));
    r = hvdm_open(f.host);
    REQUIRE_TRUE(r != NULL);
    REQUIRE_EQ(0, hvdm_restrict(r, (hvdm_domid_t)(f.domid + 1)));
    /* Bad prot, nr 0, no addr, a hole: still -EPERM, nothing learnt. */
    EXPECT_EQ(-EPERM, hvdm_map_guest_memory(r, f.domid, GFN, 0, 0, NULL, &bad));
    EXPECT_EQ(-EPERM, hvdm_map_guest_memory(r, f.domid, RAM_PAGES, 1, PROT_READ, &addr, &bad));
    EXPECT_EQ(-EPERM, hvdm_map_guest_memory(r, f.domid, GFN, 1, PROT_READ, &addr, &bad));
    EXPECT_EQ(-EPERM, hvdm_get_memory_map(r, f.domid, NULL, NULL));
    EXPECT_EQ(-EPERM, hvdm_get_memory_map(r, f.domid, NULL, &n));
    EXPECT_TRUE(addr == UNTOUCHED);
    EXPECT_U64(SENTINEL, bad);
    /* Its own domain (none here): past the restriction. */
    EXPECT_EQ(-ESRCH, hvdm_map_guest_memory(r, (hvdm_domid_t)(f.domid + 1), GFN, 1, PROT_READ, &addr, &bad));
    EXPECT_EQ(0, hvdm_close(r));
    fixture_destroy(&f);
}

static int claim(struct fixture *f, struct server *s) {
    return hvdm_map_mem_type_to_ioreq_server(f->dm, f->domid, s->id, HVDM_MEM_IOREQ_SERVER,
                                             HVDM_IOREQ_MEM_ACCESS_WRITE);
}

static void type_changes_keep_the_mapping(void) {
    struct fixture f;
    struct server s;
    void *addr = NULL;
    volatile uint32_t *p;
    uint64_t v = 0;
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, server_create(&f, f.dm, HVDM_BUFIOREQ_OFF, 1, &s));
    REQUIRE_EQ(0, hvdm_map_guest_memory(f.dm, f.domid, GFN, 1, PROT_READ | PROT_WRITE, &addr, NULL));
    p = (volatile uint32_t *)addr;
    p[0] = 1;
    /* ram_ro: the guest's store is dropped, the device model's is not. */
    REQUIRE_EQ(0, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_RAM_RO, GFN, 1));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, GPA, 4, 0xdead));
    EXPECT_U64(1, p[0]);
    p[0] = 2;
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_load(f.dom, 0, GPA, 4, &v));
    EXPECT_U64(2, v);
    /* ioreq_server, claimed and then disclaimed. */
    REQUIRE_EQ(0, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_RAM_RW, GFN, 1));
    REQUIRE_EQ(0, claim(&f, &s));
    REQUIRE_EQ(0, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_IOREQ_SERVER, GFN, 1));
    p[0] = 3;
    EXPECT_U64(3, ram_u32(&f, GPA));
    REQUIRE_EQ(0, hvdm_map_mem_type_to_ioreq_server(f.dm, f.domid, s.id, HVDM_MEM_IOREQ_SERVER, 0));
    EXPECT_EQ(HVDM_MEM_RAM_RW, mem_type_of(&f, GFN));
    p[0] = 4;
    EXPECT_U64(4, ram_u32(&f, GPA));
    /* mmio_dm: the guest no longer reaches the page; the mapping still holds it. */
    REQUIRE_EQ(0, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_MMIO_DM, GFN, 1));
    EXPECT_U64(4, p[0]);
    p[0] = 5;
    EXPECT_U64(5, p[0]);
    EXPECT_EQ(0, hvdm_unmap_guest_memory(f.dm, addr, 1));
    fixture_destroy(&f);
}

static void device_model_write_to_a_claimed_page_is_not_trapped(void) {
    struct fixture f;
    struct server s;
    void *addr = NULL;
    volatile uint64_t *p;
    hvdm_ioreq_t *slot;
    uint64_t v = 0;
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, server_create(&f, f.dm, HVDM_BUFIOREQ_OFF, 1, &s));
    REQUIRE_EQ(0, claim(&f, &s));
    REQUIRE_EQ(0, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_IOREQ_SERVER, GFN, 2));
    REQUIRE_EQ(0, hvdm_map_guest_memory(f.dm, f.domid, GFN, 2, PROT_READ | PROT_WRITE, &addr, NULL));
    p = (volatile uint64_t *)addr;
    slot = &s.page->vcpu_ioreq[0];
    /* Through the mapping: in RAM at once, no request, no wake-up. */
    p[PAGE / 8] = 0x1111222233334444ull;
    EXPECT_U64(0x1111222233334444ull, guest_u64(&f, GPA + PAGE));
    EXPECT_EQ(0, fd_readable(s.fd));
    EXPECT_EQ(HVDM_STATE_IOREQ_NONE, slot->state);
    EXPECT_EQ(0, slot->vp_eport); /* untouched slot 0 */
    /* The guest's write to the same page goes to the server... */
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_store(f.dom, 0, GPA + PAGE + 8, 8, 0x5555666677778888ull));
    EXPECT_EQ(1, fd_readable(s.fd));
    (void)fd_drain(s.fd);
    EXPECT_EQ(HVDM_STATE_IOREQ_READY, slot->state);
    EXPECT_U64(GPA + PAGE + 8, slot->addr);
    EXPECT_U64(0x5555666677778888ull, slot->data);
    EXPECT_EQ(HVDM_IOREQ_WRITE, slot->dir);
    /* ...and lands in RAM only when the device model applies it (as a
     * shadowing model does, through its mapping), then answers. */
    EXPECT_U64(0, guest_u64(&f, GPA + PAGE + 8));
    p[PAGE / 8 + 1] = slot->data;
    REQUIRE_EQ(0, server_answer(&f, f.dm, &s, 0, 0));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 0, NULL));
    EXPECT_U64(0x5555666677778888ull, guest_u64(&f, GPA + PAGE + 8));
    /* Reads of the claimed page are the guest's RAM: the mapping's writes. */
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_load(f.dom, 1, GPA + PAGE, 8, &v));
    EXPECT_U64(0x1111222233334444ull, v);
    EXPECT_EQ(0, fd_readable(s.fd));
    EXPECT_EQ(0, hvdm_unmap_guest_memory(f.dm, addr, 2));
    fixture_destroy(&f);
}

static void mapping_outlives_its_domain(void) {
    struct fixture f;
    void *addr = NULL;
    volatile uint64_t *p;
    unsigned int n = 4;
    hvdm_mem_range r[4];
    REQUIRE_EQ(0, fixture_create(&f));
    set_ram_u32(&f, GPA, 0x77u);
    REQUIRE_EQ(0, hvdm_map_guest_memory(f.dm, f.domid, GFN, 1, PROT_READ | PROT_WRITE, &addr, NULL));
    p = (volatile uint64_t *)addr;
    REQUIRE_EQ(0, hv_domain_destroy(f.dom));
    f.dom = NULL;
    EXPECT_U64(0x77u, p[0]);
    p[0] = 0x88u;
    EXPECT_U64(0x88u, p[0]);
    EXPECT_EQ(-ESRCH, hvdm_map_guest_memory(f.dm, f.domid, GFN, 1, PROT_READ, &addr, NULL));
    EXPECT_EQ(-ESRCH, hvdm_get_memory_map(f.dm, f.domid, r, &n));
    EXPECT_EQ(0, hvdm_unmap_guest_memory(f.dm, (void *)p, 1));
    fixture_destroy(&f);
}

static void mapping_outlives_its_host_and_close_unmaps(void) {
    struct fixture f;
    void *addr = NULL;
    void *kept = NULL;
    volatile uint64_t *p;
    int before;
    REQUIRE_EQ(0, fixture_create(&f));
    before = ram_mappings();
    set_ram_u32(&f, GPA + 8, 0x99u);
    REQUIRE_EQ(0, hvdm_map_guest_memory(f.dm, f.domid, GFN, 1, PROT_READ | PROT_WRITE, &addr, NULL));
    REQUIRE_EQ(0, hvdm_map_guest_memory(f.dm, f.domid, GFN + 8, 2, PROT_READ, &kept, NULL));
    if (before >= 0) EXPECT_EQ(before + 2, ram_mappings());
    p = (volatile uint64_t *)addr;
    hv_host_destroy(f.host);
    f.host = NULL;
    f.dom = NULL;
    if (before >= 0) EXPECT_EQ(before + 1, ram_mappings()); /* the domain's own mapping went */
    EXPECT_U64(0x99u, p[1]);
    p[1] = 0xaau;
    EXPECT_U64(0xaau, p[1]);
    EXPECT_EQ(-ENODEV, hvdm_map_guest_memory(f.dm, f.domid, GFN, 1, PROT_READ, &addr, NULL));
    EXPECT_EQ(-ENODEV, hvdm_get_memory_map(f.dm, f.domid, NULL, NULL));
    /* Unmapping still works without the host; close unmaps the rest. */
    EXPECT_EQ(0, hvdm_unmap_guest_memory(f.dm, (void *)p, 1));
    if (before >= 0) EXPECT_EQ(before, ram_mappings());
    EXPECT_EQ(0, hvdm_close(f.dm));
    f.dm = NULL;
    if (before >= 0) EXPECT_EQ(before - 1, ram_mappings());
    fixture_destroy(&f);
}

static void memory_map_is_the_configured_ram_then_a_hole_to_the_top(void) {
    struct fixture f;
    hvdm_mem_range r[4];
    unsigned int n = 0;
    uint64_t top;
    uint16_t t = 0;
    REQUIRE_EQ(0, fixture_create(&f));
    EXPECT_EQ(-ENOSPC, hvdm_get_memory_map(f.dm, f.domid, NULL, &n));
    EXPECT_EQ(2, n);
    memset(r, 0xee, sizeof r);
    n = 1;
    EXPECT_EQ(-ENOSPC, hvdm_get_memory_map(f.dm, f.domid, r, &n));
    EXPECT_EQ(2, n);
    EXPECT_U64(0xeeeeeeeeeeeeeeeeull, r[0].first_gfn); /* nothing written */
    EXPECT_EQ(-EINVAL, hvdm_get_memory_map(f.dm, f.domid, r, NULL));
    n = 4;
    REQUIRE_EQ(0, hvdm_get_memory_map(f.dm, f.domid, r, &n));
    REQUIRE_EQ(2, n);
    EXPECT_U64(0, r[0].first_gfn);
    EXPECT_U64(RAM_PAGES, r[0].nr); /* hv_domain_config.ram_bytes / 4096 */
    EXPECT_EQ(HVDM_MEM_RAM, r[0].kind);
    EXPECT_EQ(0, r[0].pad);
    EXPECT_U64(RAM_PAGES, r[1].first_gfn);
    EXPECT_EQ(HVDM_MEM_HOLE, r[1].kind);
    EXPECT_EQ(0, r[1].pad);
    EXPECT_U64(0xeeeeeeeeeeeeeeeeull, r[2].first_gfn); /* only n written */
    /* The top of the guest-physical space: the first gfn the p2m refuses. */
    top = r[1].first_gfn + r[1].nr;
    EXPECT_TRUE(r[1].nr > 0);
    EXPECT_EQ(0, hvdm_get_mem_type(f.dm, f.domid, top - 1, &t));
    EXPECT_EQ(HVDM_MEM_MMIO_DM, t);
    EXPECT_EQ(-EINVAL, hvdm_get_mem_type(f.dm, f.domid, top, &t));
    /* The layout is the configuration's, not the p2m types'. */
    REQUIRE_EQ(0, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_MMIO_DM, GFN, 1));
    n = 4;
    REQUIRE_EQ(0, hvdm_get_memory_map(f.dm, f.domid, r, &n));
    EXPECT_EQ(2, n);
    EXPECT_U64(RAM_PAGES, r[0].nr);
    fixture_destroy(&f);
}

static void memory_map_follows_the_ram_size(void) {
    struct fixture f;
    hvdm_mem_range r[2];
    unsigned int n = 2;
    REQUIRE_EQ(0, fixture_create_with(&f, 3u * 1024 * 1024 + 3 * PAGE, 1, 0));
    REQUIRE_EQ(0, hvdm_get_memory_map(f.dm, f.domid, r, &n));
    REQUIRE_EQ(2, n);
    EXPECT_U64(3 * 256 + 3, r[0].nr);
    EXPECT_U64(3 * 256 + 3, r[1].first_gfn);
    fixture_destroy(&f);
}

int main(void) {
    skip_unless_vmx_backend("guest_mem/map");
    printf("backend %s\n", test_arch_name());
    RUN(rw_mapping_is_the_guests_ram_both_ways);
    RUN(two_mappings_of_one_page_are_the_same_ram);
    RUN(read_only_mapping_cannot_be_made_writable);
    RUN(hole_is_efault_naming_the_first_bad_gfn);
    RUN(bad_arguments_are_einval_and_map_nothing);
    RUN(restricted_handle_gets_eperm_first);
    RUN(type_changes_keep_the_mapping);
    RUN(device_model_write_to_a_claimed_page_is_not_trapped);
    RUN(mapping_outlives_its_domain);
    RUN(mapping_outlives_its_host_and_close_unmaps);
    RUN(memory_map_is_the_configured_ram_then_a_hole_to_the_top);
    RUN(memory_map_follows_the_ram_size);
    return abi_finish("guest_mem/map");
}

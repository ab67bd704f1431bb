/* SPDX-License-Identifier: MIT */
/* hvdm_map_guest_pages (HVCORE_1.5): a list of guest pages, in any order
 * and with holes, mapped at consecutive pages of one mapping, as Xen's
 * xenforeignmemory_map2 through privcmd's IOCTL_PRIVCMD_MMAPBATCH_V2, on
 * every backend and over a socket (abi/guest_pages/<backend>[/socket]).
 *
 * The domain (abi_test.h): 16 MiB of RAM, gfns 0..TEST_MAX_GFN (0xfff);
 * TEST_MAX_GFN + 1 is the first gfn of the hole above RAM. */
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "abi_test.h"

#define PAGE TEST_PAGE_SIZE

/* A value that names its gfn, written to the first word of the page. */
static uint32_t mark(uint64_t gfn) { return 0x5a000000u | (uint32_t)gfn; }

/* 1 if the byte at p can be read by the kernel on our behalf, 0 if the
 * access faults (write(2) from an inaccessible page is EFAULT, no signal). */
static int readable(const void *p) {
    int fds[2];
    ssize_t n;
    if (pipe(fds) != 0) return -1;
    n = write(fds[1], p, 1);
    close(fds[0]);
    close(fds[1]);
    return n == 1;
}

static uint32_t word_at(const void *base, uint32_t page) {
    return *(const volatile uint32_t *)((const char *)base + (size_t)page * PAGE);
}

static void scattered_pages_map_in_list_order_shared_with_the_guest(void) {
    /* Out of order, a repeated gfn, a run of three, the last RAM page. */
    static const uint64_t gfns[] = {5, 3, 3, 100, 101, 102, TEST_MAX_GFN};
    const uint32_t nr = (uint32_t)(sizeof gfns / sizeof gfns[0]);
    struct fixture f;
    void *addr = NULL;
    int err[7];
    uint32_t i;
    uint32_t v = 0;
    REQUIRE_EQ(0, fixture_create(&f));
    for (i = 0; i < nr; ++i) set_ram_u32(&f, gfns[i] * PAGE, mark(gfns[i]));
    memset(err, 0x7f, sizeof err);
    REQUIRE_EQ(0, hvdm_map_guest_pages(f.dm, f.domid, gfns, nr, PROT_READ | PROT_WRITE, 0, &addr, err));
    REQUIRE_TRUE(addr != NULL && (uintptr_t)addr % PAGE == 0);
    for (i = 0; i < nr; ++i) {
        EXPECT_EQ(0, err[i]);
        EXPECT_U64(mark(gfns[i]), word_at(addr, i));
    }
    /* A store through page 1 (gfn 3) is in the guest's RAM, and seen
     * through page 2, the same gfn mapped again. */
    *(volatile uint32_t *)((char *)addr + 1 * PAGE + 8) = 0xc0ffee;
    EXPECT_EQ(0, hv_guest_read(f.dom, 3 * PAGE + 8, &v, sizeof v));
    EXPECT_U64(0xc0ffee, v);
    EXPECT_U64(0xc0ffee, *(volatile uint32_t *)((char *)addr + 2 * PAGE + 8));
    /* The guest's store is seen through the mapping. */
    set_ram_u32(&f, 101 * PAGE + 16, 0xbeef);
    EXPECT_U64(0xbeef, *(volatile uint32_t *)((char *)addr + 4 * PAGE + 16));
    /* One mapping: unmapped with the count it was made with, once. */
    EXPECT_EQ(-EINVAL, hvdm_unmap_guest_memory(f.dm, addr, nr - 1));
    EXPECT_EQ(0, hvdm_unmap_guest_memory(f.dm, addr, nr));
    EXPECT_EQ(-EINVAL, hvdm_unmap_guest_memory(f.dm, addr, nr));
    fixture_destroy(&f);
}

static void a_page_that_is_not_ram_is_einval_in_err_and_left_inaccessible(void) {
    /* gfn 7 made mmio_dm (not backed by RAM), the first gfn above RAM,
     * a gfn no offset can reach, between RAM pages. */
    const uint64_t gfns[] = {1, 7, 2, TEST_MAX_GFN + 1, 6, ~0ull, 8};
    const int want[] = {0, -EINVAL, 0, -EINVAL, 0, -EINVAL, 0};
    const uint32_t nr = (uint32_t)(sizeof gfns / sizeof gfns[0]);
    struct fixture f;
    void *addr = NULL;
    int err[7];
    uint32_t i;
    REQUIRE_EQ(0, fixture_create(&f));
    for (i = 0; i < nr; ++i)
        if (want[i] == 0) set_ram_u32(&f, gfns[i] * PAGE, mark(gfns[i]));
    REQUIRE_EQ(0, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_MMIO_DM, 7, 1));
    REQUIRE_EQ(0, hvdm_map_guest_pages(f.dm, f.domid, gfns, nr, PROT_READ, 0, &addr, err));
    for (i = 0; i < nr; ++i) {
        EXPECT_EQ(want[i], err[i]);
        EXPECT_EQ(want[i] == 0, readable((const char *)addr + (size_t)i * PAGE));
        if (want[i] == 0) EXPECT_U64(mark(gfns[i]), word_at(addr, i));
    }
    EXPECT_EQ(0, hvdm_unmap_guest_memory(f.dm, addr, nr));
    /* Every page left out is still a success, as privcmd's. */
    {
        const uint64_t holes[] = {TEST_MAX_GFN + 1, 7};
        err[0] = err[1] = 0;
        addr = NULL;
        EXPECT_EQ(0, hvdm_map_guest_pages(f.dm, f.domid, holes, 2, PROT_READ, 0, &addr, err));
        EXPECT_EQ(-EINVAL, err[0]);
        EXPECT_EQ(-EINVAL, err[1]);
        EXPECT_EQ(0, readable(addr));
        EXPECT_EQ(0, hvdm_unmap_guest_memory(f.dm, addr, 2));
    }
    fixture_destroy(&f);
}

static void map_fixed_places_the_mapping_exactly_and_read_only_stays_read_only(void) {
    static const uint64_t gfns[] = {9, 4};
    struct fixture f;
    char *area;
    void *addr;
    int err[2];
    REQUIRE_EQ(0, fixture_create(&f));
    set_ram_u32(&f, 9 * PAGE, mark(9));
    set_ram_u32(&f, 4 * PAGE, mark(4));
    /* Four pages of our own (/dev/zero: C99 has no MAP_ANONYMOUS); the
     * mapping replaces the middle two. */
    {
        const int zero = open("/dev/zero", O_RDWR);
        REQUIRE_TRUE(zero >= 0);
        area = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, zero, 0);
        close(zero);
    }
    REQUIRE_TRUE(area != MAP_FAILED);
    addr = area + PAGE;
    REQUIRE_EQ(0, hvdm_map_guest_pages(f.dm, f.domid, gfns, 2, PROT_READ, MAP_FIXED, &addr, err));
    EXPECT_TRUE(addr == area + PAGE);
    EXPECT_U64(mark(9), word_at(area, 1));
    EXPECT_U64(mark(4), word_at(area, 2));
    /* PROT_READ alone: the kernel refuses to make it writable. */
    EXPECT_EQ(-1, mprotect(area + PAGE, PAGE, PROT_READ | PROT_WRITE));
    EXPECT_EQ(EACCES, errno);
    EXPECT_EQ(0, hvdm_unmap_guest_memory(f.dm, addr, 2));
    EXPECT_EQ(0, munmap(area, 4 * PAGE));
    fixture_destroy(&f);
}

static void bad_arguments_are_einval_and_map_nothing(void) {
    static const uint64_t gfns[] = {1};
    struct fixture f;
    void *addr = NULL;
    void *odd = (void *)(uintptr_t)(PAGE + 1);
    int err[1];
    REQUIRE_EQ(0, fixture_create(&f));
    EXPECT_EQ(-EINVAL, hvdm_map_guest_pages(NULL, f.domid, gfns, 1, PROT_READ, 0, &addr, err));
    EXPECT_EQ(-EINVAL, hvdm_map_guest_pages(f.dm, f.domid, NULL, 1, PROT_READ, 0, &addr, err));
    EXPECT_EQ(-EINVAL, hvdm_map_guest_pages(f.dm, f.domid, gfns, 0, PROT_READ, 0, &addr, err));
    EXPECT_EQ(-EINVAL, hvdm_map_guest_pages(f.dm, f.domid, gfns, 1, 0, 0, &addr, err));
    EXPECT_EQ(-EINVAL, hvdm_map_guest_pages(f.dm, f.domid, gfns, 1, PROT_READ | PROT_EXEC, 0, &addr, err));
    EXPECT_EQ(-EINVAL, hvdm_map_guest_pages(f.dm, f.domid, gfns, 1, PROT_READ, MAP_SHARED, &addr, err));
    EXPECT_EQ(-EINVAL, hvdm_map_guest_pages(f.dm, f.domid, gfns, 1, PROT_READ, MAP_FIXED, &addr, err));
    EXPECT_EQ(-EINVAL, hvdm_map_guest_pages(f.dm, f.domid, gfns, 1, PROT_READ, MAP_FIXED, &odd, err));
    EXPECT_EQ(-EINVAL, hvdm_map_guest_pages(f.dm, f.domid, gfns, 1, PROT_READ, 0, NULL, err));
    EXPECT_EQ(-EINVAL, hvdm_map_guest_pages(f.dm, f.domid, gfns, 1, PROT_READ, 0, &addr, NULL));
    EXPECT_TRUE(addr == NULL);
    /* No such domain: the whole call fails (privcmd would report each
     * page; see the drop-in's notes). */
    EXPECT_EQ(-ESRCH, hvdm_map_guest_pages(f.dm, (hvdm_domid_t)(f.domid + 100), gfns, 1, PROT_READ, 0, &addr, err));
    /* Restricted to another domain: -EPERM before anything else. */
    EXPECT_EQ(0, hvdm_restrict(f.dm, (hvdm_domid_t)(f.domid + 1)));
    EXPECT_EQ(-EPERM, hvdm_map_guest_pages(f.dm, f.domid, gfns, 1, PROT_READ, 0, &addr, err));
    EXPECT_EQ(-EPERM, hvdm_map_guest_pages(f.dm, f.domid, NULL, 0, 0, 0, NULL, NULL));
    EXPECT_TRUE(addr == NULL);
    fixture_destroy(&f);
}

static void a_mapping_outlives_the_domain_and_the_host_until_unmapped(void) {
    static const uint64_t gfns[] = {12, 10};
    struct fixture f;
    void *addr = NULL;
    int err[2];
    REQUIRE_EQ(0, fixture_create(&f));
    set_ram_u32(&f, 12 * PAGE, mark(12));
    REQUIRE_EQ(0, hvdm_map_guest_pages(f.dm, f.domid, gfns, 2, PROT_READ | PROT_WRITE, 0, &addr, err));
    EXPECT_EQ(0, hv_domain_destroy(f.dom));
    f.dom = NULL;
    hv_host_destroy(f.host);
    f.host = NULL;
    EXPECT_U64(mark(12), word_at(addr, 0));
    *(volatile uint32_t *)((char *)addr + PAGE) = 1; /* still writable, no SIGBUS */
    EXPECT_EQ(0, hvdm_unmap_guest_memory(f.dm, addr, 2));
    fixture_destroy(&f);
}

int main(void) {
    skip_unless_vmx_backend("abi_guest_pages");
    RUN(scattered_pages_map_in_list_order_shared_with_the_guest);
    RUN(a_page_that_is_not_ram_is_einval_in_err_and_left_inaccessible);
    RUN(map_fixed_places_the_mapping_exactly_and_read_only_stays_read_only);
    RUN(bad_arguments_are_einval_and_map_nothing);
    RUN(a_mapping_outlives_the_domain_and_the_host_until_unmapped);
    return abi_finish("abi_guest_pages");
}

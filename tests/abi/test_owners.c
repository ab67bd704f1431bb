/* SPDX-License-Identifier: MIT */
/* Several owners of the ioreq_server type and read trapping (README.md,
 * "Several owners and read trapping"): the claim rules of Xen's mode (the
 * default) and of multi-owner mode (HV_DOMAIN_MULTI_OWNER) with every
 * errno, routing by the page's owner, a disclaim or destroy that resets
 * only its own server's pages, and reads of a read-trapped page sent to
 * its owner (read-modify-writes: the read, then the write), on every
 * backend. */
#include "abi_test.h"

/* Device model A's pages from gfn 0x100 (1 MiB), B's from gfn 0x200. */
#define GFN_A 0x100u
#define GFN_B 0x200u
#define NR 4u
#define GPA_A ((uint64_t)GFN_A * TEST_PAGE_SIZE)
#define GPA_B ((uint64_t)GFN_B * TEST_PAGE_SIZE)
/* B's pages in a leaf table of their own after A's 600 from gfn 0x400 */
#define B_FAR 0x800u

#define W HVDM_IOREQ_MEM_ACCESS_WRITE
#define R HVDM_IOREQ_MEM_ACCESS_READ
#define WP HVDM_IOREQ_MEM_ACCESS_WRITE_POSTED

static int claim(struct fixture *f, hvdm_handle *h, hvdm_ioservid_t id, uint32_t flags) {
    return hvdm_map_mem_type_to_ioreq_server(h, f->domid, id, HVDM_MEM_IOREQ_SERVER, flags);
}

static int set_type(struct fixture *f, hvdm_handle *h, uint16_t type, uint64_t gfn, uint32_t nr) {
    return hvdm_set_mem_type(h, f->domid, type, gfn, nr);
}

/* vCPU v's slot of s holds one request of the kind given (count 1, not a
 * pointer); `data` is checked for a write. */
static void expect_request(struct server *s, uint32_t v, int dir, uint64_t addr, uint32_t size, uint64_t data) {
    const hvdm_ioreq_t *r = &s->page->vcpu_ioreq[v];
    EXPECT_EQ(HVDM_STATE_IOREQ_READY, r->state);
    EXPECT_EQ(HVDM_IOREQ_TYPE_COPY, r->type);
    EXPECT_EQ(dir, r->dir);
    EXPECT_U64(addr, r->addr);
    EXPECT_EQ(size, r->size);
    EXPECT_EQ(1, r->count);
    EXPECT_EQ(0, r->data_is_ptr);
    if (dir == HVDM_IOREQ_WRITE) EXPECT_U64(data, r->data);
}

static int slot_idle(struct server *s, uint32_t v) { return s->page->vcpu_ioreq[v].state == HVDM_STATE_IOREQ_NONE; }

/* A multi-owner domain, and a second device-model handle *dm2. */
static int multi_fixture(struct fixture *f, hvdm_handle **dm2) {
    int rc = fixture_create_with(f, TEST_RAM_BYTES, TEST_NR_VCPUS, HV_DOMAIN_MULTI_OWNER);
    if (rc != 0) return rc;
    *dm2 = hvdm_open(f->host);
    return *dm2 == NULL ? -ENOMEM : 0;
}

static void xens_mode_keeps_one_claim_per_domain_and_write_only_flags(void) {
    struct fixture f;
    hvdm_handle *dm2;
    hvdm_ioservid_t a = 0, a2 = 0, b = 0;
    REQUIRE_EQ(0, fixture_create(&f));
    dm2 = hvdm_open(f.host);
    REQUIRE_TRUE(dm2 != NULL);
    REQUIRE_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &a));
    REQUIRE_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &a2));
    REQUIRE_EQ(0, hvdm_create_ioreq_server(dm2, f.domid, HVDM_BUFIOREQ_OFF, &b));
    /* READ, and hvcore's WRITE_POSTED, are multi-owner mode's: -EINVAL as Xen */
    EXPECT_EQ(-EINVAL, claim(&f, f.dm, a, R));
    EXPECT_EQ(-EINVAL, claim(&f, f.dm, a, R | W));
    EXPECT_EQ(-EINVAL, claim(&f, f.dm, a, W | WP));
    /* a disclaim by a server that holds no claim */
    EXPECT_EQ(-EINVAL, claim(&f, f.dm, a, 0));
    REQUIRE_EQ(0, claim(&f, f.dm, a, W));
    /* one claim per domain: itself, its sibling, another handle's server */
    EXPECT_EQ(-EBUSY, claim(&f, f.dm, a, W));
    EXPECT_EQ(-EBUSY, claim(&f, f.dm, a2, W));
    EXPECT_EQ(-EBUSY, claim(&f, dm2, b, W));
    EXPECT_EQ(-EINVAL, claim(&f, dm2, b, 0)); /* not the claimant */
    /* any handle sets the type, and changes the claimant's pages back (Xen) */
    REQUIRE_EQ(0, set_type(&f, dm2, HVDM_MEM_IOREQ_SERVER, GFN_A, NR));
    EXPECT_U64(NR, entry_count(&f));
    EXPECT_EQ(0, set_type(&f, dm2, HVDM_MEM_RAM_RW, GFN_A, 1));
    EXPECT_U64(NR - 1, entry_count(&f));
    REQUIRE_EQ(0, claim(&f, f.dm, a, 0));
    EXPECT_U64(0, entry_count(&f));
    EXPECT_EQ(0, claim(&f, dm2, b, W)); /* the type is free again */
    EXPECT_EQ(0, hvdm_close(dm2));
    fixture_destroy(&f);
}

static void multi_owner_mode_accepts_four_claims_and_refuses_the_other_flags(void) {
    /* WRITE, WRITE|WRITE_POSTED, READ, READ|WRITE; nothing else */
    static const uint32_t good[] = {W, W | WP, R, R | W};
    static const uint32_t bad[] = {WP, R | WP, R | W | WP, 1u << 3, 0x80000000u | W};
    struct fixture f;
    hvdm_handle *dm2;
    hvdm_ioservid_t a = 0;
    size_t i;
    REQUIRE_EQ(0, multi_fixture(&f, &dm2));
    /* with a ring: WRITE_POSTED posts on it (without one it is -EINVAL, abi/posted) */
    REQUIRE_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_ATOMIC, &a));
    for (i = 0; i < sizeof bad / sizeof bad[0]; ++i) EXPECT_EQ(-EINVAL, claim(&f, f.dm, a, bad[i]));
    for (i = 0; i < sizeof good / sizeof good[0]; ++i) {
        EXPECT_EQ(0, claim(&f, f.dm, a, good[i]));
        EXPECT_EQ(0, claim(&f, f.dm, a, 0));
    }
    /* the type must still be ioreq_server; a disclaim without a claim */
    EXPECT_EQ(-EINVAL, hvdm_map_mem_type_to_ioreq_server(f.dm, f.domid, a, HVDM_MEM_RAM_RW, W));
    EXPECT_EQ(-EINVAL, claim(&f, f.dm, a, 0));
    EXPECT_EQ(0, hvdm_close(dm2));
    fixture_destroy(&f);
}

static void multi_owner_mode_allows_one_claim_per_server_and_per_device_model(void) {
    struct fixture f;
    hvdm_handle *dm2;
    hvdm_ioservid_t a = 0, a2 = 0, b = 0;
    REQUIRE_EQ(0, multi_fixture(&f, &dm2));
    REQUIRE_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &a));
    REQUIRE_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &a2));
    REQUIRE_EQ(0, hvdm_create_ioreq_server(dm2, f.domid, HVDM_BUFIOREQ_OFF, &b));
    REQUIRE_EQ(0, claim(&f, f.dm, a, W));
    EXPECT_EQ(-EBUSY, claim(&f, f.dm, a, W));  /* it already claims */
    EXPECT_EQ(-EBUSY, claim(&f, f.dm, a, R));  /* whatever the flags */
    EXPECT_EQ(-EBUSY, claim(&f, f.dm, a2, W)); /* its device model already claims */
    EXPECT_EQ(0, claim(&f, dm2, b, R | W));    /* another device model may */
    /* another handle's server: -EPERM before anything (Xen's rule) */
    EXPECT_EQ(-EPERM, claim(&f, f.dm, b, 0));
    EXPECT_EQ(-EINVAL, claim(&f, f.dm, a2, 0)); /* a2 holds no claim */
    /* once a disclaims, its sibling may claim */
    REQUIRE_EQ(0, claim(&f, f.dm, a, 0));
    EXPECT_EQ(0, claim(&f, f.dm, a2, W));
    EXPECT_EQ(0, hvdm_close(dm2));
    fixture_destroy(&f);
}

static void multi_owner_set_mem_type_makes_the_callers_pages_and_guards_the_others(void) {
    struct fixture f;
    hvdm_handle *dm2, *dm3;
    hvdm_ioservid_t a = 0, b = 0;
    uint64_t list[3];
    uint64_t refused = 0;
    REQUIRE_EQ(0, multi_fixture(&f, &dm2));
    dm3 = hvdm_open(f.host); /* a device model with no server */
    REQUIRE_TRUE(dm3 != NULL);
    REQUIRE_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &a));
    REQUIRE_EQ(0, hvdm_create_ioreq_server(dm2, f.domid, HVDM_BUFIOREQ_OFF, &b));
    /* no claim of the caller's device model: -EINVAL, even while another claims */
    EXPECT_EQ(-EINVAL, set_type(&f, f.dm, HVDM_MEM_IOREQ_SERVER, GFN_A, NR));
    REQUIRE_EQ(0, claim(&f, dm2, b, W));
    EXPECT_EQ(-EINVAL, set_type(&f, f.dm, HVDM_MEM_IOREQ_SERVER, GFN_A, NR));
    EXPECT_EQ(-EINVAL, set_type(&f, dm3, HVDM_MEM_IOREQ_SERVER, GFN_A, NR));
    REQUIRE_EQ(0, claim(&f, f.dm, a, W));
    REQUIRE_EQ(0, set_type(&f, f.dm, HVDM_MEM_IOREQ_SERVER, GFN_A, NR));
    REQUIRE_EQ(0, set_type(&f, dm2, HVDM_MEM_IOREQ_SERVER, GFN_B, NR));
    EXPECT_U64(2 * NR, entry_count(&f));
    /* another device model's page: -EPERM, nothing changes */
    EXPECT_EQ(-EPERM, set_type(&f, dm2, HVDM_MEM_RAM_RW, GFN_A, 1));
    EXPECT_EQ(-EPERM, set_type(&f, dm3, HVDM_MEM_RAM_RW, GFN_B + 1, 1));
    EXPECT_EQ(-EPERM, set_type(&f, f.dm, HVDM_MEM_RAM_RW, GFN_A, GFN_B - GFN_A + 1)); /* reaches B's first */
    EXPECT_EQ(HVDM_MEM_IOREQ_SERVER, mem_type_of(&f, GFN_A));
    EXPECT_EQ(HVDM_MEM_IOREQ_SERVER, mem_type_of(&f, GFN_B + 1));
    EXPECT_U64(2 * NR, entry_count(&f));
    /* -EINVAL (a change that is never allowed) comes before -EPERM */
    EXPECT_EQ(-EINVAL, set_type(&f, dm2, HVDM_MEM_RAM_RO, GFN_A, 1));
    /* the list form: the first foreign gfn is named */
    list[0] = GFN_A + 1;
    list[1] = GFN_B + 2;
    list[2] = GFN_B + 3;
    EXPECT_EQ(-EPERM, hvdm_set_mem_type_list(f.dm, f.domid, HVDM_MEM_RAM_RW, list, 3, &refused));
    EXPECT_U64(GFN_B + 2, refused);
    EXPECT_EQ(HVDM_MEM_IOREQ_SERVER, mem_type_of(&f, GFN_A + 1)); /* all or nothing */
    EXPECT_EQ(-EINVAL, hvdm_set_mem_type_list(dm3, f.domid, HVDM_MEM_IOREQ_SERVER, list, 1, &refused));
    /* its own pages, each device model */
    EXPECT_EQ(0, hvdm_set_mem_type_list(f.dm, f.domid, HVDM_MEM_RAM_RW, list, 1, &refused));
    EXPECT_EQ(0, set_type(&f, dm2, HVDM_MEM_RAM_RW, GFN_B + 3, 1));
    EXPECT_U64(2 * NR - 2, entry_count(&f));
    /* a page whose owner disclaimed is anyone's again */
    REQUIRE_EQ(0, claim(&f, dm2, b, 0));
    EXPECT_EQ(HVDM_MEM_RAM_RW, mem_type_of(&f, GFN_B));
    EXPECT_EQ(0, set_type(&f, dm3, HVDM_MEM_RAM_RO, GFN_B, 1));
    EXPECT_EQ(0, hvdm_close(dm3));
    EXPECT_EQ(0, hvdm_close(dm2));
    fixture_destroy(&f);
}

static void two_owners_each_get_the_writes_to_their_own_pages(void) {
    struct fixture f;
    hvdm_handle *dm2;
    struct server a, b;
    uint64_t value = 0;
    REQUIRE_EQ(0, multi_fixture(&f, &dm2));
    REQUIRE_EQ(0, server_create(&f, f.dm, HVDM_BUFIOREQ_OFF, 1, &a));
    REQUIRE_EQ(0, server_create(&f, dm2, HVDM_BUFIOREQ_OFF, 1, &b));
    REQUIRE_EQ(0, claim(&f, f.dm, a.id, W));
    REQUIRE_EQ(0, claim(&f, dm2, b.id, W));
    REQUIRE_EQ(0, set_type(&f, f.dm, HVDM_MEM_IOREQ_SERVER, GFN_A, NR));
    REQUIRE_EQ(0, set_type(&f, dm2, HVDM_MEM_IOREQ_SERVER, GFN_B, NR));
    set_ram_u32(&f, GPA_A + 8, 0x1111u);
    set_ram_u32(&f, GPA_B + 8, 0x2222u);
    /* A's page: to a only */
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_store(f.dom, 0, GPA_A + 8, 4, 0xaaaa));
    expect_request(&a, 0, HVDM_IOREQ_WRITE, GPA_A + 8, 4, 0xaaaa);
    EXPECT_TRUE(slot_idle(&b, 0));
    REQUIRE_EQ(0, server_answer(&f, f.dm, &a, 0, 0));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 0, &value));
    /* B's page: to b only */
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_store(f.dom, 0, GPA_B + 8, 4, 0xbbbb));
    expect_request(&b, 0, HVDM_IOREQ_WRITE, GPA_B + 8, 4, 0xbbbb);
    EXPECT_TRUE(slot_idle(&a, 0));
    REQUIRE_EQ(0, server_answer(&f, dm2, &b, 0, 0));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 0, &value));
    /* write-only claims: reads from RAM, writes never made to it */
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_load(f.dom, 0, GPA_A + 8, 4, &value));
    EXPECT_U64(0x1111u, value);
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_load(f.dom, 0, GPA_B + 8, 4, &value));
    EXPECT_U64(0x2222u, value);
    /* a's owner disabled: a write to A's page is held; B's still goes through */
    REQUIRE_EQ(0, hvdm_set_ioreq_server_state(f.dm, f.domid, a.id, 0));
    EXPECT_EQ(HV_VCPU_RETRY, hv_vcpu_store(f.dom, 0, GPA_A, 4, 1));
    EXPECT_TRUE(slot_idle(&a, 0));
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_store(f.dom, 0, GPA_B, 4, 2));
    expect_request(&b, 0, HVDM_IOREQ_WRITE, GPA_B, 4, 2);
    REQUIRE_EQ(0, server_answer(&f, dm2, &b, 0, 0));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 0, &value));
    EXPECT_EQ(0, hvdm_close(dm2));
    fixture_destroy(&f);
}

static void disclaim_and_destroy_reset_only_their_own_pages(void) {
    struct fixture f;
    hvdm_handle *dm2;
    struct server a, b;
    uint64_t value = 0;
    uint32_t i;
    REQUIRE_EQ(0, multi_fixture(&f, &dm2));
    REQUIRE_EQ(0, server_create(&f, f.dm, HVDM_BUFIOREQ_OFF, 1, &a));
    REQUIRE_EQ(0, server_create(&f, dm2, HVDM_BUFIOREQ_OFF, 1, &b));
    REQUIRE_EQ(0, claim(&f, f.dm, a.id, W));
    REQUIRE_EQ(0, claim(&f, dm2, b.id, W));
    /* 600 pages of A's over two leaf tables (512 pages each), NR of B's in
     * the next table (B_FAR) and NR at GFN_B */
    REQUIRE_EQ(0, set_type(&f, f.dm, HVDM_MEM_IOREQ_SERVER, 0x400, 600));
    REQUIRE_EQ(0, set_type(&f, dm2, HVDM_MEM_IOREQ_SERVER, B_FAR, NR));
    REQUIRE_EQ(0, set_type(&f, dm2, HVDM_MEM_IOREQ_SERVER, GFN_B, NR));
    EXPECT_U64(600 + 2 * NR, entry_count(&f));
    REQUIRE_EQ(0, claim(&f, f.dm, a.id, 0));
    EXPECT_U64(2 * NR, entry_count(&f));
    EXPECT_EQ(HVDM_MEM_RAM_RW, mem_type_of(&f, 0x400));
    EXPECT_EQ(HVDM_MEM_RAM_RW, mem_type_of(&f, 0x400 + 599));
    for (i = 0; i < NR; ++i) {
        EXPECT_EQ(HVDM_MEM_IOREQ_SERVER, mem_type_of(&f, B_FAR + i));
        EXPECT_EQ(HVDM_MEM_IOREQ_SERVER, mem_type_of(&f, GFN_B + i));
    }
    /* b's pages still trap; A's are RAM */
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, 0x400ull * TEST_PAGE_SIZE, 4, 5));
    EXPECT_U64(5, ram_u32(&f, 0x400ull * TEST_PAGE_SIZE));
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_store(f.dom, 0, (uint64_t)B_FAR * TEST_PAGE_SIZE, 4, 6));
    expect_request(&b, 0, HVDM_IOREQ_WRITE, (uint64_t)B_FAR * TEST_PAGE_SIZE, 4, 6);
    REQUIRE_EQ(0, server_answer(&f, dm2, &b, 0, 0));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 0, &value));
    /* a claims again at once: none of its pages is left */
    EXPECT_EQ(0, claim(&f, f.dm, a.id, R | W));
    REQUIRE_EQ(0, set_type(&f, f.dm, HVDM_MEM_IOREQ_SERVER, GFN_A, NR));
    /* destroying b resets b's pages only */
    REQUIRE_EQ(0, hvdm_destroy_ioreq_server(dm2, f.domid, b.id));
    EXPECT_U64(NR, entry_count(&f));
    EXPECT_EQ(HVDM_MEM_RAM_RW, mem_type_of(&f, GFN_B));
    EXPECT_EQ(HVDM_MEM_IOREQ_SERVER, mem_type_of(&f, GFN_A));
    /* closing a's handle resets the rest */
    EXPECT_EQ(0, hvdm_close(f.dm));
    f.dm = NULL;
    EXPECT_U64(0, entry_count(&f));
    EXPECT_EQ(0, hvdm_close(dm2));
    fixture_destroy(&f);
}

static void riscv_refuses_leaf_tables_shared_by_two_owners_beyond_its_side_budget(void) {
    /* RISC-V G-stage has no room for the owner in its entries (RSW holds
     * the type): a leaf table whose ioreq_server pages have two owners
     * needs a side record of 192 bytes, within 1% of the table frames in
     * use (41 bytes a frame), which the few tables of a 16 MiB domain hold
     * for some tables, not for all 8: the first refused change is -ENOSPC
     * and changes nothing. The other formats keep the owner in the entry
     * and accept every one. */
    struct fixture f;
    hvdm_handle *dm2;
    hvdm_ioservid_t a = 0, b = 0;
    const int riscv = test_arch() == HV_ARCH_RISCV64;
    uint64_t t, count, refused = 0;
    int rc;
    REQUIRE_EQ(0, multi_fixture(&f, &dm2));
    REQUIRE_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &a));
    REQUIRE_EQ(0, hvdm_create_ioreq_server(dm2, f.domid, HVDM_BUFIOREQ_OFF, &b));
    REQUIRE_EQ(0, claim(&f, f.dm, a, W));
    REQUIRE_EQ(0, claim(&f, dm2, b, W));
    /* in each of the 8 leaf tables (512 pages) of the RAM, a page of A's
     * and the next one of B's */
    for (t = 0; t <= TEST_MAX_GFN / 512; ++t) {
        REQUIRE_EQ(0, set_type(&f, f.dm, HVDM_MEM_IOREQ_SERVER, t * 512 + 16, 1));
        count = entry_count(&f);
        rc = set_type(&f, dm2, HVDM_MEM_IOREQ_SERVER, t * 512 + 17, 1);
        if (rc == 0) continue;
        EXPECT_EQ(-ENOSPC, rc);
        EXPECT_U64(count, entry_count(&f)); /* nothing changed */
        EXPECT_EQ(HVDM_MEM_RAM_RW, mem_type_of(&f, t * 512 + 17));
        ++refused;
    }
    if (riscv)
        EXPECT_TRUE(refused > 0);
    else
        EXPECT_U64(0, refused);
    EXPECT_EQ(0, hvdm_close(dm2));
    fixture_destroy(&f);
}

static void a_long_change_refused_at_a_later_step_changes_nothing(void) {
    /* A's page in each of the 8 leaf tables, then one list of B's: 256
     * pages of table 0 (the first step of 256), then a page in each other
     * table (the second step). On RISC-V the second step's mixed tables
     * pass the side budget (-ENOSPC) and the first step is undone: all or
     * nothing. Elsewhere the whole list is made. */
    enum { first_step = 256, n = first_step + 7 };
    static uint64_t list[n];
    struct fixture f;
    hvdm_handle *dm2;
    hvdm_ioservid_t a = 0, b = 0;
    const int riscv = test_arch() == HV_ARCH_RISCV64;
    uint64_t t, refused = 0;
    int i;
    REQUIRE_EQ(0, multi_fixture(&f, &dm2));
    REQUIRE_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &a));
    REQUIRE_EQ(0, hvdm_create_ioreq_server(dm2, f.domid, HVDM_BUFIOREQ_OFF, &b));
    REQUIRE_EQ(0, claim(&f, f.dm, a, W));
    REQUIRE_EQ(0, claim(&f, dm2, b, W));
    for (t = 0; t < 8; ++t) REQUIRE_EQ(0, set_type(&f, f.dm, HVDM_MEM_IOREQ_SERVER, t * 512 + 16, 1));
    for (i = 0; i < first_step; ++i) list[i] = 17 + (uint64_t)i;
    for (i = 0; i < 7; ++i) list[first_step + i] = (uint64_t)(i + 1) * 512 + 17;
    EXPECT_EQ(riscv ? -ENOSPC : 0, hvdm_set_mem_type_list(dm2, f.domid, HVDM_MEM_IOREQ_SERVER, list, n, &refused));
    EXPECT_U64(riscv ? 8 : 8 + n, entry_count(&f));
    EXPECT_EQ(riscv ? HVDM_MEM_RAM_RW : HVDM_MEM_IOREQ_SERVER, mem_type_of(&f, 17));
    EXPECT_EQ(riscv ? HVDM_MEM_RAM_RW : HVDM_MEM_IOREQ_SERVER, mem_type_of(&f, 17 + first_step - 1));
    EXPECT_EQ(HVDM_MEM_IOREQ_SERVER, mem_type_of(&f, 16)); /* A's stay */
    EXPECT_EQ(0, hvdm_close(dm2));
    fixture_destroy(&f);
}

static void reads_of_a_read_trapped_page_go_to_its_owner(void) {
    struct fixture f;
    hvdm_handle *dm2;
    struct server a, b;
    uint64_t value = 0;
    char detail[256];
    REQUIRE_EQ(0, multi_fixture(&f, &dm2));
    REQUIRE_EQ(0, server_create(&f, f.dm, HVDM_BUFIOREQ_OFF, 1, &a));
    REQUIRE_EQ(0, server_create(&f, dm2, HVDM_BUFIOREQ_OFF, 1, &b));
    REQUIRE_EQ(0, claim(&f, f.dm, a.id, R | W));
    REQUIRE_EQ(0, claim(&f, dm2, b.id, R));
    REQUIRE_EQ(0, set_type(&f, f.dm, HVDM_MEM_IOREQ_SERVER, GFN_A, NR));
    REQUIRE_EQ(0, set_type(&f, dm2, HVDM_MEM_IOREQ_SERVER, GFN_B, NR));
    set_ram_u32(&f, GPA_A + 0x40, 0x1111u);
    set_ram_u32(&f, GPA_B + 0x40, 0x2222u);
    /* READ|WRITE: a load is a read ioreq; the guest reads the answer, not RAM */
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_load(f.dom, 0, GPA_A + 0x40, 4, &value));
    expect_request(&a, 0, HVDM_IOREQ_READ, GPA_A + 0x40, 4, 0);
    EXPECT_TRUE(slot_idle(&b, 0));
    REQUIRE_EQ(0, server_answer(&f, f.dm, &a, 0, 0xfeedf00du));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 0, &value));
    EXPECT_U64(0xfeedf00du, value);
    /* and a store a write ioreq, RAM untouched */
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_store(f.dom, 0, GPA_A + 0x40, 2, 0x3333));
    expect_request(&a, 0, HVDM_IOREQ_WRITE, GPA_A + 0x40, 2, 0x3333);
    REQUIRE_EQ(0, server_answer(&f, f.dm, &a, 0, 0));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 0, &value));
    EXPECT_U64(0x1111u, ram_u32(&f, GPA_A + 0x40));
    /* READ alone: reads go to b, writes are made to RAM */
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_load(f.dom, 0, GPA_B + 0x40, 8, &value));
    expect_request(&b, 0, HVDM_IOREQ_READ, GPA_B + 0x40, 8, 0);
    EXPECT_TRUE(slot_idle(&a, 0));
    REQUIRE_EQ(0, server_answer(&f, dm2, &b, 0, 0x0123456789abcdefull));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 0, &value));
    EXPECT_U64(0x0123456789abcdefull, value);
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, GPA_B + 0x40, 4, 0x4444u));
    EXPECT_TRUE(slot_idle(&b, 0));
    EXPECT_U64(0x4444u, ram_u32(&f, GPA_B + 0x40));
    /* an instruction fetch stays a guest fault naming the gpa */
    EXPECT_EQ(HV_VCPU_GUEST_FAULT, hv_vcpu_fetch(f.dom, 0, GPA_A + 0x123));
    EXPECT_EQ(0, hv_vcpu_fault_detail(f.dom, 0, detail, sizeof detail));
    if (!EXPECT_TRUE(strstr(detail, "100123") != NULL)) fprintf(stderr, "    detail: \"%s\"\n", detail);
    EXPECT_TRUE(slot_idle(&a, 0));
    /* a disabled owner: the read is held */
    REQUIRE_EQ(0, hvdm_set_ioreq_server_state(f.dm, f.domid, a.id, 0));
    EXPECT_EQ(HV_VCPU_RETRY, hv_vcpu_load(f.dom, 0, GPA_A, 4, &value));
    EXPECT_TRUE(slot_idle(&a, 0));
    /* disclaimed: the page reads from RAM again */
    REQUIRE_EQ(0, claim(&f, f.dm, a.id, 0));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_load(f.dom, 0, GPA_A + 0x40, 4, &value));
    EXPECT_U64(0x1111u, value);
    EXPECT_EQ(0, hvdm_close(dm2));
    fixture_destroy(&f);
}

/* The read, then the write, of one read-modify-write instruction on a
 * READ|WRITE page: the read's answer is the operand, the write carries the
 * result, and the re-execution after each answer sends nothing twice. */
struct rmw_case {
    const char *name;
    uint8_t insn[8];
    unsigned len;
    uint32_t size;
    uint64_t answer; /* what the owner answers to the read */
    uint64_t src;    /* the register operand (x86 rbx / Arm64 w1) */
    int writes;      /* a write follows */
    uint64_t written;
};

static void run_rmw(const struct rmw_case *c) {
    struct fixture f;
    hvdm_handle *dm2;
    struct server a;
    uint64_t value = 0;
    const int x86 = test_arch() == HV_ARCH_X86_VMX || test_arch() == HV_ARCH_X86_SVM;
    const uint64_t gpa = GPA_A + 0x100;
    REQUIRE_EQ(0, multi_fixture(&f, &dm2));
    REQUIRE_EQ(0, server_create(&f, f.dm, HVDM_BUFIOREQ_OFF, 1, &a));
    REQUIRE_EQ(0, claim(&f, f.dm, a.id, R | W));
    REQUIRE_EQ(0, set_type(&f, f.dm, HVDM_MEM_IOREQ_SERVER, GFN_A, 1));
    set_ram_u32(&f, gpa, 0x7777u);
    if (x86) {
        REQUIRE_EQ(0, hv_vcpu_set_reg(f.dom, 0, HV_REG_RAX, gpa));
        REQUIRE_EQ(0, hv_vcpu_set_reg(f.dom, 0, HV_REG_RBX, c->src));
    } else {
        /* Arm64: the base in x3, the operand in w1, the old value to w2 */
        REQUIRE_EQ(0, hv_vcpu_set_reg(f.dom, 0, HV_REG_X3, gpa));
        REQUIRE_EQ(0, hv_vcpu_set_reg(f.dom, 0, HV_REG_X1, c->src));
    }
    fprintf(stderr, "    %s\n", c->name);
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_exec(f.dom, 0, c->insn, c->len));
    expect_request(&a, 0, HVDM_IOREQ_READ, gpa, c->size, 0);
    REQUIRE_EQ(0, server_answer(&f, f.dm, &a, 0, c->answer));
    if (c->writes) {
        EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_resume(f.dom, 0, &value));
        expect_request(&a, 0, HVDM_IOREQ_WRITE, gpa, c->size, c->written);
        REQUIRE_EQ(0, server_answer(&f, f.dm, &a, 0, 0));
    }
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 0, &value));
    EXPECT_TRUE(slot_idle(&a, 0));
    EXPECT_U64(0x7777u, ram_u32(&f, gpa)); /* the owner decides what RAM holds */
    if (!x86) {
        /* LDADD and SWP return the old value: the owner's answer */
        EXPECT_EQ(0, hv_vcpu_get_reg(f.dom, 0, HV_REG_X2, &value));
        EXPECT_U64(c->answer, value);
    } else if (c->insn[0] == 0x87) {
        /* XCHG: rbx gets the owner's answer */
        EXPECT_EQ(0, hv_vcpu_get_reg(f.dom, 0, HV_REG_RBX, &value));
        EXPECT_U64(c->answer, value);
    }
    EXPECT_EQ(0, hvdm_close(dm2));
    fixture_destroy(&f);
}

static void read_modify_write_on_a_read_trapped_page_sends_the_read_then_the_write(void) {
    /* x86 (Intel SDM Vol. 2): ADD r/m32, r32 = 01 /r; XCHG r/m32, r32 = 87
     * /r; LOCK CMPXCHG r/m32, r32 = F0 0F B1 /r (eax, the low half of the
     * address, differs from the 0x7000 answered: eax gets it, and the
     * write-back of the value read is not made, as for any page); INC r/m32
     * = FF /0.
     * ModRM 0x18: [rax] with rbx; 0x00: [rax]. */
    static const struct rmw_case x86[] = {
        {"add [rax], ebx", {0x01, 0x18}, 2, 4, 40, 2, 1, 42},
        {"xchg [rax], ebx", {0x87, 0x18}, 2, 4, 0x5555, 0x6666, 1, 0x6666},
        {"lock cmpxchg [rax], ebx (not equal: no write)", {0xf0, 0x0f, 0xb1, 0x18}, 4, 4, 0x7000, 9, 0, 0},
        {"inc dword [rax]", {0xff, 0x00}, 2, 4, 99, 0, 1, 100},
    };
    /* Arm64 (Arm ARM C6.2 LDADD, SWP): LDADD w1, w2, [x3] = 0xb8210062,
     * SWP w1, w2, [x3] = 0xb8218062; w2 gets the old value (the answer) */
    static const struct rmw_case a64[] = {
        {"ldadd w1, w2, [x3]", {0x62, 0x00, 0x21, 0xb8}, 4, 4, 40, 2, 1, 42},
        {"swp w1, w2, [x3]", {0x62, 0x80, 0x21, 0xb8}, 4, 4, 0x5555, 0x6666, 1, 0x6666},
    };
    size_t i;
    if (test_arch() == HV_ARCH_X86_VMX || test_arch() == HV_ARCH_X86_SVM) {
        for (i = 0; i < sizeof x86 / sizeof x86[0]; ++i) run_rmw(&x86[i]);
    } else if (test_arch() == HV_ARCH_ARM64) {
        for (i = 0; i < sizeof a64 / sizeof a64[0]; ++i) run_rmw(&a64[i]);
    }
    /* RISC-V: the executor emulates no AMO (a guest fault on any page) */
}

static void rep_movs_from_a_read_trapped_page_is_one_pointer_read(void) {
    /* x86 only: REP MOVSD (F3 A5), rsi in the trapped page, rdi in RAM,
     * 4 elements: one COPY read ioreq with count 4, data_is_ptr and data =
     * the destination (Xen's hvmemul_rep_movs from MMIO to RAM). */
    static const uint8_t rep_movsd[] = {0xf3, 0xa5};
    const uint64_t src = GPA_A + 0x200, dst = 0x300000;
    struct fixture f;
    hvdm_handle *dm2;
    struct server a;
    const hvdm_ioreq_t *r;
    uint64_t value = 0;
    REQUIRE_EQ(0, multi_fixture(&f, &dm2));
    REQUIRE_EQ(0, server_create(&f, f.dm, HVDM_BUFIOREQ_OFF, 1, &a));
    REQUIRE_EQ(0, claim(&f, f.dm, a.id, R));
    REQUIRE_EQ(0, set_type(&f, f.dm, HVDM_MEM_IOREQ_SERVER, GFN_A, 1));
    REQUIRE_EQ(0, hv_vcpu_set_reg(f.dom, 0, HV_REG_RSI, src));
    REQUIRE_EQ(0, hv_vcpu_set_reg(f.dom, 0, HV_REG_RDI, dst));
    REQUIRE_EQ(0, hv_vcpu_set_reg(f.dom, 0, HV_REG_RCX, 4));
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_exec(f.dom, 0, rep_movsd, sizeof rep_movsd));
    r = &a.page->vcpu_ioreq[0];
    EXPECT_EQ(HVDM_STATE_IOREQ_READY, r->state);
    EXPECT_EQ(HVDM_IOREQ_TYPE_COPY, r->type);
    EXPECT_EQ(HVDM_IOREQ_READ, r->dir);
    EXPECT_U64(src, r->addr);
    EXPECT_EQ(4, r->size);
    EXPECT_EQ(4, r->count);
    EXPECT_EQ(1, r->data_is_ptr);
    EXPECT_U64(dst, r->data);
    /* the owner writes the guest's RAM itself, then answers */
    set_ram_u32(&f, dst, 0xabcd);
    REQUIRE_EQ(0, server_answer(&f, f.dm, &a, 0, 0));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 0, &value));
    EXPECT_EQ(0, hv_vcpu_get_reg(f.dom, 0, HV_REG_RCX, &value));
    EXPECT_U64(0, value);
    EXPECT_EQ(0, hv_vcpu_get_reg(f.dom, 0, HV_REG_RSI, &value));
    EXPECT_U64(src + 16, value);
    EXPECT_U64(0xabcd, ram_u32(&f, dst));
    EXPECT_EQ(0, hvdm_close(dm2));
    fixture_destroy(&f);
}

int main(void) {
    skip_unless_vmx_backend("test_owners");
    RUN(xens_mode_keeps_one_claim_per_domain_and_write_only_flags);
    RUN(multi_owner_mode_accepts_four_claims_and_refuses_the_other_flags);
    RUN(multi_owner_mode_allows_one_claim_per_server_and_per_device_model);
    RUN(multi_owner_set_mem_type_makes_the_callers_pages_and_guards_the_others);
    RUN(two_owners_each_get_the_writes_to_their_own_pages);
    RUN(disclaim_and_destroy_reset_only_their_own_pages);
    RUN(riscv_refuses_leaf_tables_shared_by_two_owners_beyond_its_side_budget);
    RUN(a_long_change_refused_at_a_later_step_changes_nothing);
    RUN(reads_of_a_read_trapped_page_go_to_its_owner);
    RUN(read_modify_write_on_a_read_trapped_page_sends_the_read_then_the_write);
    if (test_arch_has_pio()) RUN(rep_movs_from_a_read_trapped_page_is_one_pointer_read);
    return abi_finish("test_owners");
}

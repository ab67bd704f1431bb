/* SPDX-License-Identifier: MIT */
/* Every errno of the DMOP envelope, of map_mem_type_to_ioreq_server, of
 * set_mem_type and of get_ioreq_server_info (Xen xen/common/dm.c do_dm_op(),
 * xen/arch/x86/hvm/dm.c dm_op(), set_mem_type(), allow_p2m_type_change(),
 * xen/common/ioreq.c ioreq_server_map_mem_type(), xen/arch/x86/mm/p2m.c
 * p2m_set_ioreq_server(), and the hvcore decisions in README.md). */
#include "abi_test.h"
#include "dmop_raw.h"

/* DOMID_FIRST_RESERVED in Xen: never the id of a guest, so no such domain. */
#define NO_SUCH_DOMAIN ((hvdm_domid_t)0x7ff0)
/* The pages the set_mem_type scenarios change: gfn 0x100 = GPA 1 MiB. */
#define GFN 0x100u

/* ---- the raw DMOP envelope --------------------------------------------- */

static void dm_op_with_no_buffers_is_enodata(void) {
    struct fixture f;
    struct dm_op o = dm_op_make(HVDM_DMOP_NR_VCPUS);
    hvdm_buf b;
    REQUIRE_EQ(0, fixture_create(&f));
    b.ptr = &o;
    b.size = sizeof o;
    EXPECT_EQ(-ENODATA, hvdm_dm_op(f.dm, f.domid, 0, &b)); /* XSA-506 */
    fixture_destroy(&f);
}

static void dm_op_with_three_buffers_is_e2big(void) {
    struct fixture f;
    struct dm_op o = dm_op_make(HVDM_DMOP_NR_VCPUS);
    hvdm_buf b[3];
    REQUIRE_EQ(0, fixture_create(&f));
    b[0].ptr = b[1].ptr = b[2].ptr = &o;
    b[0].size = b[1].size = b[2].size = sizeof o;
    EXPECT_EQ(-E2BIG, hvdm_dm_op(f.dm, f.domid, 3, b)); /* struct dmop_args has buf[2] */
    fixture_destroy(&f);
}

static void dm_op_buffer_shorter_than_header_plus_op_is_efault(void) {
    struct fixture f;
    struct dm_op o;
    REQUIRE_EQ(0, fixture_create(&f));
    /* 4 bytes: not even the 8-byte header */
    o = dm_op_make(HVDM_DMOP_NR_VCPUS);
    EXPECT_EQ(-EFAULT, dm_op_issue_sized(f.dm, f.domid, &o, 4));
    /* nr_vcpus needs 8 + 4 bytes; 8 + 3 is one short */
    o = dm_op_make(HVDM_DMOP_NR_VCPUS);
    EXPECT_EQ(-EFAULT, dm_op_issue_sized(f.dm, f.domid, &o, 8 + 3));
    /* ... and exactly 8 + 4 is enough */
    o = dm_op_make(HVDM_DMOP_NR_VCPUS);
    EXPECT_EQ(0, dm_op_issue_sized(f.dm, f.domid, &o, 8 + 4));
    EXPECT_EQ(TEST_NR_VCPUS, o.u.nr_vcpus.vcpus);
    /* map_mem_type needs 8 + 16; 8 + 15 is one short */
    o = dm_op_make(HVDM_DMOP_MAP_MEM_TYPE_TO_IOREQ_SERVER);
    o.u.map_mem_type.type = HVDM_MEM_IOREQ_SERVER;
    o.u.map_mem_type.flags = HVDM_IOREQ_MEM_ACCESS_WRITE;
    EXPECT_EQ(-EFAULT, dm_op_issue_sized(f.dm, f.domid, &o, 8 + 15));
    /* with 8 + 16 it gets as far as the server lookup: no server 0 yet */
    EXPECT_EQ(-ENOENT, dm_op_issue_sized(f.dm, f.domid, &o, 8 + 16));
    fixture_destroy(&f);
}

static void dm_op_header_pad_nonzero_is_einval(void) {
    struct fixture f;
    struct dm_op o = dm_op_make(HVDM_DMOP_NR_VCPUS);
    REQUIRE_EQ(0, fixture_create(&f));
    o.pad = 1;
    EXPECT_EQ(-EINVAL, dm_op_issue(f.dm, f.domid, &o));
    fixture_destroy(&f);
}

static void unimplemented_dm_ops_are_eopnotsupp(void) {
    /* 13, 17 and 18 exist in Xen but not in hvcore; 21 and up do not
     * exist at all (0xffffffff: the largest op number). The interrupt ops
     * exist on one arch each, as Xen's dm.c: 19 is not an x86 op, 8, 9, 10
     * and 14 are x86 only (test_irq.c checks them in full). */
    static const uint32_t ops[] = {13, 17, 18, 21, 22, 255, 0xffffffffu};
    static const uint32_t x86_only[] = {8, 9, 10, 14};
    const int x86 = test_arch() == HV_ARCH_X86_VMX || test_arch() == HV_ARCH_X86_SVM;
    struct fixture f;
    size_t i;
    REQUIRE_EQ(0, fixture_create(&f));
    for (i = 0; i < sizeof ops / sizeof ops[0]; ++i) {
        struct dm_op o = dm_op_make(ops[i]);
        if (!EXPECT_EQ(-EOPNOTSUPP, dm_op_issue(f.dm, f.domid, &o)))
            fprintf(stderr, "    (op %u)\n", (unsigned)ops[i]);
    }
    if (x86) {
        struct dm_op o = dm_op_make(HVDM_DMOP_SET_IRQ_LEVEL);
        EXPECT_EQ(-EOPNOTSUPP, dm_op_issue(f.dm, f.domid, &o));
    } else {
        for (i = 0; i < sizeof x86_only / sizeof x86_only[0]; ++i) {
            struct dm_op o = dm_op_make(x86_only[i]);
            if (!EXPECT_EQ(-EOPNOTSUPP, dm_op_issue(f.dm, f.domid, &o)))
                fprintf(stderr, "    (op %u)\n", (unsigned)x86_only[i]);
        }
    }
    fixture_destroy(&f);
}

static void dm_op_on_unknown_domain_is_esrch(void) {
    struct fixture f;
    struct dm_op o = dm_op_make(HVDM_DMOP_NR_VCPUS);
    hvdm_ioservid_t id = 0;
    REQUIRE_EQ(0, fixture_create(&f));
    EXPECT_EQ(-ESRCH, dm_op_issue(f.dm, NO_SUCH_DOMAIN, &o));
    EXPECT_EQ(-ESRCH, hvdm_create_ioreq_server(f.dm, NO_SUCH_DOMAIN, HVDM_BUFIOREQ_OFF, &id));
    EXPECT_EQ(-ESRCH, hvdm_set_mem_type(f.dm, NO_SUCH_DOMAIN, HVDM_MEM_RAM_RO, GFN, 1));
    fixture_destroy(&f);
}

static void domain_ids_start_at_one(void) {
    struct fixture f;
    REQUIRE_EQ(0, fixture_create(&f));
    EXPECT_EQ(1, f.domid); /* the first domain of a fresh host */
    fixture_destroy(&f);
}

/* ---- map_mem_type_to_ioreq_server -------------------------------------- */

static void claim_with_nonzero_opaque_is_einval(void) {
    struct fixture f;
    struct dm_op o;
    hvdm_ioservid_t id = 0;
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &id));
    /* Xen skips the claim and reports success; hvcore refuses. */
    o = dm_op_make(HVDM_DMOP_MAP_MEM_TYPE_TO_IOREQ_SERVER);
    o.u.map_mem_type.id = id;
    o.u.map_mem_type.type = HVDM_MEM_IOREQ_SERVER;
    o.u.map_mem_type.flags = HVDM_IOREQ_MEM_ACCESS_WRITE;
    o.u.map_mem_type.opaque = 1;
    EXPECT_EQ(-EINVAL, dm_op_issue(f.dm, f.domid, &o));
    /* nothing was claimed: set_mem_type to ioreq_server still has no owner */
    EXPECT_EQ(-EINVAL, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_IOREQ_SERVER, GFN, 1));
    /* a disclaim with opaque != 0 is refused the same way */
    EXPECT_EQ(0, hvdm_map_mem_type_to_ioreq_server(f.dm, f.domid, id, HVDM_MEM_IOREQ_SERVER,
                                                   HVDM_IOREQ_MEM_ACCESS_WRITE));
    o.u.map_mem_type.flags = 0;
    o.u.map_mem_type.opaque = 256; /* a cursor Xen's sweep would resume from */
    EXPECT_EQ(-EINVAL, dm_op_issue(f.dm, f.domid, &o));
    /* still claimed: the same server claiming again is -EBUSY */
    EXPECT_EQ(-EBUSY, hvdm_map_mem_type_to_ioreq_server(f.dm, f.domid, id, HVDM_MEM_IOREQ_SERVER,
                                                        HVDM_IOREQ_MEM_ACCESS_WRITE));
    fixture_destroy(&f);
}

static void claim_flags_other_than_0_or_write_are_einval(void) {
    /* READ alone, READ|WRITE, an undefined bit, the top bit */
    static const uint32_t bad[] = {HVDM_IOREQ_MEM_ACCESS_READ,
                                   HVDM_IOREQ_MEM_ACCESS_READ | HVDM_IOREQ_MEM_ACCESS_WRITE, 1u << 2, 1u << 31};
    struct fixture f;
    hvdm_ioservid_t id = 0;
    size_t i;
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &id));
    for (i = 0; i < sizeof bad / sizeof bad[0]; ++i)
        EXPECT_EQ(-EINVAL, hvdm_map_mem_type_to_ioreq_server(f.dm, f.domid, id, HVDM_MEM_IOREQ_SERVER, bad[i]));
    fixture_destroy(&f);
}

static void claim_of_type_other_than_ioreq_server_is_einval(void) {
    static const uint16_t bad[] = {HVDM_MEM_RAM_RW, HVDM_MEM_RAM_RO, HVDM_MEM_MMIO_DM, HVDM_MEM_UNUSED, 5, 0xffff};
    struct fixture f;
    hvdm_ioservid_t id = 0;
    size_t i;
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &id));
    for (i = 0; i < sizeof bad / sizeof bad[0]; ++i)
        EXPECT_EQ(-EINVAL,
                  hvdm_map_mem_type_to_ioreq_server(f.dm, f.domid, id, bad[i], HVDM_IOREQ_MEM_ACCESS_WRITE));
    fixture_destroy(&f);
}

static void claim_for_unknown_server_is_enoent(void) {
    /* server 0 exists; 1 was never created, 8 is beyond the 8 slots */
    static const hvdm_ioservid_t bad[] = {1, 7, 8, 0xffff};
    struct fixture f;
    hvdm_ioservid_t id = 0;
    size_t i;
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &id));
    REQUIRE_EQ(0, id);
    for (i = 0; i < sizeof bad / sizeof bad[0]; ++i)
        EXPECT_EQ(-ENOENT, hvdm_map_mem_type_to_ioreq_server(f.dm, f.domid, bad[i], HVDM_MEM_IOREQ_SERVER,
                                                             HVDM_IOREQ_MEM_ACCESS_WRITE));
    fixture_destroy(&f);
}

static void claim_for_another_handles_server_is_eperm(void) {
    struct fixture f;
    hvdm_handle *other;
    hvdm_ioservid_t id = 0;
    REQUIRE_EQ(0, fixture_create(&f));
    other = hvdm_open(f.host);
    REQUIRE_TRUE(other != NULL);
    REQUIRE_EQ(0, hvdm_create_ioreq_server(other, f.domid, HVDM_BUFIOREQ_OFF, &id));
    EXPECT_EQ(-EPERM, hvdm_map_mem_type_to_ioreq_server(f.dm, f.domid, id, HVDM_MEM_IOREQ_SERVER,
                                                        HVDM_IOREQ_MEM_ACCESS_WRITE));
    /* the owner's claim and a stranger's disclaim */
    EXPECT_EQ(0, hvdm_map_mem_type_to_ioreq_server(other, f.domid, id, HVDM_MEM_IOREQ_SERVER,
                                                   HVDM_IOREQ_MEM_ACCESS_WRITE));
    EXPECT_EQ(-EPERM, hvdm_map_mem_type_to_ioreq_server(f.dm, f.domid, id, HVDM_MEM_IOREQ_SERVER, 0));
    EXPECT_EQ(0, hvdm_close(other));
    fixture_destroy(&f);
}

static void claim_while_any_server_owns_the_type_is_ebusy(void) {
    struct fixture f;
    hvdm_ioservid_t a = 0, b = 0;
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &a));
    REQUIRE_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &b));
    REQUIRE_EQ(0, hvdm_map_mem_type_to_ioreq_server(f.dm, f.domid, a, HVDM_MEM_IOREQ_SERVER,
                                                    HVDM_IOREQ_MEM_ACCESS_WRITE));
    /* the owner itself */
    EXPECT_EQ(-EBUSY, hvdm_map_mem_type_to_ioreq_server(f.dm, f.domid, a, HVDM_MEM_IOREQ_SERVER,
                                                        HVDM_IOREQ_MEM_ACCESS_WRITE));
    /* any other server */
    EXPECT_EQ(-EBUSY, hvdm_map_mem_type_to_ioreq_server(f.dm, f.domid, b, HVDM_MEM_IOREQ_SERVER,
                                                        HVDM_IOREQ_MEM_ACCESS_WRITE));
    fixture_destroy(&f);
}

static void disclaim_by_non_owner_is_einval(void) {
    struct fixture f;
    hvdm_ioservid_t a = 0, b = 0;
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &a));
    REQUIRE_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &b));
    /* nobody owns the type yet */
    EXPECT_EQ(-EINVAL, hvdm_map_mem_type_to_ioreq_server(f.dm, f.domid, a, HVDM_MEM_IOREQ_SERVER, 0));
    REQUIRE_EQ(0, hvdm_map_mem_type_to_ioreq_server(f.dm, f.domid, a, HVDM_MEM_IOREQ_SERVER,
                                                    HVDM_IOREQ_MEM_ACCESS_WRITE));
    /* b does not own it */
    EXPECT_EQ(-EINVAL, hvdm_map_mem_type_to_ioreq_server(f.dm, f.domid, b, HVDM_MEM_IOREQ_SERVER, 0));
    /* and a still does: b's claim is -EBUSY, a's disclaim works */
    EXPECT_EQ(-EBUSY, hvdm_map_mem_type_to_ioreq_server(f.dm, f.domid, b, HVDM_MEM_IOREQ_SERVER,
                                                        HVDM_IOREQ_MEM_ACCESS_WRITE));
    EXPECT_EQ(0, hvdm_map_mem_type_to_ioreq_server(f.dm, f.domid, a, HVDM_MEM_IOREQ_SERVER, 0));
    fixture_destroy(&f);
}

static void claim_on_domain_without_hap_is_eopnotsupp(void) {
    struct fixture f;
    hvdm_ioservid_t id = 0;
    REQUIRE_EQ(0, fixture_create_with(&f, TEST_RAM_BYTES, 1, HV_DOMAIN_NO_HAP));
    REQUIRE_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &id));
    EXPECT_EQ(-EOPNOTSUPP, hvdm_map_mem_type_to_ioreq_server(f.dm, f.domid, id, HVDM_MEM_IOREQ_SERVER,
                                                             HVDM_IOREQ_MEM_ACCESS_WRITE));
    EXPECT_EQ(-EOPNOTSUPP, hvdm_map_mem_type_to_ioreq_server(f.dm, f.domid, id, HVDM_MEM_IOREQ_SERVER, 0));
    /* set_mem_type to ioreq_server is HAP-only too (Xen's set_mem_type) */
    EXPECT_EQ(-EOPNOTSUPP, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_IOREQ_SERVER, GFN, 1));
    /* other types are not HAP-only */
    EXPECT_EQ(0, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_RAM_RO, GFN, 1));
    fixture_destroy(&f);
}

/* ---- set_mem_type -------------------------------------------------------- */

static void set_mem_type_with_nr_zero_is_einval(void) {
    struct fixture f;
    REQUIRE_EQ(0, fixture_create(&f));
    EXPECT_EQ(-EINVAL, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_RAM_RO, GFN, 0));
    fixture_destroy(&f);
}

static void set_mem_type_range_that_wraps_is_einval(void) {
    struct fixture f;
    REQUIRE_EQ(0, fixture_create(&f));
    /* first_pfn + nr - 1 wraps past 2^64 to 0 */
    EXPECT_EQ(-EINVAL, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_RAM_RO, UINT64_MAX, 2));
    /* first page 0 is still ram_rw: nothing was changed */
    EXPECT_EQ(HVDM_MEM_RAM_RW, mem_type_of(&f, 0));
    fixture_destroy(&f);
}

static void set_mem_type_beyond_max_gfn_is_einval(void) {
    struct fixture f;
    REQUIRE_EQ(0, fixture_create(&f));
    /* the last page of RAM is the maximum gfn: allowed */
    EXPECT_EQ(0, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_RAM_RO, TEST_MAX_GFN, 1));
    /* one page past it */
    EXPECT_EQ(-EINVAL, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_RAM_RO, TEST_MAX_GFN + 1, 1));
    /* a range that ends one page past it */
    EXPECT_EQ(-EINVAL, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_RAM_RW, TEST_MAX_GFN, 2));
    EXPECT_EQ(HVDM_MEM_RAM_RO, mem_type_of(&f, TEST_MAX_GFN)); /* unchanged by the refused call */
    fixture_destroy(&f);
}

static void set_mem_type_to_unused_or_unknown_type_is_einval(void) {
    static const uint16_t bad[] = {HVDM_MEM_UNUSED, 5, 6, 0xffff};
    struct fixture f;
    size_t i;
    REQUIRE_EQ(0, fixture_create(&f));
    for (i = 0; i < sizeof bad / sizeof bad[0]; ++i)
        EXPECT_EQ(-EINVAL, hvdm_set_mem_type(f.dm, f.domid, bad[i], GFN, 1));
    fixture_destroy(&f);
}

static void set_mem_type_pad_nonzero_is_einval(void) {
    struct fixture f;
    struct dm_op o = dm_op_make(HVDM_DMOP_SET_MEM_TYPE);
    REQUIRE_EQ(0, fixture_create(&f));
    o.u.set_mem_type.nr = 1;
    o.u.set_mem_type.mem_type = HVDM_MEM_RAM_RO;
    o.u.set_mem_type.first_pfn = GFN;
    o.u.set_mem_type.pad = 1;
    EXPECT_EQ(-EINVAL, dm_op_issue(f.dm, f.domid, &o));
    o.u.set_mem_type.pad = 0;
    EXPECT_EQ(0, dm_op_issue(f.dm, f.domid, &o));
    fixture_destroy(&f);
}

static void set_mem_type_to_ioreq_server_while_unclaimed_is_einval(void) {
    struct fixture f;
    hvdm_ioservid_t id = 0;
    REQUIRE_EQ(0, fixture_create(&f));
    /* no server at all */
    EXPECT_EQ(-EINVAL, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_IOREQ_SERVER, GFN, 1));
    /* a server that has not claimed the type */
    REQUIRE_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &id));
    EXPECT_EQ(-EINVAL, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_IOREQ_SERVER, GFN, 1));
    /* claimed then disclaimed */
    REQUIRE_EQ(0, hvdm_map_mem_type_to_ioreq_server(f.dm, f.domid, id, HVDM_MEM_IOREQ_SERVER,
                                                    HVDM_IOREQ_MEM_ACCESS_WRITE));
    REQUIRE_EQ(0, hvdm_map_mem_type_to_ioreq_server(f.dm, f.domid, id, HVDM_MEM_IOREQ_SERVER, 0));
    EXPECT_EQ(-EINVAL, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_IOREQ_SERVER, GFN, 1));
    EXPECT_U64(0, entry_count(&f));
    fixture_destroy(&f);
}

static void set_mem_type_to_ioreq_server_only_from_ram_rw(void) {
    struct fixture f;
    hvdm_ioservid_t id = 0;
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &id));
    REQUIRE_EQ(0, hvdm_map_mem_type_to_ioreq_server(f.dm, f.domid, id, HVDM_MEM_IOREQ_SERVER,
                                                    HVDM_IOREQ_MEM_ACCESS_WRITE));
    /* GFN: ram_ro, GFN + 1: mmio_dm, GFN + 2: already ioreq_server */
    REQUIRE_EQ(0, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_RAM_RO, GFN, 1));
    REQUIRE_EQ(0, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_MMIO_DM, GFN + 1, 1));
    REQUIRE_EQ(0, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_IOREQ_SERVER, GFN + 2, 1));
    EXPECT_EQ(-EINVAL, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_IOREQ_SERVER, GFN, 1));
    EXPECT_EQ(-EINVAL, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_IOREQ_SERVER, GFN + 1, 1));
    EXPECT_EQ(-EINVAL, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_IOREQ_SERVER, GFN + 2, 1));
    EXPECT_EQ(HVDM_MEM_RAM_RO, mem_type_of(&f, GFN));
    EXPECT_EQ(HVDM_MEM_MMIO_DM, mem_type_of(&f, GFN + 1));
    EXPECT_U64(1, entry_count(&f)); /* only GFN + 2 */
    fixture_destroy(&f);
}

static void ioreq_server_pages_change_back_only_to_ram_rw(void) {
    struct fixture f;
    hvdm_ioservid_t id = 0;
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &id));
    REQUIRE_EQ(0, hvdm_map_mem_type_to_ioreq_server(f.dm, f.domid, id, HVDM_MEM_IOREQ_SERVER,
                                                    HVDM_IOREQ_MEM_ACCESS_WRITE));
    REQUIRE_EQ(0, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_IOREQ_SERVER, GFN, 1));
    EXPECT_EQ(-EINVAL, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_RAM_RO, GFN, 1));
    EXPECT_EQ(-EINVAL, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_MMIO_DM, GFN, 1));
    EXPECT_EQ(HVDM_MEM_IOREQ_SERVER, mem_type_of(&f, GFN));
    EXPECT_U64(1, entry_count(&f));
    EXPECT_EQ(0, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_RAM_RW, GFN, 1));
    EXPECT_EQ(HVDM_MEM_RAM_RW, mem_type_of(&f, GFN));
    EXPECT_U64(0, entry_count(&f));
    fixture_destroy(&f);
}

static void set_mem_type_with_one_illegal_page_changes_nothing(void) {
    /* 16 pages from GFN; the one at GFN + 8 cannot take the new type */
    const uint32_t nr = 16;
    const uint64_t bad = GFN + 8;
    struct fixture f;
    hvdm_ioservid_t id = 0;
    uint32_t i;
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &id));
    REQUIRE_EQ(0, hvdm_map_mem_type_to_ioreq_server(f.dm, f.domid, id, HVDM_MEM_IOREQ_SERVER,
                                                    HVDM_IOREQ_MEM_ACCESS_WRITE));
    /* ram_ro cannot become ioreq_server */
    REQUIRE_EQ(0, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_RAM_RO, bad, 1));
    EXPECT_EQ(-EINVAL, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_IOREQ_SERVER, GFN, nr));
    for (i = 0; i < nr; ++i)
        if (GFN + i != bad) EXPECT_EQ(HVDM_MEM_RAM_RW, mem_type_of(&f, GFN + i));
    EXPECT_U64(0, entry_count(&f));
    /* ioreq_server cannot become ram_ro */
    REQUIRE_EQ(0, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_RAM_RW, bad, 1));
    REQUIRE_EQ(0, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_IOREQ_SERVER, bad, 1));
    EXPECT_EQ(-EINVAL, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_RAM_RO, GFN, nr));
    for (i = 0; i < nr; ++i)
        if (GFN + i != bad) EXPECT_EQ(HVDM_MEM_RAM_RW, mem_type_of(&f, GFN + i));
    EXPECT_EQ(HVDM_MEM_IOREQ_SERVER, mem_type_of(&f, bad));
    EXPECT_U64(1, entry_count(&f));
    fixture_destroy(&f);
}

/* ---- get_ioreq_server_info (raw op 2) ----------------------------------- */

static void get_ioreq_server_info_without_no_gfns_is_eopnotsupp(void) {
    struct fixture f;
    struct dm_op o;
    hvdm_ioservid_t id = 0;
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &id));
    /* hvcore never puts ioreq pages in guest memory: no gfns to report */
    o = dm_op_make(HVDM_DMOP_GET_IOREQ_SERVER_INFO);
    o.u.info.id = id;
    EXPECT_EQ(-EOPNOTSUPP, dm_op_issue(f.dm, f.domid, &o));
    o = dm_op_make(HVDM_DMOP_GET_IOREQ_SERVER_INFO);
    o.u.info.id = id;
    o.u.info.flags = HVDM_DMOP_NO_GFNS;
    EXPECT_EQ(0, dm_op_issue(f.dm, f.domid, &o));
    fixture_destroy(&f);
}

static void get_ioreq_server_info_with_unknown_flags_is_einval(void) {
    /* bit 1 (undefined), no_gfns plus bit 1, the top bit */
    static const uint16_t bad[] = {2, HVDM_DMOP_NO_GFNS | 2, 0x8000};
    struct fixture f;
    hvdm_ioservid_t id = 0;
    size_t i;
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &id));
    for (i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        struct dm_op o = dm_op_make(HVDM_DMOP_GET_IOREQ_SERVER_INFO);
        o.u.info.id = id;
        o.u.info.flags = bad[i];
        EXPECT_EQ(-EINVAL, dm_op_issue(f.dm, f.domid, &o));
    }
    fixture_destroy(&f);
}

/* hv_vcpu_exec takes at most the ISA's longest instruction: x86 15 bytes
 * (SDM Vol. 2A 2.3.11), Arm64 one 4-byte A64 word, RISC-V one 4-byte
 * instruction; no bytes at all is -EINVAL too. Exactly the longest is
 * accepted (whatever it then does). */
static void exec_of_more_bytes_than_the_isa_s_longest_instruction_is_einval(void) {
    struct fixture f;
    /* x86: NOPs (0x90); Arm64: NOP words (d503201f, little-endian);
     * RISC-V: NOPs (addi x0, x0, 0 = 00000013) */
    uint8_t bytes[16];
    const int word = test_arch() == HV_ARCH_ARM64 || test_arch() == HV_ARCH_RISCV64;
    const uint32_t nop = test_arch() == HV_ARCH_ARM64 ? 0xd503201fu : 0x00000013u;
    const size_t longest = word ? 4 : 15;
    size_t i;
    for (i = 0; i < sizeof bytes; ++i) bytes[i] = word ? (uint8_t)(nop >> (8 * (i % 4))) : 0x90;
    REQUIRE_EQ(0, fixture_create(&f));
    EXPECT_EQ(-EINVAL, hv_vcpu_exec(f.dom, 0, bytes, longest + 1));
    EXPECT_EQ(-EINVAL, hv_vcpu_exec(f.dom, 0, bytes, 0));
    EXPECT_EQ(1, hv_vcpu_exec(f.dom, 0, bytes, longest) != -EINVAL);
    fixture_destroy(&f);
}

int main(void) {
    skip_unless_vmx_backend("test_errnos");
    RUN(dm_op_with_no_buffers_is_enodata);
    RUN(exec_of_more_bytes_than_the_isa_s_longest_instruction_is_einval);
    RUN(dm_op_with_three_buffers_is_e2big);
    RUN(dm_op_buffer_shorter_than_header_plus_op_is_efault);
    RUN(dm_op_header_pad_nonzero_is_einval);
    RUN(unimplemented_dm_ops_are_eopnotsupp);
    RUN(dm_op_on_unknown_domain_is_esrch);
    RUN(domain_ids_start_at_one);
    RUN(claim_with_nonzero_opaque_is_einval);
    RUN(claim_flags_other_than_0_or_write_are_einval);
    RUN(claim_of_type_other_than_ioreq_server_is_einval);
    RUN(claim_for_unknown_server_is_enoent);
    RUN(claim_for_another_handles_server_is_eperm);
    RUN(claim_while_any_server_owns_the_type_is_ebusy);
    RUN(disclaim_by_non_owner_is_einval);
    RUN(claim_on_domain_without_hap_is_eopnotsupp);
    RUN(set_mem_type_with_nr_zero_is_einval);
    RUN(set_mem_type_range_that_wraps_is_einval);
    RUN(set_mem_type_beyond_max_gfn_is_einval);
    RUN(set_mem_type_to_unused_or_unknown_type_is_einval);
    RUN(set_mem_type_pad_nonzero_is_einval);
    RUN(set_mem_type_to_ioreq_server_while_unclaimed_is_einval);
    RUN(set_mem_type_to_ioreq_server_only_from_ram_rw);
    RUN(ioreq_server_pages_change_back_only_to_ram_rw);
    RUN(set_mem_type_with_one_illegal_page_changes_nothing);
    RUN(get_ioreq_server_info_without_no_gfns_is_eopnotsupp);
    RUN(get_ioreq_server_info_with_unknown_flags_is_einval);
    return abi_finish("test_errnos");
}

/* SPDX-License-Identifier: MIT */
/* Ioreq server lifecycle, io ranges and handles: ids, limits, ownership,
 * range errnos and restricted handles (Xen xen/common/ioreq.c
 * ioreq_server_create(), ioreq_server_map_io_range(), ioreq_server_select(),
 * MAX_NR_IOREQ_SERVERS in xen/include/xen/sched.h; hvdm_restrict in
 * dm_api/include/hvcore/hvdm.h). */
#include "abi_test.h"
#include "dmop_raw.h"

/* Xen's MAX_NR_IOREQ_SERVERS and MAX_NR_IO_RANGES */
#define MAX_SERVERS 8
#define MAX_RANGES 256
/* DOMID_FIRST_RESERVED in Xen: never the id of a guest */
#define NO_SUCH_DOMAIN ((hvdm_domid_t)0x7ff0)
/* The ranges are arbitrary: ports 0x100-0x10f / 0x100-0x1ff, and the 4 KiB page at GPA
 * 1 MiB (0x100000-0x100fff) as MMIO; only how they relate matters. */
/* PCI devices are (segment, bus, device, function); 00:03.0 is arbitrary. */

static void server_ids_are_the_lowest_free_slot(void) {
    struct fixture f;
    hvdm_ioservid_t id[3] = {0, 0, 0};
    hvdm_ioservid_t again = 0;
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &id[0]));
    REQUIRE_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &id[1]));
    REQUIRE_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &id[2]));
    EXPECT_EQ(0, id[0]);
    EXPECT_EQ(1, id[1]);
    EXPECT_EQ(2, id[2]);
    REQUIRE_EQ(0, hvdm_destroy_ioreq_server(f.dm, f.domid, 1));
    EXPECT_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &again));
    EXPECT_EQ(1, again); /* slot 1 was freed; 3 was never used */
    fixture_destroy(&f);
}

static void ninth_server_is_enospc(void) {
    struct fixture f;
    hvdm_ioservid_t id = 0;
    int i;
    REQUIRE_EQ(0, fixture_create(&f));
    for (i = 0; i < MAX_SERVERS; ++i) {
        EXPECT_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &id));
        EXPECT_EQ(i, id);
    }
    EXPECT_EQ(-ENOSPC, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &id));
    /* the limit is per domain and counts every handle's servers */
    {
        hvdm_handle *other = hvdm_open(f.host);
        REQUIRE_TRUE(other != NULL);
        EXPECT_EQ(-ENOSPC, hvdm_create_ioreq_server(other, f.domid, HVDM_BUFIOREQ_OFF, &id));
        EXPECT_EQ(0, hvdm_close(other));
    }
    fixture_destroy(&f);
}

static void bufioreq_mode_above_atomic_is_einval(void) {
    struct fixture f;
    struct dm_op o;
    hvdm_ioservid_t id = 0;
    REQUIRE_EQ(0, fixture_create(&f));
    EXPECT_EQ(-EINVAL, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_ATOMIC + 1, &id));
    /* the raw op's u8 field, at its largest */
    o = dm_op_make(HVDM_DMOP_CREATE_IOREQ_SERVER);
    o.u.create.handle_bufioreq = 0xff;
    EXPECT_EQ(-EINVAL, dm_op_issue(f.dm, f.domid, &o));
    /* a non-zero pad is refused too (Xen: pad must be 0) */
    o = dm_op_make(HVDM_DMOP_CREATE_IOREQ_SERVER);
    o.u.create.pad[1] = 1;
    EXPECT_EQ(-EINVAL, dm_op_issue(f.dm, f.domid, &o));
    /* nothing was created: the next id is still 0 */
    EXPECT_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_ATOMIC, &id));
    EXPECT_EQ(0, id);
    fixture_destroy(&f);
}

static void per_server_ops_on_another_handles_server_are_eperm(void) {
    struct fixture f;
    hvdm_handle *other;
    hvdm_ioservid_t id = 0;
    hvdm_shared_iopage *page = NULL;
    struct dm_op o;
    REQUIRE_EQ(0, fixture_create(&f));
    other = hvdm_open(f.host);
    REQUIRE_TRUE(other != NULL);
    REQUIRE_EQ(0, hvdm_create_ioreq_server(other, f.domid, HVDM_BUFIOREQ_OFF, &id));
    REQUIRE_EQ(0, hvdm_map_io_range_to_ioreq_server(other, f.domid, id, PORTS, 0x100, 0x10f));
    EXPECT_EQ(-EPERM, hvdm_set_ioreq_server_state(f.dm, f.domid, id, 1));
    EXPECT_EQ(-EPERM, hvdm_map_io_range_to_ioreq_server(f.dm, f.domid, id, MMIO, 0x100000, 0x100fff));
    EXPECT_EQ(-EPERM, hvdm_unmap_io_range_from_ioreq_server(f.dm, f.domid, id, PORTS, 0x100, 0x10f));
    EXPECT_EQ(-EPERM, hvdm_map_pcidev_to_ioreq_server(f.dm, f.domid, id, 0, 0, 3, 0));
    EXPECT_EQ(-EPERM, hvdm_map_ioreq_pages(f.dm, f.domid, id, &page, NULL));
    EXPECT_EQ(-EPERM, hvdm_ioreq_fd(f.dm, f.domid, id));
    EXPECT_EQ(-EPERM, hvdm_ioreq_notify(f.dm, f.domid, id, 0));
    o = dm_op_make(HVDM_DMOP_GET_IOREQ_SERVER_INFO);
    o.u.info.id = id;
    o.u.info.flags = HVDM_DMOP_NO_GFNS;
    EXPECT_EQ(-EPERM, dm_op_issue(f.dm, f.domid, &o));
    EXPECT_EQ(-EPERM, hvdm_destroy_ioreq_server(f.dm, f.domid, id));
    /* the owner can still do all of it */
    EXPECT_EQ(0, hvdm_set_ioreq_server_state(other, f.domid, id, 1));
    EXPECT_EQ(0, hvdm_destroy_ioreq_server(other, f.domid, id));
    EXPECT_EQ(0, hvdm_close(other));
    fixture_destroy(&f);
}

static void per_server_ops_on_unknown_server_are_enoent(void) {
    struct fixture f;
    hvdm_shared_iopage *page = NULL;
    /* no server was created: 0 is free; 8 is past the last slot */
    static const hvdm_ioservid_t bad[] = {0, MAX_SERVERS};
    size_t i;
    REQUIRE_EQ(0, fixture_create(&f));
    for (i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        EXPECT_EQ(-ENOENT, hvdm_destroy_ioreq_server(f.dm, f.domid, bad[i]));
        EXPECT_EQ(-ENOENT, hvdm_set_ioreq_server_state(f.dm, f.domid, bad[i], 1));
        EXPECT_EQ(-ENOENT, hvdm_map_io_range_to_ioreq_server(f.dm, f.domid, bad[i], PORTS, 0x100, 0x10f));
        EXPECT_EQ(-ENOENT, hvdm_map_ioreq_pages(f.dm, f.domid, bad[i], &page, NULL));
        EXPECT_EQ(-ENOENT, hvdm_ioreq_fd(f.dm, f.domid, bad[i]));
        EXPECT_EQ(-ENOENT, hvdm_ioreq_notify(f.dm, f.domid, bad[i], 0));
    }
    fixture_destroy(&f);
}

static void buffered_page_is_null_without_bufioreq(void) {
    struct fixture f;
    struct server off, legacy;
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, server_create(&f, f.dm, HVDM_BUFIOREQ_OFF, 0, &off));
    REQUIRE_EQ(0, server_create(&f, f.dm, HVDM_BUFIOREQ_LEGACY, 0, &legacy));
    EXPECT_TRUE(off.page != NULL);
    EXPECT_TRUE(off.buf == NULL);
    EXPECT_TRUE(legacy.page != NULL);
    EXPECT_TRUE(legacy.buf != NULL);
    /* each slot's vp_eport names its vCPU (the index for hvdm_ioreq_notify) */
    EXPECT_EQ(0, off.page->vcpu_ioreq[0].vp_eport);
    EXPECT_EQ(1, off.page->vcpu_ioreq[1].vp_eport);
    EXPECT_EQ(HVDM_STATE_IOREQ_NONE, off.page->vcpu_ioreq[0].state);
    EXPECT_TRUE(off.fd >= 0);
    EXPECT_TRUE(!fd_readable(off.fd)); /* nothing posted yet */
    fixture_destroy(&f);
}

static void io_ranges_are_limited_to_256_per_type(void) {
    struct fixture f;
    hvdm_ioservid_t id = 0;
    uint64_t i;
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &id));
    /* ports 0, 2, 4, ...: never adjacent, so 256 separate ranges */
    for (i = 0; i < MAX_RANGES; ++i)
        if (!EXPECT_EQ(0, hvdm_map_io_range_to_ioreq_server(f.dm, f.domid, id, PORTS, 2 * i, 2 * i))) break;
    /* port 1000 is adjacent to none of them: a 257th range */
    EXPECT_EQ(-ENOMEM, hvdm_map_io_range_to_ioreq_server(f.dm, f.domid, id, PORTS, 1000, 1000));
    /* port 1 joins 0 and 2 into one range: 255 left, room for port 1000 */
    EXPECT_EQ(0, hvdm_map_io_range_to_ioreq_server(f.dm, f.domid, id, PORTS, 1, 1));
    EXPECT_EQ(0, hvdm_map_io_range_to_ioreq_server(f.dm, f.domid, id, PORTS, 1000, 1000));
    /* the limit is per type: MEMORY ranges are counted separately */
    for (i = 0; i < MAX_RANGES; ++i)
        if (!EXPECT_EQ(0, hvdm_map_io_range_to_ioreq_server(f.dm, f.domid, id, MMIO, 0x1000 * (2 * i),
                                                            0x1000 * (2 * i) + 0xfff)))
            break;
    EXPECT_EQ(-ENOMEM, hvdm_map_io_range_to_ioreq_server(f.dm, f.domid, id, MMIO, 0x10000000, 0x10000fff));
    fixture_destroy(&f);
}

static void adjacent_ranges_merge_into_one(void) {
    /* 1000 single ports in a row: 1000 > 256, so they must merge */
    const uint64_t n = 1000;
    struct fixture f;
    hvdm_ioservid_t id = 0;
    uint64_t i;
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &id));
    for (i = 0; i < n; ++i)
        if (!EXPECT_EQ(0, hvdm_map_io_range_to_ioreq_server(f.dm, f.domid, id, PORTS, i, i))) break;
    /* unmapping needs one held range containing the whole span */
    EXPECT_EQ(0, hvdm_unmap_io_range_from_ioreq_server(f.dm, f.domid, id, PORTS, 0, n - 1));
    fixture_destroy(&f);
}

static void overlapping_range_in_the_same_server_is_eexist(void) {
    struct fixture f;
    hvdm_ioservid_t a = 0, b = 0;
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &a));
    REQUIRE_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &b));
    REQUIRE_EQ(0, hvdm_map_io_range_to_ioreq_server(f.dm, f.domid, a, MMIO, 0x100000, 0x100fff));
    EXPECT_EQ(-EEXIST, hvdm_map_io_range_to_ioreq_server(f.dm, f.domid, a, MMIO, 0x100800, 0x101fff)); /* tail */
    EXPECT_EQ(-EEXIST, hvdm_map_io_range_to_ioreq_server(f.dm, f.domid, a, MMIO, 0x0ff000, 0x100000)); /* head byte */
    EXPECT_EQ(-EEXIST, hvdm_map_io_range_to_ioreq_server(f.dm, f.domid, a, MMIO, 0x100fff, 0x100fff)); /* last byte */
    EXPECT_EQ(-EEXIST, hvdm_map_io_range_to_ioreq_server(f.dm, f.domid, a, MMIO, 0x100000, 0x100fff)); /* same */
    /* different servers may overlap (the highest id wins when routing) */
    EXPECT_EQ(0, hvdm_map_io_range_to_ioreq_server(f.dm, f.domid, b, MMIO, 0x100000, 0x100fff));
    /* the same numbers as a PORT range do not overlap a MEMORY range */
    EXPECT_EQ(0, hvdm_map_io_range_to_ioreq_server(f.dm, f.domid, a, PORTS, 0x100, 0x1ff));
    /* PCI: the same device twice */
    EXPECT_EQ(0, hvdm_map_pcidev_to_ioreq_server(f.dm, f.domid, a, 0, 0, 3, 0));
    EXPECT_EQ(-EEXIST, hvdm_map_pcidev_to_ioreq_server(f.dm, f.domid, a, 0, 0, 3, 0));
    fixture_destroy(&f);
}

static void nonzero_pad_in_state_or_destroy_op_is_einval(void) {
    struct fixture f;
    hvdm_ioservid_t id = 0;
    struct dm_op o;
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &id));
    o = dm_op_make(HVDM_DMOP_SET_IOREQ_SERVER_STATE);
    o.u.state.id = id;
    o.u.state.enabled = 1;
    o.u.state.pad = 1;
    EXPECT_EQ(-EINVAL, dm_op_issue(f.dm, f.domid, &o));
    o = dm_op_make(HVDM_DMOP_DESTROY_IOREQ_SERVER);
    o.u.destroy.id = id;
    o.u.destroy.pad = 1;
    EXPECT_EQ(-EINVAL, dm_op_issue(f.dm, f.domid, &o));
    /* the server is still there: a plain destroy works */
    EXPECT_EQ(0, hvdm_destroy_ioreq_server(f.dm, f.domid, id));
    fixture_destroy(&f);
}

static void range_with_start_after_end_is_einval(void) {
    struct fixture f;
    hvdm_ioservid_t id = 0;
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &id));
    EXPECT_EQ(-EINVAL, hvdm_map_io_range_to_ioreq_server(f.dm, f.domid, id, PORTS, 0x101, 0x100)); /* XSA-238 */
    EXPECT_EQ(-EINVAL, hvdm_map_io_range_to_ioreq_server(f.dm, f.domid, id, MMIO, UINT64_MAX, 0));
    fixture_destroy(&f);
}

static void range_of_unknown_type_is_einval(void) {
    struct fixture f;
    hvdm_ioservid_t id = 0;
    struct dm_op o;
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &id));
    o = dm_op_make(HVDM_DMOP_MAP_IO_RANGE_TO_IOREQ_SERVER);
    o.u.range.id = id;
    o.u.range.type = HVDM_IO_RANGE_PCI + 1; /* 3: no such range type */
    o.u.range.start = 0x100;
    o.u.range.end = 0x1ff;
    EXPECT_EQ(-EINVAL, dm_op_issue(f.dm, f.domid, &o));
    /* a non-zero pad is refused too */
    o.u.range.type = HVDM_IO_RANGE_PORT;
    o.u.range.pad = 1;
    EXPECT_EQ(-EINVAL, dm_op_issue(f.dm, f.domid, &o));
    fixture_destroy(&f);
}

static void pcidev_with_device_above_31_or_function_above_7_is_einval(void) {
    struct fixture f;
    hvdm_ioservid_t id = 0;
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &id));
    /* 5 bits of device, 3 bits of function (libxendevicemodel checks these) */
    EXPECT_EQ(-EINVAL, hvdm_map_pcidev_to_ioreq_server(f.dm, f.domid, id, 0, 0, 32, 0));
    EXPECT_EQ(-EINVAL, hvdm_map_pcidev_to_ioreq_server(f.dm, f.domid, id, 0, 0, 3, 8));
    EXPECT_EQ(0, hvdm_map_pcidev_to_ioreq_server(f.dm, f.domid, id, 0, 0xff, 31, 7));
    fixture_destroy(&f);
}

static void unmapping_a_range_not_held_is_enoent(void) {
    struct fixture f;
    hvdm_ioservid_t id = 0;
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &id));
    REQUIRE_EQ(0, hvdm_map_io_range_to_ioreq_server(f.dm, f.domid, id, PORTS, 0x100, 0x1ff));
    EXPECT_EQ(-ENOENT, hvdm_unmap_io_range_from_ioreq_server(f.dm, f.domid, id, PORTS, 0x300, 0x3ff)); /* never */
    EXPECT_EQ(-ENOENT, hvdm_unmap_io_range_from_ioreq_server(f.dm, f.domid, id, PORTS, 0x180, 0x27f)); /* partly */
    EXPECT_EQ(-ENOENT, hvdm_unmap_io_range_from_ioreq_server(f.dm, f.domid, id, MMIO, 0x100, 0x1ff)); /* other type */
    EXPECT_EQ(-ENOENT, hvdm_unmap_pcidev_from_ioreq_server(f.dm, f.domid, id, 0, 0, 3, 0));
    EXPECT_EQ(0, hvdm_unmap_io_range_from_ioreq_server(f.dm, f.domid, id, PORTS, 0x100, 0x1ff));
    EXPECT_EQ(-ENOENT, hvdm_unmap_io_range_from_ioreq_server(f.dm, f.domid, id, PORTS, 0x100, 0x1ff)); /* twice */
    fixture_destroy(&f);
}

static void restricted_handle_gets_eperm_for_other_domains(void) {
    struct fixture f;
    hv_domain_config cfg;
    hv_domain *other = NULL;
    hvdm_domid_t other_id;
    hvdm_ioservid_t id = 0;
    uint16_t type = 0;
    unsigned int vcpus = 0;
    hvdm_shared_iopage *page = NULL;
    REQUIRE_EQ(0, fixture_create(&f));
    memset(&cfg, 0, sizeof cfg);
    cfg.size = sizeof cfg;
    cfg.arch = test_arch();
    cfg.ram_bytes = TEST_RAM_BYTES;
    cfg.nr_vcpus = 1;
    REQUIRE_EQ(0, hv_domain_create(f.host, &cfg, &other));
    other_id = hv_domain_id(other);
    EXPECT_TRUE(other_id != f.domid);
    /* a server on the other domain, made before the restriction */
    REQUIRE_EQ(0, hvdm_create_ioreq_server(f.dm, other_id, HVDM_BUFIOREQ_OFF, &id));
    REQUIRE_EQ(0, hvdm_restrict(f.dm, f.domid));
    EXPECT_EQ(-EPERM, hvdm_create_ioreq_server(f.dm, other_id, HVDM_BUFIOREQ_OFF, &id));
    EXPECT_EQ(-EPERM, hvdm_nr_vcpus(f.dm, other_id, &vcpus));
    EXPECT_EQ(-EPERM, hvdm_set_mem_type(f.dm, other_id, HVDM_MEM_RAM_RO, 0x100, 1));
    EXPECT_EQ(-EPERM, hvdm_get_mem_type(f.dm, other_id, 0x100, &type));
    EXPECT_EQ(-EPERM, hvdm_destroy_ioreq_server(f.dm, other_id, 0));
    EXPECT_EQ(-EPERM, hvdm_map_ioreq_pages(f.dm, other_id, 0, &page, NULL));
    EXPECT_EQ(-EPERM, hvdm_ioreq_fd(f.dm, other_id, 0));
    EXPECT_EQ(-EPERM, hvdm_ioreq_notify(f.dm, other_id, 0, 0));
    /* its own domain works as before */
    EXPECT_EQ(0, hvdm_get_mem_type(f.dm, f.domid, 0x100, &type));
    EXPECT_EQ(HVDM_MEM_RAM_RW, type);
    EXPECT_EQ(0, hvdm_nr_vcpus(f.dm, f.domid, &vcpus));
    EXPECT_EQ(TEST_NR_VCPUS, vcpus);
    EXPECT_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &id));
    /* privcmd checks the restriction before the hypercall, so even a domid
     * that names no domain is -EPERM, not -ESRCH: a restricted device model
     * learns nothing about other domains. */
    EXPECT_EQ(-EPERM, hvdm_nr_vcpus(f.dm, NO_SUCH_DOMAIN, &vcpus));
    EXPECT_EQ(0, hv_domain_destroy(other));
    fixture_destroy(&f);
}

/* A restricted handle gets -EPERM for another domain before any check of
 * its arguments or buffers, on every path: Linux's privcmd checks the
 * restriction first in privcmd_ioctl_dm_op (before the buffer count,
 * sizes and addresses) and in privcmd_ioctl_mmap_resource. Each call below
 * is wrong in some other way too; the errno it got before the restriction
 * check moved is in the comment. Both the domain that exists and one that
 * does not are asked. */
static void restricted_handle_gets_eperm_before_any_argument_check(void) {
    struct fixture f;
    hv_domain_config cfg;
    hv_domain *other = NULL;
    hvdm_domid_t targets[2];
    struct dm_op o;
    hvdm_buf bufs[3];
    int i;
    REQUIRE_EQ(0, fixture_create(&f));
    memset(&cfg, 0, sizeof cfg);
    cfg.size = sizeof cfg;
    cfg.arch = test_arch();
    cfg.ram_bytes = TEST_RAM_BYTES;
    cfg.nr_vcpus = 1;
    REQUIRE_EQ(0, hv_domain_create(f.host, &cfg, &other));
    targets[0] = hv_domain_id(other);
    targets[1] = NO_SUCH_DOMAIN;
    REQUIRE_EQ(0, hvdm_restrict(f.dm, f.domid));
    for (i = 0; i < 2; ++i) {
        const hvdm_domid_t dom = targets[i];
        o = dm_op_make(HVDM_DMOP_NR_VCPUS);
        bufs[0].ptr = &o;
        bufs[0].size = sizeof o;
        bufs[1] = bufs[0];
        bufs[2] = bufs[0];
        /* raw DMOPs */
        EXPECT_EQ(-EPERM, hvdm_dm_op(f.dm, dom, 0, bufs));    /* no buffer: was -ENODATA */
        EXPECT_EQ(-EPERM, hvdm_dm_op(f.dm, dom, 3, bufs));    /* three buffers: was -E2BIG */
        EXPECT_EQ(-EPERM, hvdm_dm_op(f.dm, dom, 1, NULL));    /* no buffer array: was -EFAULT */
        bufs[0].ptr = NULL;                                   /* null buffer: -EFAULT */
        EXPECT_EQ(-EPERM, hvdm_dm_op(f.dm, dom, 1, bufs));
        bufs[0].ptr = &o;
        EXPECT_EQ(-EPERM, dm_op_issue_sized(f.dm, dom, &o, 4)); /* shorter than the header: -EFAULT */
        o = dm_op_make(0x3fff);                               /* no such op: -EOPNOTSUPP */
        EXPECT_EQ(-EPERM, dm_op_issue(f.dm, dom, &o));
        o = dm_op_make(HVDM_DMOP_NR_VCPUS);
        o.pad = 1;                                            /* header pad not zero: -EINVAL */
        EXPECT_EQ(-EPERM, dm_op_issue(f.dm, dom, &o));
        /* typed calls with a bad argument */
        EXPECT_EQ(-EPERM, hvdm_create_ioreq_server(f.dm, dom, HVDM_BUFIOREQ_OFF, NULL)); /* was -EINVAL */
        EXPECT_EQ(-EPERM, hvdm_create_ioreq_server(f.dm, dom, 0x100, NULL));             /* was -EINVAL */
        EXPECT_EQ(-EPERM, hvdm_nr_vcpus(f.dm, dom, NULL));                               /* was -EINVAL */
        EXPECT_EQ(-EPERM, hvdm_get_mem_type(f.dm, dom, 0x100, NULL));                    /* was -EINVAL */
        EXPECT_EQ(-EPERM, hvdm_map_ioreq_pages(f.dm, dom, 0, NULL, NULL));               /* was -EINVAL */
        /* device 32 and function 8 do not fit an SBDF: was -EINVAL */
        EXPECT_EQ(-EPERM, hvdm_map_pcidev_to_ioreq_server(f.dm, dom, 0, 0, 0, 32, 0));
        EXPECT_EQ(-EPERM, hvdm_unmap_pcidev_from_ioreq_server(f.dm, dom, 0, 0, 0, 0, 8));
        /* checked by the core after the restriction already */
        EXPECT_EQ(-EPERM, hvdm_map_io_range_to_ioreq_server(f.dm, dom, 0, PORTS, 0x10f, 0x100));
        EXPECT_EQ(-EPERM, hvdm_set_mem_type(f.dm, dom, 0x77, 0x100, 1)); /* no such type */
        EXPECT_EQ(-EPERM, hvdm_map_mem_type_to_ioreq_server(f.dm, dom, 0, HVDM_MEM_RAM_RW, 0x80));
        EXPECT_EQ(-EPERM, hvdm_set_ioreq_server_state(f.dm, dom, 0x7fff, 1));
        EXPECT_EQ(-EPERM, hvdm_ioreq_notify(f.dm, dom, 0, 0xffffu)); /* no such vCPU */
        EXPECT_EQ(-EPERM, hvdm_ioreq_fd(f.dm, dom, 0x7fff));
    }
    EXPECT_EQ(0, hv_domain_destroy(other));
    fixture_destroy(&f);
}

static void restricting_again_to_another_domain_is_einval(void) {
    struct fixture f;
    unsigned int vcpus = 0;
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, hvdm_restrict(f.dm, f.domid));
    EXPECT_EQ(0, hvdm_restrict(f.dm, f.domid)); /* the same domain again: fine */
    EXPECT_EQ(-EINVAL, hvdm_restrict(f.dm, (hvdm_domid_t)(f.domid + 1)));
    /* still restricted to f.domid */
    EXPECT_EQ(0, hvdm_nr_vcpus(f.dm, f.domid, &vcpus));
    fixture_destroy(&f);
}

int main(void) {
    skip_unless_vmx_backend("test_servers");
    RUN(server_ids_are_the_lowest_free_slot);
    RUN(ninth_server_is_enospc);
    RUN(bufioreq_mode_above_atomic_is_einval);
    RUN(per_server_ops_on_another_handles_server_are_eperm);
    RUN(per_server_ops_on_unknown_server_are_enoent);
    RUN(buffered_page_is_null_without_bufioreq);
    RUN(io_ranges_are_limited_to_256_per_type);
    RUN(adjacent_ranges_merge_into_one);
    RUN(overlapping_range_in_the_same_server_is_eexist);
    RUN(nonzero_pad_in_state_or_destroy_op_is_einval);
    RUN(range_with_start_after_end_is_einval);
    RUN(range_of_unknown_type_is_einval);
    RUN(pcidev_with_device_above_31_or_function_above_7_is_einval);
    RUN(unmapping_a_range_not_held_is_enoent);
    RUN(restricted_handle_gets_eperm_for_other_domains);
    RUN(restricted_handle_gets_eperm_before_any_argument_check);
    RUN(restricting_again_to_another_domain_is_einval);
    return abi_finish("test_servers");
}

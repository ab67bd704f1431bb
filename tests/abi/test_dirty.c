/* SPDX-License-Identifier: MIT */
/* Dirty tracking through the C ABI (hvcore 1.6), on each backend, in
 * process and over a socket: every errno of XEN_DMOP_track_dirty_vram and
 * XEN_DMOP_modified_memory (raw buffers, in Xen's order of checks:
 * xen/arch/x86/hvm/dm.c dm_op, track_dirty_vram, modified_memory) and of
 * their typed wrappers, and of the toolstack's hv_log_dirty_* calls; a
 * rejected call changes nothing. */
#include "abi_test.h"
#include "dmop_raw.h"

#define NO_SUCH_DOMAIN ((hvdm_domid_t)0x7ff0)
#define VRAM_GFN 0x400u   /* 4 MiB */
#define VRAM_PAGES 16u
/* Xen's track_dirty_vram limit: GB(1) >> PAGE_SHIFT frames. */
#define VRAM_MAX_FRAMES 262144u

struct op_track_dirty_vram { /* op 7, 16 bytes */
    uint32_t nr;
    uint32_t pad;
    uint64_t first_pfn;
};
struct op_modified_memory { /* op 11, 8 bytes */
    uint32_t nr_extents;
    uint32_t opaque;
};
struct extent { /* xen_dm_op_modified_memory_extent, 16 bytes */
    uint32_t nr;
    uint32_t pad;
    uint64_t first_pfn;
};
struct dirty_op {
    uint32_t op, pad;
    union {
        struct op_track_dirty_vram vram;
        struct op_modified_memory mm;
    } u;
};
typedef char dirty_op_is_24_bytes[sizeof(struct dirty_op) == 24 ? 1 : -1];
typedef char extent_is_16_bytes[sizeof(struct extent) == 16 ? 1 : -1];

static struct dirty_op vram_op(uint64_t first, uint32_t nr) {
    struct dirty_op o;
    memset(&o, 0, sizeof o);
    o.op = HVDM_DMOP_TRACK_DIRTY_VRAM;
    o.u.vram.first_pfn = first;
    o.u.vram.nr = nr;
    return o;
}

static struct dirty_op mm_op(uint32_t nr_extents) {
    struct dirty_op o;
    memset(&o, 0, sizeof o);
    o.op = HVDM_DMOP_MODIFIED_MEMORY;
    o.u.mm.nr_extents = nr_extents;
    return o;
}

static int issue(struct fixture *f, hvdm_domid_t domid, struct dirty_op *o, unsigned nr_bufs, void *p1, size_t s1) {
    hvdm_buf b[2];
    b[0].ptr = o;
    b[0].size = sizeof *o;
    b[1].ptr = p1;
    b[1].size = s1;
    return hvdm_dm_op(f->dm, domid, nr_bufs, b);
}

/* A NULL buffer travels as an empty one over a socket: the size checks
 * then come first. */
static int null_buffer_errno(void) { return test_over_socket() ? -EINVAL : -EFAULT; }

static int dirty(struct fixture *f, uint64_t gfn) {
    uint8_t b[1] = {0};
    if (hv_log_dirty_read(f->dom, gfn, 1, b, 1, 0) != 0) return -1;
    return b[0] & 1;
}

static void track_dirty_vram_errnos_in_xens_order(void) {
    struct fixture f;
    struct dirty_op o;
    uint8_t bm[VRAM_PAGES / 8];
    REQUIRE_EQ(0, fixture_create(&f));

    o = vram_op(VRAM_GFN, VRAM_PAGES);
    o.u.vram.pad = 1; /* pad first, even with one buffer */
    EXPECT_EQ(-EINVAL, issue(&f, f.domid, &o, 1, NULL, 0));
    o = vram_op(VRAM_GFN, VRAM_PAGES);
    EXPECT_EQ(-EINVAL, issue(&f, f.domid, &o, 1, NULL, 0)); /* no bitmap buffer */
    o = vram_op(VRAM_GFN, VRAM_MAX_FRAMES + 1);
    EXPECT_EQ(-EINVAL, issue(&f, f.domid, &o, 2, bm, sizeof bm));
    o = vram_op(VRAM_GFN, VRAM_PAGES + 1); /* 3 bytes needed */
    EXPECT_EQ(-EINVAL, issue(&f, f.domid, &o, 2, bm, sizeof bm));
    o = vram_op(VRAM_GFN, VRAM_PAGES);
    EXPECT_EQ(null_buffer_errno(), issue(&f, f.domid, &o, 2, NULL, sizeof bm));
    o = vram_op(~0ull - 3, VRAM_PAGES); /* first_pfn + nr wraps */
    EXPECT_EQ(-EINVAL, issue(&f, f.domid, &o, 2, bm, sizeof bm));
    o = vram_op(VRAM_GFN, VRAM_PAGES);
    EXPECT_EQ(-ESRCH, issue(&f, NO_SUCH_DOMAIN, &o, 2, bm, sizeof bm));
    o = vram_op(VRAM_GFN, VRAM_PAGES);
    EXPECT_EQ(-E2BIG, issue(&f, f.domid, &o, 3, bm, sizeof bm));

    /* The typed call: the same checks. */
    EXPECT_EQ(-EINVAL, hvdm_track_dirty_vram(f.dm, f.domid, VRAM_GFN, VRAM_PAGES, NULL, sizeof bm));
    EXPECT_EQ(-EINVAL, hvdm_track_dirty_vram(f.dm, f.domid, VRAM_GFN, VRAM_PAGES, bm, 1));
    EXPECT_EQ(-EINVAL, hvdm_track_dirty_vram(f.dm, f.domid, VRAM_GFN, VRAM_MAX_FRAMES + 1, bm, sizeof bm));
    EXPECT_EQ(-ESRCH, hvdm_track_dirty_vram(f.dm, NO_SUCH_DOMAIN, VRAM_GFN, VRAM_PAGES, bm, sizeof bm));
    EXPECT_EQ(-EINVAL, hvdm_track_dirty_vram(NULL, f.domid, VRAM_GFN, VRAM_PAGES, bm, sizeof bm));

    /* None of them started the tracking: the first good call is a new range. */
    memset(bm, 0, sizeof bm);
    EXPECT_EQ(0, hvdm_track_dirty_vram(f.dm, f.domid, VRAM_GFN, VRAM_PAGES, bm, sizeof bm));
    EXPECT_EQ(0xff, bm[0]);
    EXPECT_EQ(0xff, bm[1]);
    /* A refused call leaves the tracked range as it was: still the same one. */
    EXPECT_EQ(-EINVAL, hvdm_track_dirty_vram(f.dm, f.domid, VRAM_GFN + 1, VRAM_PAGES + 1, bm, 2));
    EXPECT_EQ(0, hvdm_track_dirty_vram(f.dm, f.domid, VRAM_GFN, VRAM_PAGES, bm, sizeof bm));
    EXPECT_EQ(0, bm[0]);
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, ((uint64_t)VRAM_GFN + 9) << 12, 4, 1));
    EXPECT_EQ(0, hvdm_track_dirty_vram(f.dm, f.domid, VRAM_GFN, VRAM_PAGES, bm, sizeof bm));
    EXPECT_EQ(0, bm[0]);
    EXPECT_EQ(2, bm[1]); /* page 9 */
    EXPECT_EQ(0, hvdm_track_dirty_vram(f.dm, f.domid, 0, 0, NULL, 0)); /* stop */

    EXPECT_EQ(0, hvdm_shutdown(f.dm, f.domid, HVDM_SHUTDOWN_POWEROFF));
    EXPECT_EQ(-ESHUTDOWN, hvdm_track_dirty_vram(f.dm, f.domid, VRAM_GFN, VRAM_PAGES, bm, sizeof bm));
    fixture_destroy(&f);
}

static void modified_memory_errnos_in_xens_order(void) {
    struct fixture f;
    struct dirty_op o;
    struct extent e[2];
    hvdm_modified_memory_extent te[2];
    REQUIRE_EQ(0, fixture_create(&f));
    memset(e, 0, sizeof e);

    o = mm_op(1);
    EXPECT_EQ(-EINVAL, issue(&f, f.domid, &o, 1, NULL, 0)); /* exactly two buffers, checked first */
    /* Log-dirty off: 0 before anything else is read (Xen). */
    e[0].first_pfn = TEST_MAX_GFN + 100;
    e[0].pad = 7;
    o = mm_op(5);
    EXPECT_EQ(0, issue(&f, f.domid, &o, 2, e, sizeof e));
    EXPECT_EQ(0, hvdm_modified_memory(f.dm, f.domid, 0, 0));

    REQUIRE_EQ(0, hv_log_dirty_enable(f.dom));
    o = mm_op(3); /* 2 extents' worth of buffer */
    EXPECT_EQ(-EINVAL, issue(&f, f.domid, &o, 2, e, sizeof e));
    o = mm_op(1);
    EXPECT_EQ(null_buffer_errno(), issue(&f, f.domid, &o, 2, NULL, sizeof e));
    /* Extent checks (e[0] good, e[1] bad: e[0] must stay unmarked). */
    e[0].first_pfn = 0x10;
    e[0].nr = 2;
    e[0].pad = 0;
    e[1].first_pfn = 0x20;
    e[1].nr = 1;
    e[1].pad = 1;
    o = mm_op(2);
    EXPECT_EQ(-EINVAL, issue(&f, f.domid, &o, 2, e, sizeof e)); /* pad */
    e[1].pad = 0;
    e[1].nr = 0;
    EXPECT_EQ(-EINVAL, issue(&f, f.domid, &o, 2, e, sizeof e)); /* nr 0 */
    e[1].first_pfn = ~0ull;
    e[1].nr = 2;
    EXPECT_EQ(-EINVAL, issue(&f, f.domid, &o, 2, e, sizeof e)); /* wraps */
    e[1].first_pfn = TEST_MAX_GFN; /* ends at max + 1: Xen's end > max gpfn */
    e[1].nr = 1;
    EXPECT_EQ(-EINVAL, issue(&f, f.domid, &o, 2, e, sizeof e));
    e[1].first_pfn = 0x20;
    e[1].nr = 3;
    o.u.mm.opaque = 1; /* must be 0 (dm_op.h; Xen's continuation cursor) */
    EXPECT_EQ(-EINVAL, issue(&f, f.domid, &o, 2, e, sizeof e));
    EXPECT_EQ(0, dirty(&f, 0x10));
    EXPECT_EQ(0, dirty(&f, 0x11));

    o.u.mm.opaque = 0;
    EXPECT_EQ(0, issue(&f, f.domid, &o, 2, e, sizeof e));
    EXPECT_EQ(1, dirty(&f, 0x10));
    EXPECT_EQ(1, dirty(&f, 0x11));
    EXPECT_EQ(0, dirty(&f, 0x12));
    EXPECT_EQ(1, dirty(&f, 0x20));
    EXPECT_EQ(1, dirty(&f, 0x22));
    EXPECT_EQ(0, dirty(&f, 0x23));
    e[1].first_pfn = TEST_MAX_GFN - 1; /* ends at the largest gfn: taken */
    e[1].nr = 1;
    o.u.mm.opaque = 0;
    EXPECT_EQ(0, issue(&f, f.domid, &o, 2, e, sizeof e));
    EXPECT_EQ(1, dirty(&f, TEST_MAX_GFN - 1));

    /* The typed calls. */
    EXPECT_EQ(-EINVAL, hvdm_modified_memory(f.dm, f.domid, 0x30, 0));
    EXPECT_EQ(-EINVAL, hvdm_modified_memory(f.dm, f.domid, TEST_MAX_GFN, 1));
    EXPECT_EQ(-ESRCH, hvdm_modified_memory(f.dm, NO_SUCH_DOMAIN, 0x30, 1));
    EXPECT_EQ(0, hvdm_modified_memory(f.dm, f.domid, 0x30, 1));
    EXPECT_EQ(1, dirty(&f, 0x30));
    memset(te, 0, sizeof te);
    te[0].first_pfn = 0x40;
    te[0].nr = 1;
    te[1].first_pfn = 0x41;
    te[1].nr = 1;
    te[1].pad = 1;
    EXPECT_EQ(-EINVAL, hvdm_modified_memory_bulk(f.dm, f.domid, te, 2));
    EXPECT_EQ(0, dirty(&f, 0x40));
    EXPECT_EQ(-EINVAL, hvdm_modified_memory_bulk(f.dm, f.domid, NULL, 2));
    EXPECT_EQ(0, hvdm_modified_memory_bulk(f.dm, f.domid, NULL, 0));
    te[1].pad = 0;
    EXPECT_EQ(0, hvdm_modified_memory_bulk(f.dm, f.domid, te, 2));
    EXPECT_EQ(1, dirty(&f, 0x40));
    EXPECT_EQ(1, dirty(&f, 0x41));

    EXPECT_EQ(0, hvdm_shutdown(f.dm, f.domid, HVDM_SHUTDOWN_POWEROFF));
    EXPECT_EQ(-ESHUTDOWN, hvdm_modified_memory(f.dm, f.domid, 0x30, 1));
    fixture_destroy(&f);
}

static void log_dirty_calls_check_their_arguments(void) {
    struct fixture f;
    uint8_t b[TEST_RAM_BYTES / TEST_PAGE_SIZE / 8];
    const uint64_t pages = TEST_MAX_GFN + 1;
    REQUIRE_EQ(0, fixture_create(&f));
    EXPECT_EQ(-EINVAL, hv_log_dirty_enable(NULL));
    EXPECT_EQ(-EINVAL, hv_log_dirty_disable(NULL));
    EXPECT_EQ(-EINVAL, hv_log_dirty_read(NULL, 0, 8, b, sizeof b, 0));
    EXPECT_EQ(-EINVAL, hv_log_dirty_read(f.dom, 0, 8, b, sizeof b, 0)); /* off */
    EXPECT_EQ(0, hv_log_dirty_disable(f.dom));                          /* off: nothing to do */
    REQUIRE_EQ(0, hv_log_dirty_enable(f.dom));
    EXPECT_EQ(-EINVAL, hv_log_dirty_enable(f.dom)); /* already on */
    EXPECT_EQ(-EINVAL, hv_log_dirty_read(f.dom, 0, 8, NULL, 1, 0));
    EXPECT_EQ(-EINVAL, hv_log_dirty_read(f.dom, 0, 8, b, sizeof b, 2));  /* unknown flag */
    EXPECT_EQ(-EINVAL, hv_log_dirty_read(f.dom, 0, 9, b, 1, 0));        /* 2 bytes needed */
    EXPECT_EQ(-EINVAL, hv_log_dirty_read(f.dom, 0, 0, b, sizeof b, 0));
    EXPECT_EQ(-EINVAL, hv_log_dirty_read(f.dom, 1, pages, b, sizeof b, 0)); /* past RAM */
    EXPECT_EQ(-EINVAL, hv_log_dirty_read(f.dom, pages, 1, b, sizeof b, 0));
    EXPECT_EQ(-EINVAL, hv_log_dirty_read(f.dom, ~0ull, 2, b, sizeof b, 0));

    /* A store marks; peek keeps it, clean clears it; a refused clean does not. */
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, 0x5000, 4, 1));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 1, 0x7008, 8, 2));
    memset(b, 0xee, sizeof b);
    EXPECT_EQ(0, hv_log_dirty_read(f.dom, 0, pages, b, sizeof b, 0));
    EXPECT_EQ(0xa0, b[0]); /* pages 5 and 7 */
    EXPECT_EQ(0, b[1]);
    EXPECT_EQ(-EINVAL, hv_log_dirty_read(f.dom, 0, pages + 1, b, sizeof b, HV_LOG_DIRTY_CLEAN));
    memset(b, 0, sizeof b);
    EXPECT_EQ(0, hv_log_dirty_read(f.dom, 4, 3, b, 1, HV_LOG_DIRTY_CLEAN)); /* pages 4..6: clears 5 */
    EXPECT_EQ(2, b[0]);
    EXPECT_EQ(0, dirty(&f, 5));
    EXPECT_EQ(1, dirty(&f, 7));
    /* hv_guest_write marks what it writes (a loader's write is a change too). */
    EXPECT_EQ(0, hv_guest_write(f.dom, 0x9ffe, "abcd", 4));
    EXPECT_EQ(1, dirty(&f, 9));
    EXPECT_EQ(1, dirty(&f, 10));

    EXPECT_EQ(0, hvdm_shutdown(f.dm, f.domid, HVDM_SHUTDOWN_POWEROFF));
    EXPECT_EQ(-ESHUTDOWN, hv_log_dirty_read(f.dom, 0, 8, b, sizeof b, 0));
    EXPECT_EQ(-ESHUTDOWN, hv_log_dirty_enable(f.dom));
    EXPECT_EQ(-ESHUTDOWN, hv_log_dirty_disable(f.dom));
    fixture_destroy(&f);
}

/* x86: a REP STOSQ into RAM marks every page it writes (each faults once on
 * its way), and a REP MOVSQ from MMIO nobody serves into RAM marks its RAM
 * side, which hvcore itself fills with all ones (the emulated REP path;
 * the page never faults: hvcore writes it). */
static void rep_into_ram_marks_every_page_it_writes(void) {
    static const uint8_t rep_stosq[] = {0xf3, 0x48, 0xab};
    static const uint8_t rep_movsq[] = {0xf3, 0x48, 0xa5};
    struct fixture f;
    uint64_t v = 0, rcx = 1;
    if (test_arch() != HV_ARCH_X86_VMX && test_arch() != HV_ARCH_X86_SVM) return; /* x86 string ops */
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, hv_log_dirty_enable(f.dom));
    REQUIRE_EQ(0, hv_vcpu_set_reg(f.dom, 0, HV_REG_RDI, 0x20800));
    REQUIRE_EQ(0, hv_vcpu_set_reg(f.dom, 0, HV_REG_RCX, 1024)); /* 8 KiB: pages 0x20..0x22 */
    REQUIRE_EQ(0, hv_vcpu_set_reg(f.dom, 0, HV_REG_RAX, 0x1122334455667788ull));
    REQUIRE_EQ(0, hv_vcpu_set_reg(f.dom, 0, HV_REG_RFLAGS, 0x2)); /* DF clear */
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_exec(f.dom, 0, rep_stosq, sizeof rep_stosq));
    EXPECT_EQ(0, hv_vcpu_get_reg(f.dom, 0, HV_REG_RCX, &rcx));
    EXPECT_U64(0, rcx);
    EXPECT_EQ(0, dirty(&f, 0x1f));
    EXPECT_EQ(1, dirty(&f, 0x20));
    EXPECT_EQ(1, dirty(&f, 0x21));
    EXPECT_EQ(1, dirty(&f, 0x22));
    EXPECT_EQ(0, dirty(&f, 0x23));

    REQUIRE_EQ(0, hv_vcpu_set_reg(f.dom, 0, HV_REG_RSI, TEST_MMIO_GPA));
    REQUIRE_EQ(0, hv_vcpu_set_reg(f.dom, 0, HV_REG_RDI, 0x30000));
    REQUIRE_EQ(0, hv_vcpu_set_reg(f.dom, 0, HV_REG_RCX, 4));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_exec(f.dom, 0, rep_movsq, sizeof rep_movsq));
    EXPECT_EQ(0, hv_guest_read(f.dom, 0x30018, &v, sizeof v));
    EXPECT_U64(~0ull, v);
    EXPECT_EQ(1, dirty(&f, 0x30));
    EXPECT_EQ(0, dirty(&f, 0x31));
    fixture_destroy(&f);
}

int main(void) {
    skip_unless_vmx_backend("abi_dirty");
    RUN(track_dirty_vram_errnos_in_xens_order);
    RUN(modified_memory_errnos_in_xens_order);
    RUN(log_dirty_calls_check_their_arguments);
    RUN(rep_into_ram_marks_every_page_it_writes);
    return abi_finish("abi_dirty");
}

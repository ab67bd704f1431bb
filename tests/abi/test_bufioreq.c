/* SPDX-License-Identifier: MIT */
/* Buffered ioreqs (Xen xen/include/public/hvm/ioreq.h buf_ioreq_t and
 * buffered_iopage_t, xen/common/ioreq.c ioreq_send_buffered()): which writes are posted to
 * the 511-slot ring and which stay synchronous, the ring layout (8-byte
 * writes take two slots, low half first), the fall-back when the ring is
 * full, and HVDM_BUFIOREQ_ATOMIC's pointer canonicalisation.
 *
 * By default only what Xen posts: on x86, single direct writes to VGA
 * memory 0xa0000-0xbffff (xen/arch/x86/hvm/stdvga.c: stdvga_mem_accept), to
 * the server holding them by range; on Arm64 and RISC-V nothing (Xen's
 * stdvga is x86-only). HVDM_BUFIOREQ_WIDE (an hvcore extension) also posts
 * every port write and every MMIO write below 1 MiB. */
#include "abi_test.h"

#define SLOTS HVDM_IOREQ_BUFFER_SLOT_NUM /* 511 */
/* A device's ports */
#define PORT_FIRST 0x510u
#define PORT_LAST 0x51fu
/* Legacy VGA memory at 0xa0000 (below 1 MiB, Xen's buffering limit), made
 * emulated MMIO: one page */
#define VGA_GFN 0xa0u
#define VGA_GPA ((uint64_t)VGA_GFN * TEST_PAGE_SIZE)
/* The last page of VGA memory (0xbf000-0xbffff) and the page above it
 * (0xc0000, outside it): emulated MMIO held by the same server */
#define VGA_LAST_GPA 0xbf000ull
#define ABOVE_VGA_GPA 0xc0000ull
/* A claimed page below 1 MiB too: gfn 0x10 (GPA 64 KiB) */
#define CLAIMED_GFN 0x10u
#define CLAIMED_GPA ((uint64_t)CLAIMED_GFN * TEST_PAGE_SIZE)
/* Emulated MMIO below 1 MiB but outside VGA memory: gfn 0x20 (128 KiB) */
#define LOW_MMIO_GFN 0x20u
#define LOW_MMIO_GPA ((uint64_t)LOW_MMIO_GFN * TEST_PAGE_SIZE)
/* buf_ioreq_t size codes: 0 => 1, 1 => 2, 2 => 4, 3 => 8 bytes */
#define SIZE_CODE_1 0u
#define SIZE_CODE_2 1u
#define SIZE_CODE_4 2u
#define SIZE_CODE_8 3u

/* A domain with one enabled server in the given buffered mode, holding the
 * ports and the VGA page. */
static int setup(struct fixture *f, struct server *s, int mode) {
    int rc = fixture_create(f);
    if (rc != 0) return rc;
    rc = server_create(f, f->dm, mode, 1, s);
    if (rc != 0) return rc;
    if (s->buf == NULL) return -EFAULT;
    rc = hvdm_map_io_range_to_ioreq_server(f->dm, f->domid, s->id, PORTS, PORT_FIRST, PORT_LAST);
    if (rc != 0) return rc;
    rc = hvdm_set_mem_type(f->dm, f->domid, HVDM_MEM_MMIO_DM, VGA_GFN, 1);
    if (rc != 0) return rc;
    rc = hvdm_map_io_range_to_ioreq_server(f->dm, f->domid, s->id, MMIO, VGA_GPA, VGA_GPA + TEST_PAGE_SIZE - 1);
    if (rc != 0) return rc;
    /* 0xbf000-0xc0fff: the last VGA page and the one above it */
    rc = hvdm_set_mem_type(f->dm, f->domid, HVDM_MEM_MMIO_DM, VGA_LAST_GPA / TEST_PAGE_SIZE, 2);
    if (rc != 0) return rc;
    rc = hvdm_map_io_range_to_ioreq_server(f->dm, f->domid, s->id, MMIO, VGA_LAST_GPA,
                                           ABOVE_VGA_GPA + TEST_PAGE_SIZE - 1);
    if (rc != 0) return rc;
    rc = hvdm_set_mem_type(f->dm, f->domid, HVDM_MEM_MMIO_DM, LOW_MMIO_GFN, 1);
    if (rc != 0) return rc;
    return hvdm_map_io_range_to_ioreq_server(f->dm, f->domid, s->id, MMIO, LOW_MMIO_GPA,
                                             LOW_MMIO_GPA + TEST_PAGE_SIZE - 1);
}

static void expect_slot(const hvdm_buf_ioreq_t *b, uint8_t type, uint32_t size_code, uint32_t addr, uint32_t data) {
    EXPECT_EQ(type, b->type);
    EXPECT_EQ(HVDM_IOREQ_WRITE, b->dir);
    EXPECT_EQ(size_code, b->size);
    EXPECT_U64(addr, b->addr);
    EXPECT_U64(data, b->data);
}

/* The arch posts VGA memory writes unasked (x86 only: Xen's stdvga). */
static int arch_posts_vga(void) { return test_arch() == HV_ARCH_X86_VMX || test_arch() == HV_ARCH_X86_SVM; }
/* A buffered mode in which a write to the VGA page is posted, for the
 * tests of the ring itself on every arch: wide posting where the arch
 * posts nothing unasked. */
static int posting(int mode) { return arch_posts_vga() ? mode : mode | HVDM_BUFIOREQ_WIDE; }

/* A 1-byte write that is posted: a store to the VGA page at the offset. */
static int post1(struct fixture *f, uint32_t offset, uint64_t value) {
    return hv_vcpu_store(f->dom, 0, VGA_GPA + offset, 1, value);
}
static uint32_t posted_addr(uint32_t offset) { return (uint32_t)(VGA_GPA + offset); }

static void vga_writes_are_posted_to_the_ring_and_complete_at_once(void) {
    struct fixture f;
    struct server s;
    uint64_t value = 0;
    REQUIRE_EQ(0, setup(&f, &s, HVDM_BUFIOREQ_LEGACY));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, VGA_GPA, 1, 0xab));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, VGA_GPA + 2, 2, 0xbeef));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, VGA_GPA + 4, 4, 0xdeadbeef));
    EXPECT_EQ(0, s.buf->read_pointer);
    EXPECT_EQ(3, s.buf->write_pointer);
    expect_slot(&s.buf->buf_ioreq[0], HVDM_IOREQ_TYPE_COPY, SIZE_CODE_1, (uint32_t)VGA_GPA, 0xab);
    expect_slot(&s.buf->buf_ioreq[1], HVDM_IOREQ_TYPE_COPY, SIZE_CODE_2, (uint32_t)(VGA_GPA + 2), 0xbeef);
    expect_slot(&s.buf->buf_ioreq[2], HVDM_IOREQ_TYPE_COPY, SIZE_CODE_4, (uint32_t)(VGA_GPA + 4), 0xdeadbeef);
    EXPECT_TRUE(fd_readable(s.fd));
    /* nothing synchronous: the slot stays NONE, the vCPU is not waiting */
    EXPECT_EQ(HVDM_STATE_IOREQ_NONE, s.page->vcpu_ioreq[0].state);
    EXPECT_EQ(-EINVAL, hv_vcpu_resume(f.dom, 0, &value));
    fixture_destroy(&f);
}

static void vga_writes_are_synchronous_where_nothing_is_posted_unasked(void) {
    /* Arm64, RISC-V: the same write as on x86 is a synchronous request */
    struct fixture f;
    struct server s;
    uint64_t value = 0;
    REQUIRE_EQ(0, setup(&f, &s, HVDM_BUFIOREQ_LEGACY));
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_store(f.dom, 0, VGA_GPA, 1, 0xab));
    EXPECT_EQ(0, s.buf->write_pointer);
    EXPECT_EQ(HVDM_STATE_IOREQ_READY, s.page->vcpu_ioreq[0].state);
    EXPECT_U64(VGA_GPA, s.page->vcpu_ioreq[0].addr);
    EXPECT_U64(0xab, s.page->vcpu_ioreq[0].data);
    REQUIRE_EQ(0, server_answer(&f, f.dm, &s, 0, 0));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 0, &value));
    EXPECT_EQ(0, s.buf->write_pointer);
    fixture_destroy(&f);
}

static void port_io_is_eopnotsupp_without_ports(void) {
    struct fixture f;
    struct server s;
    uint64_t value = 1;
    REQUIRE_EQ(0, setup(&f, &s, HVDM_BUFIOREQ_LEGACY | HVDM_BUFIOREQ_WIDE));
    EXPECT_EQ(-EOPNOTSUPP, hv_vcpu_pio(f.dom, 0, PORT_FIRST, 1, 1, &value));
    EXPECT_EQ(0, s.buf->write_pointer);
    fixture_destroy(&f);
}

static void port_writes_are_synchronous_by_default(void) {
    struct fixture f;
    struct server s;
    uint64_t value = 0xab;
    REQUIRE_EQ(0, setup(&f, &s, HVDM_BUFIOREQ_LEGACY));
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_pio(f.dom, 0, PORT_FIRST, 1, 1, &value));
    EXPECT_EQ(0, s.buf->write_pointer);
    EXPECT_EQ(HVDM_STATE_IOREQ_READY, s.page->vcpu_ioreq[0].state);
    EXPECT_U64(0xab, s.page->vcpu_ioreq[0].data);
    REQUIRE_EQ(0, server_answer(&f, f.dm, &s, 0, 0));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 0, &value));
    fixture_destroy(&f);
}

static void port_writes_are_posted_with_wide_posting(void) {
    struct fixture f;
    struct server s;
    uint64_t value;
    REQUIRE_EQ(0, setup(&f, &s, HVDM_BUFIOREQ_LEGACY | HVDM_BUFIOREQ_WIDE));
    value = 0xab;
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_pio(f.dom, 0, PORT_FIRST, 1, 1, &value));
    value = 0xbeef;
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_pio(f.dom, 0, PORT_FIRST + 2, 2, 1, &value));
    value = 0xdeadbeef;
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_pio(f.dom, 0, PORT_FIRST + 4, 4, 1, &value));
    EXPECT_EQ(0, s.buf->read_pointer);
    EXPECT_EQ(3, s.buf->write_pointer);
    expect_slot(&s.buf->buf_ioreq[0], HVDM_IOREQ_TYPE_PIO, SIZE_CODE_1, PORT_FIRST, 0xab);
    expect_slot(&s.buf->buf_ioreq[1], HVDM_IOREQ_TYPE_PIO, SIZE_CODE_2, PORT_FIRST + 2, 0xbeef);
    expect_slot(&s.buf->buf_ioreq[2], HVDM_IOREQ_TYPE_PIO, SIZE_CODE_4, PORT_FIRST + 4, 0xdeadbeef);
    EXPECT_TRUE(fd_readable(s.fd));
    EXPECT_EQ(HVDM_STATE_IOREQ_NONE, s.page->vcpu_ioreq[0].state);
    fixture_destroy(&f);
}

static void mmio_write_below_1mib_outside_vga_is_synchronous_by_default(void) {
    struct fixture f;
    struct server s;
    uint64_t value = 0;
    REQUIRE_EQ(0, setup(&f, &s, HVDM_BUFIOREQ_LEGACY));
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_store(f.dom, 0, LOW_MMIO_GPA, 4, 7));
    EXPECT_EQ(0, s.buf->write_pointer);
    EXPECT_EQ(HVDM_STATE_IOREQ_READY, s.page->vcpu_ioreq[0].state);
    REQUIRE_EQ(0, server_answer(&f, f.dm, &s, 0, 0));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 0, &value));
    /* with wide posting it is posted */
    fixture_destroy(&f);
    REQUIRE_EQ(0, setup(&f, &s, HVDM_BUFIOREQ_ATOMIC | HVDM_BUFIOREQ_WIDE));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, LOW_MMIO_GPA, 4, 7));
    EXPECT_EQ(1, s.buf->write_pointer);
    expect_slot(&s.buf->buf_ioreq[0], HVDM_IOREQ_TYPE_COPY, SIZE_CODE_4, (uint32_t)LOW_MMIO_GPA, 7);
    fixture_destroy(&f);
}

static void write_across_the_end_of_vga_memory_posts_only_its_vga_part(void) {
    /* 8 bytes 4 before 0xc0000: cut at the page; the 4 bytes in VGA memory
     * are posted, the 4 above it are a synchronous request */
    struct fixture f;
    struct server s;
    uint64_t value = 0;
    REQUIRE_EQ(0, setup(&f, &s, HVDM_BUFIOREQ_LEGACY));
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_store(f.dom, 0, ABOVE_VGA_GPA - 4, 8, 0x1122334455667788ull));
    EXPECT_EQ(1, s.buf->write_pointer);
    expect_slot(&s.buf->buf_ioreq[0], HVDM_IOREQ_TYPE_COPY, SIZE_CODE_4, (uint32_t)(ABOVE_VGA_GPA - 4), 0x55667788u);
    EXPECT_EQ(HVDM_STATE_IOREQ_READY, s.page->vcpu_ioreq[0].state);
    EXPECT_U64(ABOVE_VGA_GPA, s.page->vcpu_ioreq[0].addr);
    EXPECT_U64(0x11223344u, s.page->vcpu_ioreq[0].data);
    REQUIRE_EQ(0, server_answer(&f, f.dm, &s, 0, 0));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 0, &value));
    EXPECT_EQ(1, s.buf->write_pointer); /* replayed, not posted again */
    fixture_destroy(&f);
}

static void eight_byte_mmio_write_takes_two_slots_low_half_first(void) {
    struct fixture f;
    struct server s;
    REQUIRE_EQ(0, setup(&f, &s, posting(HVDM_BUFIOREQ_LEGACY)));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, VGA_GPA + 0x40, 2, 0x0f0f));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, VGA_GPA + 0x48, 8, 0x1122334455667788ull));
    EXPECT_EQ(3, s.buf->write_pointer);
    expect_slot(&s.buf->buf_ioreq[0], HVDM_IOREQ_TYPE_COPY, SIZE_CODE_2, (uint32_t)(VGA_GPA + 0x40), 0x0f0f);
    expect_slot(&s.buf->buf_ioreq[1], HVDM_IOREQ_TYPE_COPY, SIZE_CODE_8, (uint32_t)(VGA_GPA + 0x48), 0x55667788u);
    expect_slot(&s.buf->buf_ioreq[2], HVDM_IOREQ_TYPE_COPY, SIZE_CODE_8, (uint32_t)(VGA_GPA + 0x48), 0x11223344u);
    EXPECT_TRUE(fd_readable(s.fd));
    fixture_destroy(&f);
}

static void mmio_write_at_or_above_1mib_is_synchronous(void) {
    struct fixture f;
    struct server s;
    uint64_t value = 0;
    REQUIRE_EQ(0, setup(&f, &s, HVDM_BUFIOREQ_LEGACY | HVDM_BUFIOREQ_WIDE)); /* even with wide posting */
    REQUIRE_EQ(0, hvdm_map_io_range_to_ioreq_server(f.dm, f.domid, s.id, MMIO, TEST_MMIO_GPA, TEST_MMIO_GPA + 0xfff));
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_store(f.dom, 0, TEST_MMIO_GPA, 4, 5));
    EXPECT_EQ(0, s.buf->write_pointer);
    EXPECT_EQ(HVDM_STATE_IOREQ_READY, s.page->vcpu_ioreq[0].state);
    REQUIRE_EQ(0, server_answer(&f, f.dm, &s, 0, 0));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 0, &value));
    fixture_destroy(&f);
}

static void reads_are_never_buffered(void) {
    struct fixture f;
    struct server s;
    uint64_t value = 0;
    REQUIRE_EQ(0, setup(&f, &s, HVDM_BUFIOREQ_LEGACY | HVDM_BUFIOREQ_WIDE)); /* even with wide posting */
    if (test_arch_has_pio())
        EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_pio(f.dom, 0, PORT_FIRST, 1, 0, &value));
    else
        EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_load(f.dom, 0, VGA_GPA, 1, &value));
    EXPECT_EQ(0, s.buf->write_pointer);
    REQUIRE_EQ(0, server_answer(&f, f.dm, &s, 0, 0x3c));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 0, &value));
    EXPECT_U64(0x3c, value);
    fixture_destroy(&f);
}

static void write_to_claimed_vga_page_held_by_a_range_is_posted(void) {
    /* Xen tries its internal handlers (stdvga) before the claimed type:
     * a VGA page that is claimed and also held by a MEMORY range gets the
     * write posted to the range's server */
    struct fixture f;
    struct server s;
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, server_create(&f, f.dm, HVDM_BUFIOREQ_LEGACY, 1, &s));
    REQUIRE_TRUE(s.buf != NULL);
    REQUIRE_EQ(0, hvdm_map_io_range_to_ioreq_server(f.dm, f.domid, s.id, MMIO, VGA_GPA, VGA_GPA + TEST_PAGE_SIZE - 1));
    REQUIRE_EQ(0, hvdm_map_mem_type_to_ioreq_server(f.dm, f.domid, s.id, HVDM_MEM_IOREQ_SERVER,
                                                    HVDM_IOREQ_MEM_ACCESS_WRITE));
    REQUIRE_EQ(0, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_IOREQ_SERVER, VGA_GFN, 1));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, VGA_GPA + 8, 4, 0x99));
    EXPECT_EQ(1, s.buf->write_pointer);
    expect_slot(&s.buf->buf_ioreq[0], HVDM_IOREQ_TYPE_COPY, SIZE_CODE_4, (uint32_t)(VGA_GPA + 8), 0x99);
    EXPECT_EQ(HVDM_STATE_IOREQ_NONE, s.page->vcpu_ioreq[0].state);
    fixture_destroy(&f);
}

static void create_rejects_unknown_buffered_modes_and_flags(void) {
    struct fixture f;
    hvdm_ioservid_t id = 0;
    REQUIRE_EQ(0, fixture_create(&f));
    EXPECT_EQ(-EINVAL, hvdm_create_ioreq_server(f.dm, f.domid, 3, &id));   /* no such mode */
    EXPECT_EQ(-EINVAL, hvdm_create_ioreq_server(f.dm, f.domid, 0x40, &id)); /* bit 6: no such flag */
    EXPECT_EQ(-EINVAL, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF | HVDM_BUFIOREQ_WIDE, &id));
    EXPECT_EQ(-EINVAL, hvdm_create_ioreq_server(f.dm, f.domid, 3 | HVDM_BUFIOREQ_WIDE, &id));
    EXPECT_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_ATOMIC | HVDM_BUFIOREQ_WIDE, &id));
    fixture_destroy(&f);
}

static void write_to_claimed_page_is_always_synchronous(void) {
    struct fixture f;
    struct server s;
    uint64_t value = 0;
    REQUIRE_EQ(0, setup(&f, &s, HVDM_BUFIOREQ_LEGACY | HVDM_BUFIOREQ_WIDE)); /* even with wide posting */
    REQUIRE_EQ(0, hvdm_map_mem_type_to_ioreq_server(f.dm, f.domid, s.id, HVDM_MEM_IOREQ_SERVER,
                                                    HVDM_IOREQ_MEM_ACCESS_WRITE));
    REQUIRE_EQ(0, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_IOREQ_SERVER, CLAIMED_GFN, 1));
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_store(f.dom, 0, CLAIMED_GPA, 4, 0x99));
    EXPECT_EQ(0, s.buf->write_pointer);
    EXPECT_EQ(HVDM_STATE_IOREQ_READY, s.page->vcpu_ioreq[0].state);
    EXPECT_U64(0x99, s.page->vcpu_ioreq[0].data);
    REQUIRE_EQ(0, server_answer(&f, f.dm, &s, 0, 0));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 0, &value));
    fixture_destroy(&f);
}

static void full_ring_falls_back_to_synchronous(void) {
    struct fixture f;
    struct server s;
    uint64_t value = 0;
    uint32_t i;
    REQUIRE_EQ(0, setup(&f, &s, posting(HVDM_BUFIOREQ_LEGACY)));
    /* 510 posts leave one free slot: not enough for an 8-byte write */
    for (i = 0; i < SLOTS - 1; ++i)
        if (!EXPECT_EQ(HV_VCPU_DONE, post1(&f, 0, i & 0xff))) break;
    EXPECT_EQ(SLOTS - 1, s.buf->write_pointer);
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_store(f.dom, 0, VGA_GPA, 8, 0x0102030405060708ull));
    EXPECT_EQ(SLOTS - 1, s.buf->write_pointer);
    EXPECT_EQ(8, s.page->vcpu_ioreq[0].size);
    EXPECT_U64(0x0102030405060708ull, s.page->vcpu_ioreq[0].data);
    REQUIRE_EQ(0, server_answer(&f, f.dm, &s, 0, 0));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 0, &value));
    /* ... but enough for a 1-byte write, which fills the ring */
    EXPECT_EQ(HV_VCPU_DONE, post1(&f, 0, 0xee));
    EXPECT_EQ(SLOTS, s.buf->write_pointer);
    /* full: the next write is synchronous */
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, post1(&f, 0, 0xef));
    EXPECT_EQ(SLOTS, s.buf->write_pointer);
    EXPECT_U64(0xef, s.page->vcpu_ioreq[0].data);
    REQUIRE_EQ(0, server_answer(&f, f.dm, &s, 0, 0));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 0, &value));
    /* the device model consumes two slots: posting works again */
    s.buf->read_pointer = 2;
    EXPECT_EQ(HV_VCPU_DONE, post1(&f, 0, 0xf0));
    EXPECT_EQ(SLOTS + 1, s.buf->write_pointer);
    expect_slot(&s.buf->buf_ioreq[0], HVDM_IOREQ_TYPE_COPY, SIZE_CODE_1, posted_addr(0), 0xf0); /* wrapped */
    fixture_destroy(&f);
}

/* A device model that moves its read_pointer past the write_pointer (the
 * ring's pointers go backwards) harms nobody else: as in Xen
 * (xen/common/ioreq.c, ioreq_send_buffered: "The queue is full" once
 * write - read reaches the slots), the ring is taken as full and the write
 * goes synchronously to the same device model; the domain runs on. */
static void ring_pointers_gone_backwards_make_the_writes_synchronous(void) {
    struct fixture f;
    struct server s;
    uint64_t value = 0;
    char reason[64];
    REQUIRE_EQ(0, setup(&f, &s, posting(HVDM_BUFIOREQ_LEGACY)));
    EXPECT_EQ(HV_VCPU_DONE, post1(&f, 0, 0x11));
    EXPECT_EQ(1, s.buf->write_pointer);
    s.buf->read_pointer = 7; /* ahead of write_pointer */
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, post1(&f, 0, 0x22));
    EXPECT_EQ(1, s.buf->write_pointer); /* nothing posted */
    EXPECT_U64(0x22, s.page->vcpu_ioreq[0].data);
    REQUIRE_EQ(0, server_answer(&f, f.dm, &s, 0, 0));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 0, &value));
    reason[0] = 'x';
    EXPECT_EQ(0, hv_domain_stop_reason(f.dom, reason, sizeof reason));
    EXPECT_EQ('\0', reason[0]);
    /* pointers put right: posting works again */
    s.buf->read_pointer = 1;
    EXPECT_EQ(HV_VCPU_DONE, post1(&f, 0, 0x33));
    EXPECT_EQ(2, s.buf->write_pointer);
    fixture_destroy(&f);
}

/* Fill the ring with 511 one-byte posts, consume them all (read_pointer =
 * 511), post one more; return its pointers. */
static void post_after_a_full_lap(struct fixture *f, struct server *s, uint32_t *rp, uint32_t *wp) {
    uint32_t i;
    for (i = 0; i < SLOTS; ++i)
        if (!EXPECT_EQ(HV_VCPU_DONE, post1(f, 0, i & 0xff))) break;
    s->buf->read_pointer = s->buf->write_pointer;
    EXPECT_EQ(HV_VCPU_DONE, post1(f, 1, 0x5e));
    expect_slot(&s->buf->buf_ioreq[0], HVDM_IOREQ_TYPE_COPY, SIZE_CODE_1, posted_addr(1), 0x5e);
    *rp = s->buf->read_pointer;
    *wp = s->buf->write_pointer;
}

static void atomic_mode_canonicalises_the_pointers_after_a_lap(void) {
    struct fixture f;
    struct server s;
    uint32_t rp = 0, wp = 0;
    REQUIRE_EQ(0, setup(&f, &s, posting(HVDM_BUFIOREQ_ATOMIC)));
    post_after_a_full_lap(&f, &s, &rp, &wp);
    /* 511 and 512, less one lap of 511 */
    EXPECT_EQ(0, rp);
    EXPECT_EQ(1, wp);
    fixture_destroy(&f);
}

static void legacy_mode_never_rewrites_the_pointers(void) {
    struct fixture f;
    struct server s;
    uint32_t rp = 0, wp = 0;
    REQUIRE_EQ(0, setup(&f, &s, posting(HVDM_BUFIOREQ_LEGACY)));
    post_after_a_full_lap(&f, &s, &rp, &wp);
    EXPECT_EQ(SLOTS, rp);
    EXPECT_EQ(SLOTS + 1, wp);
    fixture_destroy(&f);
}

int main(void) {
    skip_unless_vmx_backend("test_bufioreq");
    if (arch_posts_vga()) {
        RUN(vga_writes_are_posted_to_the_ring_and_complete_at_once);
        RUN(write_across_the_end_of_vga_memory_posts_only_its_vga_part);
        RUN(write_to_claimed_vga_page_held_by_a_range_is_posted);
    } else {
        RUN(vga_writes_are_synchronous_where_nothing_is_posted_unasked);
    }
    if (test_arch_has_pio()) {
        RUN(port_writes_are_synchronous_by_default);
        RUN(port_writes_are_posted_with_wide_posting);
    } else {
        RUN(port_io_is_eopnotsupp_without_ports);
    }
    RUN(mmio_write_below_1mib_outside_vga_is_synchronous_by_default);
    RUN(eight_byte_mmio_write_takes_two_slots_low_half_first);
    RUN(mmio_write_at_or_above_1mib_is_synchronous);
    RUN(reads_are_never_buffered);
    RUN(write_to_claimed_page_is_always_synchronous);
    RUN(create_rejects_unknown_buffered_modes_and_flags);
    RUN(full_ring_falls_back_to_synchronous);
    RUN(ring_pointers_gone_backwards_make_the_writes_synchronous);
    RUN(atomic_mode_canonicalises_the_pointers_after_a_lap);
    RUN(legacy_mode_never_rewrites_the_pointers);
    return abi_finish("test_bufioreq");
}

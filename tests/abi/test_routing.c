/* SPDX-License-Identifier: MIT */
/* Where a guest access goes (Xen xen/arch/x86/hvm/emulate.c hvmemul_do_io(),
 * xen/common/ioreq.c ioreq_server_select()):
 * ioreq_server pages to the owner (held while it is disabled, reads from
 * RAM), then PORT / MEMORY / PCI config by range, highest server id first,
 * disabled servers skipped, the whole access inside one range; nobody:
 * reads all ones, writes dropped. */
#include "abi_test.h"

/* A claimed page: gfn 0x100 (GPA 1 MiB) */
#define CLAIMED_GPA 0x100000ull
#define CLAIMED_GFN (CLAIMED_GPA / TEST_PAGE_SIZE)
/* A port range: the 16 ports of a made-up device at 0x510 */
#define PORT_FIRST 0x510u
#define PORT_LAST 0x51fu
/* PCI configuration mechanism #1: CONFIG_ADDRESS and CONFIG_DATA */
#define PCI_CONFIG_ADDRESS 0xcf8u
#define PCI_CONFIG_DATA 0xcfcu
/* CONFIG_ADDRESS: enable bit 31, bus 23:16, device 15:11, function 10:8,
 * register 7:2 */
#define CF8(bus, dev, fn, reg) (0x80000000u | (bus) << 16 | (dev) << 11 | (fn) << 8 | (reg))

/* The one request in vCPU v's slot of s, checked field by field. */
static void expect_request(struct server *s, uint32_t v, uint8_t type, int dir, uint64_t addr, uint32_t size,
                           uint64_t data) {
    const hvdm_ioreq_t *r = &s->page->vcpu_ioreq[v];
    EXPECT_EQ(HVDM_STATE_IOREQ_READY, r->state);
    EXPECT_EQ(type, r->type);
    EXPECT_EQ(dir, r->dir);
    EXPECT_U64(addr, r->addr);
    EXPECT_EQ(size, r->size);
    EXPECT_EQ(1, r->count);
    EXPECT_EQ(v, r->vp_eport);
    EXPECT_EQ(0, r->data_is_ptr);
    if (dir == HVDM_IOREQ_WRITE) EXPECT_U64(data, r->data);
}

static int claim(struct fixture *f, struct server *s) {
    return hvdm_map_mem_type_to_ioreq_server(f->dm, f->domid, s->id, HVDM_MEM_IOREQ_SERVER,
                                             HVDM_IOREQ_MEM_ACCESS_WRITE);
}

/* A domain and one enabled server s without a buffered ring. */
static int one_server(struct fixture *f, struct server *s) {
    int rc = fixture_create(f);
    if (rc != 0) return rc;
    return server_create(f, f->dm, HVDM_BUFIOREQ_OFF, 1, s);
}

/* The same, s also holding the MEMORY range of `bytes` bytes at TEST_MMIO_GPA. */
static int one_server_with_mmio(struct fixture *f, struct server *s, uint64_t bytes) {
    int rc = one_server(f, s);
    if (rc != 0) return rc;
    return hvdm_map_io_range_to_ioreq_server(f->dm, f->domid, s->id, MMIO, TEST_MMIO_GPA, TEST_MMIO_GPA + bytes - 1);
}

/* The access vCPU 0 just made returned rc: it waits for s, whose slot holds
 * its one request (type, dir, addr, size, and `data` for a write); s
 * answers (with `data` for a read) and the access completes. Returns what
 * the completed access returns: for a read, the answer merged with any
 * other piece of the access. */
static uint64_t served(struct fixture *f, struct server *s, int rc, uint8_t type, int dir, uint64_t addr,
                       uint32_t size, uint64_t data) {
    uint64_t value = 0;
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, rc);
    expect_request(s, 0, type, dir, addr, size, data);
    if (!EXPECT_EQ(0, server_answer(f, f->dm, s, 0, dir == HVDM_IOREQ_READ ? data : 0))) return ~0ull;
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f->dom, 0, &value));
    return value;
}

/* ---- ioreq_server pages ------------------------------------------------- */

static void write_to_claimed_page_goes_to_the_owner_and_not_to_ram(void) {
    struct fixture f;
    struct server other, owner;
    uint64_t value = 0;
    REQUIRE_EQ(0, fixture_create(&f));
    /* server 0 maps the page as MMIO too; the page's type wins */
    REQUIRE_EQ(0, server_create(&f, f.dm, HVDM_BUFIOREQ_OFF, 1, &other));
    REQUIRE_EQ(0, server_create(&f, f.dm, HVDM_BUFIOREQ_OFF, 1, &owner));
    REQUIRE_EQ(0, hvdm_map_io_range_to_ioreq_server(f.dm, f.domid, other.id, MMIO, CLAIMED_GPA,
                                                    CLAIMED_GPA + TEST_PAGE_SIZE - 1));
    REQUIRE_EQ(0, claim(&f, &owner));
    REQUIRE_EQ(0, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_IOREQ_SERVER, CLAIMED_GFN, 1));
    set_ram_u32(&f, CLAIMED_GPA + 0x40, 0x01020304u);
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_store(f.dom, 1, CLAIMED_GPA + 0x40, 4, 0xa1b2c3d4u));
    expect_request(&owner, 1, HVDM_IOREQ_TYPE_COPY, HVDM_IOREQ_WRITE, CLAIMED_GPA + 0x40, 4, 0xa1b2c3d4u);
    EXPECT_TRUE(fd_readable(owner.fd));
    EXPECT_EQ(HVDM_STATE_IOREQ_NONE, other.page->vcpu_ioreq[1].state);
    EXPECT_TRUE(!fd_readable(other.fd));
    REQUIRE_EQ(0, server_answer(&f, f.dm, &owner, 1, 0));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 1, &value));
    EXPECT_U64(0x01020304u, ram_u32(&f, CLAIMED_GPA + 0x40)); /* the device model decides */
    fixture_destroy(&f);
}

static void loads_from_claimed_page_are_served_from_ram(void) {
    /* one value per width, at offsets that keep each access aligned */
    static const uint32_t sizes[] = {1, 2, 4, 8};
    static const uint64_t expect[] = {0x88, 0x7788, 0x55667788, 0x1122334455667788ull};
    const uint64_t bytes = 0x1122334455667788ull;
    struct fixture f;
    struct server s;
    size_t i;
    REQUIRE_EQ(0, one_server(&f, &s));
    REQUIRE_EQ(0, claim(&f, &s));
    REQUIRE_EQ(0, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_IOREQ_SERVER, CLAIMED_GFN, 1));
    REQUIRE_EQ(0, hv_guest_write(f.dom, CLAIMED_GPA + 0x80, &bytes, sizeof bytes));
    for (i = 0; i < 4; ++i) {
        uint64_t value = 0;
        EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_load(f.dom, 0, CLAIMED_GPA + 0x80, sizes[i], &value));
        EXPECT_U64(expect[i], value);
    }
    /* the server never saw a request */
    EXPECT_EQ(HVDM_STATE_IOREQ_NONE, s.page->vcpu_ioreq[0].state);
    EXPECT_TRUE(!fd_readable(s.fd));
    fixture_destroy(&f);
}

static void read_modify_write_on_claimed_page_sends_one_write_with_the_final_value(void) {
    /* add dword [rax], ebx: 01 /r with ModRM 0x18 (mod 00, reg ebx, rm rax).
     * The store faults on the write-protected page; the hypervisor serves
     * the read half from RAM (40) and the owner sees ONE write carrying the
     * final value 40 + 2 = 42 (Xen 4b602cced9). The device model decides
     * what RAM holds, so RAM still says 40 after the answer; re-executing
     * after the answer replays the write instead of sending a second one,
     * and the instruction retires with the flags of 40 + 2. */
    static const uint8_t add_mem_ebx[] = {0x01, 0x18};
    /* RFLAGS before: bit 1 (always one) and every status flag set
     * (CF PF AF ZF SF OF = bits 0 2 4 6 7 11), so each one ADD clears shows. */
    const uint64_t flags_before = 0x2u | 0x8d5u;
    /* 40 + 2 = 42 = 0b101010: no carry, no overflow, not zero, not
     * negative, three ones in the low byte (PF = 0), no carry out of bit 3
     * (AF = 0): every status flag clear. */
    const uint64_t flags_after = 0x2u;
    struct fixture f;
    struct server s;
    uint64_t value = 0;
    REQUIRE_EQ(0, one_server(&f, &s));
    REQUIRE_EQ(0, claim(&f, &s));
    REQUIRE_EQ(0, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_IOREQ_SERVER, CLAIMED_GFN, 1));
    set_ram_u32(&f, CLAIMED_GPA + 0x100, 40);
    REQUIRE_EQ(0, hv_vcpu_set_reg(f.dom, 0, HV_REG_RAX, CLAIMED_GPA + 0x100));
    REQUIRE_EQ(0, hv_vcpu_set_reg(f.dom, 0, HV_REG_RBX, 2));
    REQUIRE_EQ(0, hv_vcpu_set_reg(f.dom, 0, HV_REG_RIP, 0x1000));
    REQUIRE_EQ(0, hv_vcpu_set_reg(f.dom, 0, HV_REG_RFLAGS, flags_before));
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_exec(f.dom, 0, add_mem_ebx, sizeof add_mem_ebx));
    expect_request(&s, 0, HVDM_IOREQ_TYPE_COPY, HVDM_IOREQ_WRITE, CLAIMED_GPA + 0x100, 4, 42);
    EXPECT_TRUE(fd_readable(s.fd));
    (void)fd_drain(s.fd);
    /* nothing moved while the write is outstanding */
    EXPECT_EQ(0, hv_vcpu_get_reg(f.dom, 0, HV_REG_RIP, &value));
    EXPECT_U64(0x1000, value);
    REQUIRE_EQ(0, server_answer(&f, f.dm, &s, 0, 0));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 0, &value));
    /* no second request: the slot went back to NONE and nobody was woken */
    EXPECT_EQ(HVDM_STATE_IOREQ_NONE, s.page->vcpu_ioreq[0].state);
    EXPECT_TRUE(!fd_readable(s.fd));
    EXPECT_U64(40, ram_u32(&f, CLAIMED_GPA + 0x100));
    EXPECT_EQ(0, hv_vcpu_get_reg(f.dom, 0, HV_REG_RIP, &value));
    EXPECT_U64(0x1000 + sizeof add_mem_ebx, value);
    EXPECT_EQ(0, hv_vcpu_get_reg(f.dom, 0, HV_REG_RFLAGS, &value));
    EXPECT_U64(flags_after, value);
    EXPECT_EQ(0, hv_vcpu_get_reg(f.dom, 0, HV_REG_RBX, &value));
    EXPECT_U64(2, value);
    fixture_destroy(&f);
}

static void instruction_not_emulated_on_claimed_page_is_a_guest_fault_naming_it(void) {
    /* lock cmpxchg16b [rax]: F0 REX.W 0F C7 /1 with ModRM 0x08 (mod 00,
     * /1, rm rax), a 16-byte atomic compare-exchange the executor does not
     * emulate. It must be a clear guest fault that names the instruction,
     * never a skip or a hang, and nothing reaches the device model. */
    static const uint8_t cmpxchg16b_mem[] = {0xf0, 0x48, 0x0f, 0xc7, 0x08};
    struct fixture f;
    struct server s;
    char detail[256];
    REQUIRE_EQ(0, one_server(&f, &s));
    REQUIRE_EQ(0, claim(&f, &s));
    REQUIRE_EQ(0, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_IOREQ_SERVER, CLAIMED_GFN, 1));
    set_ram_u32(&f, CLAIMED_GPA + 0x100, 40);
    REQUIRE_EQ(0, hv_vcpu_set_reg(f.dom, 0, HV_REG_RAX, CLAIMED_GPA + 0x100));
    EXPECT_EQ(HV_VCPU_GUEST_FAULT, hv_vcpu_exec(f.dom, 0, cmpxchg16b_mem, sizeof cmpxchg16b_mem));
    EXPECT_EQ(0, hv_vcpu_fault_detail(f.dom, 0, detail, sizeof detail));
    EXPECT_TRUE(strstr(detail, "cmpxchg16b") != NULL);
    EXPECT_EQ(HVDM_STATE_IOREQ_NONE, s.page->vcpu_ioreq[0].state);
    EXPECT_U64(40, ram_u32(&f, CLAIMED_GPA + 0x100));
    fixture_destroy(&f);
}

static void write_to_claimed_page_of_disabled_owner_is_held_for_retry(void) {
    struct fixture f;
    struct server s;
    uint64_t value = 0;
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, server_create(&f, f.dm, HVDM_BUFIOREQ_OFF, 0, &s)); /* created disabled */
    REQUIRE_EQ(0, claim(&f, &s));
    REQUIRE_EQ(0, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_IOREQ_SERVER, CLAIMED_GFN, 1));
    set_ram_u32(&f, CLAIMED_GPA, 7);
    EXPECT_EQ(HV_VCPU_RETRY, hv_vcpu_store(f.dom, 0, CLAIMED_GPA, 4, 9));
    EXPECT_U64(7, ram_u32(&f, CLAIMED_GPA)); /* not written */
    EXPECT_EQ(HVDM_STATE_IOREQ_NONE, s.page->vcpu_ioreq[0].state); /* not sent */
    EXPECT_EQ(HV_VCPU_RETRY, hv_vcpu_store(f.dom, 0, CLAIMED_GPA, 4, 9)); /* again: still held */
    /* the vCPU is free (retry is not a pending request) */
    EXPECT_EQ(-EINVAL, hv_vcpu_resume(f.dom, 0, &value));
    /* once enabled, the re-executed write reaches the owner */
    REQUIRE_EQ(0, hvdm_set_ioreq_server_state(f.dm, f.domid, s.id, 1));
    (void)served(&f, &s, hv_vcpu_store(f.dom, 0, CLAIMED_GPA, 4, 9),
                 HVDM_IOREQ_TYPE_COPY, HVDM_IOREQ_WRITE, CLAIMED_GPA, 4, 9);
    fixture_destroy(&f);
}

/* ---- nobody -------------------------------------------------------------- */

static void unclaimed_mmio_reads_all_ones_and_drops_writes(void) {
    static const uint32_t sizes[] = {1, 2, 4, 8};
    static const uint64_t ones[] = {0xff, 0xffff, 0xffffffffu, ~0ull};
    struct fixture f;
    struct server idle;
    size_t i;
    REQUIRE_EQ(0, fixture_create(&f));
    /* an enabled server with no ranges: still nobody */
    REQUIRE_EQ(0, server_create(&f, f.dm, HVDM_BUFIOREQ_OFF, 1, &idle));
    for (i = 0; i < 4; ++i) {
        uint64_t value = 0x12;
        EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_load(f.dom, 0, TEST_MMIO_GPA, sizes[i], &value));
        EXPECT_U64(ones[i], value);
        EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, TEST_MMIO_GPA, sizes[i], 0));
    }
    EXPECT_TRUE(!fd_readable(idle.fd));
    fixture_destroy(&f);
}

static void unclaimed_port_reads_all_ones_and_drops_writes(void) {
    static const uint32_t sizes[] = {1, 2, 4};
    static const uint64_t ones[] = {0xff, 0xffff, 0xffffffffu};
    struct fixture f;
    size_t i;
    REQUIRE_EQ(0, fixture_create(&f));
    for (i = 0; i < 3; ++i) {
        uint64_t value = 0;
        EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_pio(f.dom, 0, PORT_FIRST, sizes[i], 0, &value));
        EXPECT_U64(ones[i], value);
        value = 0x1234;
        EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_pio(f.dom, 0, PORT_FIRST, sizes[i], 1, &value));
    }
    fixture_destroy(&f);
}

/* ---- by range ------------------------------------------------------------ */

static void port_access_goes_to_the_highest_enabled_server_holding_the_range(void) {
    struct fixture f;
    struct server low, high, disabled;
    uint64_t value = 0xab;
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, server_create(&f, f.dm, HVDM_BUFIOREQ_OFF, 1, &low));
    REQUIRE_EQ(0, server_create(&f, f.dm, HVDM_BUFIOREQ_OFF, 1, &high));
    REQUIRE_EQ(0, server_create(&f, f.dm, HVDM_BUFIOREQ_OFF, 0, &disabled));
    REQUIRE_EQ(0, hvdm_map_io_range_to_ioreq_server(f.dm, f.domid, low.id, PORTS, PORT_FIRST, PORT_LAST));
    REQUIRE_EQ(0, hvdm_map_io_range_to_ioreq_server(f.dm, f.domid, high.id, PORTS, PORT_FIRST, PORT_LAST));
    REQUIRE_EQ(0, hvdm_map_io_range_to_ioreq_server(f.dm, f.domid, disabled.id, PORTS, PORT_FIRST, PORT_LAST));
    /* ids 0 < 1 < 2; 2 is disabled, so 1 gets the write */
    (void)served(&f, &high, hv_vcpu_pio(f.dom, 0, PORT_FIRST + 2, 1, 1, &value), HVDM_IOREQ_TYPE_PIO,
                 HVDM_IOREQ_WRITE, PORT_FIRST + 2, 1, 0xab);
    EXPECT_EQ(HVDM_STATE_IOREQ_NONE, low.page->vcpu_ioreq[0].state);
    EXPECT_EQ(HVDM_STATE_IOREQ_NONE, disabled.page->vcpu_ioreq[0].state);
    /* with 1 disabled too, 0 gets the read, and its answer is the value */
    REQUIRE_EQ(0, hvdm_set_ioreq_server_state(f.dm, f.domid, high.id, 0));
    EXPECT_U64(0xbeef, served(&f, &low, hv_vcpu_pio(f.dom, 0, PORT_FIRST, 2, 0, &value), HVDM_IOREQ_TYPE_PIO,
                              HVDM_IOREQ_READ, PORT_FIRST, 2, 0xbeef));
    /* enabling 2 makes it the highest enabled holder */
    REQUIRE_EQ(0, hvdm_set_ioreq_server_state(f.dm, f.domid, disabled.id, 1));
    value = 1;
    (void)served(&f, &disabled, hv_vcpu_pio(f.dom, 0, PORT_LAST, 1, 1, &value),
                 HVDM_IOREQ_TYPE_PIO, HVDM_IOREQ_WRITE, PORT_LAST, 1, 1);
    fixture_destroy(&f);
}

static void access_must_lie_wholly_inside_one_range(void) {
    struct fixture f;
    struct server s;
    uint64_t value = 0;
    REQUIRE_EQ(0, one_server(&f, &s));
    REQUIRE_EQ(0, hvdm_map_io_range_to_ioreq_server(f.dm, f.domid, s.id, PORTS, PORT_FIRST, PORT_LAST));
    /* 4 bytes at the last port would cover PORT_LAST .. PORT_LAST + 3 */
    if (test_arch_has_pio()) {
        EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_pio(f.dom, 0, PORT_LAST, 4, 0, &value));
        EXPECT_U64(0xffffffffu, value);
    }
    /* MMIO: a range of 0x804 bytes; an aligned 8-byte load at +0x800 would
     * cover +0x800 .. +0x807, 4 bytes past its end */
    REQUIRE_EQ(0, hvdm_map_io_range_to_ioreq_server(f.dm, f.domid, s.id, MMIO, TEST_MMIO_GPA,
                                                    TEST_MMIO_GPA + 0x803));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_load(f.dom, 0, TEST_MMIO_GPA + 0x800, 8, &value));
    EXPECT_U64(~0ull, value);
    EXPECT_EQ(HVDM_STATE_IOREQ_NONE, s.page->vcpu_ioreq[0].state);
    /* 8 bytes that end at the range's last byte: routed */
    EXPECT_U64(0x0102030405060708ull,
               served(&f, &s, hv_vcpu_load(f.dom, 0, TEST_MMIO_GPA + 0x7f8, 8, &value), HVDM_IOREQ_TYPE_COPY,
                      HVDM_IOREQ_READ, TEST_MMIO_GPA + 0x7f8, 8, 0x0102030405060708ull));
    fixture_destroy(&f);
}

/* ---- how an access is cut into ioreqs (Xen's hvmemul_phys_mmio_access) -- */

static void misaligned_access_inside_a_page_is_one_ioreq_of_its_size(void) {
    struct fixture f;
    struct server s;
    uint64_t value = 0;
    REQUIRE_EQ(0, one_server_with_mmio(&f, &s, 0x1000));
    /* 4 bytes at +0x7fe: not 4-aligned, but inside the page: one request */
    EXPECT_U64(0xa1b2c3d4u, served(&f, &s, hv_vcpu_load(f.dom, 0, TEST_MMIO_GPA + 0x7fe, 4, &value),
                                   HVDM_IOREQ_TYPE_COPY, HVDM_IOREQ_READ, TEST_MMIO_GPA + 0x7fe, 4, 0xa1b2c3d4u));
    /* 8 bytes at +0x7fd: one 8-byte request */
    (void)served(&f, &s, hv_vcpu_store(f.dom, 0, TEST_MMIO_GPA + 0x7fd, 8, 0x1122334455667788ull),
                 HVDM_IOREQ_TYPE_COPY, HVDM_IOREQ_WRITE, TEST_MMIO_GPA + 0x7fd, 8, 0x1122334455667788ull);
    fixture_destroy(&f);
}

static void access_across_a_page_is_cut_at_the_page_then_into_falling_powers_of_two(void) {
    /* 8 bytes at +0xffd of a device's first page: 3 bytes in it, 5 in the
     * next. Each part is cut into the largest power of two not above it,
     * then the largest that fits what is left: 2 + 1, then 4 + 1. */
    static const uint64_t addr[] = {0xffd, 0xfff, 0x1000, 0x1004};
    static const uint32_t size[] = {2, 1, 4, 1};
    /* each request answered with its bytes of 0x8877665544332211 */
    static const uint64_t answer[] = {0x2211, 0x33, 0x77665544, 0x88};
    struct fixture f;
    struct server s;
    uint64_t value = 0;
    unsigned i;
    REQUIRE_EQ(0, one_server_with_mmio(&f, &s, 0x2000));
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_load(f.dom, 0, TEST_MMIO_GPA + 0xffd, 8, &value));
    for (i = 0; i < 4; ++i) {
        expect_request(&s, 0, HVDM_IOREQ_TYPE_COPY, HVDM_IOREQ_READ, TEST_MMIO_GPA + addr[i], size[i], 0);
        REQUIRE_EQ(0, server_answer(&f, f.dm, &s, 0, answer[i]));
        EXPECT_EQ(i == 3 ? HV_VCPU_DONE : HV_VCPU_IOREQ_PENDING, hv_vcpu_resume(f.dom, 0, &value));
    }
    EXPECT_U64(0x8877665544332211ull, value);
    fixture_destroy(&f);
}

static void access_straddling_the_end_of_a_range_inside_a_page_goes_to_nobody(void) {
    struct fixture f;
    struct server s;
    uint64_t value = 0;
    REQUIRE_EQ(0, one_server(&f, &s));
    /* the range ends at +0x7ff; 4 bytes at +0x7fe cover +0x7fe .. +0x801 */
    REQUIRE_EQ(0, hvdm_map_io_range_to_ioreq_server(f.dm, f.domid, s.id, MMIO, TEST_MMIO_GPA,
                                                    TEST_MMIO_GPA + 0x7ff));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_load(f.dom, 0, TEST_MMIO_GPA + 0x7fe, 4, &value));
    EXPECT_U64(0xffffffffu, value);
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, TEST_MMIO_GPA + 0x7fe, 4, 0x12345678u));
    EXPECT_EQ(HVDM_STATE_IOREQ_NONE, s.page->vcpu_ioreq[0].state);
    EXPECT_TRUE(!fd_readable(s.fd));
    fixture_destroy(&f);
}

static void mmio_above_ram_goes_by_memory_range(void) {
    struct fixture f;
    struct server s;
    REQUIRE_EQ(0, one_server_with_mmio(&f, &s, 0x1000));
    (void)served(&f, &s, hv_vcpu_store(f.dom, 0, TEST_MMIO_GPA + 0x10, 2, 0x1234), HVDM_IOREQ_TYPE_COPY,
                 HVDM_IOREQ_WRITE, TEST_MMIO_GPA + 0x10, 2, 0x1234);
    EXPECT_TRUE(fd_readable(s.fd)); /* the server was notified */
    fixture_destroy(&f);
}

static void mmio_dm_page_goes_by_memory_range_both_ways(void) {
    /* gfn 0x200 turned into emulated MMIO inside RAM */
    const uint64_t gfn = 0x200;
    const uint64_t gpa = gfn * TEST_PAGE_SIZE;
    struct fixture f;
    struct server s;
    uint64_t value = 0;
    REQUIRE_EQ(0, one_server(&f, &s));
    REQUIRE_EQ(0, hvdm_map_io_range_to_ioreq_server(f.dm, f.domid, s.id, MMIO, gpa, gpa + TEST_PAGE_SIZE - 1));
    REQUIRE_EQ(0, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_MMIO_DM, gfn, 1));
    EXPECT_U64(0x600df00du, served(&f, &s, hv_vcpu_load(f.dom, 0, gpa + 8, 4, &value),
                                   HVDM_IOREQ_TYPE_COPY, HVDM_IOREQ_READ, gpa + 8, 4, 0x600df00du));
    (void)served(&f, &s, hv_vcpu_store(f.dom, 0, gpa + 8, 4, 0x5ca1ab1eu),
                 HVDM_IOREQ_TYPE_COPY, HVDM_IOREQ_WRITE, gpa + 8, 4, 0x5ca1ab1eu);
    fixture_destroy(&f);
}

static void write_to_ram_ro_is_discarded_even_under_a_memory_range_and_reads_come_from_ram(void) {
    /* gfn 0x300 made read-only: Xen's discard-write type (p2m_is_discard_write) */
    const uint64_t gfn = 0x300;
    const uint64_t gpa = gfn * TEST_PAGE_SIZE;
    struct fixture f;
    struct server s;
    uint64_t value = 0;
    REQUIRE_EQ(0, one_server(&f, &s));
    REQUIRE_EQ(0, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_RAM_RO, gfn, 1));
    set_ram_u32(&f, gpa, 0x0badcafeu);
    /* nobody holds it: dropped */
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, gpa, 4, 1));
    EXPECT_U64(0x0badcafeu, ram_u32(&f, gpa));
    /* a MEMORY range over it changes nothing: still dropped, no request */
    REQUIRE_EQ(0, hvdm_map_io_range_to_ioreq_server(f.dm, f.domid, s.id, MMIO, gpa, gpa + TEST_PAGE_SIZE - 1));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, gpa, 4, 2));
    EXPECT_EQ(HVDM_STATE_IOREQ_NONE, s.page->vcpu_ioreq[0].state);
    EXPECT_EQ(0, fd_readable(s.fd));
    EXPECT_U64(0x0badcafeu, ram_u32(&f, gpa));
    /* reads are plain RAM reads */
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_load(f.dom, 0, gpa, 4, &value));
    EXPECT_U64(0x0badcafeu, value);
    fixture_destroy(&f);
}

/* ---- one access in pieces: every piece is replayed after the answer ---- */

/* An 8-byte access 4 bytes before a page boundary is two 4-byte pieces,
 * one per page. The first page goes to nobody (a hole above RAM, or a
 * ram_ro page: its write is dropped), the second to a
 * device model. After the answer the instruction runs again and meets the
 * first piece again: it must be taken as done, not as a different access. */
#define SPLIT_HOLE_GPA (TEST_MMIO_GPA + 0x2000) /* nobody's page above RAM */
#define SPLIT_DEVICE_GPA (SPLIT_HOLE_GPA + TEST_PAGE_SIZE) /* the page above it: a device's */
#define SPLIT_RO_GFN 0x300u                     /* a RAM page made read-only */
#define SPLIT_RO_GPA ((uint64_t)SPLIT_RO_GFN * TEST_PAGE_SIZE)
#define SPLIT_DM_GPA (SPLIT_RO_GPA + TEST_PAGE_SIZE) /* the RAM page above it, made mmio_dm */

static int split_setup(struct fixture *f, struct server *s) {
    int rc = one_server(f, s);
    if (rc != 0) return rc;
    rc = hvdm_map_io_range_to_ioreq_server(f->dm, f->domid, s->id, MMIO, SPLIT_DEVICE_GPA,
                                           SPLIT_DEVICE_GPA + TEST_PAGE_SIZE - 1);
    if (rc != 0) return rc;
    rc = hvdm_set_mem_type(f->dm, f->domid, HVDM_MEM_RAM_RO, SPLIT_RO_GFN, 1);
    if (rc != 0) return rc;
    rc = hvdm_set_mem_type(f->dm, f->domid, HVDM_MEM_MMIO_DM, SPLIT_RO_GFN + 1, 1);
    if (rc != 0) return rc;
    return hvdm_map_io_range_to_ioreq_server(f->dm, f->domid, s->id, MMIO, SPLIT_DM_GPA,
                                             SPLIT_DM_GPA + TEST_PAGE_SIZE - 1);
}

static void expect_running(struct fixture *f) {
    char reason[256];
    EXPECT_EQ(0, hv_domain_stop_reason(f->dom, reason, sizeof reason));
}

static void store_whose_first_piece_is_in_a_hole_completes_after_the_answer(void) {
    struct fixture f;
    struct server s;
    REQUIRE_EQ(0, split_setup(&f, &s));
    /* hole, then device: bytes 0x11..0x44 dropped, 0x55..0x88 sent */
    (void)served(&f, &s, hv_vcpu_store(f.dom, 0, SPLIT_DEVICE_GPA - 4, 8, 0x8877665544332211ull),
                 HVDM_IOREQ_TYPE_COPY, HVDM_IOREQ_WRITE, SPLIT_DEVICE_GPA, 4, 0x88776655u);
    expect_running(&f);
    fixture_destroy(&f);
}

static void store_whose_first_piece_is_on_a_ram_ro_page_completes_after_the_answer(void) {
    struct fixture f;
    struct server s;
    REQUIRE_EQ(0, split_setup(&f, &s));
    /* ram_ro, then device: the read-only bytes stay, the rest is sent */
    set_ram_u32(&f, SPLIT_DM_GPA - 4, 0x0badcafeu);
    (void)served(&f, &s, hv_vcpu_store(f.dom, 0, SPLIT_DM_GPA - 4, 8, 0x8877665544332211ull),
                 HVDM_IOREQ_TYPE_COPY, HVDM_IOREQ_WRITE, SPLIT_DM_GPA, 4, 0x88776655u);
    expect_running(&f);
    EXPECT_U64(0x0badcafeu, ram_u32(&f, SPLIT_DM_GPA - 4));
    fixture_destroy(&f);
}

static void load_whose_first_piece_is_in_a_hole_completes_after_the_answer(void) {
    struct fixture f;
    struct server s;
    uint64_t value = 0;
    REQUIRE_EQ(0, split_setup(&f, &s));
    /* hole, then device: the low half reads all ones */
    EXPECT_U64(0x12345678ffffffffull, served(&f, &s, hv_vcpu_load(f.dom, 0, SPLIT_DEVICE_GPA - 4, 8, &value),
                                             HVDM_IOREQ_TYPE_COPY, HVDM_IOREQ_READ, SPLIT_DEVICE_GPA, 4, 0x12345678u));
    expect_running(&f);
    fixture_destroy(&f);
}

static void load_whose_first_piece_is_on_a_ram_ro_page_completes_after_the_answer(void) {
    struct fixture f;
    struct server s;
    uint64_t value = 0;
    REQUIRE_EQ(0, split_setup(&f, &s));
    /* ram_ro, then device: the low half comes from RAM */
    set_ram_u32(&f, SPLIT_DM_GPA - 4, 0x0badcafeu);
    EXPECT_U64(0x123456780badcafeull, served(&f, &s, hv_vcpu_load(f.dom, 0, SPLIT_DM_GPA - 4, 8, &value),
                                             HVDM_IOREQ_TYPE_COPY, HVDM_IOREQ_READ, SPLIT_DM_GPA, 4, 0x12345678u));
    expect_running(&f);
    fixture_destroy(&f);
}

static void pci_config_access_goes_by_device_with_sbdf_and_register(void) {
    /* device 00:03.0, register 0x10 (BAR0); SBDF = bus << 8 | dev << 3 | fn */
    const uint64_t sbdf = 3u << 3;
    struct fixture f;
    struct server s;
    uint64_t value = 0;
    REQUIRE_EQ(0, one_server(&f, &s));
    REQUIRE_EQ(0, hvdm_map_pcidev_to_ioreq_server(f.dm, f.domid, s.id, 0, 0, 3, 0));
    /* CONFIG_ADDRESS: no PORT range holds 0xcf8, so the write itself is dropped */
    value = CF8(0, 3, 0, 0x10);
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_pio(f.dom, 0, PCI_CONFIG_ADDRESS, 4, 1, &value));
    /* a 4-byte read of CONFIG_DATA */
    EXPECT_U64(0xfebf0000u, served(&f, &s, hv_vcpu_pio(f.dom, 0, PCI_CONFIG_DATA, 4, 0, &value),
                                   HVDM_IOREQ_TYPE_PCI_CONFIG, HVDM_IOREQ_READ, sbdf << 32 | 0x10, 4, 0xfebf0000u));
    /* a 2-byte write at 0xcfe: register 0x10 | 2 */
    value = 0xabcd;
    (void)served(&f, &s, hv_vcpu_pio(f.dom, 0, PCI_CONFIG_DATA + 2, 2, 1, &value),
                 HVDM_IOREQ_TYPE_PCI_CONFIG, HVDM_IOREQ_WRITE, sbdf << 32 | 0x12, 2, 0xabcd);
    /* only 4-byte writes latch CONFIG_ADDRESS: a 2-byte write of 0 keeps it */
    value = 0;
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_pio(f.dom, 0, PCI_CONFIG_ADDRESS, 2, 1, &value));
    EXPECT_U64(0x5a, served(&f, &s, hv_vcpu_pio(f.dom, 0, PCI_CONFIG_DATA + 1, 1, 0, &value),
                            HVDM_IOREQ_TYPE_PCI_CONFIG, HVDM_IOREQ_READ, sbdf << 32 | 0x11, 1, 0x5a));
    fixture_destroy(&f);
}

static void pci_config_of_unclaimed_device_reads_all_ones(void) {
    struct fixture f;
    struct server s;
    uint64_t value = 0;
    REQUIRE_EQ(0, one_server(&f, &s));
    REQUIRE_EQ(0, hvdm_map_pcidev_to_ioreq_server(f.dm, f.domid, s.id, 0, 0, 3, 0));
    /* device 00:04.0 (the vendor id register): nobody holds it */
    value = CF8(0, 4, 0, 0);
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_pio(f.dom, 0, PCI_CONFIG_ADDRESS, 4, 1, &value));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_pio(f.dom, 0, PCI_CONFIG_DATA, 2, 0, &value));
    EXPECT_U64(0xffff, value);
    /* device 00:03.1: another function of the held device, not held */
    value = CF8(0, 3, 1, 0);
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_pio(f.dom, 0, PCI_CONFIG_ADDRESS, 4, 1, &value));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_pio(f.dom, 0, PCI_CONFIG_DATA, 4, 0, &value));
    EXPECT_U64(0xffffffffu, value);
    EXPECT_EQ(HVDM_STATE_IOREQ_NONE, s.page->vcpu_ioreq[0].state);
    fixture_destroy(&f);
}

static void config_address_write_is_still_routed_as_a_port_write(void) {
    struct fixture f;
    struct server ports, dev;
    uint64_t value = 0;
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, server_create(&f, f.dm, HVDM_BUFIOREQ_OFF, 1, &ports));
    REQUIRE_EQ(0, server_create(&f, f.dm, HVDM_BUFIOREQ_OFF, 1, &dev));
    /* one server holds the ports 0xcf8-0xcff (a host bridge), the other a device */
    REQUIRE_EQ(0, hvdm_map_io_range_to_ioreq_server(f.dm, f.domid, ports.id, PORTS, PCI_CONFIG_ADDRESS,
                                                    PCI_CONFIG_DATA + 3));
    REQUIRE_EQ(0, hvdm_map_pcidev_to_ioreq_server(f.dm, f.domid, dev.id, 0, 0, 3, 0));
    value = CF8(0, 3, 0, 0x04);
    (void)served(&f, &ports, hv_vcpu_pio(f.dom, 0, PCI_CONFIG_ADDRESS, 4, 1, &value),
                 HVDM_IOREQ_TYPE_PIO, HVDM_IOREQ_WRITE, PCI_CONFIG_ADDRESS, 4, CF8(0, 3, 0, 0x04));
    /* latched: CONFIG_DATA goes to the device as PCI config, not to the ports */
    EXPECT_U64(0x0007, served(&f, &dev, hv_vcpu_pio(f.dom, 0, PCI_CONFIG_DATA, 2, 0, &value),
                              HVDM_IOREQ_TYPE_PCI_CONFIG, HVDM_IOREQ_READ, (uint64_t)(3u << 3) << 32 | 0x04, 2,
                              0x0007));
    EXPECT_EQ(HVDM_STATE_IOREQ_NONE, ports.page->vcpu_ioreq[0].state);
    /* with the enable bit clear, CONFIG_DATA is a plain port */
    value = CF8(0, 3, 0, 0x04) & ~0x80000000u;
    (void)served(&f, &ports, hv_vcpu_pio(f.dom, 0, PCI_CONFIG_ADDRESS, 4, 1, &value), HVDM_IOREQ_TYPE_PIO,
                 HVDM_IOREQ_WRITE, PCI_CONFIG_ADDRESS, 4, CF8(0, 3, 0, 0x04) & ~0x80000000u);
    EXPECT_U64(0x1111, served(&f, &ports, hv_vcpu_pio(f.dom, 0, PCI_CONFIG_DATA, 2, 0, &value),
                              HVDM_IOREQ_TYPE_PIO, HVDM_IOREQ_READ, PCI_CONFIG_DATA, 2, 0x1111));
    fixture_destroy(&f);
}

static void servers_start_disabled_and_get_nothing(void) {
    struct fixture f;
    hvdm_ioservid_t id = 0;
    uint64_t value = 0;
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &id)); /* never enabled */
    REQUIRE_EQ(0, hvdm_map_io_range_to_ioreq_server(f.dm, f.domid, id, PORTS, PORT_FIRST, PORT_LAST));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_pio(f.dom, 0, PORT_FIRST, 1, 0, &value));
    EXPECT_U64(0xff, value);
    fixture_destroy(&f);
}

int main(void) {
    skip_unless_vmx_backend("test_routing");
    RUN(write_to_claimed_page_goes_to_the_owner_and_not_to_ram);
    RUN(loads_from_claimed_page_are_served_from_ram);
    /* x86 instruction bytes and port I/O: the x86 backends only */
    if (test_arch_has_pio()) {
        RUN(read_modify_write_on_claimed_page_sends_one_write_with_the_final_value);
        RUN(instruction_not_emulated_on_claimed_page_is_a_guest_fault_naming_it);
    }
    RUN(write_to_claimed_page_of_disabled_owner_is_held_for_retry);
    RUN(unclaimed_mmio_reads_all_ones_and_drops_writes);
    if (test_arch_has_pio()) RUN(unclaimed_port_reads_all_ones_and_drops_writes);
    if (test_arch_has_pio()) RUN(port_access_goes_to_the_highest_enabled_server_holding_the_range);
    RUN(access_must_lie_wholly_inside_one_range);
    RUN(misaligned_access_inside_a_page_is_one_ioreq_of_its_size);
    RUN(access_across_a_page_is_cut_at_the_page_then_into_falling_powers_of_two);
    RUN(access_straddling_the_end_of_a_range_inside_a_page_goes_to_nobody);
    RUN(mmio_above_ram_goes_by_memory_range);
    RUN(mmio_dm_page_goes_by_memory_range_both_ways);
    RUN(write_to_ram_ro_is_discarded_even_under_a_memory_range_and_reads_come_from_ram);
    RUN(store_whose_first_piece_is_in_a_hole_completes_after_the_answer);
    RUN(load_whose_first_piece_is_in_a_hole_completes_after_the_answer);
    RUN(store_whose_first_piece_is_on_a_ram_ro_page_completes_after_the_answer);
    RUN(load_whose_first_piece_is_on_a_ram_ro_page_completes_after_the_answer);
    if (test_arch_has_pio()) {
        RUN(pci_config_access_goes_by_device_with_sbdf_and_register);
        RUN(pci_config_of_unclaimed_device_reads_all_ones);
        RUN(config_address_write_is_still_routed_as_a_port_write);
        RUN(servers_start_disabled_and_get_nothing);
    }
    return abi_finish("test_routing");
}

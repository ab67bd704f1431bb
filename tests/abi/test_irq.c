/* SPDX-License-Identifier: MIT */
/* The interrupt DMOPs and remote_shutdown (<hvcore/hvdm.h>, hvdm_irq), on
 * the model vCPUs of each backend, read back through hv_domain_irq_state:
 * every errno of Xen's checks (xen/arch/x86/hvm/dm.c set_pci_intx_level,
 * set_isa_irq_level; irq.c hvm_set_pci_link_route, hvm_inject_msi; vmsi.c
 * vmsi_deliver; xen/arch/arm/dm.c XEN_DMOP_set_irq_level), the per-arch
 * split (x86: 8, 9, 10, 14; arm64 and riscv64: 19), Xen's per-GSI counting,
 * raw buffers and the typed wrappers, and that a rejected op changes
 * nothing. */
#include <pthread.h>

#include "abi_test.h"
#include "dmop_raw.h"

#define NO_SUCH_DOMAIN ((hvdm_domid_t)0x7ff0)

/* The interrupt ops' payloads (xen/include/public/hvm/dm_op.h). */
struct op_set_pci_intx_level { /* op 8, 6 bytes */
    uint16_t domain;
    uint8_t bus, device, intx, level;
};
struct op_set_isa_irq_level { /* op 9, 2 bytes */
    uint8_t isa_irq, level;
};
struct op_set_pci_link_route { /* op 10, 2 bytes */
    uint8_t link, isa_irq;
};
struct op_inject_msi { /* op 14, 16 bytes */
    uint32_t data, pad;
    uint64_t addr;
};
struct op_remote_shutdown { /* op 16, 4 bytes */
    uint32_t reason;
};
struct op_set_irq_level { /* op 19, 8 bytes */
    uint32_t irq;
    uint8_t level, pad[3];
};
struct irq_op {
    uint32_t op, pad;
    union {
        uint8_t raw[24];
        struct op_set_pci_intx_level intx;
        struct op_set_isa_irq_level isa;
        struct op_set_pci_link_route link;
        struct op_inject_msi msi;
        struct op_remote_shutdown shutdown;
        struct op_set_irq_level irq;
    } u;
};
typedef char irq_op_is_32_bytes[sizeof(struct irq_op) == 32 ? 1 : -1];
/* Each op's payload size (Xen's op_size[]). */
static size_t payload_size(uint32_t op) {
    switch (op) {
    case HVDM_DMOP_SET_PCI_INTX_LEVEL: return 6;
    case HVDM_DMOP_SET_ISA_IRQ_LEVEL: return 2;
    case HVDM_DMOP_SET_PCI_LINK_ROUTE: return 2;
    case HVDM_DMOP_INJECT_MSI: return 16;
    case HVDM_DMOP_REMOTE_SHUTDOWN: return 4;
    default: return 8; /* HVDM_DMOP_SET_IRQ_LEVEL */
    }
}

static struct irq_op irq_op_make(uint32_t op) {
    struct irq_op o;
    memset(&o, 0, sizeof o);
    o.op = op;
    return o;
}

static int raw(struct fixture *f, struct irq_op *o, size_t size) {
    hvdm_buf b;
    b.ptr = o;
    b.size = size;
    return hvdm_dm_op(f->dm, f->domid, 1, &b);
}

static int is_x86(void) { return test_arch() == HV_ARCH_X86_VMX || test_arch() == HV_ARCH_X86_SVM; }

static hv_irq_state state_of(struct fixture *f) {
    hv_irq_state s;
    memset(&s, 0xee, sizeof s);
    s.size = sizeof s;
    if (hv_domain_irq_state(f->dom, &s) != 0) memset(&s, 0xee, sizeof s);
    return s;
}

/* The state is what it was: a rejected op changed nothing. */
#define EXPECT_STATE_UNCHANGED(f, before)                                  \
    do {                                                                   \
        hv_irq_state after_ = state_of(f);                                 \
        EXPECT_TRUE(memcmp(&(before), &after_, sizeof after_) == 0);       \
    } while (0)

/* ---- hv_domain_irq_state ------------------------------------------------ */

static void irq_state_starts_empty_and_checks_its_arguments(void) {
    struct fixture f;
    hv_irq_state s;
    unsigned i;
    REQUIRE_EQ(0, fixture_create(&f));
    memset(&s, 0xee, sizeof s);
    s.size = sizeof s - 1;
    EXPECT_EQ(-EINVAL, hv_domain_irq_state(f.dom, &s));
    EXPECT_EQ(sizeof s - 1, s.size); /* unchanged */
    EXPECT_EQ(-EINVAL, hv_domain_irq_state(f.dom, NULL));
    EXPECT_EQ(-EINVAL, hv_domain_irq_state(NULL, &s));
    s.size = sizeof s + 8; /* a larger caller struct is fine */
    EXPECT_EQ(0, hv_domain_irq_state(f.dom, &s));
    EXPECT_EQ(sizeof s, s.size);
    EXPECT_EQ(0, s.isa_irq_levels);
    EXPECT_U64(0, s.msi_count);
    EXPECT_EQ(is_x86() ? 0 : 960, s.nr_spis);
    for (i = 0; i < 48; ++i) EXPECT_EQ(0, s.gsi_assert_count[i]);
    for (i = 0; i < 4; ++i) EXPECT_EQ(0, s.link_route[i]);
    for (i = 0; i < 32; ++i) EXPECT_EQ(0, s.spi_level[i]);
    fixture_destroy(&f);
}

/* ---- the per-arch split -------------------------------------------------- */

static void each_arch_takes_only_its_own_interrupt_ops(void) {
    struct fixture f;
    hv_irq_state before;
    REQUIRE_EQ(0, fixture_create(&f));
    before = state_of(&f);
    if (is_x86()) {
        /* Xen x86's op_size[] has no set_irq_level: -EOPNOTSUPP, even with a
         * valid SPI and a buffer of any size. */
        struct irq_op o = irq_op_make(HVDM_DMOP_SET_IRQ_LEVEL);
        o.u.irq.irq = 40;
        o.u.irq.level = 1;
        EXPECT_EQ(-EOPNOTSUPP, raw(&f, &o, sizeof o));
        EXPECT_EQ(-EOPNOTSUPP, raw(&f, &o, 8));
        EXPECT_EQ(-EOPNOTSUPP, hvdm_set_irq_level(f.dm, f.domid, 40, 1));
        /* its op_size there is 0: the header's pad is still checked first */
        o.pad = 1;
        EXPECT_EQ(-EINVAL, raw(&f, &o, 8));
    } else {
        /* Xen Arm's op_size[] has only 1-6, 19 and 20. */
        static const uint32_t ops[] = {HVDM_DMOP_SET_PCI_INTX_LEVEL, HVDM_DMOP_SET_ISA_IRQ_LEVEL,
                                       HVDM_DMOP_SET_PCI_LINK_ROUTE, HVDM_DMOP_INJECT_MSI};
        size_t i;
        for (i = 0; i < sizeof ops / sizeof ops[0]; ++i) {
            struct irq_op o = irq_op_make(ops[i]);
            if (!EXPECT_EQ(-EOPNOTSUPP, raw(&f, &o, sizeof o))) fprintf(stderr, "    (op %u)\n", (unsigned)ops[i]);
            if (!EXPECT_EQ(-EOPNOTSUPP, raw(&f, &o, 8))) fprintf(stderr, "    (op %u)\n", (unsigned)ops[i]);
            o.pad = 1; /* op_size 0 on Arm: the header's pad is still checked first */
            if (!EXPECT_EQ(-EINVAL, raw(&f, &o, 8))) fprintf(stderr, "    (op %u)\n", (unsigned)ops[i]);
        }
        EXPECT_EQ(-EOPNOTSUPP, hvdm_set_pci_intx_level(f.dm, f.domid, 0, 0, 3, 0, 1));
        EXPECT_EQ(-EOPNOTSUPP, hvdm_set_isa_irq_level(f.dm, f.domid, 5, 1));
        EXPECT_EQ(-EOPNOTSUPP, hvdm_set_pci_link_route(f.dm, f.domid, 0, 10));
        EXPECT_EQ(-EOPNOTSUPP, hvdm_inject_msi(f.dm, f.domid, 0xfee00000u, 0x41));
    }
    EXPECT_STATE_UNCHANGED(&f, before);
    fixture_destroy(&f);
}

/* ---- the common envelope -------------------------------------------------- */

static void raw_buffers_short_pad_and_envelope_errnos(void) {
    static const uint32_t x86_ops[] = {HVDM_DMOP_SET_PCI_INTX_LEVEL, HVDM_DMOP_SET_ISA_IRQ_LEVEL,
                                       HVDM_DMOP_SET_PCI_LINK_ROUTE, HVDM_DMOP_INJECT_MSI,
                                       HVDM_DMOP_REMOTE_SHUTDOWN};
    static const uint32_t arm_ops[] = {HVDM_DMOP_SET_IRQ_LEVEL, HVDM_DMOP_REMOTE_SHUTDOWN};
    const uint32_t *ops = is_x86() ? x86_ops : arm_ops;
    const size_t n = is_x86() ? sizeof x86_ops / sizeof x86_ops[0] : sizeof arm_ops / sizeof arm_ops[0];
    struct fixture f;
    hv_irq_state before;
    size_t i;
    char reason[8];
    REQUIRE_EQ(0, fixture_create(&f));
    before = state_of(&f);
    for (i = 0; i < n; ++i) {
        struct irq_op o = irq_op_make(ops[i]);
        /* one byte short of header + payload (xen/arch/x86/hvm/dm.c dm_op) */
        if (!EXPECT_EQ(-EFAULT, raw(&f, &o, 8 + payload_size(ops[i]) - 1))) fprintf(stderr, "    (op %u)\n", ops[i]);
        o.pad = 1; /* the header's pad */
        if (!EXPECT_EQ(-EINVAL, raw(&f, &o, sizeof o))) fprintf(stderr, "    (op %u)\n", ops[i]);
        o.pad = 0;
        if (!EXPECT_EQ(-ESRCH, hvdm_dm_op(f.dm, NO_SUCH_DOMAIN, 1, &(hvdm_buf){&o, sizeof o})))
            fprintf(stderr, "    (op %u)\n", ops[i]);
    }
    EXPECT_STATE_UNCHANGED(&f, before);
    EXPECT_EQ(0, hv_domain_stop_reason(f.dom, reason, sizeof reason)); /* no shutdown went through */
    fixture_destroy(&f);
}

static void wrappers_check_handle_restriction_and_domain_first(void) {
    struct fixture f;
    hvdm_handle *other;
    hv_irq_state before;
    REQUIRE_EQ(0, fixture_create(&f));
    before = state_of(&f);
    other = hvdm_open(f.host);
    REQUIRE_TRUE(other != NULL);
    REQUIRE_EQ(0, hvdm_restrict(other, (hvdm_domid_t)(f.domid + 1)));
    /* even with invalid arguments: the restriction comes first */
    EXPECT_EQ(-EPERM, hvdm_set_isa_irq_level(other, f.domid, 99, 7));
    EXPECT_EQ(-EPERM, hvdm_set_pci_intx_level(other, f.domid, 1, 1, 99, 9, 9));
    EXPECT_EQ(-EPERM, hvdm_set_pci_link_route(other, f.domid, 9, 99));
    EXPECT_EQ(-EPERM, hvdm_inject_msi(other, f.domid, 0, 0));
    EXPECT_EQ(-EPERM, hvdm_set_irq_level(other, f.domid, 1, 7));
    EXPECT_EQ(-EPERM, hvdm_shutdown(other, f.domid, HVDM_SHUTDOWN_POWEROFF));
    EXPECT_EQ(-EINVAL, hvdm_shutdown(NULL, f.domid, HVDM_SHUTDOWN_POWEROFF));
    EXPECT_EQ(-EINVAL, hvdm_set_isa_irq_level(NULL, f.domid, 5, 1));
    EXPECT_EQ(-ESRCH, hvdm_set_isa_irq_level(f.dm, NO_SUCH_DOMAIN, 99, 7));
    EXPECT_EQ(-ESRCH, hvdm_set_irq_level(f.dm, NO_SUCH_DOMAIN, 1, 7));
    EXPECT_EQ(-ESRCH, hvdm_shutdown(f.dm, NO_SUCH_DOMAIN, HVDM_SHUTDOWN_POWEROFF));
    EXPECT_EQ(0, hvdm_close(other));
    EXPECT_STATE_UNCHANGED(&f, before);
    fixture_destroy(&f);
}

/* ---- x86: ISA irqs ------------------------------------------------------- */

static void isa_irq_levels_are_counted_per_gsi(void) {
    struct fixture f;
    hv_irq_state s, before;
    if (!is_x86()) return;
    REQUIRE_EQ(0, fixture_create(&f));
    EXPECT_EQ(0, hvdm_set_isa_irq_level(f.dm, f.domid, 5, 1));
    s = state_of(&f);
    EXPECT_EQ(1u << 5, s.isa_irq_levels);
    EXPECT_EQ(1, s.gsi_assert_count[5]);
    /* asserting an asserted line changes nothing (__test_and_set_bit) */
    EXPECT_EQ(0, hvdm_set_isa_irq_level(f.dm, f.domid, 5, 1));
    EXPECT_EQ(1, state_of(&f).gsi_assert_count[5]);
    /* ISA irq 0 is GSI 2 (hvm_isa_irq_to_gsi) */
    EXPECT_EQ(0, hvdm_set_isa_irq_level(f.dm, f.domid, 0, 1));
    s = state_of(&f);
    EXPECT_EQ(1, s.gsi_assert_count[2]);
    EXPECT_EQ(0, s.gsi_assert_count[0]);
    EXPECT_EQ((1u << 5) | 1u, s.isa_irq_levels);
    /* the errnos, each changing nothing */
    before = state_of(&f);
    EXPECT_EQ(-EINVAL, hvdm_set_isa_irq_level(f.dm, f.domid, 16, 1)); /* NR_ISA_IRQS */
    EXPECT_EQ(-EINVAL, hvdm_set_isa_irq_level(f.dm, f.domid, 5, 2));
    EXPECT_EQ(-EINVAL, hvdm_set_isa_irq_level(f.dm, f.domid, 5, 256)); /* not truncated to 0 */
    EXPECT_EQ(-EINVAL, hvdm_set_isa_irq_level(f.dm, f.domid, 3, 0xffffffffu));
    EXPECT_STATE_UNCHANGED(&f, before);
    /* deassert */
    EXPECT_EQ(0, hvdm_set_isa_irq_level(f.dm, f.domid, 5, 0));
    EXPECT_EQ(0, hvdm_set_isa_irq_level(f.dm, f.domid, 5, 0)); /* twice: no underflow */
    EXPECT_EQ(0, hvdm_set_isa_irq_level(f.dm, f.domid, 0, 0));
    s = state_of(&f);
    EXPECT_EQ(0, s.isa_irq_levels);
    EXPECT_EQ(0, s.gsi_assert_count[5]);
    EXPECT_EQ(0, s.gsi_assert_count[2]);
    fixture_destroy(&f);
}

static void isa_irq_level_raw_buffer(void) {
    struct fixture f;
    struct irq_op o = irq_op_make(HVDM_DMOP_SET_ISA_IRQ_LEVEL);
    if (!is_x86()) return;
    REQUIRE_EQ(0, fixture_create(&f));
    o.u.isa.isa_irq = 9;
    o.u.isa.level = 1;
    EXPECT_EQ(0, raw(&f, &o, 8 + 2)); /* exactly header + payload */
    EXPECT_EQ(1u << 9, state_of(&f).isa_irq_levels);
    o.u.isa.level = 3;
    EXPECT_EQ(-EINVAL, raw(&f, &o, sizeof o));
    EXPECT_EQ(1u << 9, state_of(&f).isa_irq_levels);
    fixture_destroy(&f);
}

/* ---- x86: PCI INTx and links ------------------------------------------- */

static void pci_intx_drives_its_gsi_and_its_link(void) {
    struct fixture f;
    hv_irq_state s, before;
    /* device 3 INTB: GSI ((3 << 2) + (3 >> 3) + 1) % 32 + 16 = 29, link (3 + 1) % 4 = 0;
     * device 7 INTA: GSI (28 + 0 + 0) % 32 + 16 = 44, link 7 % 4 = 3;
     * device 2 INTC: GSI (8 + 0 + 2) + 16 = 26, link (2 + 2) % 4 = 0 */
    if (!is_x86()) return;
    REQUIRE_EQ(0, fixture_create(&f));
    EXPECT_EQ(0, hvdm_set_pci_link_route(f.dm, f.domid, 0, 10));
    EXPECT_EQ(0, hvdm_set_pci_intx_level(f.dm, f.domid, 0, 0, 3, 1, 1));
    s = state_of(&f);
    EXPECT_EQ(10, s.link_route[0]);
    EXPECT_EQ(1, s.gsi_assert_count[29]);
    EXPECT_EQ(1, s.link_assert_count[0]);
    EXPECT_EQ(1, s.gsi_assert_count[10]);
    EXPECT_EQ(1u << (3 * 4 + 1), s.pci_intx[0]);
    /* a second line on link 0: the link counts 2, ISA irq 10 stays at 1 */
    EXPECT_EQ(0, hvdm_set_pci_intx_level(f.dm, f.domid, 0, 0, 2, 2, 1));
    s = state_of(&f);
    EXPECT_EQ(1, s.gsi_assert_count[26]);
    EXPECT_EQ(2, s.link_assert_count[0]);
    EXPECT_EQ(1, s.gsi_assert_count[10]);
    /* a line on an unrouted link: its GSI only */
    EXPECT_EQ(0, hvdm_set_pci_intx_level(f.dm, f.domid, 0, 0, 7, 0, 1));
    s = state_of(&f);
    EXPECT_EQ(1, s.gsi_assert_count[44]);
    EXPECT_EQ(1, s.link_assert_count[3]);
    EXPECT_EQ((1u << (7 * 4)) | (1u << (3 * 4 + 1)) | (1u << (2 * 4 + 2)), s.pci_intx[0]);
    /* asserting twice changes nothing */
    before = state_of(&f);
    EXPECT_EQ(0, hvdm_set_pci_intx_level(f.dm, f.domid, 0, 0, 3, 1, 1));
    EXPECT_STATE_UNCHANGED(&f, before);
    /* the errnos (set_pci_intx_level), each changing nothing */
    EXPECT_EQ(-EINVAL, hvdm_set_pci_intx_level(f.dm, f.domid, 1, 0, 3, 1, 0));  /* segment */
    EXPECT_EQ(-EINVAL, hvdm_set_pci_intx_level(f.dm, f.domid, 0, 1, 3, 1, 0));  /* bus */
    EXPECT_EQ(-EINVAL, hvdm_set_pci_intx_level(f.dm, f.domid, 0, 0, 32, 1, 0)); /* device */
    EXPECT_EQ(-EINVAL, hvdm_set_pci_intx_level(f.dm, f.domid, 0, 0, 3, 4, 0));  /* intx */
    EXPECT_EQ(-EINVAL, hvdm_set_pci_intx_level(f.dm, f.domid, 0, 0, 3, 1, 2));  /* level */
    EXPECT_EQ(-EINVAL, hvdm_set_pci_intx_level(f.dm, f.domid, 0, 0, 3, 1, 256));
    EXPECT_STATE_UNCHANGED(&f, before);
    /* deassert all: every count back to 0 */
    EXPECT_EQ(0, hvdm_set_pci_intx_level(f.dm, f.domid, 0, 0, 3, 1, 0));
    s = state_of(&f);
    EXPECT_EQ(0, s.gsi_assert_count[29]);
    EXPECT_EQ(1, s.link_assert_count[0]);
    EXPECT_EQ(1, s.gsi_assert_count[10]); /* device 2 still holds link 0 */
    EXPECT_EQ(0, hvdm_set_pci_intx_level(f.dm, f.domid, 0, 0, 2, 2, 0));
    EXPECT_EQ(0, hvdm_set_pci_intx_level(f.dm, f.domid, 0, 0, 7, 0, 0));
    EXPECT_EQ(0, hvdm_set_pci_intx_level(f.dm, f.domid, 0, 0, 7, 0, 0)); /* twice: no underflow */
    s = state_of(&f);
    EXPECT_EQ(0, s.gsi_assert_count[10]);
    EXPECT_EQ(0, s.gsi_assert_count[26]);
    EXPECT_EQ(0, s.gsi_assert_count[44]);
    EXPECT_EQ(0, s.link_assert_count[0]);
    EXPECT_EQ(0, s.link_assert_count[3]);
    EXPECT_EQ(0, s.pci_intx[0]);
    fixture_destroy(&f);
}

static void link_route_moves_an_asserted_link(void) {
    struct fixture f;
    hv_irq_state s, before;
    if (!is_x86()) return;
    REQUIRE_EQ(0, fixture_create(&f));
    /* device 1 INTA: link 1 */
    EXPECT_EQ(0, hvdm_set_pci_intx_level(f.dm, f.domid, 0, 0, 1, 0, 1));
    s = state_of(&f);
    EXPECT_EQ(1, s.link_assert_count[1]);
    EXPECT_EQ(0, s.gsi_assert_count[11]);
    EXPECT_EQ(0, hvdm_set_pci_link_route(f.dm, f.domid, 1, 11)); /* routed while asserted */
    EXPECT_EQ(1, state_of(&f).gsi_assert_count[11]);
    EXPECT_EQ(0, hvdm_set_pci_link_route(f.dm, f.domid, 1, 5)); /* moved */
    s = state_of(&f);
    EXPECT_EQ(0, s.gsi_assert_count[11]);
    EXPECT_EQ(1, s.gsi_assert_count[5]);
    EXPECT_EQ(5, s.link_route[1]);
    /* the errnos (hvm_set_pci_link_route), each changing nothing */
    before = state_of(&f);
    EXPECT_EQ(-EINVAL, hvdm_set_pci_link_route(f.dm, f.domid, 4, 5));
    EXPECT_EQ(-EINVAL, hvdm_set_pci_link_route(f.dm, f.domid, 1, 16));
    EXPECT_STATE_UNCHANGED(&f, before);
    /* 0 turns the link off */
    EXPECT_EQ(0, hvdm_set_pci_link_route(f.dm, f.domid, 1, 0));
    s = state_of(&f);
    EXPECT_EQ(0, s.gsi_assert_count[5]);
    EXPECT_EQ(0, s.link_route[1]);
    EXPECT_EQ(1, s.link_assert_count[1]);
    /* an ISA irq shared by a link and set_isa_irq_level counts both */
    EXPECT_EQ(0, hvdm_set_pci_link_route(f.dm, f.domid, 1, 9));
    EXPECT_EQ(0, hvdm_set_isa_irq_level(f.dm, f.domid, 9, 1));
    EXPECT_EQ(2, state_of(&f).gsi_assert_count[9]);
    EXPECT_EQ(0, hvdm_set_pci_intx_level(f.dm, f.domid, 0, 0, 1, 0, 0));
    EXPECT_EQ(1, state_of(&f).gsi_assert_count[9]);
    fixture_destroy(&f);
}

/* ---- x86: MSIs ----------------------------------------------------------- */

static void inject_msi_checks_as_hvm_inject_msi_and_vmsi_deliver(void) {
    struct fixture f;
    hv_irq_state s, before;
    struct irq_op o;
    if (!is_x86()) return;
    REQUIRE_EQ(0, fixture_create(&f)); /* 2 vCPUs: APIC IDs 0 and 2 */
    /* Fixed, vector 0x41, destination 0 */
    EXPECT_EQ(0, hvdm_inject_msi(f.dm, f.domid, 0xfee00000u, 0x41));
    s = state_of(&f);
    EXPECT_U64(1, s.msi_count);
    EXPECT_U64(0xfee00000u, s.last_msi_addr);
    EXPECT_EQ(0x41, s.last_msi_data);
    /* Fixed to nobody is still 0 (vmsi_deliver) */
    EXPECT_EQ(0, hvdm_inject_msi(f.dm, f.domid, 0xfee00000u | (0x37u << 12), 0x42));
    /* LowestPrio (mode 1) to APIC ID 2 (vCPU 1), and broadcast */
    EXPECT_EQ(0, hvdm_inject_msi(f.dm, f.domid, 0xfee00000u | (2u << 12), 0x143));
    EXPECT_EQ(0, hvdm_inject_msi(f.dm, f.domid, 0xfee00000u | (0xffu << 12), 0x144));
    s = state_of(&f);
    EXPECT_U64(4, s.msi_count);
    EXPECT_EQ(0x144, s.last_msi_data);
    before = s;
    /* vector 0: a PIRQ; 0 -> -ERANGE, any other -EOPNOTSUPP (no PIRQs) */
    EXPECT_EQ(-ERANGE, hvdm_inject_msi(f.dm, f.domid, 0xfee00000u, 0x100));
    EXPECT_EQ(-EOPNOTSUPP, hvdm_inject_msi(f.dm, f.domid, 0xfee00000u | (1u << 12), 0));
    EXPECT_EQ(-EOPNOTSUPP, hvdm_inject_msi(f.dm, f.domid, 0x100fee00000ull, 0));
    /* LowestPrio without a target: odd or absent APIC ID, logical mode */
    EXPECT_EQ(-ESRCH, hvdm_inject_msi(f.dm, f.domid, 0xfee00000u | (1u << 12), 0x145));
    EXPECT_EQ(-ESRCH, hvdm_inject_msi(f.dm, f.domid, 0xfee00000u | (4u << 12), 0x145));
    EXPECT_EQ(-ESRCH, hvdm_inject_msi(f.dm, f.domid, 0xfee00000u | 0x4u, 0x145));
    /* delivery modes 2-7 (SMI, NMI, INIT, ExtINT...) */
    EXPECT_EQ(-EINVAL, hvdm_inject_msi(f.dm, f.domid, 0xfee00000u, 0x245));
    EXPECT_EQ(-EINVAL, hvdm_inject_msi(f.dm, f.domid, 0xfee00000u, 0x445));
    EXPECT_EQ(-EINVAL, hvdm_inject_msi(f.dm, f.domid, 0xfee00000u, 0x745));
    /* raw: the payload pad */
    o = irq_op_make(HVDM_DMOP_INJECT_MSI);
    o.u.msi.addr = 0xfee00000u;
    o.u.msi.data = 0x46;
    o.u.msi.pad = 1;
    EXPECT_EQ(-EINVAL, raw(&f, &o, sizeof o));
    EXPECT_STATE_UNCHANGED(&f, before);
    o.u.msi.pad = 0;
    EXPECT_EQ(0, raw(&f, &o, 8 + 16));
    EXPECT_EQ(0x46, state_of(&f).last_msi_data);
    fixture_destroy(&f);
}

/* ---- per-vCPU: what reached each vCPU ------------------------------------ */

static hv_vcpu_irq_stats vcpu_state_of(struct fixture *f, uint32_t vcpu) {
    hv_vcpu_irq_stats s;
    memset(&s, 0xee, sizeof s);
    s.size = sizeof s;
    if (hv_vcpu_irq_state(f->dom, vcpu, &s) != 0) memset(&s, 0xee, sizeof s);
    return s;
}

/* vCPU v has received n MSIs, the last with vector vec. */
#define EXPECT_VCPU(f, v, n, vec)                          \
    do {                                                   \
        hv_vcpu_irq_stats vs_ = vcpu_state_of((f), (v));   \
        EXPECT_U64((n), vs_.msi_count);                    \
        EXPECT_EQ((vec), vs_.last_vector);                 \
    } while (0)

static void vcpu_irq_state_checks_its_arguments(void) {
    struct fixture f;
    hv_vcpu_irq_stats s;
    REQUIRE_EQ(0, fixture_create(&f)); /* 2 vCPUs */
    memset(&s, 0xee, sizeof s);
    s.size = sizeof s - 1;
    EXPECT_EQ(-EINVAL, hv_vcpu_irq_state(f.dom, 0, &s));
    EXPECT_EQ(sizeof s - 1, s.size); /* unchanged */
    EXPECT_U64(0xeeeeeeeeeeeeeeeeull, s.msi_count);
    s.size = sizeof s;
    EXPECT_EQ(-EINVAL, hv_vcpu_irq_state(f.dom, 2, &s));
    EXPECT_EQ(-EINVAL, hv_vcpu_irq_state(f.dom, UINT32_MAX, &s));
    EXPECT_EQ(-EINVAL, hv_vcpu_irq_state(f.dom, 0, NULL));
    EXPECT_EQ(-EINVAL, hv_vcpu_irq_state(NULL, 0, &s));
    EXPECT_U64(0xeeeeeeeeeeeeeeeeull, s.msi_count);
    s.size = sizeof s + 8; /* a larger caller struct is fine */
    EXPECT_EQ(0, hv_vcpu_irq_state(f.dom, 1, &s));
    EXPECT_EQ(sizeof s, s.size);
    EXPECT_U64(0, s.msi_count);
    EXPECT_EQ(0, s.last_vector);
    if (!is_x86()) {
        /* the model routes no SPI to a vCPU: a raised SPI counts on none */
        EXPECT_EQ(0, hvdm_set_irq_level(f.dm, f.domid, 40, 1));
        EXPECT_VCPU(&f, 0, 0, 0);
        EXPECT_VCPU(&f, 1, 0, 0);
    }
    fixture_destroy(&f);
}

static void msis_are_recorded_on_the_vcpus_they_reach(void) {
    struct fixture f;
    hv_irq_state before;
    if (!is_x86()) return;
    REQUIRE_EQ(0, fixture_create(&f)); /* 2 vCPUs: APIC IDs 0 and 2 */
    /* Fixed to APIC ID 2: vCPU 1 only, with its vector */
    EXPECT_EQ(0, hvdm_inject_msi(f.dm, f.domid, 0xfee00000u | (2u << 12), 0x51));
    EXPECT_VCPU(&f, 0, 0, 0);
    EXPECT_VCPU(&f, 1, 1, 0x51);
    /* Fixed to APIC ID 0: vCPU 0 only */
    EXPECT_EQ(0, hvdm_inject_msi(f.dm, f.domid, 0xfee00000u, 0x52));
    EXPECT_VCPU(&f, 0, 1, 0x52);
    EXPECT_VCPU(&f, 1, 1, 0x51);
    /* Fixed, physical broadcast 0xff: every vCPU */
    EXPECT_EQ(0, hvdm_inject_msi(f.dm, f.domid, 0xfee00000u | (0xffu << 12), 0x53));
    EXPECT_VCPU(&f, 0, 2, 0x53);
    EXPECT_VCPU(&f, 1, 2, 0x53);
    /* Fixed to an absent APIC ID, and logical mode (LDR 0): accepted, no vCPU */
    EXPECT_EQ(0, hvdm_inject_msi(f.dm, f.domid, 0xfee00000u | (0x37u << 12), 0x54));
    EXPECT_EQ(0, hvdm_inject_msi(f.dm, f.domid, 0xfee00000u | (0xffu << 12) | 0x4u, 0x55));
    EXPECT_U64(5, state_of(&f).msi_count);
    EXPECT_VCPU(&f, 0, 2, 0x53);
    EXPECT_VCPU(&f, 1, 2, 0x53);
    /* LowestPrio broadcast: one vCPU each time, round robin after vCPU 0
     * (vlapic_lowest_prio with equal PPRs): vCPU 1, then vCPU 0 */
    EXPECT_EQ(0, hvdm_inject_msi(f.dm, f.domid, 0xfee00000u | (0xffu << 12), 0x156));
    EXPECT_VCPU(&f, 0, 2, 0x53);
    EXPECT_VCPU(&f, 1, 3, 0x56);
    EXPECT_EQ(0, hvdm_inject_msi(f.dm, f.domid, 0xfee00000u | (0xffu << 12), 0x157));
    EXPECT_VCPU(&f, 0, 3, 0x57);
    EXPECT_VCPU(&f, 1, 3, 0x56);
    /* LowestPrio to one APIC ID: that vCPU, whoever was last */
    EXPECT_EQ(0, hvdm_inject_msi(f.dm, f.domid, 0xfee00000u, 0x158));
    EXPECT_VCPU(&f, 0, 4, 0x58);
    EXPECT_VCPU(&f, 1, 3, 0x56);
    EXPECT_EQ(0, hvdm_inject_msi(f.dm, f.domid, 0xfee00000u | (2u << 12), 0x159));
    EXPECT_VCPU(&f, 0, 4, 0x58);
    EXPECT_VCPU(&f, 1, 4, 0x59);
    /* rejected MSIs count nowhere: no LowestPrio target (logical, absent
     * ID), delivery mode 2, a PIRQ */
    before = state_of(&f);
    EXPECT_EQ(-ESRCH, hvdm_inject_msi(f.dm, f.domid, 0xfee00000u | (0xffu << 12) | 0x4u, 0x15a));
    EXPECT_EQ(-ESRCH, hvdm_inject_msi(f.dm, f.domid, 0xfee00000u | (4u << 12), 0x15a));
    EXPECT_EQ(-EINVAL, hvdm_inject_msi(f.dm, f.domid, 0xfee00000u | (2u << 12), 0x25a));
    EXPECT_EQ(-ERANGE, hvdm_inject_msi(f.dm, f.domid, 0xfee00000u, 0x100));
    EXPECT_STATE_UNCHANGED(&f, before);
    EXPECT_VCPU(&f, 0, 4, 0x58);
    EXPECT_VCPU(&f, 1, 4, 0x59);
    fixture_destroy(&f);
}

/* ---- arm64 and riscv64: SPIs -------------------------------------------- */

static void set_irq_level_drives_spis_only(void) {
    struct fixture f;
    hv_irq_state s, before;
    struct irq_op o;
    if (is_x86()) return;
    REQUIRE_EQ(0, fixture_create(&f));
    EXPECT_EQ(0, hvdm_set_irq_level(f.dm, f.domid, 32, 1));
    EXPECT_EQ(0, hvdm_set_irq_level(f.dm, f.domid, 991, 1));
    EXPECT_EQ(0, hvdm_set_irq_level(f.dm, f.domid, 45, 1));
    s = state_of(&f);
    EXPECT_EQ(1u | (1u << 13), s.spi_level[1]);
    EXPECT_EQ(1u << 31, s.spi_level[30]);
    EXPECT_EQ(0, hvdm_set_irq_level(f.dm, f.domid, 45, 0));
    EXPECT_EQ(1u, state_of(&f).spi_level[1]);
    before = state_of(&f);
    /* the errnos, in xen/arch/arm/dm.c's order: irq, level, pad */
    EXPECT_EQ(-EINVAL, hvdm_set_irq_level(f.dm, f.domid, 31, 1));  /* a PPI */
    EXPECT_EQ(-EINVAL, hvdm_set_irq_level(f.dm, f.domid, 0, 1));   /* an SGI */
    EXPECT_EQ(-EINVAL, hvdm_set_irq_level(f.dm, f.domid, 992, 1)); /* vgic_num_irqs */
    EXPECT_EQ(-EINVAL, hvdm_set_irq_level(f.dm, f.domid, 0xffffffffu, 1));
    EXPECT_EQ(-EINVAL, hvdm_set_irq_level(f.dm, f.domid, 40, 2));
    EXPECT_EQ(-EINVAL, hvdm_set_irq_level(f.dm, f.domid, 40, 257));
    o = irq_op_make(HVDM_DMOP_SET_IRQ_LEVEL);
    o.u.irq.irq = 40;
    o.u.irq.level = 1;
    o.u.irq.pad[2] = 1;
    EXPECT_EQ(-EINVAL, raw(&f, &o, sizeof o));
    EXPECT_STATE_UNCHANGED(&f, before);
    o.u.irq.pad[2] = 0;
    EXPECT_EQ(0, raw(&f, &o, 8 + 8));
    EXPECT_EQ(1u | (1u << 8), state_of(&f).spi_level[1]);
    fixture_destroy(&f);
}

/* ---- remote_shutdown (every arch) --------------------------------------- */

static void shutdown_stops_the_domain_with_the_reason(void) {
    struct fixture f;
    char reason[160];
    hv_irq_state before;
    REQUIRE_EQ(0, fixture_create(&f));
    if (is_x86())
        EXPECT_EQ(0, hvdm_set_isa_irq_level(f.dm, f.domid, 4, 1));
    else
        EXPECT_EQ(0, hvdm_set_irq_level(f.dm, f.domid, 50, 1));
    before = state_of(&f);
    EXPECT_EQ(0, hvdm_shutdown(f.dm, f.domid, HVDM_SHUTDOWN_CRASH));
    EXPECT_EQ(1, hv_domain_stop_reason(f.dom, reason, sizeof reason));
    EXPECT_TRUE(strstr(reason, "device model requested a shutdown") != NULL);
    EXPECT_TRUE(strstr(reason, "SHUTDOWN_crash, reason 3") != NULL);
    /* a second request is 0 and keeps the first reason (Xen's rc is 0) */
    EXPECT_EQ(0, hvdm_shutdown(f.dm, f.domid, HVDM_SHUTDOWN_REBOOT));
    EXPECT_EQ(1, hv_domain_stop_reason(f.dom, reason, sizeof reason));
    EXPECT_TRUE(strstr(reason, "SHUTDOWN_crash") != NULL);
    /* the lines are stopped with the domain; the state is still readable */
    if (is_x86()) {
        EXPECT_EQ(-ESHUTDOWN, hvdm_set_isa_irq_level(f.dm, f.domid, 4, 0));
        EXPECT_EQ(-ESHUTDOWN, hvdm_set_pci_intx_level(f.dm, f.domid, 0, 0, 1, 0, 1));
        EXPECT_EQ(-ESHUTDOWN, hvdm_set_pci_link_route(f.dm, f.domid, 0, 5));
        EXPECT_EQ(-ESHUTDOWN, hvdm_inject_msi(f.dm, f.domid, 0xfee00000u, 0x41));
    } else {
        EXPECT_EQ(-ESHUTDOWN, hvdm_set_irq_level(f.dm, f.domid, 50, 0));
    }
    EXPECT_STATE_UNCHANGED(&f, before);
    fixture_destroy(&f);
}

#ifndef HVCORE_TEST_NO_THREADS
/* A guest that spins on a model vCPU: plain RAM stores, each DONE, until
 * the domain stops. */
struct spinner {
    hv_domain *dom;
    int started; /* __atomic */
    int rc;      /* what ended the loop */
};

static void *spin_on_vcpu0(void *arg) {
    struct spinner *s = (struct spinner *)arg;
    uint64_t n = 0;
    int rc;
    while ((rc = hv_vcpu_store(s->dom, 0, 0x2000, 8, ++n)) == HV_VCPU_DONE)
        __atomic_store_n(&s->started, 1, __ATOMIC_RELEASE);
    s->rc = rc;
    return NULL;
}

static void shutdown_ends_a_spinning_model_vcpu(void) {
    struct fixture f;
    struct spinner s;
    pthread_t th;
    REQUIRE_EQ(0, fixture_create(&f));
    memset(&s, 0, sizeof s);
    s.dom = f.dom;
    s.rc = 1;
    REQUIRE_EQ(0, pthread_create(&th, NULL, spin_on_vcpu0, &s));
    while (!__atomic_load_n(&s.started, __ATOMIC_ACQUIRE)) {
    }
    EXPECT_EQ(0, hvdm_shutdown(f.dm, f.domid, HVDM_SHUTDOWN_POWEROFF));
    /* the spinning vCPU's next access sees the stop: the join returns */
    REQUIRE_EQ(0, pthread_join(th, NULL));
    EXPECT_EQ(-ESHUTDOWN, s.rc);
    fixture_destroy(&f);
}
#endif

static void shutdown_raw_buffer_and_unknown_reason(void) {
    struct fixture f;
    char reason[160];
    struct irq_op o = irq_op_make(HVDM_DMOP_REMOTE_SHUTDOWN);
    REQUIRE_EQ(0, fixture_create(&f));
    o.u.shutdown.reason = 77; /* "other values not blocked" (dm_op.h) */
    EXPECT_EQ(0, raw(&f, &o, 8 + 4));
    EXPECT_EQ(1, hv_domain_stop_reason(f.dom, reason, sizeof reason));
    EXPECT_TRUE(strstr(reason, "reason 77") != NULL);
    fixture_destroy(&f);
}

int main(void) {
    skip_unless_vmx_backend("abi_irq");
    RUN(irq_state_starts_empty_and_checks_its_arguments);
    RUN(each_arch_takes_only_its_own_interrupt_ops);
    RUN(raw_buffers_short_pad_and_envelope_errnos);
    RUN(wrappers_check_handle_restriction_and_domain_first);
    RUN(isa_irq_levels_are_counted_per_gsi);
    RUN(isa_irq_level_raw_buffer);
    RUN(pci_intx_drives_its_gsi_and_its_link);
    RUN(link_route_moves_an_asserted_link);
    RUN(inject_msi_checks_as_hvm_inject_msi_and_vmsi_deliver);
    RUN(vcpu_irq_state_checks_its_arguments);
    RUN(msis_are_recorded_on_the_vcpus_they_reach);
    RUN(set_irq_level_drives_spis_only);
    RUN(shutdown_stops_the_domain_with_the_reason);
    RUN(shutdown_raw_buffer_and_unknown_reason);
#ifndef HVCORE_TEST_NO_THREADS
    RUN(shutdown_ends_a_spinning_model_vcpu);
#else
    printf("skip shutdown_ends_a_spinning_model_vcpu (built without threads: qemu-user)\n");
#endif
    return abi_finish("abi_irq");
}

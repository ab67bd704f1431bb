/* SPDX-License-Identifier: MIT */
/* The life of the ioreq_server type: claim, set_mem_type, guest writes,
 * disclaim, reclaim, with hv_p2m_ioreq_entry_count checked at every step;
 * the disclaim of 2048 outstanding pages; destroying the owning server and
 * closing the owning handle; each architecture's view (raw leaf, fault
 * record, fetch). */
#include "abi_test.h"

/* gfn 0x100 (GPA 1 MiB): 4 pages the device model write-protects */
#define GFN 0x100u
#define NR 4u
#define GPA ((uint64_t)GFN * TEST_PAGE_SIZE)

/* hvcore numbers p2m types as Xen's p2m_type_t: p2m_ioreq_server = 15. */
#define P2M_IOREQ_SERVER 15u

/* A stage-2 leaf as each architecture's manual defines it. */
struct leaf_view {
    int r, w, x;
    unsigned type;
};

static struct leaf_view leaf_view_of(uint64_t pte) {
    struct leaf_view v;
    switch (test_arch()) {
    case HV_ARCH_X86_SVM:
        /* AMD APM vol. 2, 5.4.1: P bit 0, R/W bit 1, NX bit 63; hvcore's
         * type in the available bits 58:52 (Xen's p2m-pt layout). */
        v.r = (int)(pte & 1);
        v.w = v.r && (pte & 2) != 0;
        v.x = v.r && (pte >> 63) == 0;
        v.type = (unsigned)((pte >> 52) & 0x7f);
        break;
    case HV_ARCH_ARM64:
        /* Arm ARM D8.3 stage-2 descriptor: valid bit 0, S2AP[7:6] (bit 6
         * read, bit 7 write), XN[54:53] (0b10: no execution); hvcore's type
         * in the software bits 58:55. */
        v.r = (pte & 1) && (pte & (1ull << 6)) != 0;
        v.w = (pte & 1) && (pte & (1ull << 7)) != 0;
        v.x = (pte & 1) && ((pte >> 53) & 3) == 0;
        v.type = (unsigned)((pte >> 55) & 0xf);
        break;
    case HV_ARCH_RISCV64:
        /* RISC-V privileged spec, Sv39 PTE: V bit 0, R 1, W 2, X 3. hvcore's
         * type (README.md, "The p2m type on RISC-V"): in a valid leaf, RSW
         * (bits 9:8) 0 ram_rw, 1 ram_logdirty, 2 ioreq_server, 3 ram_ro (X)
         * or mmio_direct (no X); with V = 0, the whole type in bits 57:54. */
        v.r = (pte & 1) && (pte & 2) != 0;
        v.w = (pte & 1) && (pte & 4) != 0;
        v.x = (pte & 1) && (pte & 8) != 0;
        if (pte & 1) {
            static const unsigned code_type[] = {0, 2, P2M_IOREQ_SERVER, 3};
            v.type = code_type[(pte >> 8) & 3];
            if (v.type == 3 && !v.x) v.type = 5; /* mmio_direct */
        } else {
            v.type = (unsigned)((pte >> 54) & 0xf);
        }
        break;
    default:
        /* Intel SDM vol. 3C, 29.3.2: R, W, X in bits 2:0; hvcore's type in
         * the ignored bits 57:52. */
        v.r = (int)(pte & 1);
        v.w = (pte & 2) != 0;
        v.x = (pte & 4) != 0;
        v.type = (unsigned)((pte >> 52) & 0x3f);
        break;
    }
    return v;
}

/* The record of a 2-byte store to a page that is readable but not
 * writable, at gpa, as each architecture's hardware writes it. */
static void expect_write_permission_fault(const hv_fault_record *rec, uint64_t gpa) {
    EXPECT_EQ(test_arch(), rec->arch);
    switch (test_arch()) {
    case HV_ARCH_X86_SVM:
        /* #NPF (exit code 0x400, APM vol. 2 15.25.6): EXITINFO1 = P | RW |
         * US | bit 32 (fault on the final guest-physical translation);
         * EXITINFO2 = the gpa. */
        EXPECT_EQ(0x400, rec->kind);
        EXPECT_U64(0x100000007ull, rec->syndrome);
        EXPECT_U64(gpa, rec->gpa);
        break;
    case HV_ARCH_ARM64:
        /* ESR_EL2 (Arm ARM D17.2.37): EC 0x24 data abort from a lower EL,
         * IL, ISV with SAS 01 (halfword), SRT 1 (the store's W1), WnR, DFSC
         * 0x0F = permission fault at level 3 (the page was split to 4 KiB).
         * HPFAR_EL2.FIPA = IPA[47:12] at bit 4; FAR_EL2 = the address. */
        EXPECT_EQ(0x24, rec->kind);
        EXPECT_U64(0x24, (rec->syndrome >> 26) & 0x3f);
        EXPECT_U64(1, (rec->syndrome >> 25) & 1);
        EXPECT_U64(1, (rec->syndrome >> 24) & 1);
        EXPECT_U64(1, (rec->syndrome >> 22) & 3);
        EXPECT_U64(1, (rec->syndrome >> 16) & 0x1f);
        EXPECT_U64(1, (rec->syndrome >> 6) & 1);
        EXPECT_U64(0x0f, rec->syndrome & 0x3f);
        EXPECT_U64((gpa >> 12) << 4, rec->gpa);
        EXPECT_U64(gpa, rec->gva);
        break;
    case HV_ARCH_RISCV64:
        /* RISC-V privileged spec, "Trap Cause Codes": scause 23, store/AMO
         * guest-page fault; htinst ("Transformed Instruction or
         * Pseudoinstruction for mtinst or htinst") the transformed store
         * `sh x11, 0(x10)`: rs2 11, rs1 (Addr. Offset) 0, funct3 001,
         * STORE; htval = the gpa >> 2; stval = the guest virtual address
         * (vsatp Bare: the gpa). */
        EXPECT_EQ(23, rec->kind);
        EXPECT_U64((11ull << 20) | (1ull << 12) | 0x23, rec->syndrome);
        EXPECT_U64(gpa >> 2, rec->gpa);
        EXPECT_U64(gpa, rec->gva);
        break;
    default:
        /* VM exit reason 48, EPT violation (SDM vol. 3C, table 28-7): bit 1
         * a write; bits 3-5 the AND of R/W/X over the walk: readable, not
         * writable; the guest-physical address. */
        EXPECT_EQ(48, rec->kind);
        EXPECT_U64(1ull << 1, rec->syndrome & (1ull << 1));
        EXPECT_U64(1ull << 3, rec->syndrome & (1ull << 3));
        EXPECT_U64(0, rec->syndrome & (1ull << 4));
        EXPECT_U64(gpa, rec->gpa);
        break;
    }
}

static int claim(struct fixture *f, hvdm_handle *h, hvdm_ioservid_t id) {
    return hvdm_map_mem_type_to_ioreq_server(h, f->domid, id, HVDM_MEM_IOREQ_SERVER, HVDM_IOREQ_MEM_ACCESS_WRITE);
}

static int disclaim(struct fixture *f, hvdm_handle *h, hvdm_ioservid_t id) {
    return hvdm_map_mem_type_to_ioreq_server(h, f->domid, id, HVDM_MEM_IOREQ_SERVER, 0);
}

static void claim_set_write_disclaim_reclaim_cycle(void) {
    struct fixture f;
    struct server s;
    uint64_t pte = 0;
    uint64_t value = 0;
    uint32_t i;
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, server_create(&f, f.dm, HVDM_BUFIOREQ_OFF, 1, &s));
    /* before: plain RAM, nothing counted */
    EXPECT_U64(0, entry_count(&f));
    EXPECT_EQ(HVDM_MEM_RAM_RW, mem_type_of(&f, GFN));

    /* claim: ownership only, no page changes yet */
    REQUIRE_EQ(0, claim(&f, f.dm, s.id));
    EXPECT_U64(0, entry_count(&f));

    /* set_mem_type: NR pages become ioreq_server */
    REQUIRE_EQ(0, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_IOREQ_SERVER, GFN, NR));
    EXPECT_U64(NR, entry_count(&f));
    for (i = 0; i < NR; ++i) EXPECT_EQ(HVDM_MEM_IOREQ_SERVER, mem_type_of(&f, GFN + i));
    EXPECT_EQ(HVDM_MEM_RAM_RW, mem_type_of(&f, GFN - 1)); /* the neighbours are untouched */
    EXPECT_EQ(HVDM_MEM_RAM_RW, mem_type_of(&f, GFN + NR));
    /* the stage-2 leaf: read-only, not executable, type 15 */
    REQUIRE_EQ(0, hv_p2m_entry(f.dom, GFN, &pte));
    EXPECT_EQ(1, leaf_view_of(pte).r);
    EXPECT_EQ(0, leaf_view_of(pte).w);
    EXPECT_EQ(0, leaf_view_of(pte).x);
    EXPECT_U64(P2M_IOREQ_SERVER, leaf_view_of(pte).type);

    /* a guest write: goes to the server, RAM is not changed */
    set_ram_u32(&f, GPA + 0x10, 0x11111111u);
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_store(f.dom, 0, GPA + 0x10, 4, 0xcafef00du));
    EXPECT_EQ(HVDM_STATE_IOREQ_READY, s.page->vcpu_ioreq[0].state);
    EXPECT_U64(0xcafef00du, s.page->vcpu_ioreq[0].data);
    EXPECT_U64(0x11111111u, ram_u32(&f, GPA + 0x10));
    EXPECT_U64(NR, entry_count(&f));
    REQUIRE_EQ(0, server_answer(&f, f.dm, &s, 0, 0));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 0, &value));
    EXPECT_U64(0x11111111u, ram_u32(&f, GPA + 0x10)); /* the device model did not apply it */
    EXPECT_U64(NR, entry_count(&f));

    /* one page back to ram_rw by set_mem_type */
    REQUIRE_EQ(0, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_RAM_RW, GFN + 1, 1));
    EXPECT_U64(NR - 1, entry_count(&f));
    EXPECT_EQ(HVDM_MEM_RAM_RW, mem_type_of(&f, GFN + 1));

    /* disclaim: every remaining page is ram_rw before the call returns */
    REQUIRE_EQ(0, disclaim(&f, f.dm, s.id));
    EXPECT_U64(0, entry_count(&f));
    for (i = 0; i < NR; ++i) EXPECT_EQ(HVDM_MEM_RAM_RW, mem_type_of(&f, GFN + i));
    REQUIRE_EQ(0, hv_p2m_entry(f.dom, GFN, &pte));
    EXPECT_EQ(1, leaf_view_of(pte).w);
    EXPECT_TRUE(leaf_view_of(pte).type != P2M_IOREQ_SERVER);
    /* a guest write now lands in RAM */
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, GPA + 0x10, 4, 0x22222222u));
    EXPECT_U64(0x22222222u, ram_u32(&f, GPA + 0x10));

    /* reclaim at once, and the cycle works again */
    REQUIRE_EQ(0, claim(&f, f.dm, s.id));
    EXPECT_U64(0, entry_count(&f));
    REQUIRE_EQ(0, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_IOREQ_SERVER, GFN, NR));
    EXPECT_U64(NR, entry_count(&f));
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_store(f.dom, 0, GPA, 1, 0x5a));
    REQUIRE_EQ(0, server_answer(&f, f.dm, &s, 0, 0));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 0, &value));
    REQUIRE_EQ(0, disclaim(&f, f.dm, s.id));
    EXPECT_U64(0, entry_count(&f));
    fixture_destroy(&f);
}

static void entry_count_counts_4k_leaves_of_a_2mib_range(void) {
    /* gfn 0x200..0x3ff: one 2 MiB-aligned block of 512 pages, which a
     * backend may map with a superpage; the count is in 4 KiB leaves. */
    const uint64_t first = 0x200;
    const uint32_t nr = 512;
    struct fixture f;
    hvdm_ioservid_t id = 0;
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &id));
    REQUIRE_EQ(0, claim(&f, f.dm, id));
    REQUIRE_EQ(0, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_IOREQ_SERVER, first, nr));
    EXPECT_U64(nr, entry_count(&f));
    REQUIRE_EQ(0, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_RAM_RW, first + 100, 1));
    EXPECT_U64(nr - 1, entry_count(&f));
    EXPECT_EQ(HVDM_MEM_IOREQ_SERVER, mem_type_of(&f, first + 99));
    EXPECT_EQ(HVDM_MEM_RAM_RW, mem_type_of(&f, first + 100));
    EXPECT_EQ(HVDM_MEM_IOREQ_SERVER, mem_type_of(&f, first + 101));
    fixture_destroy(&f);
}

static void disclaim_with_2048_pages_outstanding_resets_all_before_returning(void) {
    /* 2048 pages (8 MiB) from gfn 0x400: far more than one 256-page sweep
     * step, and every one is ram_rw again when the disclaim returns. */
    const uint64_t first = 0x400;
    const uint32_t nr = 2048;
    struct fixture f;
    hvdm_ioservid_t id = 0;
    uint64_t pte = 0;
    uint32_t i;
    int all_rw = 1;
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &id));
    REQUIRE_EQ(0, claim(&f, f.dm, id));
    REQUIRE_EQ(0, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_IOREQ_SERVER, first, nr));
    EXPECT_U64(nr, entry_count(&f));
    REQUIRE_EQ(0, disclaim(&f, f.dm, id));
    EXPECT_U64(0, entry_count(&f));
    /* the raw leaves, read before anything could resolve them lazily */
    for (i = 0; i < nr && all_rw; ++i) {
        REQUIRE_EQ(0, hv_p2m_entry(f.dom, first + i, &pte));
        if (!leaf_view_of(pte).w || leaf_view_of(pte).type == P2M_IOREQ_SERVER) {
            all_rw = 0;
            fprintf(stderr, "    gfn 0x%llx: raw leaf 0x%llx is not ram_rw\n", (unsigned long long)(first + i),
                    (unsigned long long)pte);
        }
    }
    EXPECT_TRUE(all_rw);
    for (i = 0; i < nr; i += 97) EXPECT_EQ(HVDM_MEM_RAM_RW, mem_type_of(&f, first + i)); /* a sample */
    /* no left-over entries: a new claim is not -EBUSY */
    EXPECT_EQ(0, claim(&f, f.dm, id));
    EXPECT_U64(0, entry_count(&f));
    fixture_destroy(&f);
}

static void destroying_the_owning_server_resets_its_pages(void) {
    struct fixture f;
    hvdm_ioservid_t owner = 0, next = 0;
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &owner));
    REQUIRE_EQ(0, claim(&f, f.dm, owner));
    REQUIRE_EQ(0, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_IOREQ_SERVER, GFN, NR));
    EXPECT_U64(NR, entry_count(&f));
    REQUIRE_EQ(0, hvdm_destroy_ioreq_server(f.dm, f.domid, owner));
    EXPECT_U64(0, entry_count(&f));
    EXPECT_EQ(HVDM_MEM_RAM_RW, mem_type_of(&f, GFN));
    EXPECT_EQ(HVDM_MEM_RAM_RW, mem_type_of(&f, GFN + NR - 1));
    /* the type is free: set_mem_type has no owner, a new server may claim */
    EXPECT_EQ(-EINVAL, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_IOREQ_SERVER, GFN, 1));
    REQUIRE_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &next));
    EXPECT_EQ(0, claim(&f, f.dm, next));
    /* guest writes are plain RAM writes again */
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, GPA, 4, 0x33333333u));
    EXPECT_U64(0x33333333u, ram_u32(&f, GPA));
    fixture_destroy(&f);
}

static void closing_the_owning_handle_destroys_its_servers_and_resets_its_pages(void) {
    struct fixture f;
    hvdm_handle *dm2;
    hvdm_ioservid_t owner = 0, mine = 0;
    REQUIRE_EQ(0, fixture_create(&f));
    dm2 = hvdm_open(f.host);
    REQUIRE_TRUE(dm2 != NULL);
    REQUIRE_EQ(0, hvdm_create_ioreq_server(dm2, f.domid, HVDM_BUFIOREQ_OFF, &owner));
    EXPECT_EQ(0, owner);
    REQUIRE_EQ(0, claim(&f, dm2, owner));
    REQUIRE_EQ(0, hvdm_set_mem_type(dm2, f.domid, HVDM_MEM_IOREQ_SERVER, GFN, NR));
    EXPECT_U64(NR, entry_count(&f));
    REQUIRE_EQ(0, hvdm_close(dm2));
    EXPECT_U64(0, entry_count(&f));
    EXPECT_EQ(HVDM_MEM_RAM_RW, mem_type_of(&f, GFN));
    /* its server slot is free again (lowest free id) and the type too */
    REQUIRE_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &mine));
    EXPECT_EQ(0, mine);
    EXPECT_EQ(0, claim(&f, f.dm, mine));
    fixture_destroy(&f);
}

static void store_to_claimed_page_records_the_arch_write_permission_fault(void) {
    struct fixture f;
    struct server s;
    hv_fault_record rec;
    uint64_t value = 0;
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, server_create(&f, f.dm, HVDM_BUFIOREQ_OFF, 1, &s));
    REQUIRE_EQ(0, claim(&f, f.dm, s.id));
    REQUIRE_EQ(0, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_IOREQ_SERVER, GFN, 1));
    /* a store to plain RAM raises no fault */
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, GPA + 2 * TEST_PAGE_SIZE, 4, 1));
    memset(&rec, 0, sizeof rec);
    rec.size = sizeof rec;
    EXPECT_EQ(-ENOENT, hv_vcpu_last_fault(f.dom, 0, &rec));
    /* a store to the claimed page at offset 0x234 */
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_store(f.dom, 0, GPA + 0x234, 2, 0xbeef));
    memset(&rec, 0, sizeof rec);
    rec.size = sizeof rec;
    REQUIRE_EQ(0, hv_vcpu_last_fault(f.dom, 0, &rec));
    expect_write_permission_fault(&rec, GPA + 0x234);
    REQUIRE_EQ(0, server_answer(&f, f.dm, &s, 0, 0));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 0, &value));
    fixture_destroy(&f);
}

static void instruction_fetch_from_claimed_page_is_a_guest_fault_naming_the_gpa(void) {
    struct fixture f;
    hvdm_ioservid_t id = 0;
    char detail[256];
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &id));
    REQUIRE_EQ(0, claim(&f, f.dm, id));
    REQUIRE_EQ(0, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_IOREQ_SERVER, GFN, 1));
    /* plain RAM is executable */
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_fetch(f.dom, 0, GPA + TEST_PAGE_SIZE));
    EXPECT_EQ(-ENOENT, hv_vcpu_fault_detail(f.dom, 0, detail, sizeof detail));
    /* the claimed page is not: a guest fault, never an endless re-fault */
    EXPECT_EQ(HV_VCPU_GUEST_FAULT, hv_vcpu_fetch(f.dom, 0, GPA + 0x123));
    memset(detail, 0, sizeof detail);
    EXPECT_EQ(0, hv_vcpu_fault_detail(f.dom, 0, detail, sizeof detail));
    if (!EXPECT_TRUE(strstr(detail, "100123") != NULL)) fprintf(stderr, "    detail: \"%s\"\n", detail);
    fixture_destroy(&f);
}

/* The output-address field of a table entry (non-leaf): bits 51:12 in EPT
 * and NPT entries (SDM vol. 3C 29.3.2, APM vol. 2 5.4.1), 47:12 in an Arm64
 * stage-2 table descriptor (Arm ARM D8.3, 4 KiB granule, 48-bit PA); the
 * PPN in bits 53:10 of a RISC-V PTE, times 4096 (Sv39 PTE). */
static uint64_t next_table_of(uint64_t entry) {
    if (test_arch() == HV_ARCH_RISCV64) return ((entry >> 10) & ((1ull << 44) - 1)) << 12;
    return test_arch() == HV_ARCH_ARM64 ? entry & 0x0000fffffffff000ull : entry & 0x000ffffffffff000ull;
}

static void the_walk_reads_each_table_from_the_root_to_the_entry_that_decides_the_gfn(void) {
    struct fixture f;
    hv_p2m_walk w;
    uint64_t pte = 0;
    uint32_t i;
    hvdm_ioservid_t id = 0;
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &id));
    REQUIRE_EQ(0, claim(&f, f.dm, id));
    REQUIRE_EQ(0, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_IOREQ_SERVER, GFN, 1));

    memset(&w, 0xa5, sizeof w);
    w.size = sizeof w;
    REQUIRE_EQ(0, hv_p2m_read_walk(f.dom, GFN, &w));
    EXPECT_EQ(sizeof w, w.size);
    EXPECT_EQ(test_arch(), w.arch);
    /* the claimed page was split to 4 KiB: the walk ends at a page entry,
     * PTE (level 1) on x86, lookup level 3 on Arm64, level 0 on RISC-V,
     * which hv_p2m_entry reports too */
    REQUIRE_TRUE(w.nr_levels >= 2 && w.nr_levels <= HV_P2M_WALK_MAX_LEVELS);
    EXPECT_EQ(test_arch() == HV_ARCH_ARM64 ? 3 : test_arch() == HV_ARCH_RISCV64 ? 0 : 1, w.level[w.nr_levels - 1].level);
    REQUIRE_EQ(0, hv_p2m_entry(f.dom, GFN, &pte));
    EXPECT_U64(pte, w.level[w.nr_levels - 1].entry);
    EXPECT_U64(P2M_IOREQ_SERVER, leaf_view_of(pte).type);
    /* x86: 4 levels from the PML4 (one root frame); Arm64: the default
     * VTCR's start level, its root possibly concatenated; RISC-V Sv39x4: 3
     * levels from the 16 KiB root */
    if (test_arch() == HV_ARCH_RISCV64) {
        EXPECT_EQ(3, w.nr_levels);
        EXPECT_EQ(4, w.root_frames);
    } else if (test_arch() != HV_ARCH_ARM64) {
        EXPECT_EQ(4, w.nr_levels);
        EXPECT_EQ(1, w.root_frames);
    } else {
        EXPECT_TRUE(w.root_frames >= 1 && w.root_frames <= 16);
    }
    /* the root is the first table read; each table entry points at the
     * next table read; levels count down (x86, RISC-V) or up (Arm64) by one */
    EXPECT_U64(w.root, w.level[0].table);
    for (i = 1; i < w.nr_levels; ++i) {
        EXPECT_U64(next_table_of(w.level[i - 1].entry), w.level[i].table);
        EXPECT_EQ(w.level[i - 1].level + (test_arch() == HV_ARCH_ARM64 ? 1 : -1), w.level[i].level);
        EXPECT_TRUE(w.level[i].index < 512);
    }
    /* the index of a 4 KiB entry is gfn bits 8:0 */
    EXPECT_EQ(GFN & 511u, w.level[w.nr_levels - 1].index);
    /* the register that points the hardware at the root: EPTP bits 51:12,
     * nCR3 = the root, VTCR_EL2 (RES1 bit 31), hgatp (MODE 8 = Sv39x4 in
     * bits 63:60, the root's PPN in 43:0) */
    if (test_arch() == HV_ARCH_RISCV64) {
        EXPECT_U64(8, w.config >> 60);
        EXPECT_U64(w.root >> 12, w.config & ((1ull << 44) - 1));
    } else if (test_arch() == HV_ARCH_ARM64)
        EXPECT_U64(1ull << 31, w.config & (1ull << 31));
    else
        EXPECT_U64(w.root, w.config & 0x000ffffffffff000ull);

    /* bad arguments change nothing and say -EINVAL */
    EXPECT_EQ(-EINVAL, hv_p2m_read_walk(f.dom, GFN, NULL));
    EXPECT_EQ(-EINVAL, hv_p2m_read_walk(NULL, GFN, &w));
    w.size = sizeof w - 1;
    EXPECT_EQ(-EINVAL, hv_p2m_read_walk(f.dom, GFN, &w));
    w.size = sizeof w;
    EXPECT_EQ(-EINVAL, hv_p2m_read_walk(f.dom, ~0ull, &w));
    fixture_destroy(&f);
}

int main(void) {
    skip_unless_vmx_backend("test_claim_cycle");
    RUN(claim_set_write_disclaim_reclaim_cycle);
    RUN(entry_count_counts_4k_leaves_of_a_2mib_range);
    RUN(disclaim_with_2048_pages_outstanding_resets_all_before_returning);
    RUN(destroying_the_owning_server_resets_its_pages);
    RUN(closing_the_owning_handle_destroys_its_servers_and_resets_its_pages);
    RUN(store_to_claimed_page_records_the_arch_write_permission_fault);
    RUN(instruction_fetch_from_claimed_page_is_a_guest_fault_naming_the_gpa);
    RUN(the_walk_reads_each_table_from_the_root_to_the_entry_that_decides_the_gfn);
    return abi_finish("test_claim_cycle");
}

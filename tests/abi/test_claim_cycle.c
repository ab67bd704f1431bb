/* The life of the ioreq_server type: claim, set_mem_type, guest writes,
 * disclaim, reclaim, with hv_p2m_ioreq_entry_count checked at every step;
 * the disclaim of 2048 outstanding pages; destroying the owning server and
 * closing the owning handle; the EPT view (raw leaf, fault record, fetch). */
#include "abi_test.h"

/* gfn 0x100 (GPA 1 MiB): 4 pages the device model write-protects */
#define GFN 0x100u
#define NR 4u
#define GPA ((uint64_t)GFN * TEST_PAGE_SIZE)

/* EPT leaf bits (Intel SDM vol. 3C, 29.3.2, table 29-6): read, write,
 * execute in bits 2:0; hvcore keeps the p2m type in the software-available
 * bits 57:52, numbered as Xen's p2m_type_t (p2m_ioreq_server = 15). */
#define EPT_R (1ull << 0)
#define EPT_W (1ull << 1)
#define EPT_X (1ull << 2)
#define EPT_TYPE(pte) (((pte) >> 52) & 0x3f)
#define P2M_IOREQ_SERVER 15u
/* VMX exit reason 48 (EPT violation) and its exit qualification bits (SDM
 * vol. 3C, table 28-7): bit 1 the access was a write; bits 3-5 the entry's
 * read/write/execute permissions. */
#define EXIT_REASON_EPT_VIOLATION 48u
#define QUAL_WRITE (1ull << 1)
#define QUAL_READABLE (1ull << 3)
#define QUAL_WRITABLE (1ull << 4)

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
    /* the EPT leaf: read-only, not executable, type 15 */
    REQUIRE_EQ(0, hv_p2m_entry(f.dom, GFN, &pte));
    EXPECT_U64(EPT_R, pte & (EPT_R | EPT_W | EPT_X));
    EXPECT_U64(P2M_IOREQ_SERVER, EPT_TYPE(pte));

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
    EXPECT_U64(EPT_W, pte & EPT_W);
    EXPECT_TRUE(EPT_TYPE(pte) != P2M_IOREQ_SERVER);
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
        if ((pte & EPT_W) == 0 || EPT_TYPE(pte) == P2M_IOREQ_SERVER) {
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

static void store_to_claimed_page_records_an_ept_violation(void) {
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
    EXPECT_EQ(HV_ARCH_X86_VMX, rec.arch);
    EXPECT_EQ(EXIT_REASON_EPT_VIOLATION, rec.kind);
    EXPECT_U64(QUAL_WRITE, rec.syndrome & QUAL_WRITE);
    EXPECT_U64(QUAL_READABLE, rec.syndrome & QUAL_READABLE);
    EXPECT_U64(0, rec.syndrome & QUAL_WRITABLE);
    EXPECT_U64(GPA + 0x234, rec.gpa);
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

int main(void) {
    skip_unless_vmx_backend("test_claim_cycle");
    RUN(claim_set_write_disclaim_reclaim_cycle);
    RUN(entry_count_counts_4k_leaves_of_a_2mib_range);
    RUN(disclaim_with_2048_pages_outstanding_resets_all_before_returning);
    RUN(destroying_the_owning_server_resets_its_pages);
    RUN(closing_the_owning_handle_destroys_its_servers_and_resets_its_pages);
    RUN(store_to_claimed_page_records_an_ept_violation);
    RUN(instruction_fetch_from_claimed_page_is_a_guest_fault_naming_the_gpa);
    return abi_finish("test_claim_cycle");
}

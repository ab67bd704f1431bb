/* SPDX-License-Identifier: MIT */
/* Large guests and hvcore's batched set_mem_type, through the C ABI, on
 * every backend (and over a socket: abi/scale/<backend>/socket).
 *
 * A domain may be as large as its stage-2 format addresses: 1 TiB on every
 * backend, 64 TiB on the 48-bit x86 formats (EPT, NPT); larger than the
 * format is -EINVAL with the reason in the log (Arm64 with hvcore's VTCR,
 * T0SZ 24: 40 bits; RISC-V Sv39x4: 41 bits). RAM is reserved, not touched:
 * the process's resident memory grows by less than 64 MiB for a whole
 * 64 TiB guest used at its top. */
#include <inttypes.h>
#include <sys/mman.h>

#include "abi_test.h"

#define TIB (1ull << 40)
#define PAGE 4096ull
#define RSS_LIMIT (64ull << 20)

/* The largest RAM a backend takes is the smaller of its format's
 * guest-physical reach and what its entries' host-physical width leaves
 * for RAM (at 1 GiB) and the table pool above it: the EPT model's
 * MAXPHYADDR is 46 bits (64 TiB), so a VMX guest stops short of 64 TiB. */
static int holds_64_tib(void) { return test_arch() == HV_ARCH_X86_SVM; }

/* The guest-physical bits of the backend's format as hvcore configures it. */
static unsigned format_bits(void) {
    switch (test_arch()) {
    case HV_ARCH_X86_VMX:
    case HV_ARCH_X86_SVM: return 48;
    case HV_ARCH_ARM64: return 40; /* VTCR_EL2.T0SZ 24 */
    default: return 41;            /* RISC-V Sv39x4 */
    }
}

/* Resident bytes of this process (proc(5), /proc/self/statm, field 2). */
static uint64_t rss_bytes(void) {
    unsigned long long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL) return 0;
    if (fscanf(f, "%llu %llu", &size, &resident) != 2) resident = 0;
    fclose(f);
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

static char last_error[1024];
static void record_log(void *opaque, int level, const char *message) {
    (void)opaque;
    if (level == HV_LOG_ERROR && strstr(message, "not created") != NULL) {
        strncpy(last_error, message, sizeof last_error - 1);
        last_error[sizeof last_error - 1] = '\0';
    }
}

/* Use a domain of `bytes` at its top: a model vCPU's store and load, the
 * loader's read and write, a device model's mapping of the last page, a
 * claimed page and its release, and a list change there. */
static void use_the_top(uint64_t bytes) {
    struct fixture f;
    const uint64_t before = rss_bytes();
    const uint64_t top_gfn = bytes / PAGE - 1;
    const uint64_t top = top_gfn * PAGE;
    struct server s;
    uint64_t v = 0;
    uint16_t t = 0xffff;
    uint64_t list[3];
    uint64_t refused = 0;
    void *map = NULL;
    uint64_t bad = 0;
    REQUIRE_EQ(0, fixture_create_with(&f, bytes, 1, 0));
    /* A vCPU's store and load, and the loader's view, at the top. */
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, top + 8, 8, 0x1122334455667788ull));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_load(f.dom, 0, top + 8, 8, &v));
    EXPECT_U64(0x1122334455667788ull, v);
    v = 0;
    EXPECT_EQ(0, hv_guest_read(f.dom, top + 8, &v, sizeof v));
    EXPECT_U64(0x1122334455667788ull, v);
    v = 0xa5a5a5a5a5a5a5a5ull;
    EXPECT_EQ(0, hv_guest_write(f.dom, top + PAGE - 8, &v, sizeof v));
    /* The device model's mapping of the same page (the sealed memfd). */
    EXPECT_EQ(0, hvdm_map_guest_memory(f.dm, f.domid, top_gfn, 1, PROT_READ, &map, &bad));
    if (map != NULL) {
        EXPECT_U64(0x1122334455667788ull, *(const volatile uint64_t *)((const char *)map + 8));
        EXPECT_U64(0xa5a5a5a5a5a5a5a5ull, *(const volatile uint64_t *)((const char *)map + PAGE - 8));
        EXPECT_EQ(0, hvdm_unmap_guest_memory(f.dm, map, 1));
    }
    /* A page near the top claimed, then released; the claim given up. */
    REQUIRE_EQ(0, server_create(&f, f.dm, HVDM_BUFIOREQ_OFF, 1, &s));
    EXPECT_EQ(0, hvdm_map_mem_type_to_ioreq_server(f.dm, f.domid, s.id, HVDM_MEM_IOREQ_SERVER,
                                                   HVDM_IOREQ_MEM_ACCESS_WRITE));
    EXPECT_EQ(0, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_IOREQ_SERVER, top_gfn - 1, 1));
    EXPECT_EQ(HVDM_MEM_IOREQ_SERVER, mem_type_of(&f, top_gfn - 1));
    EXPECT_U64(1, entry_count(&f));
    EXPECT_EQ(0, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_RAM_RW, top_gfn - 1, 1));
    EXPECT_EQ(HVDM_MEM_RAM_RW, mem_type_of(&f, top_gfn - 1));
    /* Scattered pages at the top, in one call, then claimed and disclaimed. */
    list[0] = top_gfn - 1000;
    list[1] = top_gfn - 7;
    list[2] = top_gfn;
    EXPECT_EQ(0, hvdm_set_mem_type_list(f.dm, f.domid, HVDM_MEM_IOREQ_SERVER, list, 3, &refused));
    EXPECT_U64(~0ull, refused);
    EXPECT_EQ(HVDM_MEM_IOREQ_SERVER, mem_type_of(&f, top_gfn));
    EXPECT_EQ(HVDM_MEM_RAM_RW, mem_type_of(&f, top_gfn - 1));
    EXPECT_U64(3, entry_count(&f));
    EXPECT_EQ(0, hvdm_map_mem_type_to_ioreq_server(f.dm, f.domid, s.id, HVDM_MEM_IOREQ_SERVER, 0));
    EXPECT_U64(0, entry_count(&f));
    EXPECT_EQ(0, hvdm_get_mem_type(f.dm, f.domid, top_gfn, &t));
    EXPECT_EQ(HVDM_MEM_RAM_RW, t);
    /* One past the top is not RAM. */
    EXPECT_EQ(-EINVAL, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_RAM_RO, top_gfn + 1, 1));
    {
        const uint64_t after = rss_bytes();
        printf("  %" PRIu64 " GiB guest: resident memory grew by %" PRIu64 " KiB\n", bytes >> 30,
               (after - before) >> 10);
        EXPECT_TRUE(after < before + RSS_LIMIT);
    }
    fixture_destroy(&f);
}

static void one_tib_domain_is_created_and_used_at_its_top_without_touching_its_ram(void) {
    use_the_top(TIB);
}

/* A new host (its errors logged into last_error) that refuses a 64 TiB
 * domain with -EINVAL, or NULL if no host could be created; cfg is left
 * describing that domain. */
static hv_host *host_refusing_64_tib(hv_domain_config *cfg) {
    hv_host *host = NULL;
    hv_domain *dom = NULL;
    if (!EXPECT_EQ(0, hv_host_create(&host))) return NULL;
    last_error[0] = '\0';
    if (!test_over_socket()) EXPECT_EQ(0, hv_host_set_log(host, record_log, NULL, HV_LOG_ERROR));
    memset(cfg, 0, sizeof *cfg);
    cfg->size = sizeof *cfg;
    cfg->arch = test_arch();
    cfg->ram_bytes = 64 * TIB;
    cfg->nr_vcpus = 1;
    EXPECT_EQ(-EINVAL, hv_domain_create(host, cfg, &dom));
    return host;
}

static void a_64_tib_domain_fits_a_48_bit_format_and_is_einval_with_the_reason_beyond_the_format(void) {
    if (holds_64_tib()) {
        use_the_top(64 * TIB);
        return;
    }
    if (test_arch() == HV_ARCH_X86_VMX) {
        /* 48-bit guest-physical, 46-bit host-physical: 63 TiB is the
         * largest whole TiB; 64 TiB is refused for the host-physical width. */
        hv_domain_config cfg;
        hv_host *host;
        use_the_top(63 * TIB);
        host = host_refusing_64_tib(&cfg);
        if (host == NULL) return;
        if (!test_over_socket() && !EXPECT_TRUE(strstr(last_error, "47-bit host-physical") != NULL))
            fprintf(stderr, "  log: %s\n", last_error);
        hv_host_destroy(host);
        return;
    }
    {
        hv_domain *dom = NULL;
        hv_domain_config cfg;
        char want[64];
        hv_host *host = host_refusing_64_tib(&cfg);
        if (host == NULL) return;
        /* The largest the format takes is accepted. */
        cfg.ram_bytes = 1ull << format_bits();
        EXPECT_EQ(0, hv_domain_create(host, &cfg, &dom));
        if (dom != NULL) EXPECT_EQ(0, hv_domain_destroy(dom));
        if (!test_over_socket()) {
            snprintf(want, sizeof want, "(%u-bit) guest-physical space", format_bits());
            if (!EXPECT_TRUE(strstr(last_error, want) != NULL)) fprintf(stderr, "  log: %s\n", last_error);
        }
        hv_host_destroy(host);
    }
}

static void ram_beyond_any_format_is_einval(void) {
    hv_host *host = NULL;
    hv_domain *dom = NULL;
    hv_domain_config cfg;
    REQUIRE_EQ(0, hv_host_create(&host));
    memset(&cfg, 0, sizeof cfg);
    cfg.size = sizeof cfg;
    cfg.arch = test_arch();
    cfg.ram_bytes = 512 * TIB;
    cfg.nr_vcpus = 1;
    EXPECT_EQ(-EINVAL, hv_domain_create(host, &cfg, &dom));
    hv_host_destroy(host);
}

/* ---- hvdm_set_mem_type_list on a small domain ---------------------------- */

static void a_list_changes_scattered_pages_and_nothing_else(void) {
    struct fixture f;
    uint64_t list[4] = {1, 2, 9, 100};
    uint64_t refused = 0;
    REQUIRE_EQ(0, fixture_create(&f));
    EXPECT_EQ(0, hvdm_set_mem_type_list(f.dm, f.domid, HVDM_MEM_RAM_RO, list, 4, &refused));
    EXPECT_U64(~0ull, refused);
    EXPECT_EQ(HVDM_MEM_RAM_RO, mem_type_of(&f, 1));
    EXPECT_EQ(HVDM_MEM_RAM_RO, mem_type_of(&f, 2));
    EXPECT_EQ(HVDM_MEM_RAM_RW, mem_type_of(&f, 3));
    EXPECT_EQ(HVDM_MEM_RAM_RO, mem_type_of(&f, 9));
    EXPECT_EQ(HVDM_MEM_RAM_RO, mem_type_of(&f, 100));
    EXPECT_EQ(HVDM_MEM_RAM_RW, mem_type_of(&f, 0));
    fixture_destroy(&f);
}

static void a_refused_gfn_is_reported_and_nothing_changes(void) {
    struct fixture f;
    uint64_t list[4] = {1, 2, 9, 100};
    uint64_t unsorted[3] = {5, 7, 7};
    uint64_t beyond[2] = {5, TEST_MAX_GFN + 1};
    uint64_t refused = 0;
    REQUIRE_EQ(0, fixture_create(&f));
    /* gfn 9 made mmio_dm: it may not become RAM again. */
    EXPECT_EQ(0, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_MMIO_DM, 9, 1));
    EXPECT_EQ(-EINVAL, hvdm_set_mem_type_list(f.dm, f.domid, HVDM_MEM_RAM_RO, list, 4, &refused));
    EXPECT_U64(9, refused);
    EXPECT_EQ(HVDM_MEM_RAM_RW, mem_type_of(&f, 1));
    EXPECT_EQ(HVDM_MEM_RAM_RW, mem_type_of(&f, 2));
    EXPECT_EQ(HVDM_MEM_RAM_RW, mem_type_of(&f, 100));
    EXPECT_EQ(-EINVAL, hvdm_set_mem_type_list(f.dm, f.domid, HVDM_MEM_RAM_RO, unsorted, 3, &refused));
    EXPECT_U64(7, refused);
    EXPECT_EQ(HVDM_MEM_RAM_RW, mem_type_of(&f, 5));
    EXPECT_EQ(-EINVAL, hvdm_set_mem_type_list(f.dm, f.domid, HVDM_MEM_RAM_RO, beyond, 2, &refused));
    EXPECT_U64(TEST_MAX_GFN + 1, refused);
    /* No gfn to blame: all-ones. */
    EXPECT_EQ(-EINVAL, hvdm_set_mem_type_list(f.dm, f.domid, HVDM_MEM_IOREQ_SERVER, list, 2, &refused));
    EXPECT_U64(~0ull, refused);
    EXPECT_EQ(-EINVAL, hvdm_set_mem_type_list(f.dm, f.domid, HVDM_MEM_UNUSED, list, 2, &refused));
    EXPECT_EQ(-EINVAL, hvdm_set_mem_type_list(f.dm, f.domid, HVDM_MEM_RAM_RO, list, 0, &refused));
    EXPECT_EQ(-EFAULT, hvdm_set_mem_type_list(f.dm, f.domid, HVDM_MEM_RAM_RO, NULL, 2, &refused));
    EXPECT_EQ(-ESRCH, hvdm_set_mem_type_list(f.dm, (hvdm_domid_t)(f.domid + 100), HVDM_MEM_RAM_RO, list, 2, NULL));
    EXPECT_EQ(-EINVAL, hvdm_set_mem_type_list(NULL, f.domid, HVDM_MEM_RAM_RO, list, 2, NULL));
    fixture_destroy(&f);
}

static void the_raw_op_checks_only_with_its_flag_and_reports_the_gfn(void) {
    struct fixture f;
    struct {
        uint32_t op, pad;
        hvdm_dmop_set_mem_type_list u;
    } op;
    uint64_t list[2] = {3, 4};
    hvdm_buf b[2];
    REQUIRE_EQ(0, fixture_create(&f));
    EXPECT_EQ(0, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_MMIO_DM, 4, 1));
    memset(&op, 0, sizeof op);
    op.op = HVDM_DMOP_SET_MEM_TYPE_LIST;
    op.u.nr = 2;
    op.u.mem_type = HVDM_MEM_RAM_RO;
    op.u.flags = HVDM_MEM_TYPE_LIST_CHECK_ONLY;
    b[0].ptr = &op;
    b[0].size = sizeof op;
    b[1].ptr = list;
    b[1].size = sizeof list;
    EXPECT_EQ(0, hvdm_dm_op(f.dm, f.domid, 2, b));
    EXPECT_U64(4, op.u.first_refused);
    EXPECT_EQ(HVDM_MEM_RAM_RW, mem_type_of(&f, 3));
    /* Accepted: all-ones, still nothing changed. */
    op.u.nr = 1;
    EXPECT_EQ(0, hvdm_dm_op(f.dm, f.domid, 2, b));
    EXPECT_U64(~0ull, op.u.first_refused);
    EXPECT_EQ(HVDM_MEM_RAM_RW, mem_type_of(&f, 3));
    /* Buffer 1 shorter than nr gfns, or missing: -EFAULT. */
    op.u.flags = 0;
    op.u.nr = 3;
    EXPECT_EQ(-EFAULT, hvdm_dm_op(f.dm, f.domid, 2, b));
    EXPECT_EQ(-EFAULT, hvdm_dm_op(f.dm, f.domid, 1, b));
    /* Refused without the flag: -EINVAL, nothing changes and buffer 0 is
     * not written (as every DMOP's, on success only; the same over a
     * socket). */
    op.u.nr = 2;
    op.u.first_refused = 0x5a5a5a5a5a5a5a5aull;
    EXPECT_EQ(-EINVAL, hvdm_dm_op(f.dm, f.domid, 2, b));
    EXPECT_U64(0x5a5a5a5a5a5a5a5aull, op.u.first_refused);
    EXPECT_EQ(HVDM_MEM_RAM_RW, mem_type_of(&f, 3));
    /* An unknown flag; the next number in hvcore's range. */
    op.u.nr = 1;
    op.u.flags = 2;
    EXPECT_EQ(-EINVAL, hvdm_dm_op(f.dm, f.domid, 2, b));
    op.op = HVDM_DMOP_SET_MEM_TYPE_LIST + 1;
    EXPECT_EQ(-EOPNOTSUPP, hvdm_dm_op(f.dm, f.domid, 2, b));
    fixture_destroy(&f);
}

static void over_a_socket_a_list_carries_8187_gfns_and_a_longer_one_is_emsgsize(void) {
    struct fixture f;
    uint64_t *list = (uint64_t *)malloc((HVDM_SET_MEM_TYPE_LIST_SOCKET_MAX + 1) * sizeof *list);
    uint64_t refused = 0;
    uint32_t i;
    REQUIRE_TRUE(list != NULL);
    REQUIRE_EQ(0, fixture_create_with(&f, 64ull << 20, 1, 0)); /* 16384 pages: every listed gfn is RAM */
    for (i = 0; i <= HVDM_SET_MEM_TYPE_LIST_SOCKET_MAX; ++i) list[i] = (uint64_t)i * 2;
    EXPECT_EQ(test_over_socket() ? -EMSGSIZE : 0,
              hvdm_set_mem_type_list(f.dm, f.domid, HVDM_MEM_RAM_RO, list, HVDM_SET_MEM_TYPE_LIST_SOCKET_MAX + 1,
                                     &refused));
    EXPECT_EQ(test_over_socket() ? HVDM_MEM_RAM_RW : HVDM_MEM_RAM_RO, mem_type_of(&f, 2 * HVDM_SET_MEM_TYPE_LIST_SOCKET_MAX));
    EXPECT_EQ(0, hvdm_set_mem_type_list(f.dm, f.domid, HVDM_MEM_RAM_RO, list, HVDM_SET_MEM_TYPE_LIST_SOCKET_MAX,
                                        &refused));
    EXPECT_EQ(HVDM_MEM_RAM_RO, mem_type_of(&f, 2 * (HVDM_SET_MEM_TYPE_LIST_SOCKET_MAX - 1)));
    EXPECT_EQ(HVDM_MEM_RAM_RW, mem_type_of(&f, 2 * (HVDM_SET_MEM_TYPE_LIST_SOCKET_MAX - 1) + 1));
    /* A refused gfn comes back over the socket too. */
    EXPECT_EQ(0, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_MMIO_DM, 2 * 5000, 1));
    EXPECT_EQ(-EINVAL, hvdm_set_mem_type_list(f.dm, f.domid, HVDM_MEM_RAM_RW, list, HVDM_SET_MEM_TYPE_LIST_SOCKET_MAX,
                                              &refused));
    EXPECT_U64(2 * 5000, refused);
    EXPECT_EQ(HVDM_MEM_RAM_RO, mem_type_of(&f, 2));
    free(list);
    fixture_destroy(&f);
}

int main(void) {
    skip_unless_vmx_backend("abi_scale");
    RUN(one_tib_domain_is_created_and_used_at_its_top_without_touching_its_ram);
    RUN(a_64_tib_domain_fits_a_48_bit_format_and_is_einval_with_the_reason_beyond_the_format);
    RUN(ram_beyond_any_format_is_einval);
    RUN(a_list_changes_scattered_pages_and_nothing_else);
    RUN(a_refused_gfn_is_reported_and_nothing_changes);
    RUN(the_raw_op_checks_only_with_its_flag_and_reports_the_gfn);
    RUN(over_a_socket_a_list_carries_8187_gfns_and_a_longer_one_is_emsgsize);
    return abi_finish("abi_scale");
}

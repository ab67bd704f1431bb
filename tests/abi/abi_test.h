/* SPDX-License-Identifier: MIT */
/* A tiny test harness for the C ABI tests (C99, no dependencies).
 *
 * Each test program is a list of scenarios, each a static function named
 * after the behaviour it checks, run in order by RUN(). Expectations print
 * file:line, what was expected and what was got, and count failures; the
 * program exits 1 if any failed, 77 (ctest SKIP_RETURN_CODE) if the x86 VMX
 * backend is not built into libhvcore yet, 0 otherwise.
 *
 * A check marked CONTRACT_BUG_CHECK is one whose failure we believe to be an
 * implementation bug (see the comment beside it); it still fails the test. */
#ifndef HVCORE_TESTS_ABI_TEST_H
#define HVCORE_TESTS_ABI_TEST_H

/* poll(), read(), ssize_t under -std=c99 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hvcore/hv.h"
#include "hvcore/hvdm.h"
#include "hvcore_test_backends.h"

/* ---- expectations ------------------------------------------------------ */

static int abi_failures;          /* failed expectations in the program */
static int abi_scenario_failures; /* failed expectations in the current scenario */

static inline const char *abi_errno_name(long long v) {
    switch (v) {
    case 0: return "0";
    case -EPERM: return "-EPERM";
    case -ENOENT: return "-ENOENT";
    case -ESRCH: return "-ESRCH";
    case -E2BIG: return "-E2BIG";
    case -ENOMEM: return "-ENOMEM";
    case -EFAULT: return "-EFAULT";
    case -EBUSY: return "-EBUSY";
    case -EEXIST: return "-EEXIST";
    case -EINVAL: return "-EINVAL";
    case -ENOSPC: return "-ENOSPC";
    case -ENODATA: return "-ENODATA";
    case -EPROTO: return "-EPROTO";
    case -EOPNOTSUPP: return "-EOPNOTSUPP";
    case -ESHUTDOWN: return "-ESHUTDOWN";
    case -EIO: return "-EIO";
    case -ENODEV: return "-ENODEV";
    default: return NULL;
    }
}

static inline void abi_print_value(long long v) {
    const char *name = abi_errno_name(v);
    if (name != NULL && v <= 0)
        fprintf(stderr, "%s", name);
    else
        fprintf(stderr, "%lld (0x%llx)", v, (unsigned long long)v);
}

static inline int abi_expect_eq(unsigned long long expected, unsigned long long got, const char *exp_text,
                         const char *got_text, const char *file, int line) {
    if (expected == got) return 1;
    ++abi_failures;
    ++abi_scenario_failures;
    fprintf(stderr, "%s:%d: FAILED: expected %s == ", file, line, got_text);
    abi_print_value((long long)expected);
    fprintf(stderr, " [%s], got ", exp_text);
    abi_print_value((long long)got);
    fprintf(stderr, "\n");
    return 0;
}

static inline int abi_expect_true(int cond, const char *text, const char *file, int line) {
    if (cond) return 1;
    ++abi_failures;
    ++abi_scenario_failures;
    fprintf(stderr, "%s:%d: FAILED: expected %s\n", file, line, text);
    return 0;
}

/* Both sides are converted to 64 bits: errnos (negative) and u64 values
 * compare exactly. */
#define EXPECT_EQ(expected, got)                                                              \
    abi_expect_eq((unsigned long long)(long long)(expected), (unsigned long long)(long long)(got), \
                  #expected, #got, __FILE__, __LINE__)
#define EXPECT_U64(expected, got)                                                             \
    abi_expect_eq((unsigned long long)(expected), (unsigned long long)(got), #expected, #got,   \
                  __FILE__, __LINE__)
#define EXPECT_TRUE(cond) abi_expect_true((cond) ? 1 : 0, #cond, __FILE__, __LINE__)
/* Setup a scenario cannot go on without: stop the scenario on failure. */
#define REQUIRE_EQ(expected, got)                    \
    do {                                             \
        if (!EXPECT_EQ(expected, got)) return;       \
    } while (0)
#define REQUIRE_TRUE(cond)                \
    do {                                  \
        if (!EXPECT_TRUE(cond)) return;   \
    } while (0)
/* A check of the contract that we believe the implementation gets wrong
 * (listed in the report); it fails like any other. */
#define CONTRACT_BUG_CHECK(expected, got)                                                        \
    do {                                                                                         \
        if (!abi_expect_eq((unsigned long long)(long long)(expected),                             \
                           (unsigned long long)(long long)(got), #expected, #got, __FILE__, __LINE__)) \
            fprintf(stderr, "    ^ believed to be an implementation bug (see comment at %s:%d)\n", \
                    __FILE__, __LINE__);                                                         \
    } while (0)

#define RUN(scenario)                                                                \
    do {                                                                             \
        abi_scenario_failures = 0;                                                   \
        scenario();                                                                  \
        printf("%s %s\n", abi_scenario_failures == 0 ? "ok  " : "FAIL", #scenario);  \
        fflush(stdout);                                                              \
    } while (0)

static inline int abi_finish(const char *program) {
    if (abi_failures != 0) {
        printf("%s: %d expectation(s) failed\n", program, abi_failures);
        return 1;
    }
    printf("%s: all scenarios passed\n", program);
    return 0;
}

/* ---- the domain every scenario runs on --------------------------------- */

/* 16 MiB of RAM: 4096 pages (gfn 0..0xfff), enough for the 2048-page
 * disclaim scenario and small enough to create per scenario. */
#define TEST_RAM_BYTES (16u * 1024u * 1024u)
#define TEST_PAGE_SIZE 4096u
/* domain_get_maximum_gpfn = ram_bytes / 4096 - 1 */
#define TEST_MAX_GFN ((uint64_t)TEST_RAM_BYTES / TEST_PAGE_SIZE - 1)
/* Two vCPUs: one can wait for a device model while the other runs. */
#define TEST_NR_VCPUS 2u
/* A guest-physical address above RAM that nothing maps: MMIO. */
#define TEST_MMIO_GPA 0xfebf0000ull

/* The is_mmio argument of hvdm_(un)map_io_range_to_ioreq_server */
#define PORTS 0
#define MMIO 1

struct fixture {
    hv_host *host;
    hv_domain *dom;
    hvdm_domid_t domid;
    hvdm_handle *dm; /* the device model's handle */
};

/* The backend under test: ctest runs every program once per backend built
 * into libhvcore, naming it in HVCORE_TEST_ARCH (its TEST_NAME in the
 * generated hvcore_test_backends.h: x86-vmx, x86-svm, arm64, riscv64...); a
 * program run by hand tests the first of them. A build without backends
 * (the core alone) runs them as x86-vmx, which hv_domain_create refuses with
 * -EOPNOTSUPP: the programs say so and skip. */
struct test_backend {
    const char *name;
    uint32_t arch;
    int has_pio; /* its ISA has port I/O; the others answer -EOPNOTSUPP */
};

#define TEST_BACKEND_ROW(name, arch, has_pio) {name, arch, has_pio},
static const struct test_backend test_backends[] = {HVCORE_TEST_BACKENDS(TEST_BACKEND_ROW){NULL, 0, 0}};
#undef TEST_BACKEND_ROW

static inline const struct test_backend *test_backend(void) {
    static const struct test_backend core_only = {"x86-vmx", HV_ARCH_X86_VMX, 1};
    const char *a = getenv("HVCORE_TEST_ARCH");
    size_t i;
    for (i = 0; test_backends[i].name != NULL; i++)
        if (a == NULL || strcmp(a, test_backends[i].name) == 0) return &test_backends[i];
    if (i == 0 && (a == NULL || strcmp(a, core_only.name) == 0)) return &core_only;
    fprintf(stderr, "HVCORE_TEST_ARCH=%s is not a backend of this libhvcore:", a);
    for (i = 0; test_backends[i].name != NULL; i++) fprintf(stderr, " %s", test_backends[i].name);
    fprintf(stderr, "\n");
    exit(2);
}

static inline uint32_t test_arch(void) { return test_backend()->arch; }

static inline const char *test_arch_name(void) { return test_backend()->name; }

static inline int test_arch_has_pio(void) { return test_backend()->has_pio; }

/* ---- the transport under test ------------------------------------------ */

/* HVCORE_TEST_TRANSPORT=socket runs a program's scenarios over a socket:
 * every device-model handle the program opens (hvdm_open, replaced below)
 * is a connection (hvdm_connect) to a listener (hv_dm_listen) on the host
 * it names, started on first use in this process; hv_host_destroy (also
 * replaced) destroys the host, then closes its listener. The same
 * expectations then hold over the wire: every errno, in the same order. */
#define TEST_MAX_LISTENERS 64
static struct {
    hv_host *host;
    hv_dm_listener *l;
    char path[64];
} test_listeners[TEST_MAX_LISTENERS];

static inline int test_over_socket(void) {
    const char *t = getenv("HVCORE_TEST_TRANSPORT");
    return t != NULL && strcmp(t, "socket") == 0;
}

static inline hvdm_handle *test_dm_open(hv_host *host) {
    static unsigned counter;
    int i, free_slot = -1;
    if (host == NULL || !test_over_socket()) return hvdm_open(host);
    for (i = 0; i < TEST_MAX_LISTENERS; i++) {
        if (test_listeners[i].host == host) return hvdm_connect(test_listeners[i].path);
        if (test_listeners[i].host == NULL && free_slot < 0) free_slot = i;
    }
    if (free_slot < 0) {
        fprintf(stderr, "abi_test.h: more than %d hosts with a listener at once\n", TEST_MAX_LISTENERS);
        exit(2);
    }
    /* relative: in the test's working directory (its build directory) */
    snprintf(test_listeners[free_slot].path, sizeof test_listeners[free_slot].path, "hvcore-abi-%ld-%u.sock",
             (long)getpid(), counter++);
    if (hv_dm_listen(host, test_listeners[free_slot].path, NULL, &test_listeners[free_slot].l) != 0) return NULL;
    test_listeners[free_slot].host = host;
    return hvdm_connect(test_listeners[free_slot].path);
}

static inline void test_host_destroy(hv_host *host) {
    int i;
    hv_host_destroy(host);
    for (i = 0; i < TEST_MAX_LISTENERS; i++) {
        if (host != NULL && test_listeners[i].host == host) {
            hv_dm_listener_close(test_listeners[i].l);
            memset(&test_listeners[i], 0, sizeof test_listeners[i]);
        }
    }
}

/* hv_host_destroy alone (the macro below is not expanded in parentheses):
 * over a socket the host's listener stays open, so a device model's next
 * calls reach a host that is destroyed, not a lost connection. The
 * scenario then calls test_listener_close(host) before creating another. */
static inline void test_host_destroy_keep_listener(hv_host *host) { (hv_host_destroy)(host); }

static inline void test_listener_close(hv_host *destroyed) {
    int i;
    for (i = 0; i < TEST_MAX_LISTENERS; i++) {
        if (destroyed != NULL && test_listeners[i].host == destroyed) {
            hv_dm_listener_close(test_listeners[i].l);
            memset(&test_listeners[i], 0, sizeof test_listeners[i]);
        }
    }
}

#define hvdm_open(host) test_dm_open(host)
#define hv_host_destroy(host) test_host_destroy(host)

/* 0 on success, else the negative errno of the failing call. */
static inline int fixture_create_with(struct fixture *f, uint64_t ram_bytes, uint32_t nr_vcpus, uint32_t flags) {
    hv_domain_config cfg;
    int rc;
    memset(f, 0, sizeof *f);
    rc = hv_host_create(&f->host);
    if (rc != 0) return rc;
    memset(&cfg, 0, sizeof cfg);
    cfg.size = sizeof cfg;
    cfg.arch = test_arch();
    cfg.ram_bytes = ram_bytes;
    cfg.nr_vcpus = nr_vcpus;
    cfg.flags = flags;
    rc = hv_domain_create(f->host, &cfg, &f->dom);
    if (rc != 0) {
        hv_host_destroy(f->host);
        f->host = NULL;
        return rc;
    }
    f->domid = hv_domain_id(f->dom);
    f->dm = hvdm_open(f->host);
    if (f->dm == NULL) return -ENOMEM;
    return 0;
}

static inline int fixture_create(struct fixture *f) {
    return fixture_create_with(f, TEST_RAM_BYTES, TEST_NR_VCPUS, 0);
}

static inline void fixture_destroy(struct fixture *f) {
    if (f->dm != NULL) EXPECT_EQ(0, hvdm_close(f->dm));
    if (f->dom != NULL) EXPECT_EQ(0, hv_domain_destroy(f->dom));
    if (f->host != NULL) hv_host_destroy(f->host);
    memset(f, 0, sizeof *f);
}

/* A backend not built into this libhvcore makes hv_domain_create
 * -EOPNOTSUPP: say so on one line and exit 77 (ctest SKIP_RETURN_CODE). */
static inline void skip_unless_vmx_backend(const char *program) {
    struct fixture f;
    const int rc = fixture_create(&f);
    if (rc == -EOPNOTSUPP) {
        printf("SKIP: %s: hv_domain_create(%s) returned -EOPNOTSUPP: that backend is not built into "
               "this libhvcore\n", program, test_arch_name());
        exit(77);
    }
    if (rc != 0) {
        printf("%s: cannot create the test domain: %d\n", program, rc);
        exit(1);
    }
    fixture_destroy(&f);
}

/* ---- ioreq servers and the device-model side ---------------------------- */

struct server {
    hvdm_ioservid_t id;
    hvdm_shared_iopage *page;   /* vcpu_ioreq[v] is vCPU v's slot */
    hvdm_buffered_iopage *buf;  /* NULL with HVDM_BUFIOREQ_OFF */
    int fd;                     /* the server's eventfd */
};

/* A server on f's domain through handle h, enabled if asked, pages mapped. */
static inline int server_create(struct fixture *f, hvdm_handle *h, int bufioreq, int enabled, struct server *s) {
    int rc;
    memset(s, 0, sizeof *s);
    rc = hvdm_create_ioreq_server(h, f->domid, bufioreq, &s->id);
    if (rc != 0) return rc;
    rc = hvdm_set_ioreq_server_state(h, f->domid, s->id, enabled);
    if (rc != 0) return rc;
    rc = hvdm_map_ioreq_pages(h, f->domid, s->id, &s->page, &s->buf);
    if (rc != 0) return rc;
    s->fd = hvdm_ioreq_fd(h, f->domid, s->id);
    return s->fd < 0 ? s->fd : 0;
}

/* VGA memory (0xa0000), a buffered server's range in server_setup: the
 * MMIO Xen posts to the buffered ring on x86 (xen/arch/x86/hvm/stdvga.c);
 * on Arm64 and RISC-V nothing is posted unasked, so there the buffered
 * server asks for wide posting (every MMIO write below 1 MiB it holds by
 * range). */
#define TEST_VGA_GFN 0xa0u
#define TEST_VGA_GPA ((uint64_t)TEST_VGA_GFN * TEST_PAGE_SIZE)

/* On f's domain, an enabled server of bufioreq mode (a buffered one WIDE
 * off x86) holding the MMIO page at TEST_MMIO_GPA and, with a buffered
 * mode, VGA memory's first page (typed mmio_dm). */
static inline int server_setup(struct fixture *f, struct server *s, int mode) {
    const int x86 = test_arch() == HV_ARCH_X86_VMX || test_arch() == HV_ARCH_X86_SVM;
    int rc = server_create(f, f->dm, mode == HVDM_BUFIOREQ_OFF || x86 ? mode : mode | HVDM_BUFIOREQ_WIDE, 1, s);
    if (rc != 0) return rc;
    rc = hvdm_map_io_range_to_ioreq_server(f->dm, f->domid, s->id, MMIO, TEST_MMIO_GPA, TEST_MMIO_GPA + 0xfff);
    if (rc != 0 || mode == HVDM_BUFIOREQ_OFF) return rc;
    rc = hvdm_set_mem_type(f->dm, f->domid, HVDM_MEM_MMIO_DM, TEST_VGA_GFN, 1);
    if (rc != 0) return rc;
    return hvdm_map_io_range_to_ioreq_server(f->dm, f->domid, s->id, MMIO, TEST_VGA_GPA,
                                             TEST_VGA_GPA + TEST_PAGE_SIZE - 1);
}

/* 1 if the eventfd is readable right now (poll with a zero timeout). */
static inline int fd_readable(int fd) {
    struct pollfd p;
    p.fd = fd;
    p.events = POLLIN;
    p.revents = 0;
    return poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0;
}

/* Consume the eventfd's counter; the count read, 0 if nothing was pending. */
static inline uint64_t fd_drain(int fd) {
    uint64_t n = 0;
    if (read(fd, &n, sizeof n) != (ssize_t)sizeof n) return 0;
    return n;
}

/* The device model answers vCPU v's request: data (for reads), then
 * IORESP_READY, then the notification. */
static inline int server_answer(struct fixture *f, hvdm_handle *h, struct server *s, uint32_t v, uint64_t data) {
    s->page->vcpu_ioreq[v].data = data;
    s->page->vcpu_ioreq[v].state = HVDM_STATE_IORESP_READY;
    return hvdm_ioreq_notify(h, f->domid, s->id, v);
}

static inline uint16_t mem_type_of(struct fixture *f, uint64_t gfn) {
    uint16_t t = 0xffff;
    if (hvdm_get_mem_type(f->dm, f->domid, gfn, &t) != 0) return 0xffff;
    return t;
}

static inline uint64_t entry_count(struct fixture *f) {
    uint64_t n = ~0ull;
    if (hv_p2m_ioreq_entry_count(f->dom, &n) != 0) return ~0ull;
    return n;
}

static inline uint32_t ram_u32(struct fixture *f, uint64_t gpa) {
    uint32_t v = 0;
    (void)hv_guest_read(f->dom, gpa, &v, sizeof v);
    return v;
}

static inline void set_ram_u32(struct fixture *f, uint64_t gpa, uint32_t v) {
    (void)hv_guest_write(f->dom, gpa, &v, sizeof v);
}

#endif /* HVCORE_TESTS_ABI_TEST_H */

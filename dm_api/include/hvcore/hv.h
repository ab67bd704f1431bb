/* SPDX-License-Identifier: MIT */
/* hvcore embedding API, ABI version 1 (HVCORE_1.0).
 *
 * Hosts, domains and vCPUs. C99, no C++ in here. Every function returns 0
 * (or a documented non-negative status) on success and a negative errno on
 * failure; no C++ exception crosses this boundary. Names and layouts are a
 * contract: extend, never rename. */
#ifndef HVCORE_HV_H
#define HVCORE_HV_H

#include <stddef.h>
#include <stdint.h>

/* C++ callers see every function as noexcept: no exception crosses. */
#if defined(__cplusplus)
#define HV_NOEXCEPT noexcept
#else
#define HV_NOEXCEPT
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hv_host hv_host;
typedef struct hv_domain hv_domain;
typedef uint16_t hvdm_domid_t;

enum hv_arch { HV_ARCH_X86_VMX = 1, HV_ARCH_X86_SVM = 2, HV_ARCH_ARM64 = 3 };

#define HV_DOMAIN_NO_HAP (1u << 0) /* shadow paging: HAP-only DMOPs are -EOPNOTSUPP */
/* Arm64 only (-EINVAL for other archs; a later extension): a stage-2 data
 * abort without syndrome (ESR_EL2.ISV = 0) whose instruction hvcore does not
 * emulate returns HV_VCPU_UNDECODED, with the ESR and the instruction word
 * in hv_vcpu_arm64_undecoded(), instead of HV_VCPU_GUEST_FAULT (the default:
 * the guest takes the abort). README.md, "Arm64 ISV=0 policy". */
#define HV_DOMAIN_ARM64_REPORT_UNDECODED (1u << 1)

typedef struct hv_domain_config {
    uint32_t size;      /* sizeof(hv_domain_config): lets the struct grow */
    uint32_t arch;      /* enum hv_arch; -EOPNOTSUPP if not built in */
    uint64_t ram_bytes; /* RAM at GPA 0, type ram_rw; multiple of 4096 */
    uint32_t nr_vcpus;  /* 1..128 (one shared ioreq page holds 128 slots) */
    uint32_t flags;     /* HV_DOMAIN_NO_HAP, HV_DOMAIN_ARM64_REPORT_UNDECODED */
} hv_domain_config;

/* Lifetimes (extension to ABI.md; the rule for every handle):
 *
 * - hv_host_destroy destroys every domain of the host and frees the host
 *   and its hv_domain objects (pointers from hv_domain_create and
 *   hv_domain_lookup are dangling afterwards, as after free()). It never
 *   waits for device models: handles opened with hvdm_open on the host may
 *   still be open. Such a handle stays valid memory: every call on it
 *   returns -ENODEV, except hvdm_close, which returns 0 and frees it. The
 *   host's last remains go with its last handle.
 * - hv_domain_destroy (or hv_host_destroy) takes the domain off the host at
 *   once: a device model's calls naming that domid return -ESRCH, and a
 *   vCPU thread blocked in it for a device model returns -ESHUTDOWN. Its
 *   ioreq servers go with it, when the last call still using it returns.
 * - Whatever destroys an ioreq server (hvdm_destroy_ioreq_server, the
 *   domain's or the host's destruction), the pages hvdm_map_ioreq_pages
 *   mapped for it stay mapped and the descriptor hvdm_ioreq_fd gave stays
 *   open until hvdm_close of that handle; the descriptor is made readable
 *   so a device model waiting on it wakes, and its next call on the server
 *   says why (-ENOENT, -ESRCH or -ENODEV). Nothing is unmapped or closed
 *   under a device model's feet, and nothing is leaked once it closes.
 * - A call in flight on another thread when its domain or host is
 *   destroyed completes (on the domain as it was, or with one of the
 *   errnos above); neither destroy call waits for it. The embedder's own
 *   objects are the exception: hv_host_destroy must not race with
 *   hvdm_open, hv_domain_create or hv_domain_destroy on the same host, nor
 *   either destroy call with an hv_* call on an hv_domain it frees (stop
 *   the vCPU threads first, as after any free()). */
int hv_host_create(hv_host **out) HV_NOEXCEPT;
void hv_host_destroy(hv_host *host) HV_NOEXCEPT;
int hv_domain_create(hv_host *host, const hv_domain_config *cfg, hv_domain **out) HV_NOEXCEPT;
int hv_domain_destroy(hv_domain *d) HV_NOEXCEPT;
hvdm_domid_t hv_domain_id(const hv_domain *d) HV_NOEXCEPT;

/* Loader view of guest RAM: no stage-2 permissions apply. */
int hv_guest_read(hv_domain *d, uint64_t gpa, void *buf, size_t len) HV_NOEXCEPT;
int hv_guest_write(hv_domain *d, uint64_t gpa, const void *buf, size_t len) HV_NOEXCEPT;
/* The architectural stage-2 entry that maps gfn (arch bits). */
int hv_p2m_entry(hv_domain *d, uint64_t gfn, uint64_t *raw_pte) HV_NOEXCEPT;
/* Number of 4 KiB leaves of type ioreq_server. */
int hv_p2m_ioreq_entry_count(hv_domain *d, uint64_t *count) HV_NOEXCEPT;

/* vCPU accesses, executed as a real instruction of the domain's arch
 * through its stage-2 table and fault decoder. */
enum hv_vcpu_status {
    HV_VCPU_DONE = 0,          /* the access completed */
    HV_VCPU_IOREQ_PENDING = 1, /* waits for a device model: hv_vcpu_resume after it answers */
    HV_VCPU_RETRY = 2,         /* the guest would re-execute; the access did not happen */
    HV_VCPU_GUEST_FAULT = 3    /* the guest takes an exception */
};

int hv_vcpu_store(hv_domain *d, uint32_t vcpu, uint64_t gpa, uint32_t size, uint64_t value) HV_NOEXCEPT;
int hv_vcpu_load(hv_domain *d, uint32_t vcpu, uint64_t gpa, uint32_t size, uint64_t *value) HV_NOEXCEPT;
int hv_vcpu_pio(hv_domain *d, uint32_t vcpu, uint16_t port, uint32_t size, int is_write,
                uint64_t *value) HV_NOEXCEPT; /* -EOPNOTSUPP on arm64 */
int hv_vcpu_exec(hv_domain *d, uint32_t vcpu, const void *insn, size_t len) HV_NOEXCEPT; /* one guest instruction */
int hv_vcpu_get_reg(hv_domain *d, uint32_t vcpu, uint32_t reg, uint64_t *value) HV_NOEXCEPT;
int hv_vcpu_set_reg(hv_domain *d, uint32_t vcpu, uint32_t reg, uint64_t value) HV_NOEXCEPT;
int hv_vcpu_resume(hv_domain *d, uint32_t vcpu, uint64_t *value) HV_NOEXCEPT; /* after the response */

/* Register ids. */
enum hv_reg_x86 {
    HV_REG_RAX = 0, HV_REG_RCX = 1, HV_REG_RDX = 2, HV_REG_RBX = 3,
    HV_REG_RSP = 4, HV_REG_RBP = 5, HV_REG_RSI = 6, HV_REG_RDI = 7,
    HV_REG_R8 = 8, HV_REG_R9 = 9, HV_REG_R10 = 10, HV_REG_R11 = 11,
    HV_REG_R12 = 12, HV_REG_R13 = 13, HV_REG_R14 = 14, HV_REG_R15 = 15,
    HV_REG_RIP = 16, HV_REG_RFLAGS = 17
};
enum hv_reg_arm64 {
    HV_REG_X0 = 0,
    HV_REG_X1 = 1,
    HV_REG_X2 = 2,
    HV_REG_X3 = 3,
    HV_REG_X4 = 4,
    HV_REG_X5 = 5,
    HV_REG_X6 = 6,
    HV_REG_X7 = 7,
    HV_REG_X8 = 8,
    HV_REG_X9 = 9,
    HV_REG_X10 = 10,
    HV_REG_X11 = 11,
    HV_REG_X12 = 12,
    HV_REG_X13 = 13,
    HV_REG_X14 = 14,
    HV_REG_X15 = 15,
    HV_REG_X16 = 16,
    HV_REG_X17 = 17,
    HV_REG_X18 = 18,
    HV_REG_X19 = 19,
    HV_REG_X20 = 20,
    HV_REG_X21 = 21,
    HV_REG_X22 = 22,
    HV_REG_X23 = 23,
    HV_REG_X24 = 24,
    HV_REG_X25 = 25,
    HV_REG_X26 = 26,
    HV_REG_X27 = 27,
    HV_REG_X28 = 28,
    HV_REG_X29 = 29,
    HV_REG_X30 = 30,
    HV_REG_SP = 31, HV_REG_PC = 32
};

/* The hardware's own record of the last fault. */
typedef struct hv_fault_record {
    uint32_t size;     /* sizeof(hv_fault_record) */
    uint32_t arch;     /* enum hv_arch */
    uint32_t kind;     /* VMX exit reason (48, 49); SVM exit code (0x400); Arm64 ESR_EL2.EC */
    uint32_t insn_len; /* SVM decode-assist bytes provided, else 0 */
    uint64_t syndrome; /* VMX exit qualification; SVM EXITINFO1; ESR_EL2 */
    uint64_t gpa;      /* VMX guest-physical address; SVM EXITINFO2; Arm64 HPFAR_EL2 */
    uint64_t gva;      /* VMX guest-linear address (when valid); FAR_EL2 */
    uint8_t insn[16];  /* SVM decode-assist bytes */
} hv_fault_record;
int hv_vcpu_last_fault(hv_domain *d, uint32_t vcpu, hv_fault_record *out) HV_NOEXCEPT;
/* -ENOENT when the vCPU's last access raised no fault */

/* --- extensions of the original interface (still HVCORE_1.0) --- */

/* x86 SSE registers for hv_vcpu_get_reg / hv_vcpu_set_reg: XMMn is two
 * 64-bit halves, bits 63:0 at HV_REG_XMM_LO(n) = 64 + 2n and bits 127:64 at
 * HV_REG_XMM_HI(n) = 65 + 2n, n = 0..15 (ids 64..95; the MOVD/MOVQ/MOVDQA/
 * MOVDQU/MOVAPS/MOVUPS family reads and writes them). Other ids in 18..63
 * and above 95 are -EINVAL on x86. */
#define HV_REG_XMM_BASE 64u
#define HV_REG_XMM_LO(n) (HV_REG_XMM_BASE + 2u * (n)) /* unsigned arithmetic, no cast: usable from C++ */
#define HV_REG_XMM_HI(n) (HV_REG_XMM_BASE + 2u * (n) + 1u)

/* Why the domain was stopped: 0 and an empty string while it runs, 1 and a
 * NUL-terminated reason once it has been stopped (for example by a device
 * model protocol violation). Calls on a stopped domain return -ESHUTDOWN. */
int hv_domain_stop_reason(hv_domain *d, char *buf, size_t len) HV_NOEXCEPT;
/* The domain with this id on this host, or NULL. */
hv_domain *hv_domain_lookup(hv_host *host, hvdm_domid_t domid) HV_NOEXCEPT;
/* An instruction fetch of the byte at gpa through stage 2: HV_VCPU_DONE if
 * the entry allows execution, HV_VCPU_GUEST_FAULT (with the gpa in the
 * detail) if not - never an endless re-fault. */
int hv_vcpu_fetch(hv_domain *d, uint32_t vcpu, uint64_t gpa) HV_NOEXCEPT;
/* Why the vCPU's last call returned HV_VCPU_GUEST_FAULT (it names the
 * instruction or the gpa); -ENOENT if it did not. */
int hv_vcpu_fault_detail(hv_domain *d, uint32_t vcpu, char *buf, size_t len) HV_NOEXCEPT;

/* Arm64 SIMD&FP registers for hv_vcpu_get_reg / hv_vcpu_set_reg, as the x86
 * XMM ids: Vn is bits 63:0 at HV_REG_V_LO(n) = 64 + 2n and bits 127:64 at
 * HV_REG_V_HI(n) = 65 + 2n, n = 0..31 (ids 64..127; the SIMD&FP loads and
 * stores, B/H/S/D/Q, read and write them). */
#define HV_REG_V_BASE 64u
#define HV_REG_V_LO(n) (HV_REG_V_BASE + 2u * (n)) /* unsigned arithmetic, no cast: usable from C++ */
#define HV_REG_V_HI(n) (HV_REG_V_BASE + 2u * (n) + 1u)

/* Returned by the vCPU calls of a domain created with
 * HV_DOMAIN_ARM64_REPORT_UNDECODED: a stage-2 data abort hvcore could not
 * emulate (ISV = 0 and an instruction it does not decode, such as a
 * store-exclusive). Nothing happened: registers (PC included) and memory
 * are as before the call, no ioreq was sent. The caller may emulate the
 * instruction itself (hv_guest_write, hv_vcpu_set_reg, PC + 4) or treat it
 * as the guest's abort. */
#define HV_VCPU_UNDECODED 4

/* What the last HV_VCPU_UNDECODED was about (KVM_EXIT_ARM_NISV carries the
 * same facts); -ENOENT if the vCPU's last call did not return it. */
typedef struct hv_arm64_undecoded {
    uint32_t size; /* sizeof(hv_arm64_undecoded): lets the struct grow */
    uint32_t insn; /* the A64 instruction word at pc */
    uint64_t pc;   /* the instruction's address (it did not complete) */
    uint64_t esr;  /* ESR_EL2 of the data abort (EC 0x24, ISV = 0) */
    uint64_t far;  /* FAR_EL2 */
    uint64_t hpfar; /* HPFAR_EL2 */
    uint64_t ipa;  /* faulting IPA: HPFAR_EL2.FIPA page | FAR_EL2[11:0] */
} hv_arm64_undecoded;
int hv_vcpu_arm64_undecoded(hv_domain *d, uint32_t vcpu, hv_arm64_undecoded *out) HV_NOEXCEPT;

/* The stage-2 walk for one gfn, for checking the tables against another
 * implementation of the hardware (tests/oracle loads them into QEMU and
 * Bochs), hv_p2m_read_walk: every entry the walk reads, root first, down to the one that
 * decides the gfn (a leaf, or the first entry that is absent or not
 * present), exactly as stored. Read-only: no lazy recalculation is resolved
 * and no accessed/dirty bit set. A table entry carrying a recalculation mark
 * is followed: the hardware stops at it (EPT misconfiguration, NPT
 * reserved/user fault, Arm64 translation fault) and the entries below are
 * what it reaches once the mark is resolved.
 * -EINVAL for a NULL argument, out->size smaller than this struct, or a gfn
 * beyond the table's reach. */
#define HV_P2M_WALK_MAX_LEVELS 5
typedef struct hv_p2m_walk_level {
    uint64_t entry; /* the raw entry, as stored */
    uint64_t table; /* host-physical address of the table that holds it */
    uint32_t index; /* its index in that table (Arm64 concatenated root: 0 .. 512*root_frames-1) */
    int32_t level;  /* x86: 4 = PML4E, 3 = PDPTE, 2 = PDE, 1 = PTE; Arm64: lookup level 0..3 */
} hv_p2m_walk_level;
typedef struct hv_p2m_walk {
    uint32_t size;        /* sizeof(hv_p2m_walk), set by the caller */
    uint32_t arch;        /* enum hv_arch */
    uint32_t nr_levels;   /* level[0 .. nr_levels) filled, root first */
    uint32_t root_frames; /* 4 KiB frames of the root table: 1 on x86, 1..16 on Arm64 (concatenated) */
    uint64_t root;        /* host-physical address of the root table */
    uint64_t config;      /* VMX: the EPTP; SVM: nCR3; Arm64: VTCR_EL2 */
    hv_p2m_walk_level level[HV_P2M_WALK_MAX_LEVELS];
} hv_p2m_walk;
int hv_p2m_read_walk(hv_domain *d, uint64_t gfn, hv_p2m_walk *out) HV_NOEXCEPT;

/* --- HVCORE_1.1 (hvcore 1.1.0): version query and log callback --- */

/* HV_VERSION_MAJOR, HV_VERSION_MINOR, HV_VERSION_PATCH, HV_VERSION_STRING
 * and HV_VERSION_NUMBER: the version of these headers (macros only). */
#include "hvcore/hv_version.h"

/**
 * @brief The version of the library this program runs with.
 *
 * Compare it with HV_VERSION_NUMBER (the headers the program was compiled
 * with): a library with the same major number and a minor number at least
 * the headers' has every function the headers declare.
 * @return (major << 16) | (minor << 8) | patch, as HV_VERSION_NUMBER. Never
 * fails.
 */
uint32_t hv_version(void) HV_NOEXCEPT;

/**
 * @brief The version of the library this program runs with, as text.
 * @return "MAJOR.MINOR.PATCH" (for example "1.1.0"), a static string the
 * caller must not free. Never fails.
 */
const char *hv_version_string(void) HV_NOEXCEPT;

/** Log levels, most severe first; a message has one of them. */
enum hv_log_level {
    HV_LOG_ERROR = 0,   /**< something failed: a domain was stopped, a request was refused */
    HV_LOG_WARNING = 1, /**< something is wrong but the library goes on */
    HV_LOG_INFO = 2,    /**< a notable event */
    HV_LOG_DEBUG = 3    /**< detail for a developer */
};

/**
 * @brief A log sink: receives one message of the library.
 * @param opaque the pointer given to hv_host_set_log.
 * @param level the message's enum hv_log_level (at most the max_level set).
 * @param message one line of text, NUL-terminated, without a trailing
 * newline; valid only during the call.
 */
typedef void (*hv_log_fn)(void *opaque, int level, const char *message);

/**
 * @brief Sends the library's messages about this host to fn.
 *
 * The library never writes to stdout or stderr itself: every message it
 * has about this host, its domains and the device models acting on them
 * (for example "domain 1 stopped: ..." when a device model breaks the
 * ioreq protocol) goes to fn, or nowhere. fn may be called from any thread
 * (a vCPU's, a device model's), one call at a time (the library serialises
 * them), and possibly with the library's internal locks held: it must
 * return promptly and must not call any hv_* or hvdm_* function. A new
 * call replaces the previous sink; once it returns, the previous sink is
 * no longer called, nor is any sink once hv_host_destroy has returned.
 * Without a call, messages are dropped.
 * @param host the host.
 * @param fn the sink, or NULL: messages are dropped.
 * @param opaque passed to fn unchanged.
 * @param max_level the least severe level delivered (HV_LOG_ERROR ..
 * HV_LOG_DEBUG): messages with a greater level are dropped.
 * @return 0: set.
 * @return -EINVAL: host is NULL, or max_level is not an enum hv_log_level
 * value (nothing changes).
 */
int hv_host_set_log(hv_host *host, hv_log_fn fn, void *opaque, int max_level) HV_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* HVCORE_HV_H */

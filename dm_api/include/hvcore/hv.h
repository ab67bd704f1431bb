/* SPDX-License-Identifier: MIT */
/** @file hvcore/hv.h
 * @brief hvcore embedding API, ABI version 1 (HVCORE_1.0): hosts, domains and vCPUs.
 *
 * Hosts, domains and vCPUs. C99, no C++ in here. Every function returns 0
 * (or a documented non-negative status) on success and a negative errno on
 * failure; no C++ exception crosses this boundary. Names and layouts are a
 * contract: extend, never rename.
 *
 * A call that allocates memory may also return -ENOMEM (an allocation
 * failed; nothing changed), and -EIO is what an unexpected internal C++
 * exception would become (none is known to arise); the lists of errors
 * below do not repeat these two. Man pages: hv_host(3), hv_domain(3),
 * hv_vcpu(3), hv_p2m(3). */

/** @defgroup hv_host Hosts
 * @brief A host owns domains; device-model handles are opened on it (hvdm.h). */
/** @defgroup hv_domain Domains and guest memory
 * @brief Creating, finding and destroying domains; the loader's view of guest RAM. */
/** @defgroup hv_p2m Stage-2 (p2m) introspection
 * @brief Read-only views of a domain's architectural stage-2 table. */
/** @defgroup hv_vcpu vCPU accesses
 * @brief Guest accesses executed as real instructions through stage 2, and
 * what the hardware and the emulator recorded about them. */

#ifndef HVCORE_HV_H
#define HVCORE_HV_H

#include <stddef.h>
#include <stdint.h>

/** @def HV_NOEXCEPT
 * @brief `noexcept` for C++ callers, empty in C: no exception crosses the C ABI. */
#if defined(__cplusplus)
#define HV_NOEXCEPT noexcept
#else
#define HV_NOEXCEPT
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** @ingroup hv_host
 * @brief An embedder's host: its domains, and the device-model handles
 * opened on it (opaque; hv_host_create). */
typedef struct hv_host hv_host;
/** @ingroup hv_domain
 * @brief One guest: its RAM, stage-2 table, vCPUs and ioreq servers
 * (opaque; hv_domain_create). */
typedef struct hv_domain hv_domain;
/** @ingroup hv_domain
 * @brief A domain's id on its host (Xen's domid_t): 1 for a host's first
 * domain, never 0. Device models name domains by it. */
typedef uint16_t hvdm_domid_t;

/** @ingroup hv_domain
 * @brief A domain's architecture (hv_domain_config::arch): its stage-2
 * format and its instruction set. */
enum hv_arch {
    HV_ARCH_X86_VMX = 1, /**< Intel VT-x with EPT (Intel SDM Vol. 3C, 29.3 "The Extended Page Table Mechanism") */
    HV_ARCH_X86_SVM = 2, /**< AMD-V with nested paging (AMD APM Vol. 2, 15.25 "Nested Paging") */
    HV_ARCH_ARM64 = 3,   /**< Arm64 stage 2 (Arm ARM DDI 0487, D8 "The AArch64 Virtual Memory System Architecture") */
    HV_ARCH_RISCV64 = 4  /**< RISC-V H extension G-stage, Sv39x4 (RISC-V Privileged Architecture, "Hypervisor Extension", "Guest Physical Address Translation"); since 1.2.0 */
};

/** @ingroup hv_domain
 * @brief hv_domain_config::flags: shadow paging (no HAP): the HAP-only DMOPs
 * (hvdm_map_mem_type_to_ioreq_server, hvdm_set_mem_type to
 * #HVDM_MEM_IOREQ_SERVER) are -EOPNOTSUPP, as in Xen. */
#define HV_DOMAIN_NO_HAP (1u << 0) /* shadow paging: HAP-only DMOPs are -EOPNOTSUPP */
/** @ingroup hv_domain
 * @brief hv_domain_config::flags, Arm64 only (-EINVAL for other archs; a
 * later extension): a stage-2 data
 * abort without syndrome (ESR_EL2.ISV = 0) whose instruction hvcore does not
 * emulate returns #HV_VCPU_UNDECODED, with the ESR and the instruction word
 * in hv_vcpu_arm64_undecoded(), instead of #HV_VCPU_GUEST_FAULT (the default:
 * the guest takes the abort). README.md, "Arm64 ISV=0 policy". */
#define HV_DOMAIN_ARM64_REPORT_UNDECODED (1u << 1)
/** @ingroup hv_domain
 * @brief hv_domain_config::flags: multi-owner mode (hvcore's own; Xen has
 * one claim of the ioreq_server type per domain). Each ioreq server may
 * claim the type (hvdm_map_mem_type_to_ioreq_server), one claim per device
 * model handle at a time, with #HVDM_IOREQ_MEM_ACCESS_READ (read trapping)
 * and #HVDM_IOREQ_MEM_ACCESS_WRITE_POSTED accepted; each page of the type
 * belongs to the claiming server of the device model that set it
 * (hvdm_set_mem_type), and its accesses go to that server. Without it,
 * Xen's rules hold exactly. README.md, "Several owners and read trapping".
 * (hvcore 1.6) */
#define HV_DOMAIN_MULTI_OWNER (1u << 2)

/** @ingroup hv_domain
 * @brief The domain hv_domain_create builds. */
typedef struct hv_domain_config {
    uint32_t size;      /**< sizeof(hv_domain_config): lets the struct grow; smaller is -EINVAL */
    uint32_t arch;      /**< enum hv_arch; -EOPNOTSUPP if not built in, -EINVAL if no such value */
    uint64_t ram_bytes; /**< RAM at GPA 0, type ram_rw; a non-zero multiple of 4096 within the stage-2 format's reach (1.4: no longer at most 63 GiB; reserved, not touched, until used) */
    uint32_t nr_vcpus;  /**< 1..128 (one shared ioreq page holds 128 slots) */
    uint32_t flags;     /**< HV_DOMAIN_NO_HAP, HV_DOMAIN_ARM64_REPORT_UNDECODED, HV_DOMAIN_MULTI_OWNER (1.6); any other bit is -EINVAL */
} hv_domain_config;

/** @page hv_lifetimes Lifetimes
 * Lifetimes (the rule for every handle):
 *
 * - hv_host_destroy destroys every domain of the host and frees the host
 *   and its hv_domain objects (pointers from hv_domain_create and
 *   hv_domain_lookup are dangling afterwards, as after free()). It never
 *   waits for device models: handles opened with hvdm_open on the host may
 *   still be open. Such a handle stays valid memory: every call on it
 *   returns -ENODEV, except hvdm_close, which returns 0 and frees it, and
 *   hvdm_unmap_guest_memory and hvdm_unmap_resource (since 1.3.0), which
 *   still unmap. The host's last remains go with its last handle.
 * - hv_domain_destroy (or hv_host_destroy) takes the domain off the host at
 *   once: a device model's calls naming that domid return -ESRCH, and a
 *   vCPU thread blocked in it for a device model returns -ESHUTDOWN. Its
 *   ioreq servers go with it, when the last call still using it returns.
 * - Whatever destroys an ioreq server (hvdm_destroy_ioreq_server, the
 *   domain's or the host's destruction), the pages hvdm_map_ioreq_pages
 *   mapped for it stay mapped and the descriptor hvdm_ioreq_fd gave stays
 *   open until hvdm_close of that handle; the descriptor is made readable
 *   so a device model waiting on it wakes, and its next call on the server
 *   says why (-ENOENT, -ESRCH or -ENODEV). A mapping hvdm_map_resource
 *   made stays likewise until hvdm_unmap_resource or hvdm_close of that
 *   handle (as Xen keeps a foreign mapping). Nothing is unmapped or closed
 *   under a device model's feet, and nothing is leaked once it closes.
 * - Guest RAM mapped with hvdm_map_guest_memory (since 1.3.0) stays mapped,
 *   readable and writable as mapped, after its domain or host is destroyed,
 *   until hvdm_unmap_guest_memory or hvdm_close of that handle (as a Xen
 *   foreign mapping holds its pages): the RAM is freed with its last
 *   mapping.
 * - A device model in another process (hvdm_connect, since 1.3.0) holds
 *   the same: what it was sent (ioreq pages, eventfds, guest RAM) is its
 *   own descriptors and mappings. A listener (hv_dm_listen) holds the
 *   host's core, not the host: hv_host_destroy may come before
 *   hv_dm_listener_close, and its connections' calls are then -ENODEV.
 *   Closing the listener, or a connection's hang-up, is hvdm_close of
 *   that connection's handle. A connection whose device model breaks the
 *   shared-page protocol (an unknown slot state, a slot moved backwards, a
 *   slot not returned to NONE) loses its servers on that domain and is
 *   hung up on, with one log line naming its pid and the reason; the
 *   domain runs on (an in-process handle stops it, as Xen's domain_crash).
 * - A call in flight on another thread when its domain or host is
 *   destroyed completes (on the domain as it was, or with one of the
 *   errnos above); neither destroy call waits for it. The embedder's own
 *   objects are the exception: hv_host_destroy must not race with
 *   hvdm_open, hv_domain_create or hv_domain_destroy on the same host, nor
 *   either destroy call with an hv_* call on an hv_domain it frees (stop
 *   the vCPU threads first, as after any free()). */

/** @ingroup hv_host
 * @brief Creates an empty host.
 * @param[out] out receives the new host; unchanged on failure.
 * @return 0, or a negative errno.
 * @retval -EINVAL @p out is NULL.
 * @retval -ENOMEM the host could not be allocated.
 * @note Thread-safe (hosts are independent). */
int hv_host_create(hv_host **out) HV_NOEXCEPT;
/** @ingroup hv_host
 * @brief Destroys every domain of the host and frees the host.
 *
 * The host and its hv_domain objects are freed (their pointers dangle, as
 * after free()); handles opened on the host stay valid memory, every call
 * on them returns -ENODEV but hvdm_close, hvdm_unmap_guest_memory and
 * hvdm_unmap_resource, and their ioreq mappings and descriptors stay valid
 * until hvdm_close. It never waits for device
 * models or for calls in flight. The whole rule: @ref hv_lifetimes.
 * @param host the host; NULL does nothing.
 * @note Must not race with hvdm_open, hv_domain_create or
 *       hv_domain_destroy on the same host, nor with an hv_* call on one of
 *       its hv_domain objects (stop the vCPU threads first). */
void hv_host_destroy(hv_host *host) HV_NOEXCEPT;
/** @ingroup hv_domain
 * @brief Creates a domain: RAM of type ram_rw at GPA 0 mapped in the
 * backend's stage-2 table, and @p cfg->nr_vcpus vCPUs with zeroed registers.
 * @param host the host that will own it.
 * @param cfg what to build (hv_domain_config; @p cfg->size first).
 * @param[out] out receives the domain (owned by the host: freed by
 *        hv_domain_destroy or hv_host_destroy); unchanged on failure.
 * @return 0, or a negative errno; nothing is created on failure.
 * @retval -EINVAL @p host, @p cfg or @p out is NULL; @p cfg->size is smaller
 *         than sizeof(hv_domain_config); @p cfg->flags has an unknown bit, or
 *         #HV_DOMAIN_ARM64_REPORT_UNDECODED with an arch other than
 *         #HV_ARCH_ARM64; @p cfg->arch is not an enum hv_arch value;
 *         @p cfg->nr_vcpus is 0 or above 128; @p cfg->ram_bytes is 0, not a
 *         multiple of 4096, or beyond what the arch's stage-2 format
 *         maps: its guest-physical reach (x86 48 bits, Arm64 40 bits with
 *         hvcore's VTCR_EL2.T0SZ 24, RISC-V Sv39x4 41 bits), or the
 *         host-physical width its entries hold for RAM and the table pool
 *         (EPT model: MAXPHYADDR 46); the reason goes to the host's log
 *         (hv_host_set_log, HV_LOG_ERROR).
 * @retval -EOPNOTSUPP @p cfg->arch is a backend this library was built without.
 * @retval -ENOSPC the host already has 0xfff0 domains.
 * @retval -ENOMEM no memory for the domain, its RAM or its stage-2 tables,
 *         or no address space to map RAM that large (mmap(2)).
 * @retval -EMFILE guest RAM (a memfd) could not be created: this, -ENFILE,
 *         or another errno of memfd_create(2), ftruncate(2), mmap(2) or of
 *         fcntl(2) F_ADD_SEALS (the memfd is sealed against resizing:
 *         F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_SEAL, since descriptors of it
 *         go to device-model processes).
 * @note Thread-safe, except against hv_host_destroy of the same host. */
int hv_domain_create(hv_host *host, const hv_domain_config *cfg, hv_domain **out) HV_NOEXCEPT;
/** @ingroup hv_domain
 * @brief Destroys a domain and frees @p d.
 *
 * The domain leaves the host at once: a device model's calls naming its
 * domid return -ESRCH, a host vCPU thread blocked in it for a device model
 * returns -ESHUTDOWN, and its ioreq servers go when the last call still
 * using it returns (their mappings and descriptors stay valid on each
 * handle until hvdm_close; hv_host_destroy, "Lifetimes").
 * @param d the domain; dangling afterwards (on success).
 * @return 0, or a negative errno.
 * @retval -EINVAL @p d is NULL.
 * @retval -ESRCH the domain is no longer on its host (cannot happen for a
 *         pointer that has not been freed).
 * @note Must not race with another hv_* call on @p d, nor with
 *       hv_host_destroy. */
int hv_domain_destroy(hv_domain *d) HV_NOEXCEPT;
/** @ingroup hv_domain
 * @brief The domain's id, the domid a device model passes to hvdm_* calls.
 * @param d the domain.
 * @return its id (1 or more), or 0 if @p d is NULL. */
hvdm_domid_t hv_domain_id(const hv_domain *d) HV_NOEXCEPT;

/** @ingroup hv_domain
 * @brief Copies guest RAM out: the loader view of guest RAM, where no
 * stage-2 permissions or p2m types apply (a ram_ro or ioreq_server page
 * reads as RAM).
 * @param d the domain.
 * @param gpa guest-physical address of the first byte.
 * @param[out] buf receives @p len bytes.
 * @param len bytes to copy (0 is allowed).
 * @return 0, or a negative errno; nothing is copied on failure.
 * @retval -EINVAL @p d is NULL; @p buf is NULL and @p len is not 0;
 *         [@p gpa, @p gpa + @p len) is not wholly inside guest RAM.
 * @note Thread-safe; works on a stopped domain. */
int hv_guest_read(hv_domain *d, uint64_t gpa, void *buf, size_t len) HV_NOEXCEPT;
/** @ingroup hv_domain
 * @brief Copies into guest RAM (the loader view: no stage-2 permission or
 * p2m type applies, so ram_ro pages are written too, and no device model
 * sees the write).
 * @param d the domain.
 * @param gpa guest-physical address of the first byte.
 * @param buf the @p len bytes to write.
 * @param len bytes to copy (0 is allowed).
 * @return 0, or a negative errno; nothing is written on failure.
 * @retval -EINVAL @p d is NULL; @p buf is NULL and @p len is not 0;
 *         [@p gpa, @p gpa + @p len) is not wholly inside guest RAM.
 * @note Thread-safe; works on a stopped domain. */
int hv_guest_write(hv_domain *d, uint64_t gpa, const void *buf, size_t len) HV_NOEXCEPT;
/** @ingroup hv_p2m
 * @brief The architectural stage-2 entry that maps gfn (arch bits): the raw
 * leaf (or the absent entry) as the backend stores it, for the hardware
 * format of the domain's arch (EPT, NPT, Arm64 stage-2 descriptor or
 * RISC-V G-stage PTE).
 * @param d the domain.
 * @param gfn guest frame number (GPA >> 12).
 * @param[out] raw_pte receives the entry; unchanged on failure.
 * @return 0, or a negative errno.
 * @retval -EINVAL @p d or @p raw_pte is NULL; @p gfn is beyond the stage-2
 *         table's reach.
 * @note Thread-safe. */
int hv_p2m_entry(hv_domain *d, uint64_t gfn, uint64_t *raw_pte) HV_NOEXCEPT;
/** @ingroup hv_p2m
 * @brief Number of 4 KiB leaves of type ioreq_server (Xen's
 * p2m->ioreq.entry_count): pages set to #HVDM_MEM_IOREQ_SERVER and not yet
 * reset by a disclaim's sweep.
 * @param d the domain.
 * @param[out] count receives the number.
 * @return 0, or a negative errno.
 * @retval -EINVAL @p d or @p count is NULL.
 * @note Thread-safe. */
int hv_p2m_ioreq_entry_count(hv_domain *d, uint64_t *count) HV_NOEXCEPT;

/** @ingroup hv_vcpu
 * @brief What a vCPU call did (its non-negative return value). The vCPU
 * calls execute an access as a real instruction of the domain's arch
 * through its stage-2 table and fault decoder. */
enum hv_vcpu_status {
    HV_VCPU_DONE = 0,          /**< the access completed */
    HV_VCPU_IOREQ_PENDING = 1, /**< waits for a device model: hv_vcpu_resume after it answers */
    HV_VCPU_RETRY = 2,         /**< the guest would re-execute; the access did not happen */
    HV_VCPU_GUEST_FAULT = 3    /**< the guest takes an exception (hv_vcpu_fault_detail says why) */
};

/** @ingroup hv_vcpu
 * @brief Stores @p value to @p gpa as a guest store instruction of @p size
 * bytes would, through stage 2: RAM is written; a fault is emulated, and
 * the write goes to the ioreq server that holds the address (or nobody).
 *
 * The instruction runs on a copy of the vCPU's registers: its architectural
 * state is not disturbed.
 * @param d the domain.
 * @param vcpu vCPU index, 0 .. nr_vcpus - 1.
 * @param gpa guest-physical address.
 * @param size 1, 2, 4 or 8.
 * @param value the data (its low @p size bytes).
 * @return an enum hv_vcpu_status (>= 0), or a negative errno.
 * @retval HV_VCPU_IOREQ_PENDING a device model must answer; call
 *         hv_vcpu_resume once it has (the vCPU refuses other calls with
 *         -EBUSY until then).
 * @retval -EINVAL @p d is NULL; @p vcpu is out of range; @p size is not 1,
 *         2, 4 or 8.
 * @retval -ESHUTDOWN the domain is stopped (hv_domain_stop_reason).
 * @retval -EBUSY the vCPU waits for a device model's response.
 * @retval -EPROTO a device model broke the ioreq protocol (a slot not back
 *         to NONE when a new request was due; a re-executed access that
 *         differs): the domain is now stopped.
 * @retval -EIO an internal inconsistency (a stage-2 misconfiguration that
 *         persists, an emulation that committed part of its work): the
 *         domain is now stopped.
 * @note Calls on different vCPUs may run on different threads; the domain
 *       serialises them. */
int hv_vcpu_store(hv_domain *d, uint32_t vcpu, uint64_t gpa, uint32_t size, uint64_t value) HV_NOEXCEPT;
/** @ingroup hv_vcpu
 * @brief Loads @p size bytes from @p gpa as a guest load instruction would,
 * through stage 2 (hv_vcpu_store for the path).
 * @param d the domain.
 * @param vcpu vCPU index.
 * @param gpa guest-physical address.
 * @param size 1, 2, 4 or 8.
 * @param[out] value receives the data (zero-extended) when the result is
 *        #HV_VCPU_DONE; after #HV_VCPU_IOREQ_PENDING, hv_vcpu_resume delivers it.
 * @return an enum hv_vcpu_status (>= 0), or a negative errno.
 * @retval -EINVAL @p d or @p value is NULL; @p vcpu is out of range;
 *         @p size is not 1, 2, 4 or 8.
 * @retval -ESHUTDOWN the domain is stopped.
 * @retval -EBUSY the vCPU waits for a device model's response.
 * @retval -EPROTO a device model broke the ioreq protocol; the domain is stopped.
 * @retval -EIO an internal inconsistency; the domain is stopped. */
int hv_vcpu_load(hv_domain *d, uint32_t vcpu, uint64_t gpa, uint32_t size, uint64_t *value) HV_NOEXCEPT;
/** @ingroup hv_vcpu
 * @brief Executes an x86 IN or OUT of @p size bytes on @p port: every port
 * access exits to the hypervisor and goes to the ioreq server holding the
 * port (a 4-byte write to 0xcf8 also latches CONFIG_ADDRESS for PCI
 * config routing), or to nobody (reads all ones).
 * @param d the domain.
 * @param vcpu vCPU index.
 * @param port the I/O port.
 * @param size 1, 2 or 4.
 * @param is_write non-zero for OUT.
 * @param[in,out] value OUT: the data written; IN: receives the data.
 * @return an enum hv_vcpu_status (>= 0), or a negative errno.
 * @retval -EOPNOTSUPP the domain's arch has no port I/O (Arm64, RISC-V).
 * @retval -EINVAL @p d or @p value is NULL; @p vcpu is out of range;
 *         @p size is not 1, 2 or 4.
 * @retval -ESHUTDOWN the domain is stopped.
 * @retval -EBUSY the vCPU waits for a device model's response.
 * @retval -EPROTO a device model broke the ioreq protocol; the domain is stopped.
 * @retval -EIO an internal inconsistency; the domain is stopped. */
int hv_vcpu_pio(hv_domain *d, uint32_t vcpu, uint16_t port, uint32_t size, int is_write,
                uint64_t *value) HV_NOEXCEPT; /* -EOPNOTSUPP on arm64 and riscv64 */
/** @ingroup hv_vcpu
 * @brief Executes one guest instruction (its encoded bytes) on the vCPU's
 * registers, through stage 2; on #HV_VCPU_DONE the registers (hv_vcpu_get_reg)
 * hold its result.
 * @param d the domain.
 * @param vcpu vCPU index.
 * @param insn the instruction's bytes (x86: 1..15; Arm64: one 4-byte A64
 *        word; RISC-V: one 4-byte instruction, little-endian).
 * @param len bytes at @p insn, 1 up to the ISA's longest instruction (x86
 *        15, Arm64 4, RISC-V 4).
 * @return an enum hv_vcpu_status (>= 0; #HV_VCPU_GUEST_FAULT also for an
 *         instruction the emulator does not know), or a negative errno.
 * @retval -EINVAL @p d or @p insn is NULL; @p vcpu is out of range; @p len
 *         is 0 or above the ISA's longest instruction (x86 15, Arm64 4,
 *         RISC-V 4).
 * @retval -ESHUTDOWN the domain is stopped.
 * @retval -EBUSY the vCPU waits for a device model's response.
 * @retval -EPROTO a device model broke the ioreq protocol; the domain is stopped.
 * @retval -EIO an internal inconsistency; the domain is stopped. */
int hv_vcpu_exec(hv_domain *d, uint32_t vcpu, const void *insn, size_t len) HV_NOEXCEPT; /* one guest instruction */
/** @ingroup hv_vcpu
 * @brief Reads one of the vCPU's registers.
 * @param d the domain.
 * @param vcpu vCPU index.
 * @param reg enum hv_reg_x86, enum hv_reg_arm64 or enum hv_reg_riscv64 (by
 *        the domain's arch),
 *        or a vector half: HV_REG_XMM_LO / HV_REG_XMM_HI (x86),
 *        HV_REG_V_LO / HV_REG_V_HI (Arm64).
 * @param[out] value receives the register.
 * @return 0, or a negative errno.
 * @retval -EINVAL @p d or @p value is NULL; @p vcpu is out of range;
 *         @p reg is not a register id of the domain's arch.
 * @note Works on a stopped domain and on a vCPU waiting for a response. */
int hv_vcpu_get_reg(hv_domain *d, uint32_t vcpu, uint32_t reg, uint64_t *value) HV_NOEXCEPT;
/** @ingroup hv_vcpu
 * @brief Writes one of the vCPU's registers.
 * @param d the domain.
 * @param vcpu vCPU index.
 * @param reg a register id, as for hv_vcpu_get_reg.
 * @param value the new value.
 * @return 0, or a negative errno; nothing changes on failure.
 * @retval -EINVAL @p d is NULL; @p vcpu is out of range; @p reg is not a
 *         register id of the domain's arch.
 * @retval -ESHUTDOWN the domain is stopped.
 * @retval -EBUSY the vCPU waits for a device model's response (its
 *         instruction is half done). */
int hv_vcpu_set_reg(hv_domain *d, uint32_t vcpu, uint32_t reg, uint64_t value) HV_NOEXCEPT;
/** @ingroup hv_vcpu
 * @brief Continues the instruction that returned #HV_VCPU_IOREQ_PENDING:
 * takes the device model's response from the slot (data of a read, slot
 * back to NONE) and re-executes, replaying what already completed.
 *
 * A slot still READY or INPROCESS gives #HV_VCPU_IOREQ_PENDING again (call
 * later). A slot the device model set back to NONE without a response, or
 * a server destroyed meanwhile, completes the access (a read gets all ones).
 * @param d the domain.
 * @param vcpu vCPU index.
 * @param[out] value for a load or IN, receives the data on #HV_VCPU_DONE
 *        (may be NULL otherwise).
 * @return an enum hv_vcpu_status (>= 0: the next piece of the same
 *         instruction may be pending again), or a negative errno.
 * @retval -EINVAL @p d is NULL; @p vcpu is out of range; nothing is pending
 *         on the vCPU.
 * @retval -ESHUTDOWN the domain is stopped.
 * @retval -EPROTO the device model moved the slot's state backwards
 *         (INPROCESS to READY) or wrote a state above IORESP_READY (Xen
 *         XSA-262); the domain is now stopped.
 * @retval -EIO an internal inconsistency; the domain is stopped. */
int hv_vcpu_resume(hv_domain *d, uint32_t vcpu, uint64_t *value) HV_NOEXCEPT; /* after the response */

/** @ingroup hv_vcpu
 * @brief x86 register ids for hv_vcpu_get_reg / hv_vcpu_set_reg: the 16
 * general-purpose registers in their ModRM encoding order, then RIP and
 * RFLAGS (XMM halves: HV_REG_XMM_LO). */
enum hv_reg_x86 {
    HV_REG_RAX = 0, HV_REG_RCX = 1, HV_REG_RDX = 2, HV_REG_RBX = 3,
    HV_REG_RSP = 4, HV_REG_RBP = 5, HV_REG_RSI = 6, HV_REG_RDI = 7,
    HV_REG_R8 = 8, HV_REG_R9 = 9, HV_REG_R10 = 10, HV_REG_R11 = 11,
    HV_REG_R12 = 12, HV_REG_R13 = 13, HV_REG_R14 = 14, HV_REG_R15 = 15,
    HV_REG_RIP = 16, HV_REG_RFLAGS = 17
};
/** @ingroup hv_vcpu
 * @brief Arm64 register ids for hv_vcpu_get_reg / hv_vcpu_set_reg: X0..X30
 * as their numbers, then SP (SP_EL1 of the guest) and PC (SIMD&FP
 * halves: HV_REG_V_LO). */
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
/** @ingroup hv_vcpu
 * @brief RISC-V register ids for hv_vcpu_get_reg / hv_vcpu_set_reg
 * (#HV_ARCH_RISCV64, since 1.2.0): x0..x31 as their numbers, then the pc.
 * x0 reads as 0 and writes to it are dropped. */
enum hv_reg_riscv64 {
    HV_REG_RV_X0 = 0,   /**< x0 (zero): reads 0 */
    HV_REG_RV_X1 = 1,   /**< x1 (ra) */
    HV_REG_RV_X2 = 2,   /**< x2 (sp) */
    HV_REG_RV_X3 = 3,   /**< x3 (gp) */
    HV_REG_RV_X4 = 4,   /**< x4 (tp) */
    HV_REG_RV_X5 = 5,   /**< x5 (t0) */
    HV_REG_RV_X6 = 6,   /**< x6 (t1) */
    HV_REG_RV_X7 = 7,   /**< x7 (t2) */
    HV_REG_RV_X8 = 8,   /**< x8 (s0/fp) */
    HV_REG_RV_X9 = 9,   /**< x9 (s1) */
    HV_REG_RV_X10 = 10, /**< x10 (a0): the address of hv_vcpu_store / hv_vcpu_load */
    HV_REG_RV_X11 = 11, /**< x11 (a1): their data */
    HV_REG_RV_X12 = 12, /**< x12 (a2) */
    HV_REG_RV_X13 = 13, /**< x13 (a3) */
    HV_REG_RV_X14 = 14, /**< x14 (a4) */
    HV_REG_RV_X15 = 15, /**< x15 (a5) */
    HV_REG_RV_X16 = 16, /**< x16 (a6) */
    HV_REG_RV_X17 = 17, /**< x17 (a7) */
    HV_REG_RV_X18 = 18, /**< x18 (s2) */
    HV_REG_RV_X19 = 19, /**< x19 (s3) */
    HV_REG_RV_X20 = 20, /**< x20 (s4) */
    HV_REG_RV_X21 = 21, /**< x21 (s5) */
    HV_REG_RV_X22 = 22, /**< x22 (s6) */
    HV_REG_RV_X23 = 23, /**< x23 (s7) */
    HV_REG_RV_X24 = 24, /**< x24 (s8) */
    HV_REG_RV_X25 = 25, /**< x25 (s9) */
    HV_REG_RV_X26 = 26, /**< x26 (s10) */
    HV_REG_RV_X27 = 27, /**< x27 (s11) */
    HV_REG_RV_X28 = 28, /**< x28 (t3) */
    HV_REG_RV_X29 = 29, /**< x29 (t4) */
    HV_REG_RV_X30 = 30, /**< x30 (t5) */
    HV_REG_RV_X31 = 31, /**< x31 (t6) */
    HV_REG_RV_PC = 32   /**< pc */
};

/** @ingroup hv_vcpu
 * @brief The hardware's own record of the last stage-2 fault of a vCPU
 * (hv_vcpu_last_fault), in the arch's own terms. */
typedef struct hv_fault_record {
    uint32_t size;     /**< sizeof(hv_fault_record), set by the caller; smaller is -EINVAL */
    uint32_t arch;     /**< enum hv_arch */
    uint32_t kind;     /**< VMX exit reason (48 EPT violation, 49 EPT misconfiguration); SVM exit code (0x400 NPF); Arm64 ESR_EL2.EC; RISC-V scause (20 instruction, 21 load, 23 store/AMO guest-page fault) */
    uint32_t insn_len; /**< SVM decode-assist bytes provided, else 0 */
    uint64_t syndrome; /**< VMX exit qualification; SVM EXITINFO1; ESR_EL2; RISC-V htinst (0, or the transformed load/store) */
    uint64_t gpa;      /**< VMX guest-physical address; SVM EXITINFO2; Arm64 HPFAR_EL2; RISC-V htval (the guest-physical address >> 2) */
    uint64_t gva;      /**< VMX guest-linear address (when valid); FAR_EL2; RISC-V stval (the guest virtual address) */
    uint8_t insn[16];  /**< SVM decode-assist bytes (AMD APM Vol. 2, 15.33 "Decode Assists") */
} hv_fault_record;
/** @ingroup hv_vcpu
 * @brief The hardware's record of the stage-2 fault the vCPU's last call
 * took (the first, if the call faulted more than once).
 * @param d the domain.
 * @param vcpu vCPU index.
 * @param[in,out] out @p out->size set by the caller; receives the record
 *        (every field but size).
 * @return 0, or a negative errno.
 * @retval -EINVAL @p d or @p out is NULL; @p out->size is smaller than
 *         sizeof(hv_fault_record); @p vcpu is out of range.
 * @retval -ENOENT the vCPU's last access raised no fault. */
int hv_vcpu_last_fault(hv_domain *d, uint32_t vcpu, hv_fault_record *out) HV_NOEXCEPT;

/* --- extensions of the original interface (still HVCORE_1.0) --- */

/** @ingroup hv_vcpu
 * @brief x86 SSE registers for hv_vcpu_get_reg / hv_vcpu_set_reg: XMMn is
 * two 64-bit halves, bits 63:0 at HV_REG_XMM_LO(n) = 64 + 2n and bits
 * 127:64 at HV_REG_XMM_HI(n) = 65 + 2n, n = 0..15 (ids 64..95; the
 * MOVD/MOVQ/MOVDQA/MOVDQU/MOVAPS/MOVUPS family reads and writes them).
 * Other ids in 18..63 and above 95 are -EINVAL on x86. */
#define HV_REG_XMM_BASE 64u
/** @ingroup hv_vcpu
 * @brief Register id of bits 63:0 of XMM @p n (0..15). */
#define HV_REG_XMM_LO(n) (HV_REG_XMM_BASE + 2u * (n)) /* unsigned arithmetic, no cast: usable from C++ */
/** @ingroup hv_vcpu
 * @brief Register id of bits 127:64 of XMM @p n (0..15). */
#define HV_REG_XMM_HI(n) (HV_REG_XMM_BASE + 2u * (n) + 1u)

/** @ingroup hv_domain
 * @brief Why the domain was stopped: 0 and an empty string while it runs, 1
 * and a NUL-terminated reason once it has been stopped (for example by a
 * device model protocol violation). Calls on a stopped domain return
 * -ESHUTDOWN; a stop is final (destroy the domain).
 * @param d the domain.
 * @param[out] buf receives the reason, truncated to @p len - 1 bytes and
 *        NUL-terminated (nothing is written when @p len is 0).
 * @param len size of @p buf.
 * @return 0 (running) or 1 (stopped), or a negative errno.
 * @retval -EINVAL @p d is NULL; @p buf is NULL and @p len is not 0. */
int hv_domain_stop_reason(hv_domain *d, char *buf, size_t len) HV_NOEXCEPT;
/** @ingroup hv_domain
 * @brief The domain with this id on this host, or NULL.
 * @param host the host (NULL gives NULL).
 * @param domid a domain id (hv_domain_id).
 * @return the domain (owned by the host), or NULL if the host has none with
 *         that id. */
hv_domain *hv_domain_lookup(hv_host *host, hvdm_domid_t domid) HV_NOEXCEPT;
/** @ingroup hv_vcpu
 * @brief An instruction fetch of the byte at gpa through stage 2:
 * #HV_VCPU_DONE if the entry allows execution, #HV_VCPU_GUEST_FAULT (with
 * the gpa in the detail, hv_vcpu_fault_detail) if not - never an endless
 * re-fault (a lazily recalculated entry is resolved first).
 * @param d the domain.
 * @param vcpu vCPU index.
 * @param gpa guest-physical address of the byte.
 * @return #HV_VCPU_DONE or #HV_VCPU_GUEST_FAULT, or a negative errno.
 * @retval -EINVAL @p d is NULL; @p vcpu is out of range.
 * @retval -ESHUTDOWN the domain is stopped.
 * @retval -EBUSY the vCPU waits for a device model's response.
 * @retval -EIO the misconfiguration persists (a backend bug); the domain is
 *         now stopped. */
int hv_vcpu_fetch(hv_domain *d, uint32_t vcpu, uint64_t gpa) HV_NOEXCEPT;
/** @ingroup hv_vcpu
 * @brief Why the vCPU's last call returned #HV_VCPU_GUEST_FAULT (it names
 * the instruction or the gpa); -ENOENT if it did not.
 * @param d the domain.
 * @param vcpu vCPU index (one out of range has no detail: -ENOENT).
 * @param[out] buf receives the text, truncated to @p len - 1 bytes and
 *        NUL-terminated; an empty string with -ENOENT (nothing is written
 *        when @p len is 0).
 * @param len size of @p buf.
 * @return 0, or a negative errno.
 * @retval -EINVAL @p d is NULL; @p buf is NULL and @p len is not 0.
 * @retval -ENOENT the vCPU's last call did not return #HV_VCPU_GUEST_FAULT,
 *         or @p vcpu is out of range. */
int hv_vcpu_fault_detail(hv_domain *d, uint32_t vcpu, char *buf, size_t len) HV_NOEXCEPT;

/** @ingroup hv_vcpu
 * @brief Arm64 SIMD&FP registers for hv_vcpu_get_reg / hv_vcpu_set_reg, as
 * the x86 XMM ids: Vn is bits 63:0 at HV_REG_V_LO(n) = 64 + 2n and bits
 * 127:64 at HV_REG_V_HI(n) = 65 + 2n, n = 0..31 (ids 64..127; the SIMD&FP
 * loads and stores, B/H/S/D/Q, read and write them). */
#define HV_REG_V_BASE 64u
/** @ingroup hv_vcpu
 * @brief Register id of bits 63:0 of V @p n (0..31). */
#define HV_REG_V_LO(n) (HV_REG_V_BASE + 2u * (n)) /* unsigned arithmetic, no cast: usable from C++ */
/** @ingroup hv_vcpu
 * @brief Register id of bits 127:64 of V @p n (0..31). */
#define HV_REG_V_HI(n) (HV_REG_V_BASE + 2u * (n) + 1u)

/** @ingroup hv_vcpu
 * @brief A vCPU status (beside enum hv_vcpu_status), returned by the vCPU
 * calls of a domain created with #HV_DOMAIN_ARM64_REPORT_UNDECODED: a
 * stage-2 data abort hvcore could not emulate (ISV = 0 and an instruction
 * it does not decode, such as a store-exclusive). Nothing happened:
 * registers (PC included) and memory are as before the call, no ioreq was
 * sent. The caller may emulate the instruction itself (hv_guest_write,
 * hv_vcpu_set_reg, PC + 4) or treat it as the guest's abort;
 * hv_vcpu_arm64_undecoded gives the facts. */
#define HV_VCPU_UNDECODED 4

/** @ingroup hv_vcpu
 * @brief What the last #HV_VCPU_UNDECODED was about (KVM_EXIT_ARM_NISV
 * carries the same facts). */
typedef struct hv_arm64_undecoded {
    uint32_t size; /**< sizeof(hv_arm64_undecoded): lets the struct grow; set by the caller */
    uint32_t insn; /**< the A64 instruction word at pc */
    uint64_t pc;   /**< the instruction's address (it did not complete) */
    uint64_t esr;  /**< ESR_EL2 of the data abort (EC 0x24, ISV = 0) */
    uint64_t far;  /**< FAR_EL2 */
    uint64_t hpfar; /**< HPFAR_EL2 */
    uint64_t ipa;  /**< faulting IPA: HPFAR_EL2.FIPA page | FAR_EL2[11:0] */
} hv_arm64_undecoded;
/** @ingroup hv_vcpu
 * @brief What the vCPU's last #HV_VCPU_UNDECODED was about.
 * @param d the domain (Arm64).
 * @param vcpu vCPU index.
 * @param[in,out] out @p out->size set by the caller; receives the facts
 *        (every field but size).
 * @return 0, or a negative errno.
 * @retval -EINVAL @p d or @p out is NULL; @p out->size is smaller than
 *         sizeof(hv_arm64_undecoded); the domain is not Arm64; @p vcpu is
 *         out of range.
 * @retval -ENOENT the vCPU's last call did not return #HV_VCPU_UNDECODED. */
int hv_vcpu_arm64_undecoded(hv_domain *d, uint32_t vcpu, hv_arm64_undecoded *out) HV_NOEXCEPT;

/** @ingroup hv_p2m
 * @brief Size of hv_p2m_walk::level: the deepest walk (x86 4-level, Arm64
 * levels 0..3, with a margin). */
#define HV_P2M_WALK_MAX_LEVELS 5
/** @ingroup hv_p2m
 * @brief One entry a stage-2 walk read (hv_p2m_walk::level). */
typedef struct hv_p2m_walk_level {
    uint64_t entry; /**< the raw entry, as stored */
    uint64_t table; /**< host-physical address of the table that holds it */
    uint32_t index; /**< its index in that table (Arm64 concatenated root, RISC-V 16 KiB root: 0 .. 512*root_frames-1) */
    int32_t level;  /**< x86: 4 = PML4E, 3 = PDPTE, 2 = PDE, 1 = PTE; Arm64: lookup level 0..3; RISC-V: i of the translation process, 0 = 4 KiB PTE */
} hv_p2m_walk_level;
/** @ingroup hv_p2m
 * @brief The stage-2 walk for one gfn (hv_p2m_read_walk). */
typedef struct hv_p2m_walk {
    uint32_t size;        /**< sizeof(hv_p2m_walk), set by the caller */
    uint32_t arch;        /**< enum hv_arch */
    uint32_t nr_levels;   /**< level[0 .. nr_levels) filled, root first */
    uint32_t root_frames; /**< 4 KiB frames of the root table: 1 on x86, 1..16 on Arm64 (concatenated), 4 on RISC-V */
    uint64_t root;        /**< host-physical address of the root table */
    uint64_t config;      /**< VMX: the EPTP; SVM: nCR3; Arm64: VTCR_EL2; RISC-V: hgatp */
    hv_p2m_walk_level level[HV_P2M_WALK_MAX_LEVELS]; /**< the entries read, root first */
} hv_p2m_walk;
/** @ingroup hv_p2m
 * @brief The stage-2 walk for one gfn, for checking the tables against
 * another implementation of the hardware (the oracle tests load them into
 * QEMU and Bochs): every entry the walk reads, root first, down to the one
 * that decides the gfn (a leaf, or the first entry that is absent or not
 * present), exactly as stored.
 *
 * Read-only: no lazy recalculation is resolved and no accessed/dirty bit
 * set. A table entry carrying a recalculation mark is followed: the
 * hardware stops at it (EPT misconfiguration, NPT reserved/user fault,
 * Arm64 translation fault, RISC-V guest-page fault) and the entries below
 * are what it reaches once the mark is resolved.
 * @param d the domain.
 * @param gfn guest frame number.
 * @param[in,out] out @p out->size set by the caller; receives the walk
 *        (size set to sizeof(hv_p2m_walk)).
 * @return 0, or a negative errno; @p out is unchanged on failure.
 * @retval -EINVAL @p d or @p out is NULL; @p out->size is smaller than
 *         sizeof(hv_p2m_walk); @p gfn is beyond the table's reach.
 * @note Thread-safe. */
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
 * them), on the thread whose hv_* or hvdm_* call made the message, after
 * that call's work is done and before it returns, with none of the
 * library's internal locks held: fn may call any hv_* or hvdm_* function
 * (hv_host_set_log included; a message such a call makes is delivered
 * before that call returns). Keep it short: the caller waits. A new call
 * replaces the previous sink; once it returns, the previous sink is no
 * longer called (a delivery in progress on another thread is waited for),
 * nor is any sink once hv_host_destroy has returned.
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

/* --- HVCORE_1.3 (hvcore 1.3.0): what the device models' interrupts did --- */

/** @ingroup hv_domain
 * @brief The domain's interrupt lines as the device models' interrupt
 * DMOPs left them (hv_domain_irq_state): Xen's bookkeeping
 * (xen/arch/x86/hvm/irq.c: pci_intx, isa_irq, pci_link.route,
 * pci_link_assert_count, gsi_assert_count), the MSIs accepted, and the SPI
 * lines of an arm64 or riscv64 domain. On the model vCPUs this is all the
 * "interrupt controller" there is; a host with its own (KVM with
 * `hvcore run --irqchip`) gets every edge as well. */
typedef struct hv_irq_state {
    uint32_t size;                 /**< sizeof(hv_irq_state), set by the caller */
    uint32_t isa_irq_levels;       /**< bit n: ISA irq n asserted (hvdm_set_isa_irq_level) */
    uint32_t pci_intx[4];          /**< bit (device * 4 + intx) of the 128: INTx asserted (hvdm_set_pci_intx_level) */
    uint8_t link_route[4];         /**< PCI link 0..3 -> ISA irq, 0 = off (hvdm_set_pci_link_route) */
    uint8_t link_assert_count[4];  /**< asserted INTx lines behind each link */
    uint8_t gsi_assert_count[48];  /**< per GSI: the lines that hold it up (ISA irq n -> GSI n, 0 -> 2; INTx -> 16..47) */
    uint64_t msi_count;            /**< MSIs accepted (hvdm_inject_msi returned 0) */
    uint64_t last_msi_addr;        /**< the last one's address */
    uint32_t last_msi_data;        /**< the last one's data */
    uint32_t nr_spis;              /**< SPIs a set_irq_level may drive: 960 (INTIDs 32..991) on arm64 and riscv64, 0 on x86 */
    uint32_t spi_level[32];        /**< bit (n % 32) of word n / 32: the line of INTID n is high (hvdm_set_irq_level) */
} hv_irq_state;
/** @ingroup hv_domain
 * @brief Reads the domain's interrupt lines (hv_irq_state): what the
 * device models raised, lowered, routed and sent, after Xen's counting.
 * @param d the domain.
 * @param[in,out] out @p out->size set by the caller; receives the state
 *        (size set to sizeof(hv_irq_state)).
 * @return 0, or a negative errno; @p out is unchanged on failure.
 * @retval -EINVAL @p d or @p out is NULL; @p out->size is smaller than
 *         sizeof(hv_irq_state).
 * @note Thread-safe; works on a stopped domain too. */
int hv_domain_irq_state(hv_domain *d, hv_irq_state *out) HV_NOEXCEPT;

/** @ingroup hv_domain
 * @brief What the interrupt DMOPs delivered to one vCPU
 * (hv_vcpu_irq_stats). On the model vCPUs an accepted hvdm_inject_msi
 * reaches the vCPUs whose LAPIC Xen's vlapic_match_dest accepts
 * (xen/arch/x86/hvm/vmsi.c vmsi_deliver); the model's LAPICs are enabled,
 * vCPU i has the physical APIC ID 2 * i (as Xen's vlapic), LDR 0 and PPR 0:
 * - Fixed, physical destination 2 * i: vCPU i only; 0xff: every vCPU;
 *   any other ID, or logical mode: no vCPU (the DMOP still returns 0 and
 *   hv_irq_state.msi_count counts it, as in Xen);
 * - LowestPrio: one vCPU, chosen as vlapic_lowest_prio does with equal
 *   PPRs: the first match after the vCPU that got the previous LowestPrio
 *   MSI (round robin, starting after vCPU 0); no match is -ESRCH.
 * A rejected MSI reaches no vCPU. With a host interrupt controller (KVM
 * with `hvcore run --irqchip`) the kernel delivers and these counts stay 0.
 * Arm64 and RISC-V: the model does not route SPIs to vCPUs (the lines are
 * in hv_irq_state.spi_level), so the counts stay 0 there. */
typedef struct hv_vcpu_irq_stats {
    uint32_t size;        /**< sizeof(hv_vcpu_irq_stats), set by the caller */
    uint32_t last_vector; /**< the vector of the last MSI delivered to the vCPU; 0: none yet */
    uint64_t msi_count;   /**< MSIs delivered to the vCPU */
} hv_vcpu_irq_stats;
/** @ingroup hv_domain
 * @brief Reads what the interrupt DMOPs delivered to vCPU @p vcpu
 * (hv_vcpu_irq_stats) (since 1.3).
 * @param d the domain.
 * @param vcpu vCPU index.
 * @param[in,out] out @p out->size set by the caller; receives the state
 *        (size set to sizeof(hv_vcpu_irq_stats)).
 * @return 0, or a negative errno; @p out is unchanged on failure.
 * @retval -EINVAL @p d or @p out is NULL; @p out->size is smaller than
 *         sizeof(hv_vcpu_irq_stats); @p vcpu is out of range.
 * @note Thread-safe; works on a stopped domain too. */
int hv_vcpu_irq_state(hv_domain *d, uint32_t vcpu, hv_vcpu_irq_stats *out) HV_NOEXCEPT;

/* ---- hvcore 1.3 ------------------------------------------------------- */

/** @defgroup hv_dm_listen Device models in other processes
 * @brief A host serves device-model processes over a UNIX socket; each
 * connects with hvdm_connect (hvdm.h) and then uses every hvdm_* call as
 * in-process, with the same errnos.
 * @{ */

/** A listening socket serving device models (hv_dm_listen). */
typedef struct hv_dm_listener hv_dm_listener;

/** What happened to a connection of a listener (hv_dm_event.kind). */
enum {
    HV_DM_EVENT_CONNECTED = 1, /**< accepted (its uid allowed) and served from now on */
    HV_DM_EVENT_READY = 2,     /**< the device model called hvdm_ready: its setup is complete */
    HV_DM_EVENT_GONE = 3       /**< the connection ended; its servers are destroyed (reason says why) */
};

/** One event of a connection, for hv_dm_listen_config.event. */
typedef struct hv_dm_event {
    uint32_t size;       /**< sizeof(hv_dm_event) as the library was built (the struct may grow) */
    uint32_t kind;       /**< HV_DM_EVENT_* */
    int32_t pid;         /**< the peer process (SO_PEERCRED at connect time) */
    uint32_t uid;        /**< the peer's uid */
    uint32_t connection; /**< the listener's number for the connection, from 1 */
    uint32_t emulator;   /**< the connection's emulator identity */
    const char *reason;  /**< GONE: why, as logged ("hung up", "said goodbye", ...); else NULL */
} hv_dm_event;

/** Who may connect (hv_dm_listen), and who is told what they do. The
 * struct may grow: set size to sizeof(hv_dm_listen_config). A size of 16
 * (the struct without event and opaque, as first published) is accepted. */
typedef struct hv_dm_listen_config {
    uint32_t size;        /**< sizeof(hv_dm_listen_config) */
    uint32_t nr_uids;     /**< entries in uids; 0: only this process's real uid (getuid()) */
    const uint32_t *uids; /**< the peer uids (SO_PEERCRED) allowed to connect */
    /** Optional (may be NULL): called for each event of each connection,
     * on that connection's thread, in order for one connection (CONNECTED,
     * at most one READY, GONE last). @p ev is valid during the call only.
     * It must return promptly and must not call hv_dm_listener_close;
     * any other call is allowed. `hvcore run --dm-exec` starts the guest
     * once every device model it started is READY. */
    void (*event)(void *opaque, const hv_dm_event *ev);
    void *opaque;         /**< event's first argument */
} hv_dm_listen_config;

/**
 * @brief Listens on a UNIX socket (SOCK_SEQPACKET) at @p path for device
 * models in other processes (hvdm_connect).
 *
 * A stale socket at @p path (one that refuses connections: no process
 * listens on it) is replaced; a socket with a live listener is left to it
 * (-EADDRINUSE). The new socket has mode 0600 before it listens (chmod(2);
 * the process's umask is not changed). Each
 * connection's peer credentials (SO_PEERCRED) are checked against the
 * allowed uids: a peer not allowed is logged ("device model pid P uid U
 * refused (allowed uids: ...)", HV_LOG_WARNING) and its connection closed,
 * so its hvdm_connect fails (ECONNREFUSED). Each accepted connection is one
 * emulator identity (as one hvdm_open): another connection's servers are
 * -EPERM, and hvdm_restrict binds it. It is served by a thread of its own,
 * which calls the in-process code: every errno is the in-process one.
 *
 * A connection that hangs up (the process exited or was killed, or it
 * closed the socket), or sent a message the stream cannot be trusted after
 * (a truncated header, a bad magic, a request before HELLO), is logged
 * with the reason through hv_host_set_log's sink (HV_LOG_WARNING) and
 * treated as hvdm_close: its servers are destroyed, their ranges released,
 * a claimed type disclaimed, and a vCPU waiting on one of them completes
 * (a read gets all ones). A malformed message with a readable header gets
 * its errno in the reply and changes nothing; the connection goes on.
 * Connections, READY (hvdm_ready) and goodbyes are logged at HV_LOG_INFO,
 * and reported to cfg->event when it is set (HV_DM_EVENT_*). Descriptors
 * already sent (ioreq pages, eventfds) stay valid in the device model.
 *
 * Lifetime: the listener holds the host's core, not the host. The host may
 * be destroyed first (hv_host_destroy does not wait for listeners): its
 * connections' calls are then -ENODEV, as for an in-process handle, and
 * nothing is logged. hv_dm_listener_close must still be called.
 * @param host the host served.
 * @param path the socket's path (shorter than sun_path, 108 bytes).
 * @param cfg who may connect, or NULL: only getuid().
 * @param[out] out receives the listener.
 * @return 0, or a negative errno (nothing is created).
 * @retval -EINVAL @p host, @p path or @p out NULL, @p path empty, cfg->size
 * too small (below 16), or nr_uids != 0 with uids NULL.
 * @retval -ENAMETOOLONG @p path does not fit in a sockaddr_un.
 * @retval -EADDRINUSE a file other than a socket is at @p path, or a
 *         socket that a live listener (this process's or another's)
 *         accepts connections on.
 * @retval other bind(2), chmod(2), listen(2), eventfd(2) errors (after a
 *         failure past bind the new socket file is removed again).
 * @note Thread-safe.
 */
int hv_dm_listen(hv_host *host, const char *path, const hv_dm_listen_config *cfg,
                 hv_dm_listener **out) HV_NOEXCEPT;
/**
 * @brief Stops listening, closes every connection (each as hvdm_close: its
 * servers are destroyed; the device model's next call is -ENODEV), waits
 * for their threads, unlinks the socket and frees the listener. It never
 * waits for a device model: a connection's thread only ever blocks on its
 * socket together with the listener's stop descriptor.
 * @param l the listener; NULL does nothing.
 * @note Not from the log sink nor from the listener's event callback
 *       (hv_dm_listen_config.event): both run on a connection's thread,
 *       which this call joins, so it would wait for itself. May come
 *       before or after hv_host_destroy of the listener's host.
 */
void hv_dm_listener_close(hv_dm_listener *l) HV_NOEXCEPT;
/** @} */

/* --- HVCORE_1.6 (hvcore 1.6.0): log-dirty mode for migration --- */

/** @defgroup hv_log_dirty Log-dirty mode (migration)
 * Xen's log-dirty mode (XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY, _CLEAN,
 * _PEEK, _OFF; xen/arch/x86/mm/paging.c) for a toolstack that migrates the
 * guest: one bit per RAM page, set when the page is written by the guest
 * (its first write after a clean faults once, on every backend: the core
 * write-protects RAM, ram_rw -> ram_logdirty, lazily; on KVM the host's
 * dirty log, KVM_GET_DIRTY_LOG, is used instead), by hvcore on the guest's
 * behalf (emulated stores, REP into RAM, hv_guest_write), by a device model
 * answering a REP read into RAM, or by the guest to a claimed ioreq_server
 * page (forwarded to its owner and marked: Xen refuses the mode while such
 * pages are outstanding, -EBUSY). Pages a device model writes through its
 * own mapping are marked when it says so (hvdm_modified_memory).
 * @{ */

/** @brief hv_log_dirty_read flag: clear the bits read and write-protect
 * their pages again (XEN_DOMCTL_SHADOW_OP_CLEAN); without it the bitmap
 * is only read (_PEEK). */
#define HV_LOG_DIRTY_CLEAN 1u

/**
 * @brief Starts log-dirty mode: every page starts clean.
 * @param d the domain.
 * @return 0, or a negative errno.
 * @retval -EINVAL @p d is NULL; the mode is already on (Xen's
 *         paging_log_dirty_enable).
 * @retval -ESHUTDOWN the domain is stopped.
 * @retval -ENOMEM no memory for the bitmap.
 * @retval other the host's dirty log could not be started (KVM: the errno
 *         of KVM_SET_USER_MEMORY_REGION). */
int hv_log_dirty_enable(hv_domain *d) HV_NOEXCEPT;
/**
 * @brief Stops log-dirty mode and frees its bitmap; every write-protected
 * page becomes writable again (lazily). 0 also when it was off.
 * @param d the domain.
 * @return 0, or a negative errno.
 * @retval -EINVAL @p d is NULL.
 * @retval -ESHUTDOWN the domain is stopped. */
int hv_log_dirty_disable(hv_domain *d) HV_NOEXCEPT;
/**
 * @brief Reads the bitmap of [@p first_gfn, @p first_gfn + @p nr): bit i
 * of byte i / 8 (least significant first) is page @p first_gfn + i; bits
 * past @p nr in the last byte are 0. With #HV_LOG_DIRTY_CLEAN the bits are
 * cleared and their pages write-protected again, so the next read shows
 * only what is written after this one.
 * @param d the domain.
 * @param first_gfn the first page.
 * @param nr pages (> 0), all RAM.
 * @param[out] bitmap (@p nr + 7) / 8 bytes at least; written on success only.
 * @param bitmap_bytes its size.
 * @param flags 0 or #HV_LOG_DIRTY_CLEAN.
 * @return 0, or a negative errno; nothing changes on an error.
 * @retval -EINVAL @p d or @p bitmap is NULL; @p flags has an unknown bit;
 *         @p bitmap_bytes < (@p nr + 7) / 8; @p nr is 0; the range goes
 *         past the last RAM page; log-dirty mode is off.
 * @retval -ESHUTDOWN the domain is stopped.
 * @retval -ENOMEM no memory for the tables of the re-protection.
 * @retval other the host's dirty log could not be read (KVM: the errno of
 *         KVM_GET_DIRTY_LOG). */
int hv_log_dirty_read(hv_domain *d, uint64_t first_gfn, uint64_t nr, void *bitmap, size_t bitmap_bytes,
                      unsigned int flags) HV_NOEXCEPT;
/** @} */

#ifdef __cplusplus
}
#endif

#endif /* HVCORE_HV_H */

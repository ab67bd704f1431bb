// SPDX-License-Identifier: MIT
// The one list of p2m types (every switch over it is exhaustive), their classes, the legal
// changes between them and the permissions each allows. Every backend
// stores these values in its entries' software bits (RISC-V G-stage, with
// two: a code in RSW and X for a valid leaf, README.md "The p2m type on
// RISC-V") and switches over this enum without a default, so a new type
// breaks every backend until handled.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace hvcore {

// Values are Xen's x86 p2m_type_t (xen/arch/x86/include/asm/p2m.h) so a
// dump reads the same; the largest (15) fits the 4 software bits Arm64
// stage-2 descriptors have (bits 58:55).
enum class P2mType : uint8_t {
    ram_rw = 0,
    invalid = 1,       // hole with no frame; reads as mmio_dm to DMOPs
    ram_logdirty = 2,  // RAM whose writes are being tracked
    ram_ro = 3,        // RAM, writes discarded (never routed, as Xen p2m_is_discard_write)
    mmio_dm = 4,       // emulated by a device model; also what an absent entry reads as
    mmio_direct = 5,   // a host device frame passed through
    ioreq_server = 15, // RAM whose writes go to the server that claimed the type
};

inline constexpr P2mType all_p2m_types[] = {
    P2mType::ram_rw, P2mType::invalid,     P2mType::ram_logdirty, P2mType::ram_ro,
    P2mType::mmio_dm, P2mType::mmio_direct, P2mType::ioreq_server,
};

[[nodiscard]] std::string_view to_string(P2mType t) noexcept;
// Decodes a value read back from an entry's software bits; nullopt for a
// value no type has (a corrupted entry).
// constexpr so the backends' entry decoders (constexpr too) can use it.
[[nodiscard]] constexpr std::optional<P2mType> p2m_type_from_raw(uint8_t raw) noexcept {
    for (P2mType t : all_p2m_types)
        if (static_cast<uint8_t>(t) == raw) return t;
    return std::nullopt;
}

// Type classes (Xen's P2M_*_TYPES groups).
[[nodiscard]] bool p2m_is_ram(P2mType t) noexcept;         // backed by guest RAM
[[nodiscard]] bool p2m_is_hole(P2mType t) noexcept;        // no frame: mmio_dm, invalid
[[nodiscard]] bool p2m_is_mmio(P2mType t) noexcept;        // mmio_dm, mmio_direct
[[nodiscard]] bool p2m_is_changeable(P2mType t) noexcept;  // subject to global recalculation
[[nodiscard]] bool p2m_has_frame(P2mType t) noexcept;      // entry maps an mfn

// allow_p2m_type_change (xen/arch/x86/hvm/dm.c): to ioreq_server only from
// ram_rw; from ioreq_server only to ram_rw; otherwise from any RAM type, or
// from a hole to mmio_dm.
[[nodiscard]] bool allow_p2m_type_change(P2mType from, P2mType to) noexcept;

// Neutral access rights of a stage-2 entry.
struct Perm {
    bool r = false;
    bool w = false;
    bool x = false;
    constexpr bool operator==(const Perm&) const noexcept = default;
};

// How the backend must describe the frame's memory (EPT memory type, Arm64
// MemAttr): cacheable RAM or a device.
enum class MemClass : uint8_t { normal, device };

// The claim flags of an ioreq server on the ioreq_server type (the
// HVDM_IOREQ_MEM_ACCESS_* values of hvdm.h, Xen's XEN_DMOP_IOREQ_MEM_ACCESS_*
// in xen/include/public/hvm/dm_op.h; WRITE_POSTED is hvcore's own).
inline constexpr uint32_t ioreq_claim_read = 1U << 0;
inline constexpr uint32_t ioreq_claim_write = 1U << 1;
inline constexpr uint32_t ioreq_claim_write_posted = 1U << 2;

// What the type allows, then what the claim of the entry's owner removes.
// The result is what every backend encodes, so permissions are identical on
// EPT, NPT, Arm64 and RISC-V G-stage.
[[nodiscard]] Perm p2m_type_perm(P2mType t) noexcept;
// The rights of an entry of type t whose owner's claim has these flags
// (ignored for every other type). ioreq_server: a READ claim takes every
// right (the entry stays, with its type and owner, and every access
// faults); a WRITE claim leaves r only; no claim (0: the claim ended and
// the entry is stale) leaves what the type allows, r w.
[[nodiscard]] Perm p2m_entry_perm(P2mType t, uint32_t owner_claim_flags) noexcept;
[[nodiscard]] MemClass p2m_mem_class(P2mType t) noexcept;

// p2m_recalc_type (asm/p2m.h) for the types hvcore has: an entry marked for
// recalculation keeps ioreq_server while its owner's claim stands
// (ioreq_claimed), otherwise a changeable type becomes ram_rw (hvcore has
// no global log-dirty mode yet).
[[nodiscard]] P2mType p2m_recalc_type(bool recalc_pending, P2mType t, bool ioreq_claimed) noexcept;

}  // namespace hvcore

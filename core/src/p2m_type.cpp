// SPDX-License-Identifier: MIT
#include "hvcore/core/p2m_type.hpp"

namespace hvcore {

std::string_view to_string(P2mType t) noexcept {
    switch (t) {
    case P2mType::ram_rw: return "ram_rw";
    case P2mType::invalid: return "invalid";
    case P2mType::ram_logdirty: return "ram_logdirty";
    case P2mType::ram_ro: return "ram_ro";
    case P2mType::mmio_dm: return "mmio_dm";
    case P2mType::mmio_direct: return "mmio_direct";
    case P2mType::ioreq_server: return "ioreq_server";
    }
    return "?";
}

bool p2m_is_ram(P2mType t) noexcept {
    switch (t) {
    case P2mType::ram_rw:
    case P2mType::ram_logdirty:
    case P2mType::ram_ro:
    case P2mType::ioreq_server: return true;
    case P2mType::invalid:
    case P2mType::mmio_dm:
    case P2mType::mmio_direct: return false;
    }
    return false;
}

bool p2m_is_hole(P2mType t) noexcept { return t == P2mType::mmio_dm || t == P2mType::invalid; }

bool p2m_is_mmio(P2mType t) noexcept { return t == P2mType::mmio_dm || t == P2mType::mmio_direct; }

bool p2m_is_changeable(P2mType t) noexcept {
    return t == P2mType::ram_rw || t == P2mType::ram_logdirty || t == P2mType::ioreq_server;
}

bool p2m_has_frame(P2mType t) noexcept { return p2m_is_ram(t) || t == P2mType::mmio_direct; }

bool allow_p2m_type_change(P2mType from, P2mType to) noexcept {
    // ram_logdirty is ram_rw write-protected for tracking: a device model
    // may claim such a page while a migration runs (Xen refuses: its
    // log-dirty mode and the type never coexist).
    if (to == P2mType::ioreq_server) return from == P2mType::ram_rw || from == P2mType::ram_logdirty;
    if (from == P2mType::ioreq_server) return to == P2mType::ram_rw;
    return p2m_is_ram(from) || (p2m_is_hole(from) && to == P2mType::mmio_dm);
}

Perm p2m_type_perm(P2mType t) noexcept {
    switch (t) {
    case P2mType::ram_rw: return {.r = true, .w = true, .x = true};
    // Log-dirty and read-only RAM: reads and fetches run, writes fault.
    case P2mType::ram_logdirty:
    case P2mType::ram_ro: return {.r = true, .w = false, .x = true};
    // Never executable: a fetch from a page whose writes a device model
    // mediates is a guest fault with the gpa (README.md, "Where hvcore
    // differs from Xen"), not a loop.
    case P2mType::ioreq_server: return {.r = true, .w = true, .x = false};
    // Device frames are not executable on any backend (Arm64 requires XN
    // for Device memory to be meaningful; x86 follows for sameness).
    case P2mType::mmio_direct: return {.r = true, .w = true, .x = false};
    case P2mType::invalid:
    case P2mType::mmio_dm: return {};
    }
    return {};
}

Perm p2m_entry_perm(P2mType t, uint32_t owner_claim_flags) noexcept {
    Perm p = p2m_type_perm(t);
    if (t != P2mType::ioreq_server) return p;
    if ((owner_claim_flags & ioreq_claim_read) != 0) return {};
    if ((owner_claim_flags & ioreq_claim_write) != 0) p.w = false;
    return p;
}

MemClass p2m_mem_class(P2mType t) noexcept {
    return t == P2mType::mmio_direct || p2m_is_hole(t) ? MemClass::device : MemClass::normal;
}

P2mType p2m_recalc_type(bool recalc_pending, P2mType t, bool ioreq_claimed, bool log_dirty) noexcept {
    if (!recalc_pending || !p2m_is_changeable(t)) return t;
    if (t == P2mType::ioreq_server && ioreq_claimed) return t;
    return log_dirty ? P2mType::ram_logdirty : P2mType::ram_rw;
}

}  // namespace hvcore

// SPDX-License-Identifier: MIT
// Private to core/src: the memory ports the instruction executor drives
// inside a lock hold (they hold the domain's token), and small helpers the
// parts of Domain share.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

#include "hvcore/core/domain.hpp"

namespace hvcore {

[[nodiscard]] inline int to_int(VcpuStatus s) noexcept { return static_cast<int>(s); }
// What Domain's public vCPU calls return (hv_vcpu_status or a negative
// errno): the core's drivers keep the two apart (Result<VcpuStatus>) up to
// this conversion.
[[nodiscard]] inline int to_int(const Result<VcpuStatus>& r) noexcept {
    return r.is_ok() ? to_int(r.value()) : r.status().code();
}
[[nodiscard]] inline bool is_done(const Result<VcpuStatus>& r) noexcept {
    return r.is_ok() && r.value() == VcpuStatus::done;
}

// The hypervisor after a fault: each access is cut as Xen cuts it, and each
// piece is routed (and logged for replay). Used by both drivers.
class Domain::EmulPort final : public MemPort {
public:
    EmulPort(Domain& d, const Locked& lk, VcpuState& v) : d_(d), lk_(lk), v_(v) { Expects(lk.owner() == &d); }

    MemStatus read(uint64_t addr, unsigned size, void* out, const AccessInfo& info) override {
        // Cache maintenance on an emulated region is ignored, as Xen does
        // (INSTR_CACHE); a footprint probe has nothing to emulate.
        if (info.no_data) return MemStatus::ok;
        return pieces(addr, size, false, static_cast<std::byte*>(out));
    }
    MemStatus write(uint64_t addr, unsigned size, const void* in, const AccessInfo& info) override {
        // A write-back of the value just read changes nothing; like Xen, the
        // emulator does not make it (no device model sees it).
        if (info.rewrites_read_value || info.no_data) return MemStatus::ok;
        return pieces(addr, size, true, static_cast<std::byte*>(const_cast<void*>(in)));
    }
    MemStatus pio(uint16_t port, unsigned size, bool is_write, uint64_t* value) override {
        held();
        return d_.emul_pio(lk_, v_, port, size, is_write, value);
    }
    RepResult rep(const RepAccess& a, const AccessInfo&) override {
        held();
        if (std::optional<RepResult> r = d_.emul_rep(lk_, v_, a)) return *r;
        // One element through the path of single accesses: it is the only
        // one, it straddles a page, or both sides are devices (Xen:
        // x86_emulate does one iteration by read and write when nr_reps is
        // 1 or hvmemul_rep_movs returns X86EMUL_UNHANDLEABLE). The guest
        // re-executes the instruction for the rest.
        std::array<std::byte, 8> buf{};
        MemStatus st = MemStatus::ok;
        if (a.kind == RepAccess::Kind::copy) {
            st = pieces(a.src, a.size, false, buf.data());
        } else {
            for (unsigned b = 0; b < a.size; ++b) buf[b] = static_cast<std::byte>(a.value >> (8 * b));
        }
        if (st == MemStatus::ok) st = pieces(a.dst, a.size, true, buf.data());
        return {st, st == MemStatus::ok ? 1u : 0u};
    }

private:
    // The port exists only inside the hold of lk_ (checked at construction).
    void held() const HV_ASSERT_CAPABILITY(d_.mu_) {}

    // Xen's cut (xen/arch/x86/hvm/emulate.c): linear_read/linear_write split
    // the access at the page boundary only; hvmemul_phys_mmio_access then
    // cuts each page's part into chunks of the largest power of two not
    // above its size, at most 8 (sizeof(long)), halving the chunk while it
    // exceeds what is left. No cut for alignment: 4 bytes at offset 0x7fe
    // are one 4-byte ioreq; 6 bytes are 4 + 2; 16 bytes are 8 + 8; 8 bytes
    // 3 before a page's end are 2 + 1, then 4 + 1. The whole chunk is
    // routed at once, so one that reaches past the end of a device's range
    // goes to nobody (rangeset_contains_range in ioreq_server_select).
    MemStatus pieces(uint64_t addr, unsigned size, bool write, std::byte* buf) {
        held();
        uint64_t a = addr;
        unsigned left = size;
        while (left > 0) {
            unsigned part = static_cast<unsigned>(std::min<uint64_t>(left, page_size - (a & page_mask)));
            unsigned chunk = std::bit_floor(std::min(part, 8u));
            while (part > 0) {
                while (chunk > part) chunk >>= 1;
                uint64_t data = 0;
                if (write) std::memcpy(&data, buf, chunk);
                const MemStatus st = d_.emul_mem(lk_, v_, a, chunk, write, &data);
                if (st != MemStatus::ok) return st;
                if (!write) std::memcpy(buf, &data, chunk);
                buf += chunk;
                a += chunk;
                part -= chunk;
                left -= chunk;
            }
        }
        return MemStatus::ok;
    }

    Domain& d_;
    const Locked& lk_;
    VcpuState& v_;
};

}  // namespace hvcore

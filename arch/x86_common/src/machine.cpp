// SPDX-License-Identifier: MIT
#include "machine.hpp"

#include <fmt/format.h>

#include <array>
#include <gsl/assert>

#include "hvcore/x86/isa_x86.hpp"

namespace hvcore::x86::detail {

namespace {

// Zydis numbers each width's registers contiguously in encoding order
// (SDM Vol. 2A §2.1.5, Table 2-2), which gpr_of() relies on.
static_assert(ZYDIS_REGISTER_AH == ZYDIS_REGISTER_AL + 4 && ZYDIS_REGISTER_BH == ZYDIS_REGISTER_AH + 3);
static_assert(ZYDIS_REGISTER_SPL == ZYDIS_REGISTER_BH + 1 && ZYDIS_REGISTER_R15B == ZYDIS_REGISTER_SPL + 11);
static_assert(ZYDIS_REGISTER_R15W == ZYDIS_REGISTER_AX + 15);
static_assert(ZYDIS_REGISTER_R15D == ZYDIS_REGISTER_EAX + 15);
static_assert(ZYDIS_REGISTER_R15 == ZYDIS_REGISTER_RAX + 15);

[[nodiscard]] constexpr bool in_range(ZydisRegister r, ZydisRegister first, ZydisRegister last) noexcept {
    return r >= first && r <= last;
}
[[nodiscard]] constexpr unsigned offset(ZydisRegister r, ZydisRegister first) noexcept {
    return static_cast<unsigned>(r - first);
}

// Guest memory is little-endian (SDM Vol. 1 §1.3.1), whatever the host is.
[[nodiscard]] uint64_t from_le(const std::array<uint8_t, 8>& b, unsigned size) noexcept {
    uint64_t v = 0;
    for (unsigned i = size; i-- > 0;)
        v = (v << 8) | b[i];
    return v;
}
[[nodiscard]] std::array<uint8_t, 8> to_le(uint64_t v, unsigned size) noexcept {
    std::array<uint8_t, 8> b{};
    for (unsigned i = 0; i < size; ++i)
        b[i] = static_cast<uint8_t>(v >> (8 * i));
    return b;
}

[[nodiscard]] constexpr bool is_access_size(unsigned bytes) noexcept {
    return bytes == 1 || bytes == 2 || bytes == 4 || bytes == 8 || bytes == 16;
}

[[nodiscard]] Vec128 vec_from_le(const std::array<uint8_t, 16>& b, unsigned size) noexcept {
    Vec128 v;
    for (unsigned i = size; i-- > 0;) {
        if (i >= 8)
            v.hi = (v.hi << 8) | b[i];
        else
            v.lo = (v.lo << 8) | b[i];
    }
    return v;
}

}  // namespace

namespace {

// gpr_of's answers, one byte per Zydis register (every operand of every
// instruction goes through it): bits 3:0 the index, bits 6:4 log2 of the
// size, bit 7 a high byte; 0xff for no general-purpose register (index 15
// with size 8 and a high byte cannot occur).
constexpr uint8_t no_gpr = 0xff;
constexpr std::array<uint8_t, ZYDIS_REGISTER_MAX_VALUE + 1> gpr_codes = [] {
    std::array<uint8_t, ZYDIS_REGISTER_MAX_VALUE + 1> t{};
    for (uint8_t& c : t)
        c = no_gpr;
    auto fill = [&t](ZydisRegister first, ZydisRegister last, unsigned base, unsigned size_log2, bool high) {
        for (unsigned r = first; r <= static_cast<unsigned>(last); ++r)
            t[r] = static_cast<uint8_t>((base + r - first) | (size_log2 << 4) | (high ? 0x80 : 0));
    };
    fill(ZYDIS_REGISTER_AL, ZYDIS_REGISTER_BL, 0, 0, false);
    fill(ZYDIS_REGISTER_AH, ZYDIS_REGISTER_BH, 0, 0, true);
    fill(ZYDIS_REGISTER_SPL, ZYDIS_REGISTER_R15B, reg::rsp, 0, false);  // needs REX
    fill(ZYDIS_REGISTER_AX, ZYDIS_REGISTER_R15W, 0, 1, false);
    fill(ZYDIS_REGISTER_EAX, ZYDIS_REGISTER_R15D, 0, 2, false);
    fill(ZYDIS_REGISTER_RAX, ZYDIS_REGISTER_R15, 0, 3, false);
    return t;
}();

}  // namespace

std::optional<Gpr> gpr_of(ZydisRegister r) noexcept {
    const auto i = static_cast<unsigned>(r);
    if (i >= gpr_codes.size() || gpr_codes[i] == no_gpr)
        return std::nullopt;
    const uint8_t c = gpr_codes[i];
    return Gpr{c & 0xfu, 1u << ((c >> 4) & 7), (c & 0x80) != 0};
}

uint64_t read_gpr(const Gprs& regs, Gpr g) noexcept {
    Expects(g.index < nr_gprs);
    const uint64_t v = regs[g.index];
    return g.high_byte ? (v >> 8) & 0xff : low_bytes(v, g.size);
}

void write_gpr(Gprs& regs, Gpr g, uint64_t value) noexcept {
    Expects(g.index < nr_gprs);
    uint64_t& slot = regs[g.index];
    switch (g.size) {
        case 1:
            if (g.high_byte)
                slot = (slot & ~uint64_t{0xff00}) | ((value & 0xff) << 8);
            else
                slot = (slot & ~uint64_t{0xff}) | (value & 0xff);
            return;
        case 2:
            slot = (slot & ~uint64_t{0xffff}) | (value & 0xffff);
            return;
        case 4:
            slot = value & 0xffff'ffff;  // a 32-bit result clears bits 63:32
            return;
        case 8:
            slot = value;
            return;
        default:
            Expects(false);
    }
}

std::optional<unsigned> xmm_of(ZydisRegister r) noexcept {
    if (in_range(r, ZYDIS_REGISTER_XMM0, ZYDIS_REGISTER_XMM15))
        return offset(r, ZYDIS_REGISTER_XMM0);
    return std::nullopt;
}

bool is_canonical(uint64_t linear) noexcept {
    constexpr unsigned spare = 64 - linear_address_bits;
    return static_cast<uint64_t>(static_cast<int64_t>(linear << spare) >> spare) == linear;
}

Machine::Machine(const Decoder& decoder, const Insn& insn, const RegFile& regs, MemPort& port,
                 Vendor vendor) noexcept
    : decoder_(decoder),
      insn_(insn),
      in_(regs),
      gprs_(regs.r),
      port_(port),
      vendor_(vendor),
      rip_(regs.r[reg::rip]),
      next_rip_(regs.r[reg::rip] + insn.info.length) {}

Step<Operand> Machine::operand(unsigned i) const {
    Expects(i < insn_.info.operand_count_visible);
    const ZydisDecodedOperand& op = insn_.ops[i];
    switch (op.type) {
        case ZYDIS_OPERAND_TYPE_REGISTER: {
            if (const std::optional<unsigned> x = xmm_of(op.reg.value))
                return Operand{.where = Where::xmm, .size = op.size / 8u, .xmm = *x};
            const std::optional<Gpr> g = gpr_of(op.reg.value);
            if (!g)
                return reject(fmt::format("register {} is not emulated", ZydisRegisterGetString(op.reg.value)));
            return Operand{.where = Where::gpr, .size = g->size, .gpr = *g};
        }
        case ZYDIS_OPERAND_TYPE_MEMORY:
            return memory_operand(op);
        case ZYDIS_OPERAND_TYPE_IMMEDIATE:
            // Zydis already extended a signed immediate to 64 bits (e.g.
            // REX.W C7's imm32, SDM Vol. 2B "MOV"); unsigned ones are zero-extended.
            return Operand{.where = Where::immediate, .size = op.size / 8u, .value = op.imm.value.u};
        default:
            return reject("far-pointer operand is not emulated");
    }
}

Step<Operand> Machine::memory_operand(const ZydisDecodedOperand& op) const {
    const ZydisDecodedOperandMem& m = op.mem;
    if (m.type != ZYDIS_MEMOP_TYPE_MEM)
        return reject("address-only or vector-index memory operand is not emulated");
    // In 64-bit mode CS/DS/ES/SS have base 0; FS and GS keep a base from
    // MSRs this model does not have (SDM Vol. 1 §3.4.2.1).
    if (m.segment == ZYDIS_REGISTER_FS || m.segment == ZYDIS_REGISTER_GS)
        return reject(fmt::format("{} segment override is not supported", ZydisRegisterGetString(m.segment)));
    const unsigned size = op.size / 8u;
    if (op.size % 8 != 0 || !is_access_size(size))
        return reject(fmt::format("{}-bit memory operand is not emulated", op.size));

    // Effective address = base + index * scale + displacement (SDM Vol. 1
    // §3.7.5); a RIP-relative base is the next instruction's address
    // (§3.7.5.1). moffs (A0-A3) is a displacement without base.
    uint64_t ea = static_cast<uint64_t>(m.disp.value);
    if (m.base == ZYDIS_REGISTER_RIP || m.base == ZYDIS_REGISTER_EIP) {
        ea += next_rip_;
    } else if (m.base != ZYDIS_REGISTER_NONE) {
        Step<uint64_t> base = register_value(m.base);
        if (!base)
            return std::move(base).end();
        ea += *base;
    }
    if (m.index != ZYDIS_REGISTER_NONE) {
        Step<uint64_t> index = register_value(m.index);
        if (!index)
            return std::move(index).end();
        ea += *index * m.scale;
    }
    return located(Operand{.where = Where::memory, .size = size, .address = ea}, m.segment == ZYDIS_REGISTER_SS);
}

Step<Operand> Machine::located(Operand op, bool stack) const {
    // 67h: the address is computed in 32 bits and zero-extended (SDM Vol. 1 §3.3.7).
    if (insn_.info.address_width == 32)
        op.address &= 0xffff'ffff;
    if (!is_canonical(op.address) || !is_canonical(op.address + op.size - 1)) {
        // A stack reference (RSP/RBP base) raises #SS rather than #GP (SDM Vol. 3A §6.15).
        const char* vector = stack ? "#SS" : "#GP";
        return reject(fmt::format("non-canonical address {:#x} ({})", op.address, vector));
    }
    return op;
}

Step<Operand> Machine::displaced(const Operand& op, int64_t bytes) const {
    Expects(op.where == Where::memory);
    Operand moved = op;
    moved.address += static_cast<uint64_t>(bytes);
    return located(moved, false);
}

Step<uint64_t> Machine::register_value(ZydisRegister r) const {
    const std::optional<Gpr> g = gpr_of(r);
    if (!g)
        return reject(fmt::format("address register {} is not emulated", ZydisRegisterGetString(r)));
    return read_gpr(gprs_, *g);
}

Step<uint64_t> Machine::load(const Operand& op, const AccessInfo& info) {
    switch (op.where) {
        case Where::gpr:
            return read_gpr(gprs_, op.gpr);
        case Where::immediate:
            return op.value;
        case Where::xmm:
            return low_bytes(xmm(op.xmm).lo, op.size);
        case Where::memory: {
            if (op.size > 8)
                return reject(fmt::format("{}-byte memory operand is not emulated here", op.size));
            std::array<uint8_t, 8> buf{};
            const MemStatus s = port_.read(op.address, op.size, buf.data(), info);
            if (s != MemStatus::ok)
                return port_stopped(s, {"read at", op.size, op.address});
            return from_le(buf, op.size);
        }
    }
    Expects(false);
    return uint64_t{0};
}

ExecResult Machine::store(const Operand& op, uint64_t value, const AccessInfo& info) {
    switch (op.where) {
        case Where::gpr:
            write_gpr(gprs_, op.gpr, value);
            return {};
        case Where::memory: {
            if (op.size > 8)
                return reject(fmt::format("{}-byte memory operand is not emulated here", op.size));
            const std::array<uint8_t, 8> buf = to_le(value, op.size);
            const MemStatus s = port_.write(op.address, op.size, buf.data(), info);
            if (s != MemStatus::ok)
                return port_stopped(s, {"write at", op.size, op.address});
            return {};
        }
        case Where::xmm:
            // Only the SSE handlers write XMM registers, through store_vec().
        case Where::immediate:
            break;  // no instruction writes its immediate
    }
    Expects(false);
    return {};
}

Step<Vec128> Machine::load_vec(const Operand& op) {
    switch (op.where) {
        case Where::gpr:
        case Where::immediate: {
            Step<uint64_t> v = load(op);
            if (!v)
                return std::move(v).end();
            return Vec128{*v, 0};
        }
        case Where::xmm: {
            const Vec128& x = xmm(op.xmm);
            return op.size >= 16 ? x : Vec128{low_bytes(x.lo, op.size), 0};
        }
        case Where::memory: {
            Expects(op.size <= 16);  // the port fills op.size bytes of buf
            std::array<uint8_t, 16> buf{};
            const MemStatus s = port_.read(op.address, op.size, buf.data(), AccessInfo{});
            if (s != MemStatus::ok)
                return port_stopped(s, {"read at", op.size, op.address});
            return vec_from_le(buf, op.size);
        }
    }
    Expects(false);
    return Vec128{};
}

ExecResult Machine::store_vec(const Operand& op, Vec128 value) {
    switch (op.where) {
        case Where::gpr:
            return store(op, value.lo);
        case Where::xmm:
            // One XMM destination per instruction (the SSE moves).
            Expects(xmm_written_ == no_xmm || xmm_written_ == op.xmm);
            xmm_written_ = op.xmm;
            xmm_value_ = value;
            return {};
        case Where::memory: {
            // The whole 128-bit value as little-endian bytes, of which the
            // port writes the first op.size. Filling buf by a loop bounded by
            // op.size (unbounded as far as the compiler knows) let GCC 12 at
            // -O3 unroll it into stores past buf (-Wstringop-overflow); the
            // size is checked against the buffer before the port reads it.
            Expects(op.size <= 16);
            std::array<uint8_t, 16> buf{};
            for (unsigned i = 0; i < 8; ++i) {
                buf[i] = static_cast<uint8_t>(value.lo >> (8 * i));
                buf[i + 8] = static_cast<uint8_t>(value.hi >> (8 * i));
            }
            const MemStatus s = port_.write(op.address, op.size, buf.data(), AccessInfo{});
            if (s != MemStatus::ok)
                return port_stopped(s, {"write at", op.size, op.address});
            return {};
        }
        case Where::immediate:
            break;
    }
    Expects(false);
    return {};
}

uint64_t Machine::rflags() const noexcept { return gprs_[reg::rflags]; }

void Machine::set_flags(uint64_t mask, uint64_t value) noexcept {
    uint64_t& f = gprs_[reg::rflags];
    f = (f & ~mask) | (value & mask);
}

Step<uint64_t> Machine::port_in(uint16_t port, unsigned size) {
    Expects(size == 1 || size == 2 || size == 4);
    uint64_t value = 0;
    const MemStatus s = port_.pio(port, size, false, &value);
    if (s != MemStatus::ok)
        return port_stopped(s, {"read of port", size, port});
    return low_bytes(value, size);
}

ExecResult Machine::port_out(uint16_t port, unsigned size, uint64_t value) {
    Expects(size == 1 || size == 2 || size == 4);
    uint64_t v = low_bytes(value, size);
    const MemStatus s = port_.pio(port, size, true, &v);
    if (s != MemStatus::ok)
        return port_stopped(s, {"write of port", size, port});
    return {};
}

ExecResult Machine::reject(std::string_view why) const {
    return guest_fault(decoder_.text(insn_, rip_), why);
}

ExecResult Machine::port_stopped(MemStatus s, const PortAccess& a) const {
    switch (s) {
        case MemStatus::ok:
            break;
        case MemStatus::exit:
        case MemStatus::pending:
        case MemStatus::retry:
            // The normal ways out; the core knows why and re-executes.
            return ExecResult{s, {}};
        case MemStatus::guest_fault:
            return ExecResult{s, fmt::format("{}: {}-byte {} {:#x} faulted", decoder_.text(insn_, rip_), a.size, a.kind, a.at)};
        case MemStatus::stopped:
            return ExecResult{s, fmt::format("{}: {}-byte {} {:#x} stopped the domain", decoder_.text(insn_, rip_), a.size, a.kind, a.at)};
    }
    Expects(false);
    return {};
}

void Machine::retire(RegFile& out) const noexcept {
    out.r = gprs_;
    if (advance_rip_)
        out.r[reg::rip] = next_rip_;
    if (xmm_written_ != no_xmm)
        out.v[xmm_written_] = xmm_value_;
}

}  // namespace hvcore::x86::detail

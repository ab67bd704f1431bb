// The A64 executor: decode (a64_decode.hpp), then one port access with the
// instruction's ESR syndrome, on a private copy of the registers that is
// committed (PC + 4 included) only when the access answers ok; any other
// answer leaves the caller's registers exactly as they were (isa.hpp).
#include "hvcore/arm64/isa_a64.hpp"

#include <fmt/format.h>

#include <array>
#include <gsl/assert>
#include <string>
#include <string_view>

#include "a64_decode.hpp"
#include "hvcore/arm64/esr.hpp"

namespace hvcore::arm64 {

namespace {

using detail::Addressing;
using detail::Decoded;
using detail::Extend;
using detail::LoadStore;

// Guest memory is little-endian (the model has SCTLR_EL1.EE = 0), whatever
// the host is.
[[nodiscard]] uint64_t from_le(const std::array<uint8_t, 8>& b, unsigned size) noexcept {
    uint64_t v = 0;
    for (unsigned i = size; i-- > 0;) v = (v << 8) | b[i];
    return v;
}
[[nodiscard]] std::array<uint8_t, 8> to_le(uint64_t v, unsigned size) noexcept {
    std::array<uint8_t, 8> b{};
    for (unsigned i = 0; i < size; ++i) b[i] = static_cast<uint8_t>(v >> (8 * i));
    return b;
}
[[nodiscard]] constexpr uint64_t low_bytes(uint64_t v, unsigned size) noexcept {
    return size >= 8 ? v : v & ((uint64_t{1} << (size * 8)) - 1);
}
[[nodiscard]] constexpr uint64_t sign_extend(uint64_t v, unsigned bits) noexcept {
    const unsigned spare = 64 - bits;
    return static_cast<uint64_t>(static_cast<int64_t>(v << spare) >> spare);
}

// X[n] as a data or index register: 31 reads as zero (XZR).
[[nodiscard]] uint64_t read_xzr(const RegFile& r, unsigned n) noexcept { return n == 31 ? 0 : r.r[n]; }

// A load's register value (Arm ARM C6.2 LDRB/LDRSB/...): zero- or
// sign-extended from the access size; a W destination is then written
// zero-extended to 64 bits (C1.2.5 "Register names": writes to Wn clear
// bits 63:32).
[[nodiscard]] constexpr uint64_t load_result(uint64_t raw, unsigned size, bool sign, bool reg64) noexcept {
    uint64_t v = sign ? sign_extend(raw, size * 8) : raw;
    return reg64 ? v : v & 0xffff'ffff;
}
static_assert(load_result(0x80, 1, true, false) == 0xffff'ff80);           // ldrsb w: 32-bit sign extension
static_assert(load_result(0x80, 1, true, true) == 0xffff'ffff'ffff'ff80);  // ldrsb x
static_assert(load_result(0x8000'0000, 4, true, true) == 0xffff'ffff'8000'0000);  // ldrsw
static_assert(load_result(0x8000, 2, false, false) == 0x8000);             // ldrh zero-extends

[[nodiscard]] ExecResult guest_fault(uint32_t word, std::string_view what, std::string_view why) {
    return ExecResult{MemStatus::guest_fault, fmt::format("{:#010x} ({}): {}", word, what, why)};
}

// An access the port refused: the normal ways out carry no text; a guest
// fault or a stop names the instruction and the access.
[[nodiscard]] ExecResult refused(MemStatus s, std::string_view who, bool write, unsigned size, uint64_t at) {
    switch (s) {
    case MemStatus::ok: break;
    case MemStatus::exit:
    case MemStatus::pending:
    case MemStatus::retry: return ExecResult{s, {}};
    case MemStatus::guest_fault:
        return ExecResult{s, fmt::format("{}: {}-byte {} at {:#x} faulted", who, size, write ? "write" : "read", at)};
    case MemStatus::stopped:
        return ExecResult{s, fmt::format("{}: {}-byte {} at {:#x} stopped the domain", who, size,
                                         write ? "write" : "read", at)};
    }
    Expects(false);
    return {};
}

// One load or store of `size` bytes at addr through the port, writing the
// result (loads) into the copy r. Shared by execute() and the record path.
struct Access {
    bool write;
    unsigned size;
    uint64_t addr;
    unsigned rt;  // 31 = XZR/WZR
    bool sign;
    bool reg64;
    uint64_t syndrome;  // ESR ISS[24:14] for the MMU
};

[[nodiscard]] MemStatus perform(RegFile& r, const Access& a, MemPort& port) {
    const AccessInfo info{.isa_syndrome = a.syndrome};
    if (a.write) {
        const std::array<uint8_t, 8> buf = to_le(low_bytes(read_xzr(r, a.rt), a.size), a.size);
        return port.write(a.addr, a.size, buf.data(), info);
    }
    std::array<uint8_t, 8> buf{};
    const MemStatus s = port.read(a.addr, a.size, buf.data(), info);
    if (s != MemStatus::ok) return s;
    // A load to XZR still makes the access; its value is discarded.
    if (a.rt != 31) r.r[a.rt] = load_result(from_le(buf, a.size), a.size, a.sign, a.reg64);
    return MemStatus::ok;
}

// Effective address (C6.2, "... (immediate)"/"(register)" pseudocode):
// base X[n] or SP, plus the immediate, or plus Rm extended and shifted;
// arithmetic wraps modulo 2^64.
[[nodiscard]] uint64_t address(const RegFile& r, const LoadStore& ls) noexcept {
    // Rn = 31 is SP; the SP alignment check (SCTLR_EL1.SA) is not modelled.
    const uint64_t base = r.r[ls.rn];
    switch (ls.mode) {
    case Addressing::unsigned_offset:
    case Addressing::unscaled: return base + static_cast<uint64_t>(ls.offset);
    case Addressing::register_offset: {
        const uint64_t m = read_xzr(r, ls.rm);
        uint64_t idx = m;
        switch (ls.extend) {
        case Extend::uxtw: idx = m & 0xffff'ffff; break;
        case Extend::sxtw: idx = sign_extend(m, 32); break;
        case Extend::lsl:
        case Extend::sxtx: idx = m; break;  // a 64-bit register extended to 64 bits is itself
        }
        return base + (idx << ls.amount);
    }
    }
    Expects(false);
    return 0;
}

class A64Isa final : public Isa {
public:
    [[nodiscard]] Arch arch_family() const noexcept override { return Arch::arm64; }
    [[nodiscard]] unsigned pc_reg() const noexcept override { return reg::pc; }
    [[nodiscard]] unsigned nr_regs() const noexcept override { return arm64::nr_regs; }

    [[nodiscard]] ExecResult execute(RegFile& regs, std::span<const uint8_t> bytes, MemPort& port) override {
        if (bytes.empty()) return ExecResult{MemStatus::guest_fault, "(no bytes): empty instruction buffer"};
        if (bytes.size() < insn_bytes)
            return ExecResult{MemStatus::guest_fault,
                              fmt::format("bytes [{:02x}]: truncated: an A64 instruction is 4 bytes",
                                          fmt::join(bytes, " "))};
        const uint32_t word = uint32_t{bytes[0]} | uint32_t{bytes[1]} << 8 | uint32_t{bytes[2]} << 16 |
                              uint32_t{bytes[3]} << 24;
        const Decoded d = detail::decode(word);
        if (!d.access) return guest_fault(word, d.name, "not emulated");
        const LoadStore& ls = *d.access;

        RegFile r = regs;
        const uint64_t addr = address(r, ls);
        // With stage 1 off, an address the model CPU's PA size cannot hold
        // (or an access wrapping past 2^64) is a stage-1 Address size
        // fault, level 0, taken by the guest before any stage-2 walk.
        const uint64_t last = addr + (ls.size() - 1);
        if (last < addr || (addr >> pa_range_bits) != 0 || (last >> pa_range_bits) != 0) {
            return guest_fault(word, detail::text(ls),
                               fmt::format("address {:#x} is beyond the {}-bit physical address space "
                                           "(stage-1 Address size fault, level 0)",
                                           addr, pa_range_bits));
        }
        const Access a{.write = !ls.load,
                       .size = ls.size(),
                       .addr = addr,
                       .rt = ls.rt,
                       .sign = ls.sign_extend,
                       .reg64 = ls.reg64,
                       .syndrome = detail::insn_syndrome(ls)};
        if (const MemStatus s = perform(r, a, port); s != MemStatus::ok)
            return refused(s, fmt::format("{:#010x} ({})", word, detail::text(ls)), a.write, a.size, a.addr);
        r.r[reg::pc] += insn_bytes;
        regs = r;  // the only write to the caller's registers
        return {};
    }

    [[nodiscard]] std::optional<ExecResult> execute_from_record(RegFile& regs, const FaultRecord& record,
                                                                MemPort& port) override {
        if (record.arch != Arch::arm64) return std::nullopt;
        const uint64_t esr = record.syndrome;
        // Only a data abort whose ISS describes the access (ISV = 1) can be
        // replayed without the instruction (ESR_EL2 ISS, ISV; KVM
        // io_mem_abort, Xen try_decode_instruction).
        if (Esr::ec_of(esr) != Esr::ec_dabt_lower || (esr & Esr::isv) == 0) return std::nullopt;
        const auto sas = static_cast<unsigned>((esr & Esr::sas_mask) >> Esr::sas_shift);
        const Access a{.write = (esr & Esr::wnr) != 0,
                       .size = 1U << sas,
                       .addr = fault_ipa(record.gpa, record.gva),
                       .rt = static_cast<unsigned>((esr & Esr::srt_mask) >> Esr::srt_shift),
                       .sign = (esr & Esr::sse) != 0,
                       .reg64 = (esr & Esr::sf) != 0,
                       .syndrome = esr & Esr::insn_syndrome_mask};
        RegFile r = regs;
        if (const MemStatus s = perform(r, a, port); s != MemStatus::ok)
            return refused(s, fmt::format("ESR {:#x}", esr), a.write, a.size, a.addr);
        r.r[reg::pc] += insn_bytes;  // ISV = 1 means a 32-bit A64 instruction (IL = 1)
        regs = r;
        return ExecResult{};
    }

    // str w1|x1 / strb w1 / strh w1, [x0] (STR (immediate), unsigned offset 0).
    [[nodiscard]] SyntheticInsn make_store(unsigned size) const override { return synthetic(size, false); }
    // ldrb w1 / ldrh w1 / ldr w1|x1, [x0]: zero-extending loads.
    [[nodiscard]] SyntheticInsn make_load(unsigned size) const override { return synthetic(size, true); }
    // A64 has no port I/O.
    [[nodiscard]] SyntheticInsn make_pio(unsigned, bool) const override { return {}; }

private:
    [[nodiscard]] static SyntheticInsn synthetic(unsigned size, bool load) {
        unsigned size_log2 = 0;
        switch (size) {
        case 1: size_log2 = 0; break;
        case 2: size_log2 = 1; break;
        case 4: size_log2 = 2; break;
        case 8: size_log2 = 3; break;
        default: return {};
        }
        const uint32_t w = detail::encode_unsigned_offset(size_log2, load, reg::x1, reg::x0);
        return SyntheticInsn{{static_cast<uint8_t>(w), static_cast<uint8_t>(w >> 8), static_cast<uint8_t>(w >> 16),
                              static_cast<uint8_t>(w >> 24)},
                             reg::x0,
                             reg::x1};
    }
};

}  // namespace

std::unique_ptr<Isa> make_a64_isa() { return std::make_unique<A64Isa>(); }

}  // namespace hvcore::arm64

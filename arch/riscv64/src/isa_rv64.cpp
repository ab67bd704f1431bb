// SPDX-License-Identifier: MIT
#include "hvcore/riscv64/isa_rv64.hpp"

#include <array>
#include <optional>

#include <fmt/format.h>

namespace hvcore::riscv64 {

namespace {

// One RV64I load or store, decoded (Volume I, "Load and Store
// Instructions": I-type loads, S-type stores).
struct MemInsn {
    uint32_t word = 0;
    bool store = false;
    unsigned size = 0;      // 1, 2, 4, 8
    bool sign = false;      // LB LH LW sign-extend; LBU LHU LWU zero-extend
    unsigned rs1 = 0;       // base
    unsigned reg = 0;       // rd (load) or rs2 (store)
    int64_t imm = 0;        // sign-extended 12-bit offset
    unsigned length = 4;    // bytes of the instruction (2 for a compressed one, from htinst only)
};

constexpr const char* names_load[] = {"lb", "lh", "lw", "ld", "lbu", "lhu", "lwu"};
constexpr const char* names_store[] = {"sb", "sh", "sw", "sd"};

constexpr int64_t sext12(uint32_t v) noexcept {
    return static_cast<int64_t>(static_cast<int32_t>(v << 20) >> 20);
}

// The width and extension funct3 selects: loads 000 LB, 001 LH, 010 LW,
// 011 LD, 100 LBU, 101 LHU, 110 LWU (111 reserved); stores 000 SB ... 011
// SD (others reserved).
std::optional<MemInsn> decode(uint32_t word) noexcept {
    using namespace insn;
    MemInsn m;
    m.word = word;
    const uint32_t f3 = (word >> funct3_shift) & funct3_mask;
    m.rs1 = (word >> rs1_shift) & reg_mask;
    switch (word & opcode_mask) {
    case opcode_load:
        if (f3 == 7) return std::nullopt;
        m.size = 1U << (f3 & 3);
        m.sign = f3 < 4 && f3 != 3;
        m.reg = (word >> rd_shift) & reg_mask;
        m.imm = sext12(word >> 20);
        return m;
    case opcode_store:
        if (f3 > 3) return std::nullopt;
        m.store = true;
        m.size = 1U << f3;
        m.reg = (word >> rs2_shift) & reg_mask;
        m.imm = sext12(((word >> 25) << 5) | ((word >> rd_shift) & 0x1f));
        return m;
    default: return std::nullopt;
    }
}

std::string text(const MemInsn& m) {
    const uint32_t f3 = (m.word >> insn::funct3_shift) & insn::funct3_mask;
    return fmt::format("{} x{}, {}(x{})", m.store ? names_store[f3] : names_load[f3], m.reg, m.imm, m.rs1);
}

uint64_t read_x(const RegFile& r, unsigned n) noexcept { return n == reg::x0 ? 0 : r.r[n]; }
void write_x(RegFile& r, unsigned n, uint64_t v) noexcept {
    if (n != reg::x0) r.r[n] = v;  // writes to x0 are dropped
}

uint64_t extend(uint64_t raw, unsigned size, bool sign) noexcept {
    if (size == 8) return raw;
    const unsigned shift = 64 - 8 * size;
    return sign ? static_cast<uint64_t>(static_cast<int64_t>(raw << shift) >> shift) : (raw << shift) >> shift;
}

ExecResult undecoded(std::string detail) {
    ExecResult r{MemStatus::guest_fault, std::move(detail)};
    r.undecoded = true;
    return r;
}

ExecResult refused(MemStatus s, const MemInsn& m, uint64_t at) {
    switch (s) {
    case MemStatus::ok: break;
    case MemStatus::exit:
    case MemStatus::pending:
    case MemStatus::retry: return ExecResult{s, {}};
    case MemStatus::guest_fault:
        return ExecResult{s, fmt::format("{:#010x} ({}): {}-byte {} at {:#x} faulted", m.word, text(m), m.size,
                                         m.store ? "write" : "read", at)};
    case MemStatus::stopped:
        return ExecResult{s, fmt::format("{:#010x} ({}): {}-byte {} at {:#x} stopped the domain", m.word, text(m),
                                         m.size, m.store ? "write" : "read", at)};
    }
    return ExecResult{MemStatus::stopped, "unknown memory status"};
}

// The access itself, on a copy of the registers; the caller's registers
// change only when it completes.
ExecResult perform(RegFile& regs, const MemInsn& m, uint64_t at, MemPort& port, const AccessInfo& info) {
    RegFile r = regs;
    std::array<uint8_t, 8> b{};
    MemStatus s = MemStatus::ok;
    if (m.store) {
        const uint64_t v = read_x(r, m.reg);
        for (unsigned i = 0; i < m.size; ++i) b[i] = static_cast<uint8_t>(v >> (8 * i));  // little-endian
        s = port.write(at, m.size, b.data(), info);
    } else {
        s = port.read(at, m.size, b.data(), info);
        if (s == MemStatus::ok) {
            uint64_t v = 0;
            for (unsigned i = 0; i < m.size; ++i) v |= uint64_t{b[i]} << (8 * i);
            write_x(r, m.reg, extend(v, m.size, m.sign));
        }
    }
    if (s != MemStatus::ok) return refused(s, m, at);
    r.r[reg::pc] += m.length;
    regs = r;
    return {};
}

class Rv64Isa final : public Isa {
public:
    [[nodiscard]] IsaKind kind() const noexcept override { return IsaKind::rv64; }
    // 32-bit instructions; no standard extension has a longer one (Volume I,
    // "Base Instruction-Length Encoding").
    [[nodiscard]] unsigned max_insn_bytes() const noexcept override { return 4; }
    // No port I/O space: make_pio() encodes nothing (-EOPNOTSUPP).
    [[nodiscard]] bool has_port_io() const noexcept override { return false; }
    [[nodiscard]] unsigned pc_reg() const noexcept override { return reg::pc; }
    [[nodiscard]] unsigned nr_regs() const noexcept override { return riscv64::nr_regs; }

    [[nodiscard]] ExecResult execute(RegFile& regs, std::span<const uint8_t> bytes, MemPort& port) override {
        // Bits 1:0 = 11 mark a 32-bit instruction (Volume I, "Base
        // Instruction-Length Encoding"); anything shorter is not one.
        if (bytes.size() >= 2 && (bytes[0] & 3) != 3)
            return undecoded(fmt::format("{:#06x}: a compressed instruction (not emulated)",
                                         bytes[0] | (bytes[1] << 8)));
        if (bytes.size() < 4) return undecoded("an instruction shorter than 4 bytes");
        const uint32_t word = uint32_t{bytes[0]} | (uint32_t{bytes[1]} << 8) | (uint32_t{bytes[2]} << 16) |
                              (uint32_t{bytes[3]} << 24);
        const std::optional<MemInsn> m = decode(word);
        if (!m) return undecoded(fmt::format("{:#010x}: not an RV64I load or store (not emulated)", word));
        const uint64_t at = read_x(regs, m->rs1) + static_cast<uint64_t>(m->imm);
        // The walker's htinst (trap.hpp): the transformation, and where the
        // access begins in its page.
        const uint32_t t = m->store ? insn::transform_store(word, 0) : insn::transform_load(word, 0);
        const AccessInfo info{.isa_syndrome = t | ((at & (page_size - 1)) << syndrome_offset_shift)};
        return perform(regs, *m, at, port, info);
    }

    [[nodiscard]] std::optional<ExecResult> execute_from_record(RegFile& regs, const FaultRecord& record,
                                                                MemPort& port) override {
        if (record.arch != Arch::riscv64) return std::nullopt;
        if (record.kind != cause_load_guest_page_fault && record.kind != cause_store_guest_page_fault)
            return std::nullopt;
        const uint64_t htinst = record.syndrome;
        // A transformed standard instruction: bit 0 = 1, bits 63:32 zero
        // (the note to "Transformed Instruction or Pseudoinstruction":
        // software "must also confirm that bits 63:32 ... are all zeros").
        // Zero (no information) and the pseudoinstructions (bits 1:0 = 00)
        // fail this.
        if ((htinst >> 32) != 0 || (htinst & 1) == 0) return std::nullopt;
        const auto word = static_cast<uint32_t>(htinst) | insn::not_compressed;
        std::optional<MemInsn> m = decode(word);
        if (!m || m->store != (record.kind == cause_store_guest_page_fault)) return std::nullopt;
        // rs1 holds the Addr. Offset: only an access that began at the
        // faulting address is described whole.
        if (m->rs1 != 0) return std::nullopt;
        m->length = (htinst & insn::not_compressed) != 0 ? 4 : 2;
        m->word = static_cast<uint32_t>(htinst);
        const uint64_t at = fault_gpa(record.gpa, record.gva);
        return perform(regs, *m, at, port, AccessInfo{.isa_syndrome = static_cast<uint32_t>(htinst)});
    }

    // sb/sh/sw/sd x11, 0(x10).
    [[nodiscard]] SyntheticInsn make_store(unsigned size) const override { return synthetic(size, true); }
    // lbu/lhu/lwu/ld x11, 0(x10): zero-extending loads.
    [[nodiscard]] SyntheticInsn make_load(unsigned size) const override { return synthetic(size, false); }
    // RISC-V has no port I/O.
    [[nodiscard]] SyntheticInsn make_pio(unsigned, bool) const override { return {}; }

private:
    [[nodiscard]] static SyntheticInsn synthetic(unsigned size, bool store) {
        uint32_t f3 = 0;
        switch (size) {
        case 1: f3 = 0; break;
        case 2: f3 = 1; break;
        case 4: f3 = 2; break;
        case 8: f3 = 3; break;
        default: return {};
        }
        using namespace insn;
        uint32_t word = 0;
        if (store) {
            word = (reg::a1 << rs2_shift) | (reg::a0 << rs1_shift) | (f3 << funct3_shift) | opcode_store;
        } else {
            const uint32_t unsigned_f3 = size == 8 ? 3 : f3 | 4;  // LBU LHU LWU; LD
            word = (reg::a0 << rs1_shift) | (unsigned_f3 << funct3_shift) | (reg::a1 << rd_shift) | opcode_load;
        }
        return {{static_cast<uint8_t>(word), static_cast<uint8_t>(word >> 8), static_cast<uint8_t>(word >> 16),
                 static_cast<uint8_t>(word >> 24)},
                reg::a0,
                reg::a1};
    }
};

}  // namespace

std::unique_ptr<Isa> make_rv64_isa() { return std::make_unique<Rv64Isa>(); }

}  // namespace hvcore::riscv64

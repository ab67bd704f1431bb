// SPDX-License-Identifier: MIT
// The vCPU as one instruction sees it while it runs: a private copy of the
// registers, the MemPort, and the decoded instruction. Handlers reach every
// operand through operand() / load() / store(), so the rules live here once:
//
//  - operand() only computes a location (register, linear address,
//    immediate); it never accesses memory, so a handler resolves all its
//    operands first and an instruction that cannot run makes no access;
//  - load() and store() make exactly one port access per memory operand,
//    in the order the handler calls them (program order);
//  - registers are written only in the copy (the general-purpose registers,
//    RIP and RFLAGS: 272 bytes; an XMM register written is kept aside, so
//    the 512 bytes of vector registers are not copied per instruction);
//    execute() commits it with the advanced RIP when the handler returns
//    ok, and drops it otherwise, so a port that answers exit / pending /
//    retry / guest_fault / stopped leaves the guest's registers exactly as
//    they were. The one exception is a REP
//    string instruction whose completed iterations stand (its result says
//    `committed`); it and a REP instruction stopped short keep RIP here.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include "decode.hpp"
#include "hvcore/core/isa.hpp"
#include "hvcore/x86/isa_x86.hpp"
#include "step.hpp"

namespace hvcore::x86::detail {

// The scalar registers of the register file (RegFile::r): RAX..R15, RIP, RFLAGS.
using Gprs = std::array<uint64_t, RegFile::count>;

// A general-purpose register as an instruction names it: which of the 16,
// and which of its bytes (SDM Vol. 1 §3.4.1.1, Figure 3-5).
struct Gpr {
    unsigned index = 0;      // RAX..R15 = 0..15 (hvcore::x86::reg)
    unsigned size = 8;       // bytes: 1, 2, 4, 8
    bool high_byte = false;  // AH, CH, DH, BH: bits 15:8 of RAX, RCX, RDX, RBX
};

enum class Where : uint8_t {
    gpr,        // a general-purpose register
    memory,     // guest memory at a linear (== guest-physical) address
    immediate,  // a constant in the instruction
    xmm,        // an SSE register, XMM0-15 (SDM Vol. 1 §10.2.2)
};

struct Operand {
    Where where = Where::immediate;
    unsigned size = 0;      // bytes: 1, 2, 4, 8; 16 for memory and XMM
    Gpr gpr{};              // where == gpr
    unsigned xmm = 0;       // where == xmm
    uint64_t address = 0;   // where == memory
    uint64_t value = 0;     // where == immediate: extended to 64 bits as the encoding says
};

// RFLAGS bits (SDM Vol. 1 §3.4.3, Figure 3-8).
namespace flag {
inline constexpr uint64_t cf = 1u << 0;
inline constexpr uint64_t pf = 1u << 2;
inline constexpr uint64_t af = 1u << 4;
inline constexpr uint64_t zf = 1u << 6;
inline constexpr uint64_t sf = 1u << 7;
inline constexpr uint64_t df = 1u << 10;
inline constexpr uint64_t of = 1u << 11;
inline constexpr uint64_t status = cf | pf | af | zf | sf | of;  // the arithmetic status flags
}  // namespace flag

class Machine {
public:
    Machine(const Decoder& decoder, const Insn& insn, const RegFile& regs, MemPort& port, Vendor vendor) noexcept;

    [[nodiscard]] const Insn& insn() const noexcept { return insn_; }
    // Whose processor to behave as where Intel and AMD differ (isa_x86.hpp).
    [[nodiscard]] Vendor vendor() const noexcept { return vendor_; }

    // Where visible operand `i` lives. Fails (guest_fault) for what the
    // model does not have: non-GPR registers, FS/GS-relative addresses,
    // non-canonical addresses, memory operands not 1/2/4/8 bytes wide.
    [[nodiscard]] Step<Operand> operand(unsigned i) const;

    // Operand `op` moved by `bytes` (BT's register bit offset addresses
    // memory beyond the operand): the same address-size wrap and canonical
    // check as any memory operand.
    [[nodiscard]] Step<Operand> displaced(const Operand& op, int64_t bytes) const;

    // The operand's value, zero-extended to 64 bits; one port read for
    // memory. An XMM operand gives its low op.size bytes.
    [[nodiscard]] Step<uint64_t> load(const Operand& op, const AccessInfo& info = {});
    // Writes the low op.size bytes of value; one port write for memory. A
    // 32-bit register write zero-extends to 64 bits, 8/16-bit writes keep
    // the other bits (SDM Vol. 1 §3.4.1.1).
    [[nodiscard]] ExecResult store(const Operand& op, uint64_t value, const AccessInfo& info = {});
    // Up to 16 bytes (SSE): zero-extended to 128 bits; one port access for
    // memory. store_vec() to an XMM register replaces all 128 bits.
    [[nodiscard]] Step<Vec128> load_vec(const Operand& op);
    [[nodiscard]] ExecResult store_vec(const Operand& op, Vec128 value);

    // The registers the instruction reads and writes besides its operands.
    [[nodiscard]] uint64_t& gpr64(unsigned index) noexcept { return gprs_[index]; }
    [[nodiscard]] Gprs& gprs() noexcept { return gprs_; }
    [[nodiscard]] uint64_t rflags() const noexcept;
    // Replaces the bits of `mask` in RFLAGS with those of `value`.
    void set_flags(uint64_t mask, uint64_t value) noexcept;

    // The memory side of a REP string instruction (MemPort::rep).
    [[nodiscard]] RepResult rep(const RepAccess& a) { return port_.rep(a, AccessInfo{}); }
    // The result for a port access that did not answer ok.
    [[nodiscard]] ExecResult ended(MemStatus s, std::string_view kind, unsigned size, uint64_t at) const {
        return port_stopped(s, {kind, size, at});
    }
    // RIP stays at this instruction when it retires (a REP string
    // instruction with iterations left: the guest executes it again).
    void hold_rip() noexcept { advance_rip_ = false; }

    // Port I/O through MemPort::pio (SDM Vol. 1 §19.2).
    [[nodiscard]] Step<uint64_t> port_in(uint16_t port, unsigned size);
    [[nodiscard]] ExecResult port_out(uint16_t port, unsigned size, uint64_t value);

    // The instruction is not one the executor runs: guest_fault naming it.
    [[nodiscard]] ExecResult reject(std::string_view why) const;

    // Writes the registers as the instruction leaves them, RIP past it,
    // to `out` (the caller's register file).
    void retire(RegFile& out) const noexcept;

private:
    [[nodiscard]] Step<Operand> memory_operand(const ZydisDecodedOperand& op) const;
    // A memory operand at op.address: the 67h wrap, then #GP/#SS unless canonical.
    [[nodiscard]] Step<Operand> located(Operand op, bool stack) const;
    [[nodiscard]] Step<uint64_t> register_value(ZydisRegister r) const;
    // An access the port refused, described only when the text is needed
    // (guest_fault, stopped), not on the pending/retry fast path.
    struct PortAccess {
        std::string_view kind;  // "read at", "write of port", ...
        unsigned size;
        uint64_t at;
    };
    [[nodiscard]] ExecResult port_stopped(MemStatus s, const PortAccess& a) const;

    // XMM register x as the instruction sees it (its own write, if any).
    [[nodiscard]] const Vec128& xmm(unsigned x) const noexcept {
        return x == xmm_written_ ? xmm_value_ : in_.v[x];
    }

    const Decoder& decoder_;
    const Insn& insn_;
    const RegFile& in_;  // the caller's registers, unchanged until retire()
    Gprs gprs_;          // the copy of in_.r the instruction works on
    static constexpr unsigned no_xmm = ~0u;
    unsigned xmm_written_ = no_xmm;  // the XMM register the instruction wrote (one at most: SSE moves)
    Vec128 xmm_value_{};
    MemPort& port_;
    Vendor vendor_;
    uint64_t rip_;       // address of this instruction
    uint64_t next_rip_;  // address of the next one: RIP-relative base, RIP after retiring
    bool advance_rip_ = true;
};

// Zydis' name for a general-purpose register, as hvcore numbers it; nullopt
// for any other register (segment, control, debug, vector, RIP, ...).
[[nodiscard]] std::optional<Gpr> gpr_of(ZydisRegister r) noexcept;
[[nodiscard]] uint64_t read_gpr(const Gprs& regs, Gpr g) noexcept;
void write_gpr(Gprs& regs, Gpr g, uint64_t value) noexcept;
[[nodiscard]] constexpr uint64_t low_bytes(uint64_t value, unsigned size) noexcept {
    return size >= 8 ? value : value & ((uint64_t{1} << (size * 8)) - 1);
}
[[nodiscard]] bool is_canonical(uint64_t linear) noexcept;
// XMM0-15 as Zydis names them; nullopt for any other register (XMM16-31
// need EVEX, which the executor does not run).
[[nodiscard]] std::optional<unsigned> xmm_of(ZydisRegister r) noexcept;

}  // namespace hvcore::x86::detail

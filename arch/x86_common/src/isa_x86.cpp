// SPDX-License-Identifier: MIT
#include "hvcore/x86/isa_x86.hpp"

#include <algorithm>
#include <array>
#include <memory>
#include <utility>

#include "decode.hpp"
#include "handlers.hpp"
#include "machine.hpp"

namespace hvcore::x86 {

namespace {

using detail::Decoder;
using detail::Handler;
using detail::Insn;
using detail::Machine;

// Encoding pieces of the synthetic instructions (SDM Vol. 2A §2.1-2.2).
constexpr uint8_t opsize_prefix = 0x66;  // 16-bit operand
constexpr uint8_t rex_w = 0x48;          // 64-bit operand
// ModRM mod=00 reg=000 (AL/AX/EAX/RAX) rm=011 ([RBX]), Table 2-2.
constexpr uint8_t modrm_rax_at_rbx = 0x03;

// Opcode for operand size 1 vs. 2/4/8, and the prefixes for that size.
[[nodiscard]] std::vector<uint8_t> sized(unsigned size, uint8_t op8, uint8_t op_wide) {
    switch (size) {
        case 1: return {op8};
        case 2: return {opsize_prefix, op_wide};
        case 4: return {op_wide};
        case 8: return {rex_w, op_wide};
        default: return {};
    }
}

class X86Isa final : public Isa {
public:
    explicit X86Isa(Vendor vendor) noexcept : vendor_(vendor) {}

    [[nodiscard]] IsaKind kind() const noexcept override { return IsaKind::x86_64; }
    [[nodiscard]] unsigned max_insn_bytes() const noexcept override { return 15; }  // SDM Vol. 2A 2.3.11
    [[nodiscard]] bool has_port_io() const noexcept override { return true; }
    [[nodiscard]] unsigned pc_reg() const noexcept override { return reg::rip; }
    [[nodiscard]] unsigned nr_regs() const noexcept override { return x86::nr_regs; }
    [[nodiscard]] unsigned nr_vec_regs() const noexcept override { return x86::nr_xmm_regs; }

    [[nodiscard]] ExecResult execute(RegFile& regs, std::span<const uint8_t> bytes, MemPort& port) override {
        // Decoded once per instruction: the faulting attempt on the model
        // MMU, the emulation after the fault and the re-execution after the
        // device model's answer run the same bytes (Domain::run, emulate,
        // vcpu_resume), so the last instruction decoded is kept, with its
        // handler. The decode does not depend on RIP (only the diagnostic
        // text does, and it is made from the record with the RIP of the
        // call).
        if (bytes.size() > last_.bytes.size()) {
            // Longer than any instruction: decoded as it comes, not kept.
            auto insn = std::make_unique<Insn>();
            if (std::optional<ExecResult> end = decoder_.decode_into(bytes, regs.r[reg::rip], *insn))
                return *std::move(end);
            return run(regs, *insn, detail::find_handler(insn->info.mnemonic), port);
        }
        if (last_.len == 0 || last_.len != bytes.size() ||
            !std::equal(bytes.begin(), bytes.end(), last_.bytes.begin())) {
            last_.len = 0;  // until it decodes
            if (std::optional<ExecResult> end = decoder_.decode_into(bytes, regs.r[reg::rip], last_.insn))
                return *std::move(end);
            std::copy(bytes.begin(), bytes.end(), last_.bytes.begin());
            last_.len = bytes.size();
            last_.handler = detail::find_handler(last_.insn.info.mnemonic);
        }
        return run(regs, last_.insn, last_.handler, port);
    }

    [[nodiscard]] ExecResult run(RegFile& regs, const Insn& insn, Handler handler, MemPort& port) const {
        Machine m(decoder_, insn, regs, port, vendor_);
        if (handler == nullptr)
            return m.reject("instruction not emulated");
        ExecResult r = handler(m);
        if (r.status == MemStatus::ok || r.committed)
            m.retire(regs);  // the only write to the caller's registers
        return r;
    }

    // mov [rbx], al|ax|eax|rax: 88 /r or 89 /r (SDM Vol. 2B "MOV").
    [[nodiscard]] SyntheticInsn make_store(unsigned size) const override {
        return with_modrm(sized(size, 0x88, 0x89));
    }
    // mov al|ax|eax|rax, [rbx]: 8A /r or 8B /r.
    [[nodiscard]] SyntheticInsn make_load(unsigned size) const override {
        return with_modrm(sized(size, 0x8a, 0x8b));
    }
    // out dx, al|ax|eax: EE/EF; in al|ax|eax, dx: EC/ED. No 64-bit form.
    [[nodiscard]] SyntheticInsn make_pio(unsigned size, bool is_write) const override {
        if (size == 8)
            return {};
        std::vector<uint8_t> bytes = is_write ? sized(size, 0xee, 0xef) : sized(size, 0xec, 0xed);
        return SyntheticInsn{std::move(bytes), reg::rdx, reg::rax};
    }

private:
    [[nodiscard]] static SyntheticInsn with_modrm(std::vector<uint8_t> bytes) {
        if (bytes.empty())
            return {};
        bytes.push_back(modrm_rax_at_rbx);
        return SyntheticInsn{std::move(bytes), reg::rbx, reg::rax};
    }

    Decoder decoder_;
    Vendor vendor_;
    // The last instruction decoded (len 0: none). An Isa is used by one
    // thread at a time (a domain's, under its lock).
    struct {
        std::array<uint8_t, detail::max_insn_length> bytes{};
        size_t len = 0;
        Insn insn{};
        Handler handler = nullptr;
    } last_;
};

}  // namespace

std::unique_ptr<Isa> make_x86_isa(Vendor vendor) { return std::make_unique<X86Isa>(vendor); }
std::unique_ptr<Isa> make_intel_isa() { return make_x86_isa(Vendor::intel); }
std::unique_ptr<Isa> make_amd_isa() { return make_x86_isa(Vendor::amd); }

}  // namespace hvcore::x86

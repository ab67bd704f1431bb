// SPDX-License-Identifier: MIT
// Zydis, configured for the one mode hvcore emulates: 64-bit long mode with
// a 64-bit stack (SDM Vol. 1 §3.2.1, IA-32e 64-bit sub-mode).
#pragma once

#include <Zydis/Zydis.h>

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "step.hpp"

namespace hvcore::x86::detail {

// One decoded instruction: Zydis' record and its operands. The visible
// operands (explicit, then implicit) come first, in Intel order.
struct Insn {
    ZydisDecodedInstruction info{};
    std::array<ZydisDecodedOperand, ZYDIS_MAX_OPERAND_COUNT> ops{};
};

// The architectural maximum length of one instruction (SDM Vol. 2A §2.1.1).
inline constexpr unsigned max_insn_length = 15;

class Decoder {
public:
    Decoder() noexcept;

    // Decodes the first instruction in `bytes` (extra bytes after it are
    // ignored). Bytes that are no instruction end in a guest fault naming
    // them: an empty buffer, a buffer that ends inside the instruction, an
    // undefined opcode, a prefix the opcode does not allow. `rip` only
    // serves the diagnostic text.
    [[nodiscard]] Step<Insn> decode(std::span<const uint8_t> bytes, uint64_t rip) const;
    // The same into `out`, without a copy of the (~1 KiB) record: nullopt
    // when it decoded, else the guest fault that ends the instruction
    // (`out` is then unspecified).
    [[nodiscard]] std::optional<ExecResult> decode_into(std::span<const uint8_t> bytes, uint64_t rip,
                                                        Insn& out) const;

    // Intel-syntax text of `insn` located at `rip` ("mov dword ptr [rbx], eax").
    [[nodiscard]] std::string text(const Insn& insn, uint64_t rip) const;

private:
    // Names an instruction that Zydis rejects only for its LOCK prefix.
    [[nodiscard]] std::string text_without_lock(std::span<const uint8_t> bytes, uint64_t rip) const;

    ZydisDecoder decoder_{};
    ZydisFormatter formatter_{};
};

// "bytes [f0 89 03]": how a diagnostic names bytes that do not decode.
[[nodiscard]] std::string bytes_text(std::span<const uint8_t> bytes);

}  // namespace hvcore::x86::detail

// SPDX-License-Identifier: MIT
#include "decode.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <gsl/assert>

namespace hvcore::x86::detail {

namespace {

// Why Zydis refused the bytes, in the guest's terms (SDM Vol. 2A §2.1.1 for
// the length limit; an undefined opcode or a prefix the opcode forbids is
// #UD, Vol. 3A §6.15 "Interrupt 6").
[[nodiscard]] std::string_view why_undecodable(ZyanStatus status) {
    if (status == ZYDIS_STATUS_NO_MORE_DATA)
        return "truncated: the buffer ends inside the instruction";
    if (status == ZYDIS_STATUS_INSTRUCTION_TOO_LONG)
        return "longer than 15 bytes (#GP)";
    if (status == ZYDIS_STATUS_ILLEGAL_LOCK)
        return "LOCK prefix not allowed on this instruction (#UD)";
    if (status == ZYDIS_STATUS_ILLEGAL_LEGACY_PFX)
        return "prefix not allowed on this instruction (#UD)";
    if (status == ZYDIS_STATUS_ILLEGAL_REX)
        return "REX prefix not allowed before this encoding (#UD)";
    if (status == ZYDIS_STATUS_BAD_REGISTER)
        return "encodes a register that does not exist (#UD)";
    if (status == ZYDIS_STATUS_INVALID_MAP || status == ZYDIS_STATUS_MALFORMED_EVEX ||
        status == ZYDIS_STATUS_MALFORMED_MVEX || status == ZYDIS_STATUS_INVALID_MASK)
        return "malformed VEX/EVEX encoding (#UD)";
    return "not a valid x86-64 instruction (#UD)";
}

// Legacy prefixes (SDM Vol. 2A §2.1.1, groups 1-4).
[[nodiscard]] bool is_legacy_prefix(uint8_t b) {
    switch (b) {
        case 0xf0: case 0xf2: case 0xf3:                          // group 1: LOCK, REPNE, REP
        case 0x2e: case 0x36: case 0x3e: case 0x26: case 0x64: case 0x65:  // group 2: segments
        case 0x66:                                                // group 3: operand size
        case 0x67:                                                // group 4: address size
            return true;
        default:
            return false;
    }
}

constexpr uint8_t lock_prefix = 0xf0;
constexpr uint8_t ds_prefix = 0x3e;  // a null prefix in 64-bit mode (SDM Vol. 1 §3.4.2.1)

}  // namespace

ExecResult guest_fault(std::string_view what, std::string_view why) {
    return ExecResult{MemStatus::guest_fault, fmt::format("{}: {}", what, why)};
}

std::string bytes_text(std::span<const uint8_t> bytes) {
    if (bytes.empty())
        return "(no bytes)";
    return fmt::format("bytes [{:02x}]", fmt::join(bytes.first(std::min<size_t>(bytes.size(), max_insn_length)), " "));
}

Decoder::Decoder() noexcept {
    const ZyanStatus d = ZydisDecoderInit(&decoder_, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
    const ZyanStatus f = ZydisFormatterInit(&formatter_, ZYDIS_FORMATTER_STYLE_INTEL);
    // Both fail only for arguments out of range.
    Expects(ZYAN_SUCCESS(d) && ZYAN_SUCCESS(f));
}

Step<Insn> Decoder::decode(std::span<const uint8_t> bytes, uint64_t rip) const {
    Insn insn;
    if (std::optional<ExecResult> end = decode_into(bytes, rip, insn))
        return *std::move(end);
    return insn;
}

std::optional<ExecResult> Decoder::decode_into(std::span<const uint8_t> bytes, uint64_t rip, Insn& insn) const {
    if (bytes.empty())
        return guest_fault(bytes_text(bytes), "empty instruction buffer");
    const ZyanStatus s = ZydisDecoderDecodeFull(&decoder_, bytes.data(), bytes.size(), &insn.info, insn.ops.data());
    if (ZYAN_SUCCESS(s))
        return std::nullopt;
    if (s == ZYDIS_STATUS_ILLEGAL_LOCK) {
        std::string name = text_without_lock(bytes, rip);
        if (!name.empty())
            return guest_fault(name, why_undecodable(s));
    }
    return guest_fault(bytes_text(bytes), why_undecodable(s));
}

std::string Decoder::text(const Insn& insn, uint64_t rip) const {
    std::array<char, 256> buf{};
    const ZyanStatus s = ZydisFormatterFormatInstruction(&formatter_, &insn.info, insn.ops.data(),
                                                         insn.info.operand_count_visible, buf.data(), buf.size(),
                                                         rip, nullptr);
    if (!ZYAN_SUCCESS(s))
        return ZydisMnemonicGetString(insn.info.mnemonic);
    return std::string(buf.data());
}

std::string Decoder::text_without_lock(std::span<const uint8_t> bytes, uint64_t rip) const {
    // Same length and meaning with each LOCK replaced by the null DS prefix,
    // so the text names what the guest wrote, minus the LOCK.
    std::array<uint8_t, max_insn_length> copy{};
    const size_t n = std::min(bytes.size(), copy.size());
    std::copy_n(bytes.begin(), n, copy.begin());
    for (size_t i = 0; i < n && is_legacy_prefix(copy[i]); ++i)
        if (copy[i] == lock_prefix)
            copy[i] = ds_prefix;
    Insn insn;
    if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&decoder_, copy.data(), n, &insn.info, insn.ops.data())))
        return {};
    return "lock " + text(insn, rip);
}

}  // namespace hvcore::x86::detail

// SPDX-License-Identifier: MIT
// SSE moves between XMM registers, general-purpose registers and memory
// (SDM Vol. 2B, one page each):
//   MOVD/MOVQ   66 0F 6E/7E (REX.W: 64-bit), F3 0F 7E, 66 0F D6
//   MOVDQA/MOVDQU 66/F3 0F 6F/7F, MOVAPS/MOVUPS 0F 28/29, 0F 10/11,
//   MOVAPD/MOVUPD 66 0F 28/29, 66 0F 10/11,
//   MOVNTDQ 66 0F E7, MOVNTPS 0F 2B, MOVNTPD 66 0F 2B, MOVNTDQA 66 0F 38 2A.
// A load into an XMM register replaces all 128 bits: MOVD/MOVQ zero the
// bits above the 32 or 64 they move. A 16-byte memory operand is one
// access; the emulation port splits it into legal ioreqs (at most 8 bytes,
// naturally aligned). The aligned forms raise #GP on a memory operand that
// is not 16-byte aligned, before any access. The MMX forms (MM registers)
// and the VEX/EVEX forms (other mnemonics) are not emulated; CR0/CR4 SSE
// enables are not modelled (the guest has SSE on). Flags are not affected.
#include <fmt/format.h>

#include "handlers.hpp"

namespace hvcore::x86::detail {

namespace {

constexpr uint64_t sse_alignment = 16;

ExecResult sse_move(Machine& m, bool aligned) {
    Step<Operand> dst = m.operand(0);
    if (!dst)
        return std::move(dst).end();
    Step<Operand> src = m.operand(1);
    if (!src)
        return std::move(src).end();
    if (aligned) {
        for (const Operand* op : {&*dst, &*src}) {
            if (op->where == Where::memory && op->address % sse_alignment != 0)
                return m.reject(fmt::format("memory operand at {:#x} is not 16-byte aligned (#GP)", op->address));
        }
    }
    Step<Vec128> value = m.load_vec(*src);
    if (!value)
        return std::move(value).end();
    return m.store_vec(*dst, *value);
}

}  // namespace

ExecResult exec_sse_move(Machine& m) { return sse_move(m, false); }
ExecResult exec_sse_move_aligned(Machine& m) { return sse_move(m, true); }

}  // namespace hvcore::x86::detail

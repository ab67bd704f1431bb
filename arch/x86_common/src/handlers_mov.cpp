// SPDX-License-Identifier: MIT
// MOV (SDM Vol. 2B, "MOV—Move"), the general-purpose forms:
//   88/89 r/m <- r, 8A/8B r <- r/m, C6/C7 r/m <- imm (REX.W: imm32
//   sign-extended), A0-A3 AL/AX/EAX/RAX <-> moffs, B0-BF r <- imm.
// Flags are not affected. MOV to or from segment, control and debug
// registers shares the mnemonic; operand() rejects those registers.
// MOVNTI (0F C3, "Store Doubleword Using Non-Temporal Hint") is the same
// store for the executor: the hint only concerns caching.
#include "alu.hpp"
#include "handlers.hpp"

namespace hvcore::x86::detail {

ExecResult exec_mov(Machine& m) {
    Step<Operand> dst = m.operand(0);
    if (!dst)
        return std::move(dst).end();
    Step<Operand> src = m.operand(1);
    if (!src)
        return std::move(src).end();
    // A store does not read its destination: the only access of 88/89/C6/C7
    // to memory is the write.
    Step<uint64_t> value = m.load(*src);
    if (!value)
        return std::move(value).end();
    return m.store(*dst, *value);
}

namespace {

// MOVZX (0F B6/B7), MOVSX (0F BE/BF) and MOVSXD (63): the source (8, 16
// or 32 bits) zero- or sign-extended to the destination register (SDM Vol.
// 2B "MOVZX", "MOVSX/MOVSXD"); MOVSXD without REX.W is a plain 32-bit move.
// One read of memory; flags are not affected.
ExecResult extend(Machine& m, bool sign) {
    Step<Operand> dst = m.operand(0);
    if (!dst)
        return std::move(dst).end();
    Step<Operand> src = m.operand(1);
    if (!src)
        return std::move(src).end();
    Step<uint64_t> value = m.load(*src);
    if (!value)
        return std::move(value).end();
    return m.store(*dst, sign ? sign_extend(*value, src->size) : *value);
}

}  // namespace

ExecResult exec_movzx(Machine& m) { return extend(m, false); }
ExecResult exec_movsx(Machine& m) { return extend(m, true); }

}  // namespace hvcore::x86::detail

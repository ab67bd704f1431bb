// MOV (SDM Vol. 2B, "MOV—Move"), the general-purpose forms:
//   88/89 r/m <- r, 8A/8B r <- r/m, C6/C7 r/m <- imm (REX.W: imm32
//   sign-extended), A0-A3 AL/AX/EAX/RAX <-> moffs, B0-BF r <- imm.
// Flags are not affected. MOV to or from segment, control and debug
// registers shares the mnemonic; operand() rejects those registers.
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

}  // namespace hvcore::x86::detail

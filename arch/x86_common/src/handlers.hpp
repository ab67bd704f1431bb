// SPDX-License-Identifier: MIT
// The emulated instructions, one handler per Zydis mnemonic. A handler
// resolves its operands through Machine::operand() (no access yet), then
// loads and stores them in program order, and returns ok or the result
// that ended it. Adding an instruction = one function + one table line in
// handlers.cpp.
#pragma once

#include <Zydis/Zydis.h>

#include "machine.hpp"

namespace hvcore::x86::detail {

using Handler = ExecResult (*)(Machine&);

// nullptr when the mnemonic is not emulated.
[[nodiscard]] Handler find_handler(ZydisMnemonic mnemonic) noexcept;

// handlers_mov.cpp
[[nodiscard]] ExecResult exec_mov(Machine& m);    // MOV, MOVNTI
[[nodiscard]] ExecResult exec_movzx(Machine& m);
[[nodiscard]] ExecResult exec_movsx(Machine& m);  // MOVSX, MOVSXD
// handlers_io.cpp
[[nodiscard]] ExecResult exec_in(Machine& m);
[[nodiscard]] ExecResult exec_out(Machine& m);
// handlers_alu.cpp
[[nodiscard]] ExecResult exec_add(Machine& m);
[[nodiscard]] ExecResult exec_or(Machine& m);
[[nodiscard]] ExecResult exec_adc(Machine& m);
[[nodiscard]] ExecResult exec_sbb(Machine& m);
[[nodiscard]] ExecResult exec_and(Machine& m);
[[nodiscard]] ExecResult exec_sub(Machine& m);
[[nodiscard]] ExecResult exec_xor(Machine& m);
[[nodiscard]] ExecResult exec_cmp(Machine& m);
[[nodiscard]] ExecResult exec_test(Machine& m);
[[nodiscard]] ExecResult exec_inc(Machine& m);
[[nodiscard]] ExecResult exec_dec(Machine& m);
[[nodiscard]] ExecResult exec_not(Machine& m);
[[nodiscard]] ExecResult exec_neg(Machine& m);
[[nodiscard]] ExecResult exec_xchg(Machine& m);
[[nodiscard]] ExecResult exec_xadd(Machine& m);
[[nodiscard]] ExecResult exec_cmpxchg(Machine& m);
[[nodiscard]] ExecResult exec_bt(Machine& m);
[[nodiscard]] ExecResult exec_bts(Machine& m);
[[nodiscard]] ExecResult exec_btr(Machine& m);
[[nodiscard]] ExecResult exec_btc(Machine& m);
[[nodiscard]] ExecResult exec_setcc(Machine& m);
// handlers_sse.cpp
[[nodiscard]] ExecResult exec_sse_move(Machine& m);          // MOVD MOVQ MOVDQU MOVUPS MOVUPD
[[nodiscard]] ExecResult exec_sse_move_aligned(Machine& m);  // MOVDQA MOVAPS MOVAPD MOVNT*
// handlers_string.cpp
[[nodiscard]] ExecResult exec_movs(Machine& m);
[[nodiscard]] ExecResult exec_stos(Machine& m);

}  // namespace hvcore::x86::detail

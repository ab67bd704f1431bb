// The emulated instructions, one handler per Zydis mnemonic. A handler
// resolves its operands through Machine::operand() (no access yet), then
// loads and stores them in program order, and returns ok or the result
// that ended it. Adding an instruction = one function + one table line in
// handlers.cpp (ALU read-modify-write, MOVS/STOS, XCHG, CMPXCHG, ...).
#pragma once

#include <Zydis/Zydis.h>

#include "machine.hpp"

namespace hvcore::x86::detail {

using Handler = ExecResult (*)(Machine&);

// nullptr when the mnemonic is not emulated.
[[nodiscard]] Handler find_handler(ZydisMnemonic mnemonic) noexcept;

[[nodiscard]] ExecResult exec_mov(Machine& m);  // handlers_mov.cpp
[[nodiscard]] ExecResult exec_in(Machine& m);   // handlers_io.cpp
[[nodiscard]] ExecResult exec_out(Machine& m);  // handlers_io.cpp

}  // namespace hvcore::x86::detail

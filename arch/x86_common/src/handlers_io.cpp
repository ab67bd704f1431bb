// SPDX-License-Identifier: MIT
// IN and OUT (SDM Vol. 2A "IN—Input from Port", Vol. 2B "OUT—Output to
// Port"): E4/E5/E6/E7 with an imm8 port (zero-extended), EC/ED/EE/EF with
// the port in DX; AL, AX or EAX by operand size (REX.W does not make them
// 64-bit). IN to EAX zero-extends into RAX like any 32-bit register write.
// Flags are not affected. The I/O permission checks (CPL/IOPL, TSS bitmap)
// are not modelled: the guest runs at CPL 0.
#include "handlers.hpp"

namespace hvcore::x86::detail {

namespace {

[[nodiscard]] uint16_t port_number(uint64_t v) noexcept { return static_cast<uint16_t>(v); }

}  // namespace

ExecResult exec_in(Machine& m) {
    Step<Operand> dst = m.operand(0);
    if (!dst)
        return std::move(dst).end();
    Step<Operand> port = m.operand(1);
    if (!port)
        return std::move(port).end();
    Step<uint64_t> number = m.load(*port);
    if (!number)
        return std::move(number).end();
    Step<uint64_t> value = m.port_in(port_number(*number), dst->size);
    if (!value)
        return std::move(value).end();
    return m.store(*dst, *value);
}

ExecResult exec_out(Machine& m) {
    Step<Operand> port = m.operand(0);
    if (!port)
        return std::move(port).end();
    Step<Operand> src = m.operand(1);
    if (!src)
        return std::move(src).end();
    Step<uint64_t> number = m.load(*port);
    if (!number)
        return std::move(number).end();
    Step<uint64_t> value = m.load(*src);
    if (!value)
        return std::move(value).end();
    return m.port_out(port_number(*number), src->size, *value);
}

}  // namespace hvcore::x86::detail

// SPDX-License-Identifier: MIT
// MOVS and STOS with and without REP (SDM Vol. 2B "MOVS/MOVSB/MOVSW/MOVSD/
// MOVSQ", "STOS/STOSB/STOSW/STOSD/STOSQ", "REP/REPE/REPZ/REPNE/REPNZ").
//
// Element i of MOVS copies [RSI ± i*size] to [RDI ± i*size]; STOS stores
// AL/AX/EAX/RAX at [RDI ± i*size]; down when EFLAGS.DF = 1. With REP the
// count is RCX and RCX = 0 does nothing; F2 (REPNE) repeats these two the
// same way, as the processors do. With 67h the registers are ESI, EDI and
// ECX, addresses wrap at 4 GiB and the updates are 32-bit register writes,
// which clear bits 63:32. With a zero count the vendors differ (measured;
// neither manual says): Intel still writes the three registers (clearing
// their upper halves under 67h), AMD leaves them as they were.
//
// The memory side goes to MemPort::rep in one call. The model MMU does it
// element by element and stops at the first fault: the completed elements
// stand (the result says `committed`) and the hypervisor then emulates the
// instruction from there. The emulation port does what fits in a page: one
// ioreq with count, df and data_is_ptr for a device, or RAM directly. The
// registers then reflect the elements done, and RIP moves past the
// instruction only when none are left; otherwise the guest executes it
// again for the rest, exactly as after an interrupt between iterations.
#include <algorithm>
#include <fmt/format.h>

#include "handlers.hpp"
#include "hvcore/x86/isa_x86.hpp"

namespace hvcore::x86::detail {

namespace {

// Elements per execution in the hardware role, a bound on the time one
// call holds the domain: the guest goes on as after an interrupt.
constexpr uint64_t max_elements_per_execution = uint64_t{1} << 16;

// The lowest and highest canonical addresses around `addr`'s half (SDM
// Vol. 1 §3.3.7.1), for counting elements before a #GP.
constexpr uint64_t lower_half_end = (uint64_t{1} << (linear_address_bits - 1)) - 1;
constexpr uint64_t upper_half_start = ~lower_half_end;

// How many elements, from the first, lie wholly inside the address space
// (no wrap past `limit`, the highest address) and are canonical; 0 when
// the first one is not.
[[nodiscard]] uint64_t elements_in_reach(uint64_t addr, unsigned size, bool df, uint64_t limit) {
    uint64_t low = 0;
    uint64_t high = limit;
    if (limit == ~uint64_t{0}) {
        if (addr <= lower_half_end) {
            high = lower_half_end;
        } else if (addr >= upper_half_start) {
            low = upper_half_start;
        } else {
            return 0;
        }
    }
    if (addr > high || high - addr < size - 1)
        return 0;  // the first element ends outside
    if (df)
        return (addr - low) / size + 1;
    return (high - addr - (size - 1)) / size + 1;
}

ExecResult string_op(Machine& m, RepAccess::Kind kind) {
    const ZydisDecodedInstruction& info = m.insn().info;
    // The SSE2 MOVSD (F2 0F 10/11) shares the mnemonic with the string form.
    if (info.opcode_map != ZYDIS_OPCODE_MAP_DEFAULT)
        return m.reject("instruction not emulated");
    // The source of MOVS may take a segment override; FS/GS bases are not
    // modelled. The destination is always ES (base 0).
    for (unsigned i = 0; i < info.operand_count; ++i) {
        const ZydisDecodedOperand& op = m.insn().ops[i];
        if (op.type == ZYDIS_OPERAND_TYPE_MEMORY &&
            (op.mem.segment == ZYDIS_REGISTER_FS || op.mem.segment == ZYDIS_REGISTER_GS))
            return m.reject(fmt::format("{} segment override is not supported", ZydisRegisterGetString(op.mem.segment)));
    }
    const unsigned size = info.operand_width / 8u;
    const bool addr32 = info.address_width == 32;
    const uint64_t limit = addr32 ? 0xffff'ffff : ~uint64_t{0};
    const unsigned addr_size = addr32 ? 4 : 8;
    const bool rep = (info.attributes & (ZYDIS_ATTRIB_HAS_REP | ZYDIS_ATTRIB_HAS_REPNE)) != 0;
    const bool df = (m.rflags() & flag::df) != 0;
    const bool copy = kind == RepAccess::Kind::copy;

    const uint64_t count = rep ? m.gpr64(reg::rcx) & limit : 1;
    const uint64_t dst = m.gpr64(reg::rdi) & limit;
    const uint64_t src = m.gpr64(reg::rsi) & limit;
    // The registers after `done` elements; 32-bit writes under 67h, which
    // clear bits 63:32.
    const Gpr rsi{reg::rsi, addr_size, false};
    const Gpr rdi{reg::rdi, addr_size, false};
    const Gpr rcx{reg::rcx, addr_size, false};
    auto advance = [&](uint64_t done) {
        const uint64_t moved = done * size;
        write_gpr(m.gprs(), rdi, df ? dst - moved : dst + moved);
        if (copy)
            write_gpr(m.gprs(), rsi, df ? src - moved : src + moved);
        if (rep)
            write_gpr(m.gprs(), rcx, count - done);
    };
    if (count == 0) {
        // REP with a zero count: no access, RIP advances. Intel writes the
        // registers back anyway (32-bit writes under 67h clear bits 63:32),
        // AMD does not write them (the file comment).
        switch (m.vendor()) {
        case Vendor::intel: advance(0); break;
        case Vendor::amd: break;
        }
        return {};
    }
    uint64_t n = std::min(count, max_elements_per_execution);
    n = std::min(n, elements_in_reach(dst, size, df, limit));
    if (copy)
        n = std::min(n, elements_in_reach(src, size, df, limit));
    if (n == 0) {
        const uint64_t bad = copy && elements_in_reach(src, size, df, limit) == 0 ? src : dst;
        return m.reject(fmt::format("non-canonical address {:#x} (#GP)", bad));
    }

    const RepAccess a{.kind = kind, .dst = dst, .src = src, .value = low_bytes(m.gpr64(reg::rax), size),
                      .size = size, .count = n, .df = df};
    const RepResult r = m.rep(a);
    Expects(r.done <= n);

    advance(r.done);
    const uint64_t moved = r.done * size;

    if (r.status != MemStatus::ok) {
        ExecResult end = m.ended(r.status, copy ? "element copy at" : "element store at", size,
                                 df ? dst - moved : dst + moved);
        // Completed elements stand (SDM Vol. 2B REP: registers are updated
        // per iteration, so a fault restarts at the faulting one).
        end.committed = r.done > 0;
        m.hold_rip();
        return end;
    }
    if (rep && r.done < count)
        m.hold_rip();  // elements left: the guest executes it again
    return {};
}

}  // namespace

ExecResult exec_movs(Machine& m) { return string_op(m, RepAccess::Kind::copy); }
ExecResult exec_stos(Machine& m) { return string_op(m, RepAccess::Kind::fill); }

}  // namespace hvcore::x86::detail

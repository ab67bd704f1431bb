// SPDX-License-Identifier: MIT
// The integer instructions that read, and usually write, a memory operand
// (SDM Vol. 2A/2B, one page each): ADD OR ADC SBB AND SUB XOR CMP TEST,
// INC DEC NOT NEG, XCHG, CMPXCHG, XADD, BT BTS BTR BTC, SETcc.
//
// Each runs as the hardware does: operands located first (no access yet),
// then the destination read, the result computed, the destination written
// (one read and one write of memory, in that order), flags last. On an
// ioreq_server page the emulation port serves the read from RAM and
// forwards the write: the device model sees one write with the final value
// (Xen 4b602cced9). LOCK is checked by the decoder: allowed only on the
// memory forms of ADD OR ADC SBB AND SUB XOR INC DEC NOT NEG XCHG CMPXCHG
// XADD BTS BTR BTC, #UD elsewhere (SDM Vol. 2A "LOCK"); the emulator's
// read-then-write runs under the domain lock, so no other vCPU's emulated
// access comes between them.
//
// The read of every instruction here that writes its memory operand is
// marked as the read of a read-modify-write (rmw below): the hardware
// reports a fault of it as a write (SDM Vol. 3C §28.2.1, "Basic VM-Exit
// Information": "An EPT violation that occurs as a result of execution of
// a read-modify-write operation sets bit 1 (data write)"; AMD: Linux
// c205fb7d7d4f). CMP, TEST and BT only read; SETcc only writes.
#include <fmt/format.h>

#include "alu.hpp"
#include "handlers.hpp"
#include "hvcore/x86/isa_x86.hpp"

namespace hvcore::x86::detail {

namespace {

// The read of a read-modify-write (AccessInfo::rmw_read).
constexpr AccessInfo rmw{.rmw_read = true};

enum class Binary : uint8_t { add, or_, adc, sbb, and_, sub, xor_, cmp, test };

struct Operands {
    Operand dst;
    Operand src;
};

[[nodiscard]] Step<Operands> two_operands(const Machine& m) {
    Step<Operand> dst = m.operand(0);
    if (!dst)
        return std::move(dst).end();
    Step<Operand> src = m.operand(1);
    if (!src)
        return std::move(src).end();
    return Operands{*dst, *src};
}

ExecResult binary(Machine& m, Binary op) {
    Step<Operands> o = two_operands(m);
    if (!o)
        return std::move(o).end();
    const unsigned size = o->dst.size;
    const uint64_t mask = size_mask(size);
    // CMP and TEST only compute flags ("the result is discarded").
    const bool writes = op != Binary::cmp && op != Binary::test;
    Step<uint64_t> a = m.load(o->dst, writes ? rmw : AccessInfo{});
    if (!a)
        return std::move(a).end();
    Step<uint64_t> src = m.load(o->src);  // a register or an immediate (sign-extended by the decoder)
    if (!src)
        return std::move(src).end();
    const uint64_t b = *src & mask;
    const bool cf_in = (m.rflags() & flag::cf) != 0;
    uint64_t res = 0;
    uint64_t flags = 0;
    switch (op) {
        case Binary::add:
            res = (*a + b) & mask;
            flags = add_flags(*a, b, false, res, size);
            break;
        case Binary::adc:
            res = (*a + b + (cf_in ? 1 : 0)) & mask;
            flags = add_flags(*a, b, cf_in, res, size);
            break;
        case Binary::sub:
        case Binary::cmp:
            res = (*a - b) & mask;
            flags = sub_flags(*a, b, false, res, size);
            break;
        case Binary::sbb:
            res = (*a - b - (cf_in ? 1 : 0)) & mask;
            flags = sub_flags(*a, b, cf_in, res, size);
            break;
        case Binary::and_:
        case Binary::test:
            res = *a & b;
            flags = logic_flags(res, size);
            break;
        case Binary::or_:
            res = *a | b;
            flags = logic_flags(res, size);
            break;
        case Binary::xor_:
            res = *a ^ b;
            flags = logic_flags(res, size);
            break;
    }
    if (writes) {
        ExecResult w = m.store(o->dst, res);
        if (w.status != MemStatus::ok)
            return w;
    }
    m.set_flags(flag::status, flags);
    return {};
}

enum class Unary : uint8_t { inc, dec, not_, neg };

ExecResult unary(Machine& m, Unary op) {
    Step<Operand> dst = m.operand(0);
    if (!dst)
        return std::move(dst).end();
    const unsigned size = dst->size;
    const uint64_t mask = size_mask(size);
    Step<uint64_t> a = m.load(*dst, rmw);
    if (!a)
        return std::move(a).end();
    uint64_t res = 0;
    uint64_t flags = 0;
    uint64_t written = flag::status;
    switch (op) {
        case Unary::inc:  // CF is not affected
            res = (*a + 1) & mask;
            flags = add_flags(*a, 1, false, res, size);
            written &= ~flag::cf;
            break;
        case Unary::dec:  // CF is not affected
            res = (*a - 1) & mask;
            flags = sub_flags(*a, 1, false, res, size);
            written &= ~flag::cf;
            break;
        case Unary::not_:  // no flags
            res = ~*a & mask;
            written = 0;
            break;
        case Unary::neg:  // 0 - a; CF = (a != 0)
            res = (0 - *a) & mask;
            flags = sub_flags(0, *a, false, res, size);
            break;
    }
    ExecResult w = m.store(*dst, res);
    if (w.status != MemStatus::ok)
        return w;
    m.set_flags(written, flags);
    return {};
}

}  // namespace

ExecResult exec_add(Machine& m) { return binary(m, Binary::add); }
ExecResult exec_or(Machine& m) { return binary(m, Binary::or_); }
ExecResult exec_adc(Machine& m) { return binary(m, Binary::adc); }
ExecResult exec_sbb(Machine& m) { return binary(m, Binary::sbb); }
ExecResult exec_and(Machine& m) { return binary(m, Binary::and_); }
ExecResult exec_sub(Machine& m) { return binary(m, Binary::sub); }
ExecResult exec_xor(Machine& m) { return binary(m, Binary::xor_); }
ExecResult exec_cmp(Machine& m) { return binary(m, Binary::cmp); }
ExecResult exec_test(Machine& m) { return binary(m, Binary::test); }
ExecResult exec_inc(Machine& m) { return unary(m, Unary::inc); }
ExecResult exec_dec(Machine& m) { return unary(m, Unary::dec); }
ExecResult exec_not(Machine& m) { return unary(m, Unary::not_); }
ExecResult exec_neg(Machine& m) { return unary(m, Unary::neg); }

// XCHG: the memory form is locked whether or not LOCK is present (SDM Vol.
// 2B "XCHG"); one read and one write of memory. No flags.
ExecResult exec_xchg(Machine& m) {
    Step<Operands> o = two_operands(m);
    if (!o)
        return std::move(o).end();
    // Whichever operand is memory is read then written (a register
    // operand ignores the mark).
    Step<uint64_t> a = m.load(o->dst, rmw);
    if (!a)
        return std::move(a).end();
    Step<uint64_t> b = m.load(o->src, rmw);
    if (!b)
        return std::move(b).end();
    ExecResult w = m.store(o->dst, *b);
    if (w.status != MemStatus::ok)
        return w;
    return m.store(o->src, *a);
}

// XADD: TEMP = SRC + DEST; SRC = DEST; DEST = TEMP (SDM Vol. 2B "XADD"),
// flags as ADD.
ExecResult exec_xadd(Machine& m) {
    Step<Operands> o = two_operands(m);
    if (!o)
        return std::move(o).end();
    const unsigned size = o->dst.size;
    Step<uint64_t> dst = m.load(o->dst, rmw);
    if (!dst)
        return std::move(dst).end();
    Step<uint64_t> src = m.load(o->src);
    if (!src)
        return std::move(src).end();
    const uint64_t sum = (*dst + *src) & size_mask(size);
    // Memory first (the one write); with two registers SRC first, so that
    // "xadd eax, eax" ends holding the sum.
    const bool dst_first = o->dst.where == Where::memory;
    ExecResult w = m.store(dst_first ? o->dst : o->src, dst_first ? sum : *dst);
    if (w.status != MemStatus::ok)
        return w;
    w = m.store(dst_first ? o->src : o->dst, dst_first ? *dst : sum);
    if (w.status != MemStatus::ok)
        return w;
    m.set_flags(flag::status, add_flags(*dst, *src, false, sum, size));
    return {};
}

// CMPXCHG: compare the accumulator with DEST (flags as CMP acc, DEST); if
// equal DEST = SRC, else the accumulator = DEST and "the destination
// operand is written back" unchanged (SDM Vol. 2A "CMPXCHG"). That
// write-back is marked, so the hardware still faults on it while the
// emulator drops it (no device model sees a write that changes nothing).
// A register destination is not written back: the host CPUs leave bits
// 63:32 of a 32-bit destination as they were (the differential test
// checks it), unlike a 32-bit register write.
ExecResult exec_cmpxchg(Machine& m) {
    Step<Operands> o = two_operands(m);
    if (!o)
        return std::move(o).end();
    const unsigned size = o->dst.size;
    const Operand acc{.where = Where::gpr, .size = size, .gpr = Gpr{reg::rax, size, false}};
    // Read-modify-write whatever the comparison gives: the destination is
    // written either way ("the processor never produces a locked read
    // without also producing a locked write").
    Step<uint64_t> dst = m.load(o->dst, rmw);
    if (!dst)
        return std::move(dst).end();
    Step<uint64_t> src = m.load(o->src);
    if (!src)
        return std::move(src).end();
    Step<uint64_t> a = m.load(acc);
    if (!a)
        return std::move(a).end();
    const uint64_t diff = (*a - *dst) & size_mask(size);
    const uint64_t flags = sub_flags(*a, *dst, false, diff, size);
    if (*a == *dst) {
        ExecResult w = m.store(o->dst, *src);
        if (w.status != MemStatus::ok)
            return w;
    } else {
        if (o->dst.where == Where::memory) {
            ExecResult w = m.store(o->dst, *dst, AccessInfo{.rewrites_read_value = true});
            if (w.status != MemStatus::ok)
                return w;
        }
        ExecResult w = m.store(acc, *dst);
        if (w.status != MemStatus::ok)
            return w;
    }
    m.set_flags(flag::status, flags);
    return {};
}

namespace {

enum class BitOp : uint8_t { test, set, reset, complement };

// BT/BTS/BTR/BTC (SDM Vol. 2A "BT"): CF = the selected bit; ZF unchanged;
// OF SF AF PF undefined (left unchanged here). An immediate offset is
// taken modulo the operand width. A register offset into memory is a
// signed bit string index: the byte address moves by the operand size
// times offset DIV width (arithmetic), then the bit is offset MOD width, so
// the access may lie far from the operand's own address.
ExecResult bit_op(Machine& m, BitOp op) {
    Step<Operands> o = two_operands(m);
    if (!o)
        return std::move(o).end();
    const unsigned size = o->dst.size;
    const unsigned width = size * 8;
    Operand target = o->dst;
    Step<uint64_t> offset = m.load(o->src);
    if (!offset)
        return std::move(offset).end();
    const unsigned bit = static_cast<unsigned>(*offset & (width - 1));
    if (o->src.where == Where::gpr && o->dst.where == Where::memory) {
        const auto signed_offset = static_cast<int64_t>(sign_extend(*offset, o->src.size));
        const int64_t units = signed_offset >> std::countr_zero(width);  // floor(offset / width)
        Step<Operand> moved = m.displaced(o->dst, units * static_cast<int64_t>(size));
        if (!moved)
            return std::move(moved).end();
        target = *moved;
    }
    Step<uint64_t> v = m.load(target, op == BitOp::test ? AccessInfo{} : rmw);
    if (!v)
        return std::move(v).end();
    const uint64_t mask = uint64_t{1} << bit;
    const bool was_set = (*v & mask) != 0;
    uint64_t res = *v;
    switch (op) {
        case BitOp::test: break;
        case BitOp::set: res |= mask; break;
        case BitOp::reset: res &= ~mask; break;
        case BitOp::complement: res ^= mask; break;
    }
    if (op != BitOp::test) {
        ExecResult w = m.store(target, res);
        if (w.status != MemStatus::ok)
            return w;
    }
    m.set_flags(flag::cf, was_set ? flag::cf : 0);
    return {};
}

}  // namespace

ExecResult exec_bt(Machine& m) { return bit_op(m, BitOp::test); }
ExecResult exec_bts(Machine& m) { return bit_op(m, BitOp::set); }
ExecResult exec_btr(Machine& m) { return bit_op(m, BitOp::reset); }
ExecResult exec_btc(Machine& m) { return bit_op(m, BitOp::complement); }

// SETcc r/m8 (SDM Vol. 2B "SETcc"): 1 if the condition in the opcode's low
// nibble (0F 90+cc) holds, else 0. A memory destination is written either
// way; flags are not affected.
ExecResult exec_setcc(Machine& m) {
    Step<Operand> dst = m.operand(0);
    if (!dst)
        return std::move(dst).end();
    const unsigned cc = m.insn().info.opcode & 0xf;
    return m.store(*dst, condition(cc, m.rflags()) ? 1 : 0);
}

}  // namespace hvcore::x86::detail

// SPDX-License-Identifier: MIT
// The A64 executor: decode (a64_decode.hpp), then the instruction's port
// accesses in the order the architecture makes them, then the register
// writes (PC + 4 and any base writeback included), only when every access
// answered ok; any other answer leaves the caller's registers exactly as
// they were (isa.hpp). Re-executed after a device
// model's answer, the same accesses happen in the same order, so the
// core's replay log lines up.
#include "hvcore/arm64/isa_a64.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <gsl/assert>
#include <string>
#include <string_view>

#include "a64_decode.hpp"
#include "hvcore/arm64/esr.hpp"

namespace hvcore::arm64 {

namespace {

using detail::Addressing;
using detail::AtomicOp;
using detail::Decoded;
using detail::Extend;
using detail::MemInsn;
using detail::Op;

// The widest single transfer: two Q registers (LDP/STP of Q).
constexpr unsigned max_transfer = 32;
using Buf = std::array<uint8_t, max_transfer>;

// Guest memory is little-endian (the model has SCTLR_EL1.EE = 0), whatever
// the host is.
[[nodiscard]] uint64_t from_le(const uint8_t* b, unsigned size) noexcept {
    uint64_t v = 0;
    for (unsigned i = std::min(size, 8U); i-- > 0;) v = (v << 8) | b[i];
    return v;
}
void to_le(uint8_t* b, uint64_t v, unsigned size) noexcept {
    for (unsigned i = 0; i < size && i < 8; ++i) b[i] = static_cast<uint8_t>(v >> (8 * i));
}
[[nodiscard]] constexpr uint64_t low_bytes(uint64_t v, unsigned size) noexcept {
    return size >= 8 ? v : v & ((uint64_t{1} << (size * 8)) - 1);
}
[[nodiscard]] constexpr uint64_t sign_extend(uint64_t v, unsigned bits) noexcept {
    const unsigned spare = 64 - bits;
    return static_cast<uint64_t>(static_cast<int64_t>(v << spare) >> spare);
}

// X[n] as a data or index register: 31 reads as zero (XZR).
[[nodiscard]] uint64_t read_xzr(const RegFile& r, unsigned n) noexcept { return n == 31 ? 0 : r.r[n]; }
// X[n] written: 31 is XZR, the value is discarded.
void write_xzr(RegFile& r, unsigned n, uint64_t v) noexcept {
    if (n != 31) r.r[n] = v;
}

// A load's register value (Arm ARM C6.2 LDRB/LDRSB/...): zero- or
// sign-extended from the access size; a W destination is then written
// zero-extended to 64 bits (C1.2.5 "Register names": writes to Wn clear
// bits 63:32).
[[nodiscard]] constexpr uint64_t load_result(uint64_t raw, unsigned size, bool sign, bool reg64) noexcept {
    uint64_t v = sign ? sign_extend(raw, size * 8) : raw;
    return reg64 ? v : v & 0xffff'ffff;
}
static_assert(load_result(0x80, 1, true, false) == 0xffff'ff80);           // ldrsb w: 32-bit sign extension
static_assert(load_result(0x80, 1, true, true) == 0xffff'ffff'ffff'ff80);  // ldrsb x
static_assert(load_result(0x8000'0000, 4, true, true) == 0xffff'ffff'8000'0000);  // ldrsw
static_assert(load_result(0x8000, 2, false, false) == 0x8000);             // ldrh zero-extends

// SIMD&FP register V[t] as `size` little-endian bytes (B/H/S/D: the low
// bytes; Q: all 16), and written from them: a scalar write clears the rest
// of the 128-bit register (C7.2 LDR (SIMD&FP): "V[t] = data" at the
// register's width; a scalar SIMD&FP register write zeroes the bits above
// it, the V[] setter in the shared pseudocode).
void vec_bytes(const Vec128& v, uint8_t* out, unsigned size) noexcept {
    to_le(out, v.lo, std::min(size, 8U));
    if (size > 8) to_le(out + 8, v.hi, size - 8);
}
[[nodiscard]] Vec128 vec_from(const uint8_t* in, unsigned size) noexcept {
    Vec128 v;
    v.lo = from_le(in, std::min(size, 8U));
    v.hi = size > 8 ? from_le(in + 8, size - 8) : 0;
    return v;
}

[[nodiscard]] ExecResult guest_fault(uint32_t word, std::string_view what, std::string_view why, bool undecoded = false) {
    ExecResult r{MemStatus::guest_fault, fmt::format("{:#010x} ({}): {}", word, what, why)};
    r.undecoded = undecoded;
    return r;
}

// An access the port refused: the normal ways out carry no text; a guest
// fault or a stop names the instruction and the access. `who()` makes the
// name, only then: the exits to the hypervisor and the requests sent to a
// device model (the normal path) format nothing.
template <class Who>
[[nodiscard]] ExecResult refused(MemStatus s, const Who& who, bool write, unsigned size, uint64_t at) {
    switch (s) {
    case MemStatus::ok: break;
    case MemStatus::exit:
    case MemStatus::pending:
    case MemStatus::retry: return ExecResult{s, {}};
    case MemStatus::guest_fault:
        return ExecResult{s, fmt::format("{}: {}-byte {} at {:#x} faulted", who(), size, write ? "write" : "read", at)};
    case MemStatus::stopped:
        return ExecResult{s, fmt::format("{}: {}-byte {} at {:#x} stopped the domain", who(), size,
                                         write ? "write" : "read", at)};
    }
    Expects(false);
    return {};
}

// Effective address of the access (C6.2 pseudocode of each form): base X[n]
// or SP, plus the immediate, or plus Rm extended and shifted; the PC plus
// the literal offset; X[t] for DC. Arithmetic wraps modulo 2^64.
[[nodiscard]] uint64_t address(const RegFile& r, const MemInsn& m) noexcept {
    // Rn = 31 is SP (RegFile slot 31); the SP alignment check
    // (SCTLR_EL1.SA) is not modelled.
    const uint64_t base = r.r[m.rn];
    switch (m.mode) {
    case Addressing::unsigned_offset:
    case Addressing::unscaled:
    case Addressing::signed_offset:
    case Addressing::pre_index: return base + static_cast<uint64_t>(m.offset);
    case Addressing::post_index:
    case Addressing::base_only: return base;
    case Addressing::literal: return r.r[reg::pc] + static_cast<uint64_t>(m.offset);
    case Addressing::register_only: return read_xzr(r, m.rt);
    case Addressing::register_offset: {
        const uint64_t v = read_xzr(r, m.rm);
        uint64_t idx = v;
        switch (m.extend) {
        case Extend::uxtw: idx = v & 0xffff'ffff; break;
        case Extend::sxtw: idx = sign_extend(v, 32); break;
        case Extend::lsl:
        case Extend::sxtx: idx = v; break;  // a 64-bit register extended to 64 bits is itself
        }
        return base + (idx << m.amount);
    }
    }
    Expects(false);
    return 0;
}

// Bytes the instruction touches from its address: every element of it.
[[nodiscard]] unsigned footprint(const MemInsn& m) noexcept {
    switch (m.op) {
    case Op::load_pair:
    case Op::store_pair: return 2 * m.size();
    case Op::compare_swap:
    case Op::load_exclusive:
    case Op::store_exclusive: return m.pair ? 2 * m.size() : m.size();
    case Op::zero_block: return detail::dc_zva_bytes;
    case Op::cache_maintenance: return 1;
    case Op::load:
    case Op::store:
    case Op::atomic:
    case Op::prefetch: return m.size();
    }
    return m.size();
}

// Instructions that must be aligned to their whole access whatever
// SCTLR_EL1.A says (Arm ARM B2, "Alignment of data accesses": atomics,
// compare-and-swap, Load-Acquire/Store-Release and exclusives; the model
// has no FEAT_LSE2, which would relax this inside 16 bytes).
[[nodiscard]] bool must_be_aligned(const MemInsn& m) noexcept {
    switch (m.op) {
    case Op::atomic:
    case Op::compare_swap:
    case Op::load_exclusive:
    case Op::store_exclusive: return true;
    case Op::load:
    case Op::store: return m.acquire || m.release;
    case Op::load_pair:
    case Op::store_pair:
    case Op::prefetch:
    case Op::zero_block:
    case Op::cache_maintenance: return false;
    }
    return false;
}

// The value an atomic memory operation writes (C6.2 LDADD ... SWP,
// "MemAtomic" pseudocode), from the old memory value and Rs, at `bits`.
[[nodiscard]] uint64_t combine(AtomicOp op, uint64_t old, uint64_t s, unsigned bits) noexcept {
    const auto sx = [bits](uint64_t v) { return static_cast<int64_t>(sign_extend(v, bits)); };
    switch (op) {
    case AtomicOp::add: return old + s;
    case AtomicOp::clr: return old & ~s;
    case AtomicOp::eor: return old ^ s;
    case AtomicOp::set: return old | s;
    case AtomicOp::smax: return sx(old) >= sx(s) ? old : s;
    case AtomicOp::smin: return sx(old) <= sx(s) ? old : s;
    case AtomicOp::umax: return old >= s ? old : s;
    case AtomicOp::umin: return old <= s ? old : s;
    case AtomicOp::swp: return s;
    }
    return old;
}

// One instruction on the caller's registers, without a copy of the
// register file: every instruction makes all its port accesses before it
// writes its first register (load, load_pair, atomic and compare_swap write
// after their last access; the base writeback and PC in go() after body()),
// so an access that does not answer ok leaves the registers untouched.
class Run {
public:
    Run(RegFile& regs, const MemInsn& m, MemPort& port) : r_(regs), m_(m), port_(port) {}

    [[nodiscard]] ExecResult go() {
        const uint64_t addr = address(r_, m_);
        va_ = addr;
        if (m_.op == Op::prefetch) return retire();  // a hint: no access, never a fault (C6.2 PRFM)
        // DC ZVA zeroes the naturally aligned block holding the address
        // (C6.2 DC ZVA; DCZID_EL0.BS of the model, a64_decode.hpp).
        const uint64_t at = m_.op == Op::zero_block ? addr & ~uint64_t{detail::dc_zva_bytes - 1} : addr;
        const unsigned bytes = footprint(m_);
        // With stage 1 off, an address the model CPU's PA size cannot hold
        // (or an access wrapping past 2^64) is a stage-1 Address size
        // fault, level 0, taken by the guest before any stage-2 walk.
        const uint64_t last = at + (bytes - 1);
        if (last < at || (at >> pa_range_bits) != 0 || (last >> pa_range_bits) != 0) {
            return fault(fmt::format("address {:#x} is beyond the {}-bit physical address space "
                                     "(stage-1 Address size fault, level 0)",
                                     at, pa_range_bits));
        }
        if (must_be_aligned(m_) && (at & (bytes - 1)) != 0)
            return fault(fmt::format("address {:#x} is not aligned to {} bytes (Alignment fault)", at, bytes));
        if (ExecResult e = body(at); e.status != MemStatus::ok) return e;
        if (m_.writeback()) r_.r[m_.rn] = r_.r[m_.rn] + static_cast<uint64_t>(m_.offset);
        return retire();
    }

private:
    [[nodiscard]] ExecResult body(uint64_t at) {
        switch (m_.op) {
        case Op::load: return load(at);
        case Op::store: return store(at);
        case Op::load_pair: return load_pair(at);
        case Op::store_pair: return store_pair(at);
        case Op::atomic: return atomic(at);
        case Op::compare_swap: return compare_swap(at);
        case Op::zero_block: {
            // A fault reports the register operand, not the block: "If a
            // memory fault that sets FAR_EL2, other than a Tag Check
            // Fault, is generated from a data cache maintenance or other DC
            // instruction, this field holds the address specified in the
            // register argument of the instruction" (Arm ARM DDI 0487
            // M.a.a, D24.2.49 FAR_EL2; J1.1.3.20 AArch64.DataMemZero sets
            // fault.vaddress = regval). QEMU's helper_dc_zva probes the
            // register value first for the same reason.
            static constexpr std::array<uint8_t, detail::dc_zva_bytes> zeros{};
            return write(at, detail::dc_zva_bytes, zeros.data(), AccessInfo{.fault_va = va_});
        }
        case Op::cache_maintenance: {
            // Translated as a read for its faults; CM in the syndrome makes
            // the walker report CM = 1 and WnR = 1. DC IVAC from EL1 with
            // stage 2 enabled is performed as a clean and invalidate (Arm
            // ARM, DC IVAC: a guest must not discard what the hypervisor
            // wrote; my reading), so it needs no more than the others.
            Buf unused{};
            return read(at, 1, unused.data(), AccessInfo{.isa_syndrome = Esr::cm, .no_data = true});
        }
        case Op::load_exclusive:
        case Op::store_exclusive: return exclusive(at);
        case Op::prefetch: break;
        }
        return {};
    }

    // LDR/LDUR/LDTR/LDAR/LDAPR/LDR (literal), GPR or SIMD&FP.
    [[nodiscard]] ExecResult load(uint64_t at) {
        Buf b{};
        if (ExecResult e = read(at, m_.size(), b.data(), syndrome()); e.status != MemStatus::ok) return e;
        put(m_.rt, b.data());
        return {};
    }
    [[nodiscard]] ExecResult store(uint64_t at) {
        Buf b{};
        get(m_.rt, b.data());
        return write(at, m_.size(), b.data(), syndrome());
    }
    // LDP/LDNP/LDPSW: two element reads at at and at + size, in that order
    // (C6.2 LDP: "data1 = Mem[address, dbytes]; data2 = Mem[address+dbytes,
    // dbytes]"), the registers written after both.
    [[nodiscard]] ExecResult load_pair(uint64_t at) {
        Buf b{};
        const unsigned n = m_.size();
        if (ExecResult e = read(at, n, b.data(), {}); e.status != MemStatus::ok) return e;
        if (ExecResult e = read(at + n, n, b.data() + n, {}); e.status != MemStatus::ok) return e;
        put(m_.rt, b.data());
        put(m_.rt2, b.data() + n);
        return {};
    }
    [[nodiscard]] ExecResult store_pair(uint64_t at) {
        Buf b{};
        const unsigned n = m_.size();
        get(m_.rt, b.data());
        get(m_.rt2, b.data() + n);
        if (ExecResult e = write(at, n, b.data(), {}); e.status != MemStatus::ok) return e;
        return write(at + n, n, b.data() + n, {});
    }
    // LD<op>/ST<op>/SWP: read, combine with Rs, write the result, Rt gets
    // the old value zero-extended (C6.2 LDADD: "X[t] = ZeroExtend(data,
    // regsize)"). The write always happens, even when it changes nothing.
    // A read fault is reported with WnR = 0 and a write fault with WnR = 1
    // (ESR_EL2 WnR: "set to 0 if a read of the address ... would have
    // generated the fault"), which is what the access order gives.
    [[nodiscard]] ExecResult atomic(uint64_t at) {
        const unsigned n = m_.size();
        Buf b{};
        if (ExecResult e = read(at, n, b.data(), rmw); e.status != MemStatus::ok) return e;
        const uint64_t old = from_le(b.data(), n);
        const uint64_t value = low_bytes(combine(m_.atomic, old, low_bytes(read_xzr(r_, m_.rs), n), n * 8), n);
        Buf out{};
        to_le(out.data(), value, n);
        if (ExecResult e = write(at, n, out.data(), {}); e.status != MemStatus::ok) return e;
        write_xzr(r_, m_.rt, old);  // zero-extended: old has n bytes
        return {};
    }
    // CAS/CASP: read, compare with Rs (Rs:Rs+1), write Rt (Rt:Rt+1) only if
    // equal; Rs gets the old value (C6.2 CAS, CASP; little-endian: Rs and
    // Rt at the lower address). A failed comparison writes nothing but is
    // checked as a write (isa.hpp, AccessInfo::rewrites_read_value).
    [[nodiscard]] ExecResult compare_swap(uint64_t at) {
        const unsigned n = m_.size();
        const unsigned total = m_.pair ? 2 * n : n;
        Buf b{};
        if (ExecResult e = read(at, total, b.data(), rmw); e.status != MemStatus::ok) return e;
        const uint64_t old_lo = from_le(b.data(), n);
        const uint64_t old_hi = m_.pair ? from_le(b.data() + n, n) : 0;
        const uint64_t cmp_lo = low_bytes(read_xzr(r_, m_.rs), n);
        const uint64_t cmp_hi = m_.pair ? low_bytes(read_xzr(r_, m_.rs + 1), n) : 0;
        if (old_lo == cmp_lo && old_hi == cmp_hi) {
            Buf out{};
            to_le(out.data(), read_xzr(r_, m_.rt), n);
            if (m_.pair) to_le(out.data() + n, read_xzr(r_, m_.rt + 1), n);
            if (ExecResult e = write(at, total, out.data(), {}); e.status != MemStatus::ok) return e;
        } else {
            if (ExecResult e = write(at, total, b.data(), AccessInfo{.rewrites_read_value = true});
                e.status != MemStatus::ok)
                return e;
        }
        write_xzr(r_, m_.rs, old_lo);
        if (m_.pair) write_xzr(r_, m_.rs + 1, old_hi);
        return {};
    }
    // Exclusives: the access is checked where the hardware would check it
    // (so a stage-2 fault is taken with its record, ISV = 0), then the
    // instruction is declined. Neither the model CPU nor a hypervisor
    // emulating it holds an exclusive monitor; KVM and Xen refuse them too.
    [[nodiscard]] ExecResult exclusive(uint64_t at) {
        const bool store = m_.op == Op::store_exclusive;
        const unsigned total = footprint(m_);
        Buf unused{};
        const AccessInfo probe{.no_data = true};
        const ExecResult e = store ? write(at, total, nullptr, probe) : read(at, total, unused.data(), probe);
        if (e.status != MemStatus::ok) return e;
        return guest_fault(m_.word, detail::text(m_),
                           "not emulated: an exclusive needs the exclusive monitor, which the model does not keep",
                           true);
    }

    // Register m_.rt's bytes for a store (GPR: XZR reads as 0).
    void get(unsigned t, uint8_t* out) const {
        if (m_.simd) vec_bytes(r_.v[t], out, m_.size());
        else to_le(out, low_bytes(read_xzr(r_, t), m_.size()), m_.size());
    }
    // A loaded element into register t. A load to XZR still made the access.
    void put(unsigned t, const uint8_t* in) {
        if (m_.simd) {
            r_.v[t] = vec_from(in, m_.size());
            return;
        }
        write_xzr(r_, t, load_result(from_le(in, m_.size()), m_.size(), m_.sign_extend, m_.reg64));
    }

    [[nodiscard]] AccessInfo syndrome() const noexcept { return AccessInfo{.isa_syndrome = detail::insn_syndrome(m_)}; }

    [[nodiscard]] ExecResult read(uint64_t at, unsigned size, uint8_t* out, const AccessInfo& info) {
        const MemStatus s = port_.read(at, size, out, info);
        if (s == MemStatus::ok) return {};
        return refused(s, [this] { return who(); }, false, size, at);
    }
    [[nodiscard]] ExecResult write(uint64_t at, unsigned size, const uint8_t* in, const AccessInfo& info) {
        const MemStatus s = port_.write(at, size, in, info);
        if (s == MemStatus::ok) return {};
        return refused(s, [this] { return who(); }, true, size, at);
    }
    [[nodiscard]] std::string who() const { return fmt::format("{:#010x} ({})", m_.word, detail::text(m_)); }
    [[nodiscard]] ExecResult fault(std::string_view why) const { return guest_fault(m_.word, detail::text(m_), why); }

    [[nodiscard]] ExecResult retire() {
        r_.r[reg::pc] += insn_bytes;
        return {};
    }

    // The read of LD<op>/ST<op>/SWP/CAS/CASP: a read-modify-write
    // (AccessInfo::rmw_read), reported by the walker as a read all the same.
    static constexpr AccessInfo rmw{.rmw_read = true};

    RegFile& r_;
    const MemInsn& m_;
    MemPort& port_;
    uint64_t va_ = 0;  // the instruction's virtual address operand (before any alignment)
};

class A64Isa final : public Isa {
public:
    [[nodiscard]] IsaKind kind() const noexcept override { return IsaKind::a64; }
    [[nodiscard]] unsigned max_insn_bytes() const noexcept override { return insn_bytes; }
    [[nodiscard]] bool has_port_io() const noexcept override { return false; }
    [[nodiscard]] unsigned pc_reg() const noexcept override { return reg::pc; }
    [[nodiscard]] unsigned nr_regs() const noexcept override { return arm64::nr_regs; }
    [[nodiscard]] unsigned nr_vec_regs() const noexcept override { return arm64::nr_vregs; }

    [[nodiscard]] ExecResult execute(RegFile& regs, std::span<const uint8_t> bytes, MemPort& port) override {
        if (bytes.empty()) return ExecResult{MemStatus::guest_fault, "(no bytes): empty instruction buffer"};
        if (bytes.size() < insn_bytes)
            return ExecResult{MemStatus::guest_fault,
                              fmt::format("bytes [{:02x}]: truncated: an A64 instruction is 4 bytes",
                                          fmt::join(bytes, " "))};
        const uint32_t word = uint32_t{bytes[0]} | uint32_t{bytes[1]} << 8 | uint32_t{bytes[2]} << 16 |
                              uint32_t{bytes[3]} << 24;
        // Decoded once per instruction: the faulting attempt on the model
        // MMU and the emulation run the same word (Domain::run, emulate),
        // and so do the typed calls' synthetic instructions; the last word
        // decoded to an emulated instruction is kept (decode depends on
        // the word alone).
        if (!last_ || last_word_ != word) {
            Decoded d = detail::decode(word);
            if (!d.insn) {
                if (d.undefined) return guest_fault(word, d.name, "UNDEFINED (the guest takes an Undefined Instruction exception)");
                return guest_fault(word, d.name, "not emulated", true);
            }
            last_ = *d.insn;
            last_word_ = word;
        }
        return Run(regs, *last_, port).go();
    }

    [[nodiscard]] std::optional<ExecResult> execute_from_record(RegFile& regs, const FaultRecord& record,
                                                                MemPort& port) override {
        if (record.arch != Arch::arm64) return std::nullopt;
        const uint64_t esr = record.syndrome;
        if (Esr::ec_of(esr) != Esr::ec_dabt_lower) return std::nullopt;
        // A cache-maintenance abort (CM = 1) on an emulated region: the
        // instruction completes and nothing reaches a device model, as in
        // Xen (try_decode_instruction: INSTR_CACHE; try_handle_mmio then
        // ignores it). Memory behind a device has no cache to maintain.
        if ((esr & Esr::cm) != 0) {
            regs.r[reg::pc] += insn_bytes;
            return ExecResult{};
        }
        // Only a data abort whose ISS describes the access (ISV = 1) can be
        // replayed without the instruction (ESR_EL2 ISS, ISV; KVM
        // io_mem_abort, Xen try_decode_instruction).
        if ((esr & Esr::isv) == 0) return std::nullopt;
        const auto sas = static_cast<unsigned>((esr & Esr::sas_mask) >> Esr::sas_shift);
        const unsigned size = 1U << sas;
        // The record of a fault on the second page of an access that
        // crosses a page boundary also has ISV = 1, with FAR and HPFAR
        // naming that page's first byte (stage2.cpp): it cannot say where
        // the access began. The caller that knows (the core: its model MMU
        // split the access) decodes the instruction instead.
        const uint64_t at = fault_ipa(record.gpa, record.gva);
        const auto rt = static_cast<unsigned>((esr & Esr::srt_mask) >> Esr::srt_shift);
        const bool sign = (esr & Esr::sse) != 0;
        const bool reg64 = (esr & Esr::sf) != 0;
        const AccessInfo info{.isa_syndrome = esr & Esr::insn_syndrome_mask};
        // On the caller's registers, without a copy: they change (Rt for a
        // load, then PC) only once the access is ok.
        std::array<uint8_t, 8> b{};
        const bool write = (esr & Esr::wnr) != 0;
        MemStatus s = MemStatus::ok;
        if (write) {
            to_le(b.data(), low_bytes(read_xzr(regs, rt), size), size);
            s = port.write(at, size, b.data(), info);
        } else {
            s = port.read(at, size, b.data(), info);
        }
        if (s != MemStatus::ok) return refused(s, [esr] { return fmt::format("ESR {:#x}", esr); }, write, size, at);
        if (!write) write_xzr(regs, rt, load_result(from_le(b.data(), size), size, sign, reg64));
        regs.r[reg::pc] += insn_bytes;  // ISV = 1 means a 32-bit A64 instruction (IL = 1)
        return ExecResult{};
    }

    // str w1|x1 / strb w1 / strh w1, [x0] (STR (immediate), unsigned offset 0).
    [[nodiscard]] SyntheticInsn make_store(unsigned size) const override { return synthetic(size, false); }
    // ldrb w1 / ldrh w1 / ldr w1|x1, [x0]: zero-extending loads.
    [[nodiscard]] SyntheticInsn make_load(unsigned size) const override { return synthetic(size, true); }
    // A64 has no port I/O.
    [[nodiscard]] SyntheticInsn make_pio(unsigned, bool) const override { return {}; }

private:
    // The last instruction decoded (execute). An Isa is used by one thread
    // at a time (a domain's, under its lock).
    std::optional<MemInsn> last_;
    uint32_t last_word_ = 0;

    [[nodiscard]] static SyntheticInsn synthetic(unsigned size, bool load) {
        unsigned size_log2 = 0;
        switch (size) {
        case 1: size_log2 = 0; break;
        case 2: size_log2 = 1; break;
        case 4: size_log2 = 2; break;
        case 8: size_log2 = 3; break;
        default: return {};
        }
        const uint32_t w = detail::encode_unsigned_offset(size_log2, load, reg::x1, reg::x0);
        return SyntheticInsn{{static_cast<uint8_t>(w), static_cast<uint8_t>(w >> 8), static_cast<uint8_t>(w >> 16),
                              static_cast<uint8_t>(w >> 24)},
                             reg::x0,
                             reg::x1};
    }
};

}  // namespace

std::unique_ptr<Isa> make_a64_isa() { return std::make_unique<A64Isa>(); }

}  // namespace hvcore::arm64

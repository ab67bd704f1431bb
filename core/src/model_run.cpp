// SPDX-License-Identifier: MIT
// The model vCPU driver: an instruction runs through the backend's MMU (the
// hardware's stage-2 walk); a fault hands it to the emulation path
// (EmulPort, router.cpp), and a request sent to a device model returns
// VcpuStatus::ioreq_pending until vcpu_resume finds the answer.
#include <fmt/format.h>

#include <bit>

#include "domain_ports.hpp"

namespace hvcore {

namespace {
constexpr int max_refaults = 8;  // resolved misconfigurations before giving up

[[nodiscard]] bool valid_size(uint32_t size) noexcept { return size == 1 || size == 2 || size == 4 || size == 8; }

// The instruction kept for this size in `cache` (by log2(size)), made by
// `make` the first time.
template <class Make>
[[nodiscard]] const SyntheticInsn& kept(std::array<SyntheticInsn, 4>& cache, unsigned size, const Make& make) {
    SyntheticInsn& si = cache[static_cast<unsigned>(std::countr_zero(size)) & 3];
    if (si.bytes.empty()) si = make();
    return si;
}
}  // namespace

// The hardware: every access walks the backend's stage-2 table; a fault
// abandons the instruction and leaves the backend's record in the vCPU.
class Domain::MmuPort final : public MemPort {
public:
    MmuPort(Domain& d, const Locked& lk, VcpuState& v, std::span<const uint8_t> insn)
        : d_(d), v_(v), insn_(insn) {
        Expects(lk.owner() == &d);
    }

    MemStatus read(uint64_t addr, unsigned size, void* out, const AccessInfo& info) override {
        return access(addr, size, AccessType::read, out, info);
    }
    MemStatus write(uint64_t addr, unsigned size, const void* in, const AccessInfo& info) override {
        return access(addr, size, AccessType::write, const_cast<void*>(in), info);
    }
    MemStatus pio(uint16_t, unsigned, bool, uint64_t*) override {
        // Every port access exits to the hypervisor (the I/O bitmap traps all).
        v_.exit = VcpuState::Exit::io;
        return MemStatus::exit;
    }

private:
    // The port exists only inside a hold of the domain's lock (its token
    // was checked at construction).
    void held() const HV_ASSERT_CAPABILITY(d_.mu_) {}

    MemStatus access(uint64_t addr, unsigned size, AccessType type, void* buf, const AccessInfo& info) {
        held();
        // A split access is checked on both pages before either is touched.
        std::array<std::pair<std::byte*, unsigned>, 2> pieces{};
        unsigned n = 0;
        for (uint64_t a = addr, left = size; left > 0; ++n) {
            const unsigned chunk = static_cast<unsigned>(std::min<uint64_t>(left, page_size - (a & page_mask)));
            // Each page is walked with the linear address that translated
            // to it (stage2.hpp, AccessContext), unless the instruction
            // reports another (AccessInfo::fault_va).
            const AccessContext ctx{.gla = info.fault_va.value_or(a), .gla_valid = true, .size = size,
                                    .insn = insn_, .isa_syndrome = info.isa_syndrome, .rmw = info.rmw_read};
            Translation t = d_.s2_->translate(Gpa{a}, type, ctx);
            if (!t.ok) {
                v_.last_fault = t.record;
                v_.exit = VcpuState::Exit::stage2;
                v_.fault_past_first_page = n > 0;
                return MemStatus::exit;
            }
            std::byte* frame = d_.mem_->frame(t.mfn);
            Ensures(frame != nullptr && n < pieces.size());
            pieces[n] = {frame + (a & page_mask), chunk};
            a += chunk;
            left -= chunk;
        }
        // A probe (cache maintenance, a footprint) was checked; it moves nothing.
        if (info.no_data) return MemStatus::ok;
        auto* p = static_cast<std::byte*>(buf);
        for (unsigned i = 0; i < n; ++i) {
            if (type == AccessType::write)
                std::memcpy(pieces[i].first, p, pieces[i].second);
            else
                std::memcpy(p, pieces[i].first, pieces[i].second);
            p += pieces[i].second;
        }
        return MemStatus::ok;
    }

    Domain& d_;
    VcpuState& v_;
    std::span<const uint8_t> insn_;
};

Result<VcpuStatus> Domain::run(const Locked& lk, VcpuState& v, VcpuState::Op op, std::span<const uint8_t> insn,
                               RegFile& regs) {
    v.op = op;
    v.insn.assign(insn.begin(), insn.end());
    // The callers build the registers in v.entry_regs itself (one copy of
    // the register file per call, not two).
    if (&regs != &v.entry_regs) v.entry_regs = regs;
    v.io.forget();
    v.last_fault.reset();
    v.fault_past_first_page = false;
    v.guest_fault_detail.clear();
    v.undecoded = false;
    for (int attempt = 0; attempt < max_refaults; ++attempt) {
        v.exit = VcpuState::Exit::none;
        MmuPort mmu(*this, lk, v, v.insn);
        // On the caller's registers, without a copy: an executor changes
        // them only when the result is ok or committed (isa.hpp, execute).
        const ExecResult r = isa_->execute(regs, v.insn, mmu);
        if (r.committed && r.status != MemStatus::ok) {
            // REP iterations the hardware completed before the fault stand
            // whatever happens next; the emulation below starts after them.
            if (&regs != &v.entry_regs) v.entry_regs = regs;
            if (op == VcpuState::Op::exec) v.regs = regs;
        }
        switch (r.status) {
        case MemStatus::ok: return VcpuStatus::done;
        case MemStatus::guest_fault:
            v.guest_fault_detail = r.detail;
            return VcpuStatus::guest_fault;
        case MemStatus::exit: break;
        case MemStatus::pending:
        case MemStatus::retry:
        case MemStatus::stopped:
            // The MMU port never answers these.
            stop(lk, "model MMU returned a routing status");
            return Status::err(-EIO);
        }
        if (v.exit == VcpuState::Exit::stage2) {
            const Fault f = s2_->decode_fault(*v.last_fault);
            if (f.cause == FaultCause::recalc || p2m_->reset_stale(f.gpa.gfn())) {
                // Lazy type change (a mark, or a disclaimed page the sweep
                // has not reached): resolve and let the guest re-execute.
                (void)p2m_->lookup(f.gpa.gfn());
                continue;
            }
            if (f.access == AccessType::fetch) {
                return fetch_fault(lk, v, f.gpa);
            }
            // A write to a write-protected page of log-dirty (or VRAM)
            // tracking: marked dirty, made ram_rw, the guest re-executes
            // (Xen's hvm_hap_nested_page_fault: paging_mark_pfn_dirty and
            // p2m_change_type_one). When the page's superpage cannot be
            // split (-ENOMEM), the write is emulated (marked there too).
            if (f.access == AccessType::write && p2m_->lookup(f.gpa.gfn()).type == P2mType::ram_logdirty &&
                p2m_->log_dirty_fault(f.gpa.gfn()))
                continue;
            // (The read of a read-modify-write is reported as a write on
            // x86, and ram_logdirty is readable: the same.)
        }
        return emulate(lk, v, regs);
    }
    return persistent_misconfig(lk, v);
}

Result<VcpuStatus> Domain::emulate(const Locked& lk, VcpuState& v, RegFile& regs) {
    // regs holds the entry state (run: nothing retired since; vcpu_resume:
    // v.entry_regs itself). The executor changes them only when the result
    // is ok or committed (isa.hpp), and a committed result that is not ok
    // stops the domain below: no copy is needed.
    RegFile& tmp = regs;
    v.io.rewind();
    EmulPort port(*this, lk, v);
    // The fault record first (Arm64 ISV=1 describes the access whole), else
    // the instruction itself. A fault on the second page of an access that
    // crosses a page boundary keeps ISV = 1 (Arm ARM DDI 0487 M.a.a,
    // D24.2.46 ESR_EL2, ISV: no exception for it) but names only that page
    // (FAR, HPFAR): replayed from the record, the whole access would land
    // there. The model MMU knows it split the access; decode instead.
    std::optional<ExecResult> from_record;
    if (v.exit == VcpuState::Exit::stage2 && v.last_fault && !v.fault_past_first_page)
        from_record = isa_->execute_from_record(tmp, *v.last_fault, port);
    const ExecResult r = from_record ? *std::move(from_record) : isa_->execute(tmp, v.insn, port);
    if (r.committed && r.status != MemStatus::ok) {
        // EmulPort::rep completes all of a rep access or nothing of it, so
        // re-execution from entry_regs replays exactly; anything else would
        // repeat committed work.
        stop(lk, fmt::format("vCPU {}: emulation committed partial progress without completing", v.id));
        return Status::err(-EIO);
    }
    switch (r.status) {
    case MemStatus::ok:
        v.io.forget();
        return VcpuStatus::done;
    case MemStatus::pending: return VcpuStatus::ioreq_pending;
    case MemStatus::retry: v.io.forget(); return VcpuStatus::retry;
    case MemStatus::guest_fault:
        v.guest_fault_detail = r.detail;
        // An instruction the executor does not emulate, reached by a
        // stage-2 abort: the caller asked to see it (KVM's
        // KVM_EXIT_ARM_NISV) rather than have the guest take an abort. It
        // did not happen; the registers are as they were.
        if (r.undecoded && cfg_.report_undecoded && v.exit == VcpuState::Exit::stage2 && v.last_fault) {
            v.undecoded = true;
            v.io.forget();
            return VcpuStatus::undecoded;
        }
        return VcpuStatus::guest_fault;
    case MemStatus::stopped: return Status::err(-EPROTO);
    case MemStatus::exit: break;
    }
    stop(lk, "emulation port returned a hardware exit");
    return Status::err(-EIO);
}

Result<VcpuStatus> Domain::finish(const Locked&, VcpuState& v, const RegFile& regs, uint64_t* value) {
    switch (v.op) {
    case VcpuState::Op::exec: v.regs = regs; break;
    case VcpuState::Op::load:
    case VcpuState::Op::pio:
        if (value != nullptr) *value = regs.r[v.data_reg] & ones(v.size);
        break;
    case VcpuState::Op::store: break;
    }
    return VcpuStatus::done;
}

Result<VcpuStatus> Domain::synthetic(const Locked& lk, VcpuState& v, VcpuState::Op op, const SyntheticInsn& si,
                                     unsigned size, uint64_t addr, uint64_t data, uint64_t* value) {
    // The typed calls run on a copy of the registers: they do not disturb
    // the vCPU's architectural state. The copy is the entry state itself
    // (run, emulate: the executor changes it only when the instruction
    // retires, and then nothing re-executes from it), and only its scalar
    // registers: a synthetic instruction (a move between one register and
    // the memory another addresses, or a port) names no vector register,
    // and its result is never written back to v.regs.
    RegFile& regs = v.entry_regs;
    regs.r = v.regs.r;
    regs.r[si.addr_reg] = addr;
    regs.r[si.data_reg] = data;
    v.size = size;
    v.data_reg = si.data_reg;
    const Result<VcpuStatus> rc = run(lk, v, op, si.bytes, regs);
    if (is_done(rc)) return finish(lk, v, regs, value);
    return run_direct(lk, v, rc, value);
}

Result<VcpuState*> Domain::idle_vcpu(const Locked& lk, uint32_t vcpu) {
    if (stopped(lk)) return Status::err(-ESHUTDOWN);
    if (vcpu >= vcpus_.size()) return Status::err(-EINVAL);
    VcpuState& v = vcpus_[vcpu];
    if (v.io.waiting()) return Status::err(-EBUSY);  // finish with hv_vcpu_resume
    if (v.busy) return Status::err(-EBUSY);          // a host_access runs on it (its replay log is in use)
    return &v;
}

int Domain::vcpu_store(uint32_t vcpu, uint64_t gpa, uint32_t size, uint64_t value) {
    const Locked lk(*this, mu_);
    auto v = idle_vcpu(lk, vcpu);
    if (!v) return v.status().code();
    if (!valid_size(size)) return -EINVAL;
    const SyntheticInsn& si = kept(store_insn_, size, [&] { return isa_->make_store(size); });
    if (si.bytes.empty()) return -EINVAL;
    return to_int(synthetic(lk, **v, VcpuState::Op::store, si, size, gpa, value, nullptr));
}

int Domain::vcpu_load(uint32_t vcpu, uint64_t gpa, uint32_t size, uint64_t* value) {
    const Locked lk(*this, mu_);
    auto v = idle_vcpu(lk, vcpu);
    if (!v) return v.status().code();
    if (!valid_size(size) || value == nullptr) return -EINVAL;
    const SyntheticInsn& si = kept(load_insn_, size, [&] { return isa_->make_load(size); });
    if (si.bytes.empty()) return -EINVAL;
    return to_int(synthetic(lk, **v, VcpuState::Op::load, si, size, gpa, 0, value));
}

int Domain::vcpu_pio(uint32_t vcpu, uint16_t port, uint32_t size, bool is_write, uint64_t* value) {
    const Locked lk(*this, mu_);
    auto v = idle_vcpu(lk, vcpu);
    if (!v) return v.status().code();
    if (value == nullptr) return -EINVAL;
    const SyntheticInsn si_none{};
    const SyntheticInsn& si = valid_size(size) ? kept(pio_insn_[is_write ? 1 : 0], size,
                                                      [&] { return isa_->make_pio(size, is_write); })
                                               : si_none;
    if (si.bytes.empty()) {
        // An ISA without port I/O vs. a width IN/OUT cannot encode.
        return isa_->has_port_io() ? -EINVAL : -EOPNOTSUPP;
    }
    return to_int(synthetic(lk, **v, VcpuState::Op::pio, si, size, port, is_write ? *value : 0,
                            is_write ? nullptr : value));
}

int Domain::vcpu_exec(uint32_t vcpu, std::span<const uint8_t> insn) {
    const Locked lk(*this, mu_);
    auto v = idle_vcpu(lk, vcpu);
    if (!v) return v.status().code();
    if (insn.empty() || insn.size() > isa_->max_insn_bytes()) return -EINVAL;
    RegFile& regs = (*v)->entry_regs;
    regs = (*v)->regs;
    const Result<VcpuStatus> rc = run(lk, **v, VcpuState::Op::exec, insn, regs);
    return to_int(is_done(rc) ? finish(lk, **v, regs, nullptr) : run_direct(lk, **v, rc, nullptr));
}

int Domain::vcpu_fetch(uint32_t vcpu, uint64_t gpa) {
    const Locked lk(*this, mu_);
    auto vr = idle_vcpu(lk, vcpu);
    if (!vr) return vr.status().code();
    VcpuState& v = **vr;
    v.last_fault.reset();
    v.guest_fault_detail.clear();
    v.undecoded = false;
    for (int attempt = 0; attempt < max_refaults; ++attempt) {
        v.fault_past_first_page = false;
        const Translation t = s2_->translate(Gpa{gpa}, AccessType::fetch,
                                            AccessContext{.gla = gpa, .gla_valid = true, .size = 1, .insn = {}, .isa_syndrome = 0});
        if (t.ok) return to_int(VcpuStatus::done);
        v.last_fault = t.record;
        const Fault f = s2_->decode_fault(t.record);
        if (f.cause == FaultCause::recalc || p2m_->reset_stale(f.gpa.gfn())) {
            (void)p2m_->lookup(f.gpa.gfn());
            continue;
        }
        return to_int(fetch_fault(lk, v, f.gpa));
    }
    return to_int(persistent_misconfig(lk, v));
}

Result<VcpuStatus> Domain::fetch_fault(const Locked&, VcpuState& v, Gpa gpa) {
    v.guest_fault_detail = fmt::format("instruction fetch from gpa {:#x} ({}) is not executable", gpa.raw(),
                                       to_string(p2m_->lookup(gpa.gfn()).type));
    return VcpuStatus::guest_fault;
}

Result<VcpuStatus> Domain::persistent_misconfig(const Locked& lk, VcpuState& v) {
    // Each resolution makes progress, so this means a backend bug: stop
    // rather than loop.
    stop(lk, fmt::format("vCPU {}: stage-2 misconfiguration persists after {} resolutions", v.id, max_refaults));
    return Status::err(-EIO);
}

int Domain::vcpu_resume(uint32_t vcpu, uint64_t* value) {
    const Locked lk(*this, mu_);
    if (stopped(lk)) return -ESHUTDOWN;
    if (vcpu >= vcpus_.size()) return -EINVAL;
    VcpuState& v = vcpus_[vcpu];
    if (v.busy) return -EBUSY;            // the request in flight, if any, is host_access's
    if (!v.io.waiting()) return -EINVAL;  // nothing is pending on this vCPU
    switch (complete_request(lk, v)) {
    case Completion::pending: return to_int(VcpuStatus::ioreq_pending);
    case Completion::violation: return -EPROTO;
    case Completion::completed: break;
    }
    // On the entry state itself, without a copy: the executor changes it
    // only when the instruction retires (done: nothing re-executes from it
    // after that) or commits without completing (emulate stops the domain).
    RegFile& regs = v.entry_regs;
    const Result<VcpuStatus> rc = emulate(lk, v, regs);
    return to_int(is_done(rc) ? finish(lk, v, regs, value) : run_direct(lk, v, rc, value));
}

std::optional<IoservId> Domain::vcpu_pending_server(uint32_t vcpu) {
    const Locked lk(*this, mu_);
    if (vcpu >= vcpus_.size() || !vcpus_[vcpu].io.waiting()) return std::nullopt;
    return vcpus_[vcpu].io.in_flight()->server;
}

}  // namespace hvcore

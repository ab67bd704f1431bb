// SPDX-License-Identifier: MIT
// The domain itself: creation, the stop, the waiters, the p2m observer and
// the type runs a mirroring host reads, the register file and the loader's
// and tests' views. The parts: ioreq_server.cpp (registry, selection),
// ioreq_channel.cpp (shared pages), vcpu_io.cpp (request in flight, replay
// log), router.cpp, dm_ops.cpp, model_run.cpp, host_run.cpp.
#include <fmt/format.h>

#include <bit>
#include <cstring>

#include "domain_ports.hpp"

namespace hvcore {

namespace {

// Where each format's guest-physical reach is defined, for the log line of
// a domain too large for it.
const char* reach_source(Arch a) {
    switch (a) {
    case Arch::x86_vmx:
        return "4-level EPT translates 48-bit guest-physical addresses (Intel SDM Vol. 3C, 29.3.2 "
               "\"EPT Translation Mechanism\")";
    case Arch::x86_svm:
        return "nested paging walks a 4-level long-mode table, 48-bit guest-physical addresses (AMD APM Vol. 2, "
               "15.25.5 \"Nested Table Walk\", 5.3 \"Long-Mode Page Translation\")";
    case Arch::arm64:
        return "the stage-2 input (IPA) size is 64 - VTCR_EL2.T0SZ bits, T0SZ 16..39 with the 4 KiB granule "
               "(Arm ARM DDI 0487, VTCR_EL2.T0SZ, and D8.2 \"Translation table walk\", \"Concatenated "
               "translation tables for the initial stage 2 lookup\")";
    case Arch::riscv64:
        return "Sv39x4 translates 41-bit guest-physical addresses, Sv48x4 50-bit (RISC-V Privileged "
               "Architecture, \"Hypervisor Extension\", \"Guest Physical Address Translation\")";
    }
    return "";
}

std::string size_text(uint64_t bytes) {
    constexpr uint64_t gib = uint64_t{1} << 30;
    if (bytes % (gib << 10) == 0) return fmt::format("{} TiB", bytes / (gib << 10));
    if (bytes % gib == 0) return fmt::format("{} GiB", bytes / gib);
    return fmt::format("{} bytes", bytes);
}

}  // namespace

Result<std::shared_ptr<Domain>> Domain::create(DomId id, const DomainConfig& cfg, const Backend& backend,
                                               std::shared_ptr<Log> log, std::shared_ptr<Emulators> emulators) {
    if (cfg.nr_vcpus == 0 || cfg.nr_vcpus > max_vcpus) return Status::err(-EINVAL);
    const std::shared_ptr<Log> sink = log;
    const auto refuse = [&](int err, const std::string& why) {
        if (sink)
            sink->write(LogLevel::error, fmt::format("domain {} ({}) not created: {}", id.raw(), backend.name, why));
        return Status::err(err);
    };
    if (cfg.ram_bytes == 0 || (cfg.ram_bytes & page_mask) != 0) return Status::err(-EINVAL);
    if (cfg.ram_bytes > MachineMemory::max_ram_bytes)
        return refuse(-EINVAL, fmt::format("{} of RAM is above the {} of guest-physical space any stage-2 format "
                                           "hvcore builds addresses",
                                           size_text(cfg.ram_bytes), size_text(MachineMemory::max_ram_bytes)));
    std::shared_ptr<Domain> d{new Domain(id, cfg)};
    const Locked lk(*d, d->mu_);  // not shared yet; held so that every guarded member is written under it
    d->backend_ = &backend;
    d->log_ = std::move(log);
    d->emulators_ = std::move(emulators);
    const uint64_t frames = cfg.ram_bytes >> page_shift;
    // Enough tables to map every RAM page with 4 KiB leaves (the backend's
    // geometry: roots and upper levels included). A bound, not an
    // allocation: the pool maps 2 MiB of frames at a time as it is used.
    const uint64_t table_limit = backend.table_frames(frames);
    // The memfd now (sparse: nothing is allocated), the mapping once the
    // format has accepted the size.
    auto mem = MachineMemory::create(cfg.ram_bytes, table_limit, false);
    if (!mem) return refuse(mem.status().code(), fmt::format("guest RAM memfd of {}: {}", size_text(cfg.ram_bytes),
                                                             std::strerror(-mem.status().code())));
    d->mem_ = std::move(mem).value();
    auto s2 = backend.make_stage2(*d->mem_);
    if (!s2) {
        if (s2.status().code() == -EINVAL)
            return refuse(-EINVAL,
                          fmt::format("{} of RAM (host-physical frames from {:#x}) and up to {} table frames (from "
                                      "{:#x}) need {}-bit host-physical addresses, more than the output address "
                                      "size of the stage-2 format's entries (x86: the model's MAXPHYADDR; Arm64: "
                                      "VTCR_EL2.PS)",
                                      size_text(cfg.ram_bytes), MachineMemory::ram_base_mfn.raw(), table_limit,
                                      d->mem_->table_base().raw(),
                                      std::bit_width(d->mem_->table_base().raw() + table_limit) + page_shift));
        return s2.status();
    }
    d->s2_ = std::move(s2).value();
    const uint64_t reach = d->s2_->gfn_limit() << page_shift;
    if (cfg.ram_bytes > reach)
        return refuse(-EINVAL, fmt::format("{} of RAM exceeds the {} ({}-bit) guest-physical space of its stage-2 "
                                           "table: {}",
                                           size_text(cfg.ram_bytes), size_text(reach),
                                           std::countr_zero(reach), reach_source(cfg.arch)));
    if (Status s = d->mem_->map_ram(); !s)
        return refuse(s.code(), fmt::format("no {} of address space for guest RAM: mmap: {}",
                                            size_text(cfg.ram_bytes), std::strerror(-s.code())));
    d->p2m_ = std::make_unique<P2m>(*d->s2_, *d->mem_);
    HV_TRY(d->p2m_->build_ram());
    d->isa_ = backend.make_isa();
    for (uint32_t i = 0; i < cfg.nr_vcpus; ++i) d->vcpus_.emplace_back().id = i;
    return d;
}

Domain::~Domain() = default;

void Domain::stop(const Locked& lk, std::string reason) {
    if (stop_reason_) return;
    if (log_) log_->write(LogLevel::error, fmt::format("domain {} stopped: {}", id_.raw(), reason));
    stop_reason_ = std::move(reason);
    wake_all(lk);
}

std::optional<std::string> Domain::stop_reason() {
    const Locked lk(*this, mu_);
    return stop_reason_;
}

// Sent once the lock is released (wake_after_unlock.hpp): the woken thread
// needs it. The condition variables live as long as the domain.
void Domain::wake(const Locked&, uint32_t vcpu) { WakeScope::notify_later(vcpus_[vcpu].wake); }

void Domain::wake_held(const Locked&) {
    for (VcpuState& v : vcpus_)
        if (v.held) WakeScope::notify_later(v.wake);
}

void Domain::wake_all(const Locked&) {
    // Every waiter of every vCPU: a stop or a shutdown must end them all.
    for (VcpuState& v : vcpus_) v.wake.notify_all();
}

// ---------------------------------------------------------------------------
// Hosts that mirror the p2m.

void Domain::p2m_changed(const Locked& lk, Gfn first, uint64_t nr) {
    if (observer_ != nullptr) observer_->p2m_changed(lk, first, nr);
}

void Domain::set_p2m_observer(P2mObserver* o) {
    const Locked lk(*this, mu_);
    observer_ = o;
}

void Domain::set_sweep_pause(std::function<void()> fn) {
    const Locked lk(*this, mu_);
    sweep_pause_ = std::move(fn);
}

void Domain::for_each_type_run(uint64_t end, const std::function<void(Gfn, uint64_t, P2mType, Mfn)>& fn) {
    const Locked lk(*this, mu_);
    type_runs(lk, end, [&fn](Gfn g, uint64_t n, P2mType t, Mfn m, bool) { fn(g, n, t, m); });
}

void Domain::for_each_type_run(const Locked& lk, uint64_t end,
                               const std::function<void(Gfn, uint64_t, P2mType, Mfn)>& fn) {
    Expects(lk.owner() == this);  // the token is this domain's: its lock is held
    mu_.assert_held();
    type_runs(lk, end, [&fn](Gfn g, uint64_t n, P2mType t, Mfn m, bool) { fn(g, n, t, m); });
}

void Domain::for_each_access_run(uint64_t end, const AccessRunFn& fn) {
    const Locked lk(*this, mu_);
    type_runs(lk, end, fn);
}

void Domain::for_each_access_run(const Locked& lk, uint64_t end, const AccessRunFn& fn) {
    Expects(lk.owner() == this);
    mu_.assert_held();
    type_runs(lk, end, fn);
}

void Domain::type_runs(const Locked&, uint64_t end, const AccessRunFn& fn) {
    end = std::min(end, p2m_->gfn_limit());
    uint64_t run_first = 0;
    uint64_t run_len = 0;
    P2mType run_type = P2mType::mmio_dm;
    bool run_trapped = false;
    Mfn run_mfn{};
    for (uint64_t g = 0; g < end;) {
        const Stage2Leaf l = p2m_->peek(Gfn{g});
        const P2mType t = l.type;
        // Read-trapped: an ioreq_server page whose owner claims reads
        // (multi-owner mode); a run is cut where this changes.
        const bool trapped =
            t == P2mType::ioreq_server && (p2m_->claim_flags(IoservId{l.owner}) & ioreq_claim_read) != 0;
        const uint64_t leaf_pages = uint64_t{1} << l.order;
        const uint64_t n = std::min(end, (g & ~(leaf_pages - 1)) + leaf_pages) - g;
        const bool frames = p2m_has_frame(t);
        const bool extends =
            run_len != 0 && t == run_type && trapped == run_trapped && (!frames || l.mfn == run_mfn + run_len);
        if (!extends) {
            if (run_len != 0) fn(Gfn{run_first}, run_len, run_type, run_mfn, run_trapped);
            run_first = g;
            run_len = 0;
            run_type = t;
            run_trapped = trapped;
            run_mfn = l.mfn;
        }
        run_len += n;
        g += n;
    }
    if (run_len != 0) fn(Gfn{run_first}, run_len, run_type, run_mfn, run_trapped);
}

// ---------------------------------------------------------------------------
// Registers and what the last call left.

int Domain::vcpu_get_reg(uint32_t vcpu, uint32_t reg, uint64_t* value) {
    const Locked lk(*this, mu_);
    if (vcpu >= vcpus_.size() || value == nullptr) return -EINVAL;
    const uint64_t* slot = reg_slot(vcpus_[vcpu].regs, *isa_, reg);
    if (slot == nullptr) return -EINVAL;
    *value = *slot;
    return 0;
}

int Domain::vcpu_set_reg(uint32_t vcpu, uint32_t reg, uint64_t value) {
    const Locked lk(*this, mu_);
    if (stopped(lk)) return -ESHUTDOWN;
    if (vcpu >= vcpus_.size()) return -EINVAL;
    uint64_t* slot = reg_slot(vcpus_[vcpu].regs, *isa_, reg);
    if (slot == nullptr) return -EINVAL;
    if (vcpus_[vcpu].io.waiting()) return -EBUSY;
    *slot = value;
    return 0;
}

int Domain::vcpu_last_fault(uint32_t vcpu, FaultRecord* out) {
    const Locked lk(*this, mu_);
    if (vcpu >= vcpus_.size() || out == nullptr) return -EINVAL;
    if (!vcpus_[vcpu].last_fault) return -ENOENT;
    *out = *vcpus_[vcpu].last_fault;
    return 0;
}

int Domain::vcpu_undecoded(uint32_t vcpu, UndecodedAccess* out) {
    const Locked lk(*this, mu_);
    if (vcpu >= vcpus_.size() || out == nullptr) return -EINVAL;
    const VcpuState& v = vcpus_[vcpu];
    if (!v.undecoded || !v.last_fault) return -ENOENT;
    out->record = *v.last_fault;
    out->gpa = s2_->decode_fault(*v.last_fault).gpa.raw();
    out->insn = v.insn;
    out->pc = v.entry_regs.r[isa_->pc_reg()];
    return 0;
}

std::string Domain::vcpu_guest_fault_detail(uint32_t vcpu) {
    const Locked lk(*this, mu_);
    return vcpu < vcpus_.size() ? vcpus_[vcpu].guest_fault_detail : std::string{};
}

// ---------------------------------------------------------------------------
// Loader view and introspection.

Status Domain::guest_read(uint64_t gpa, void* buf, size_t len) {
    const Locked lk(*this, mu_);
    if (gpa > mem_->ram_bytes() || len > mem_->ram_bytes() - gpa) return Status::err(-EINVAL);
    std::memcpy(buf, mem_->ram_base() + gpa, len);
    return Status::ok();
}

Status Domain::guest_write(uint64_t gpa, const void* buf, size_t len) {
    const Locked lk(*this, mu_);
    if (gpa > mem_->ram_bytes() || len > mem_->ram_bytes() - gpa) return Status::err(-EINVAL);
    std::memcpy(mem_->ram_base() + gpa, buf, len);
    // The loader's and the toolstack's writes are the guest's memory
    // changing too: a migration must copy them again.
    if (len != 0) p2m_->mark_dirty_range(Gpa{gpa}.gfn(), ((gpa + len - 1) >> 12) - (gpa >> 12) + 1);
    return Status::ok();
}

Status Domain::share_guest_memory(uint64_t first_gfn, uint64_t nr, bool writable, int* fd, uint64_t* offset,
                                  uint64_t* bad_gfn) {
    if (fd == nullptr || offset == nullptr) return Status::err(-EINVAL);
    if (nr == 0 || first_gfn + nr < first_gfn) return Status::err(-EINVAL);
    const Locked lk(*this, mu_);
    const uint64_t end = first_gfn + nr;
    const uint64_t ram_end = mem_->ram_frames();
    // One p2m lookup per leaf (a 2 MiB or 1 GiB RAM leaf is one answer),
    // the type each gfn has once a pending recalculation is applied.
    for (uint64_t g = first_gfn; g < end;) {
        const auto fault = [&] {
            if (bad_gfn != nullptr) *bad_gfn = g;
            return Status::err(-EFAULT);
        };
        if (g >= ram_end) return fault();
        const Stage2Leaf l = p2m_->peek(Gfn{g});
        // A RAM type on the frame the gfn was built with (p2m.cpp maps RAM
        // linearly and type changes keep the frame): the memfd's page.
        if (!p2m_is_ram(l.type) || l.mfn != mem_->ram_mfn(Gfn{g})) return fault();
        const uint64_t leaf_pages = uint64_t{1} << l.order;
        g = std::min(end, (g & ~(leaf_pages - 1)) + leaf_pages);  // > g: the next leaf
    }
    auto shared = mem_->share_ram_fd(writable);
    HV_TRY(shared);
    *fd = *shared;
    *offset = first_gfn << page_shift;
    return Status::ok();
}

std::vector<Domain::MemRange> Domain::memory_map() {
    const Locked lk(*this, mu_);
    std::vector<MemRange> out;
    const uint64_t ram = mem_->ram_frames();
    const uint64_t top = p2m_->gfn_limit();
    out.push_back({.first_gfn = 0, .nr = ram, .kind = MemRange::Kind::ram});
    if (top > ram) out.push_back({.first_gfn = ram, .nr = top - ram, .kind = MemRange::Kind::hole});
    return out;
}

Result<uint64_t> Domain::p2m_raw_entry(uint64_t gfn) {
    const Locked lk(*this, mu_);
    if (gfn >= p2m_->gfn_limit()) return Status::err(-EINVAL);
    return s2_->raw_entry(Gfn{gfn});
}

Result<Stage2Walk> Domain::p2m_walk(uint64_t gfn) {
    const Locked lk(*this, mu_);
    if (gfn >= p2m_->gfn_limit()) return Status::err(-EINVAL);
    return s2_->walk_entries(Gfn{gfn});
}

uint64_t Domain::ioreq_entry_count() {
    const Locked lk(*this, mu_);
    return p2m_->ioreq_entry_count();
}

uint64_t Domain::ioreq_leaves_in_table() {
    const Locked lk(*this, mu_);
    uint64_t n = 0;
    s2_->for_each_leaf([&](Gfn, const Stage2Leaf& l) {
        if (l.type == P2mType::ioreq_server) n += uint64_t{1} << l.order;
    });
    return n;
}

Result<P2mType> Domain::p2m_type(uint64_t gfn) {
    const Locked lk(*this, mu_);
    if (gfn >= p2m_->gfn_limit()) return Status::err(-EINVAL);
    return p2m_->peek_type(Gfn{gfn});
}

}  // namespace hvcore

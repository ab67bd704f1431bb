// SPDX-License-Identifier: MIT
// The device-model operations (Xen's XEN_DMOP_* rules, xen/arch/x86/hvm/dm.c
// and xen/common/ioreq.c): ioreq servers, their ranges and pages, the claim
// of the ioreq_server type and its sweep, set/get_mem_type. Each validates
// completely before it changes anything.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "domain_ports.hpp"

namespace hvcore {

namespace {
constexpr uint16_t dmop_no_gfns = 1;  // XEN_DMOP_no_gfns

// The claims map_mem_type_to_ioreq_server accepts (flags 0 disclaims).
// Xen's mode: WRITE only (xen/common/ioreq.c ioreq_server_map_mem_type:
// any flag but XEN_DMOP_IOREQ_MEM_ACCESS_WRITE is -EINVAL). Multi-owner
// mode adds read trapping and posted writes; WRITE_POSTED needs WRITE, and
// a read-trapped page's writes are never posted (its owner answers its
// reads: a write left on the ring could be overtaken by the next read).
[[nodiscard]] bool claim_flags_valid(uint32_t flags, bool multi_owner) noexcept {
    if (!multi_owner) return flags == 0 || flags == ioreq_claim_write;
    switch (flags) {
    case 0:
    case ioreq_claim_write:
    case ioreq_claim_write | ioreq_claim_write_posted:
    case ioreq_claim_read:
    case ioreq_claim_read | ioreq_claim_write: return true;
    default: return false;
    }
}
}  // namespace

Result<IoreqServer*> Domain::live_server(const Locked& lk, EmulatorId who, IoservId id, Status args) {
    if (stopped(lk)) return Status::err(-ESHUTDOWN);
    HV_TRY(args);
    return servers_.find(who, id);
}

Status Domain::create_ioreq_server(EmulatorId who, uint8_t bufioreq, IoservId* out) {
    const Locked lk(*this, mu_);
    if (stopped(lk)) return Status::err(-ESHUTDOWN);
    auto s = servers_.create(who, bufioreq, cfg_.nr_vcpus);
    HV_TRY(s);
    *out = (*s)->id;
    if (log_)
        log_->write(LogLevel::debug,
                    fmt::format("domain {}: ioreq server {} created (bufioreq mode {}{})", id_.raw(), (*s)->id.raw(),
                                (*s)->bufioreq(), (*s)->post_wide ? ", wide posting" : ""));
    return Status::ok();
}

bool Domain::destroy_server(const Locked& lk, IoservId id) {
    // Out of the registry before anything else: the sweep that may follow
    // runs after the lock is released, and whatever runs meanwhile (a second
    // destroy of the same id, hvdm_close, a create that reuses the slot)
    // must find it gone (Xen re-validates a preempted DMOP on re-entry in
    // the same spirit). A vCPU waiting on it looks it up by id and serial,
    // finds nothing, and completes.
    const bool owner = p2m_->claim_flags(id) != 0;
    servers_.destroy(id);
    for (VcpuState& v : vcpus_)
        if (v.io.waiting() && v.io.in_flight()->server == id) wake(lk, v.id);
    if (log_) log_->write(LogLevel::debug, fmt::format("domain {}: ioreq server {} destroyed", id_.raw(), id.raw()));
    // hvcore differs from Xen here (README.md, "Where hvcore differs from
    // Xen"; Xen: xen/common/ioreq.c ioreq_server_destroy): destroying the owner
    // disclaims and resets its entries, like an unmap.
    if (!owner) return false;
    p2m_->set_claim(id, 0);
    return disclaim(lk, id);
}

Status Domain::destroy_ioreq_server(EmulatorId who, IoservId id) {
    std::function<void()> pause;
    {
        const Locked lk(*this, mu_);
        auto s = live_server(lk, who, id);
        HV_TRY(s);
        // Its direct handler's calls in progress on other threads end
        // first (hvdm_set_direct_handler): the device model may free what
        // the handler uses once the server is gone.
        const std::shared_ptr<DirectHandler> direct = (*s)->direct;
        const bool sweep = destroy_server(lk, id);
        wait_direct_idle(lk, direct.get());
        if (!sweep) return Status::ok();
        pause = sweep_pause_;
    }
    sweep_after_disclaim(std::move(pause));
    return Status::ok();
}

void Domain::destroy_servers_of(EmulatorId who) {
    // By slot, each destroy (and its sweep) finished before the next slot is
    // looked up.
    for (uint16_t i = 0; i < max_ioreq_servers; ++i) {
        std::function<void()> pause;
        {
            const Locked lk(*this, mu_);
            const IoreqServer* s = servers_.get(IoservId{i});
            if (s == nullptr || s->emulator != who) continue;
            const std::shared_ptr<DirectHandler> direct = s->direct;  // as destroy_ioreq_server
            const bool sweep = destroy_server(lk, IoservId{i});
            wait_direct_idle(lk, direct.get());
            if (!sweep) continue;
            pause = sweep_pause_;
        }
        sweep_after_disclaim(std::move(pause));
    }
    // A fault (fault_emulator) destroyed servers under a hold it could not
    // give up: a disclaim's sweep may be left. Finished here, as after any
    // disclaim (entries whose owner has no claim can only be a disclaim's).
    std::function<void()> pause;
    {
        const Locked lk(*this, mu_);
        if (!stale_entries(lk)) return;
        pause = sweep_pause_;
    }
    sweep_after_disclaim(std::move(pause));
}

bool Domain::fault_emulator(const Locked& lk, EmulatorId who, const std::string& reason) {
    if (!emulators_ || !emulators_->isolated(who)) return false;
    // As Domain::destroy_servers_of, in this hold: the disclaim's first
    // chunk now, the other entries reset lazily (marked) until a sweep.
    for (uint16_t i = 0; i < max_ioreq_servers; ++i) {
        const IoreqServer* s = servers_.get(IoservId{i});
        if (s != nullptr && s->emulator == who) (void)destroy_server(lk, IoservId{i});
    }
    if (log_)
        log_->write(LogLevel::debug, fmt::format("domain {}: the servers of an isolated device model are destroyed "
                                                 "instead of stopping the domain: {}",
                                                 id_.raw(), reason));
    // Forgotten meanwhile (its handle closing): its servers are gone all the same.
    (void)emulators_->report(who, id_.raw(), reason);
    return true;
}

Status Domain::set_ioreq_server_state(EmulatorId who, IoservId id, bool enabled) {
    const Locked lk(*this, mu_);
    auto s = live_server(lk, who, id);
    HV_TRY(s);
    servers_.set_enabled(**s, enabled);
    wake_held(lk);  // held writes may now go through
    return Status::ok();
}

Status Domain::map_io_range(EmulatorId who, IoservId id, uint32_t type, uint64_t start, uint64_t end) {
    const Locked lk(*this, mu_);
    auto s = live_server(lk, who, id, start > end ? Status::err(-EINVAL) : Status::ok());  // XSA-238
    HV_TRY(s);
    if (type > static_cast<uint32_t>(RangeType::pci)) return Status::err(-EINVAL);
    return servers_.map_range(**s, static_cast<RangeType>(type), start, end);
}

Status Domain::unmap_io_range(EmulatorId who, IoservId id, uint32_t type, uint64_t start, uint64_t end) {
    const Locked lk(*this, mu_);
    auto s = live_server(lk, who, id, start > end ? Status::err(-EINVAL) : Status::ok());
    HV_TRY(s);
    if (type > static_cast<uint32_t>(RangeType::pci)) return Status::err(-EINVAL);
    return servers_.unmap_range(**s, static_cast<RangeType>(type), start, end);
}

Status Domain::get_ioreq_server_info(EmulatorId who, IoservId id, uint16_t flags, uint32_t* bufioreq_port) {
    const Locked lk(*this, mu_);
    auto s = live_server(lk, who, id, (flags & ~dmop_no_gfns) != 0 ? Status::err(-EINVAL) : Status::ok());
    HV_TRY(s);
    // hvcore never places ioreq pages in the guest's physical address space
    // (a guest could otherwise write them); they are reached with
    // hvdm_map_ioreq_pages only.
    if ((flags & dmop_no_gfns) == 0) return Status::err(-EOPNOTSUPP);
    // Ports 0..nr_vcpus-1 name the vCPU slots; nr_vcpus names the ring.
    if ((*s)->channel.buffered()) *bufioreq_port = (*s)->channel.bufioreq_port();
    return Status::ok();
}

bool Domain::stale_entries(const Locked&) const {
    for (uint16_t i = 0; i < max_ioreq_servers; ++i)
        if (p2m_->claim_flags(IoservId{i}) == 0 && p2m_->ioreq_entry_count(IoservId{i}) != 0) return true;
    return false;
}

std::optional<IoservId> Domain::claim_of(const Locked&, EmulatorId who) const {
    for (uint16_t i = 0; i < max_ioreq_servers; ++i) {
        const IoreqServer* s = servers_.get(IoservId{i});
        if (s != nullptr && s->emulator == who && p2m_->claim_flags(s->id) != 0) return s->id;
    }
    return std::nullopt;
}

bool Domain::disclaim(const Locked& lk, IoservId id) {
    ++claim_epoch_[id.raw()];  // a set_mem_type making its pages in progress ends (change_types)
    wake_held(lk);  // held accesses re-route once the type is reset
    // Only this server's entries are stale: another owner's pages keep
    // their claim, and the sweep passes them by (P2m::sweep).
    if (p2m_->ioreq_entry_count(id) == 0) return false;
    // No global recalculation mark (Xen marks the whole p2m here,
    // p2m_change_entry_type_global in p2m_set_ioreq_server): every
    // outstanding entry is counted and the sweep rewrites each in place.
    // Until it does, an ioreq_server leaf without an owner reads as ram_rw
    // (P2m::peek, P2m::lookup), and a stage-2 fault on one resets it before
    // the access is made again (P2m::reset_stale, run_model): what the
    // mark would have done, with no mark left anywhere else.
    p2m_changed(lk, Gfn{0}, 0);  // a mirroring host sees ram_rw before the sweep even starts
    // Synchronous: resolve exactly the outstanding entries, a chunk per
    // lock hold, so vCPUs waiting for the lock are not starved; the first
    // chunk in this hold. A new claim stays -EBUSY until the count reaches
    // 0, so nothing can re-add entries.
    return p2m_->sweep(sweep_chunk) != 0;
}

void Domain::sweep_after_disclaim(std::function<void()> pause) {
    // Each chunk is a hold of its own that finds the outstanding entries
    // again in the p2m (another sweeper may have resolved them meanwhile);
    // no server, entry or reference is carried from one hold to the next.
    for (bool more = true; more;) {
        if (pause) pause();
        // The lock is free here; a waiter (counted by Mutex, as set_mem_type's
        // let_in counts them) gets the CPU to take it. Without one, no
        // yield: on a loaded host it hands the CPU to another process, whose
        // run leaves this thread's caches cold (bench_p2m, BM_DisclaimAbi).
        if (mu_.contended()) std::this_thread::yield();
        const Locked lk(*this, mu_);
        more = p2m_->sweep(sweep_chunk) != 0;
        pause = sweep_pause_;
    }
}

Status Domain::map_mem_type_to_ioreq_server(EmulatorId who, IoservId id, uint16_t type, uint32_t flags) {
    std::function<void()> pause;
    {
        const Locked lk(*this, mu_);
        // Their order: no HAP (-EOPNOTSUPP), then the type and the flags (-EINVAL).
        Status args = Status::ok();
        if (!cfg_.hap)
            args = Status::err(-EOPNOTSUPP);
        else if (type != hvmmem::ioreq_server || !claim_flags_valid(flags, cfg_.multi_owner))
            args = Status::err(-EINVAL);
        auto s = live_server(lk, who, id, args);
        HV_TRY(s);
        // Posted writes go on the server's buffered ring: a server created
        // without one (HVDM_BUFIOREQ_OFF) could never post (-EINVAL).
        if (posts_writes(flags) && !(*s)->channel.buffered()) return Status::err(-EINVAL);
        if (flags != 0) {
            if (!cfg_.multi_owner) {
                // Xen's p2m_set_ioreq_server: one claim per domain.
                if (p2m_->any_claimant()) return Status::err(-EBUSY);            // any owner, itself too
                if (p2m_->ioreq_entry_count() != 0) return Status::err(-EBUSY);  // left-over entries
            } else {
                // One claim per server and per device model: the pages a
                // device model sets to ioreq_server are its claiming
                // server's, so it may have only one.
                if (p2m_->claim_flags(id) != 0) return Status::err(-EBUSY);
                if (claim_of(lk, who)) return Status::err(-EBUSY);
                // Its own earlier pages, not yet reset, would come back
                // under the new claim's flags: wait for the sweep, as Xen's
                // mode waits for every entry.
                if (p2m_->ioreq_entry_count(id) != 0) return Status::err(-EBUSY);
            }
            p2m_->set_claim(id, flags);
            if (log_)
                log_->write(LogLevel::debug, fmt::format("domain {}: ioreq server {} claims the ioreq_server type "
                                                         "(flags {:#x})",
                                                         id_.raw(), id.raw(), flags));
            return Status::ok();
        }
        if (p2m_->claim_flags(id) == 0) return Status::err(-EINVAL);  // only a claimant disclaims
        p2m_->set_claim(id, 0);
        if (!disclaim(lk, id)) return Status::ok();
        pause = sweep_pause_;
    }
    sweep_after_disclaim(std::move(pause));
    return Status::ok();
}

// The pages of one type change, handed out in pieces of at most a step:
// runs of one range (set_mem_type), or consecutive slices of a strictly
// increasing list (set_mem_type_list), which the p2m changes one leaf table
// at a time whether the listed gfns are contiguous or scattered.
class Domain::GfnRuns {
public:
    // One piece: the gfns of `list` when it is not empty, else [first, first+n).
    struct Piece {
        uint64_t first = 0;
        uint64_t n = 0;
        std::span<const uint64_t> list;
    };
    GfnRuns(uint64_t first, uint64_t nr) : first_(first), nr_(nr) {}
    explicit GfnRuns(std::span<const uint64_t> gfns) : list_(gfns), listed_(true) {}
    // The next piece of at most max pages; false when none is left.
    bool next(uint64_t max, Piece& p) {
        if (listed_) {
            if (i_ >= list_.size()) return false;
            p.list = list_.subspan(i_, std::min<size_t>(max, list_.size() - i_));
            p.first = p.list.front();
            p.n = p.list.size();
            i_ += p.list.size();
            return true;
        }
        if (off_ >= nr_) return false;
        p.first = first_ + off_;
        p.n = std::min(max, nr_ - off_);
        off_ += p.n;
        return true;
    }
    void rewind() noexcept { i_ = off_ = 0; }
    [[nodiscard]] uint64_t taken() const noexcept { return listed_ ? i_ : off_; }  // pages handed out

private:
    uint64_t first_ = 0, nr_ = 0, off_ = 0;
    std::span<const uint64_t> list_;
    size_t i_ = 0;
    bool listed_ = false;
};

Result<Domain::MemTypeTarget> Domain::mem_type_target(const Locked& lk, EmulatorId who, uint16_t hvmmem_type) {
    P2mType to{};
    switch (hvmmem_type) {
    case hvmmem::ram_rw: to = P2mType::ram_rw; break;
    case hvmmem::ram_ro: to = P2mType::ram_ro; break;
    case hvmmem::mmio_dm: to = P2mType::mmio_dm; break;
    case hvmmem::ioreq_server: to = P2mType::ioreq_server; break;
    default: return Status::err(-EINVAL);  // HVMMEM_unused and anything >= 5
    }
    if (to != P2mType::ioreq_server) return MemTypeTarget{to, IoservId{0}};
    if (!cfg_.hap) return Status::err(-EOPNOTSUPP);
    // The pages become the claimant's: Xen's mode has one; in multi-owner
    // mode it is the caller's own claiming server.
    const std::optional<IoservId> owner = cfg_.multi_owner ? claim_of(lk, who) : p2m_->any_claimant();
    if (!owner) return Status::err(-EINVAL);  // nobody (of this device model) claimed the type
    return MemTypeTarget{to, *owner};
}

uint8_t Domain::changeable_owners(const Locked&, EmulatorId who) const {
    // Xen's mode: any handle may change any page (Xen's set_mem_type knows
    // no owner per page).
    if (!cfg_.multi_owner) return 0xff;
    uint8_t mask = 0xff;
    for (uint16_t i = 0; i < max_ioreq_servers; ++i) {
        const IoreqServer* s = servers_.get(IoservId{i});
        // A stale page (its owner's claim ended, or the owner is gone)
        // reads as ram_rw and is anyone's; a claiming server's page is its
        // device model's alone.
        if (s != nullptr && s->emulator != who && p2m_->claim_flags(s->id) != 0)
            mask = static_cast<uint8_t>(mask & ~(1u << i));
    }
    return mask;
}

Status Domain::change_types(EmulatorId who, uint16_t hvmmem_type, GfnRuns& runs, uint64_t* first_refused,
                            uint64_t* preempted_done, bool check_only) {
    // Xen's set_mem_type (xen/arch/x86/hvm/dm.c) checks, changes and
    // preempts page by page: a refusal leaves the pages before it changed,
    // and a preemption (every 256 pages, hypercall_preempt_check) returns
    // -ERESTART with first_pfn/nr advanced, which do_dm_op turns into a
    // continuation: the caller never sees -ERESTART. hvcore keeps Xen's
    // continuation inside the call (the lock is given up and taken again
    // here) and is all or nothing: a validation pass, then a commit pass,
    // both in steps. Between two holds only vCPU accesses (which change no
    // type) and disclaims (claim_epoch_) can run: other set_mem_types wait
    // for mem_type_mu_.
    P2mType to{};
    IoservId owner{};
    uint64_t epoch = 0;
    // Each hold re-checks what another thread may have changed meanwhile.
    const auto recheck = [&](const Locked& lk) -> Status {
        mu_.assert_held();
        if (stopped(lk)) return Status::err(-ESHUTDOWN);
        if (to == P2mType::ioreq_server && claim_epoch_[owner.raw()] != epoch)
            return Status::err(-EINVAL);  // the owner disclaimed
        return Status::ok();
    };
    std::function<void()> pause;
    // Give the lock up: let a waiter (counted by Mutex) take it, bounded.
    // With no waiter there is no one to yield to (a yield costs a system
    // call per hold: a sixth of a scattered list's time, bench_p2m).
    const auto let_in = [&] {
        if (pause) pause();
        if (!mu_.contended()) return;
        const auto until = std::chrono::steady_clock::now() + mem_type_hold;
        do std::this_thread::yield();
        while (mu_.contended() && std::chrono::steady_clock::now() < until);
    };
    // One pass over every piece in holds; work(lk, piece) per piece.
    const auto pass = [&](bool commit, const auto& work) -> Status {
        runs.rewind();
        GfnRuns::Piece piece;
        bool have = runs.next(mem_type_step, piece);
        // One hold: steps until the runs end or someone waits; true when
        // the runs are done.
        const auto hold = [&](const Locked& lk) -> Result<bool> {
            mu_.assert_held();
            HV_TRY(recheck(lk));
            const auto start = std::chrono::steady_clock::now();
            bool changed = false;
            for (;;) {
                for (uint64_t step = 0; have && step < mem_type_step;) {
                    if (Status s = work(lk, piece); !s) {
                        if (changed) wake_held(lk);
                        return s;
                    }
                    changed = changed || commit;
                    step += piece.n;
                    have = runs.next(mem_type_step, piece);
                }
                const auto held = std::chrono::steady_clock::now() - start;
                if (!have || held >= mem_type_hold || (mu_.contended() && held >= mem_type_hold_contended)) break;
            }
            if (changed) wake_held(lk);  // a held write's page may not be claimed any more
            if (!have) return true;
            if (commit && preempted_done != nullptr) *preempted_done = runs.taken() - piece.n;
            pause = mem_type_pause_;
            return false;
        };
        for (bool again = false;; again = true) {
            Result<bool> r = false;
            if (again) {
                // After giving the lock up, take it back ahead of threads
                // that come later (Mutex::lock_priority): a vCPU looping on
                // the lock cannot keep the change out. One step, then the
                // waiters, then the next step.
                const Locked lk(*this, mu_, Locked::Priority{});
                r = hold(lk);
            } else {
                const Locked lk(*this, mu_);
                r = hold(lk);
            }
            HV_TRY(r);
            if (*r) return Status::ok();
            let_in();
        }
    };
    {
        const Locked lk(*this, mu_);
        if (stopped(lk)) return Status::err(-ESHUTDOWN);
        auto t = mem_type_target(lk, who, hvmmem_type);
        HV_TRY(t);
        to = t->to;
        owner = t->owner;
        epoch = claim_epoch_[owner.raw()];
    }
    // Validate every page (nothing changes): the change itself (-EINVAL,
    // over the whole range first), then, in multi-owner mode, whose pages
    // they are (-EPERM: the first page of a claiming server of another
    // device model). The owners are looked up again in each hold (a claim
    // may end between two).
    std::optional<Gfn> foreign;
    HV_TRY(pass(false, [&](const Locked& lk, const GfnRuns::Piece& p) -> Status {
        mu_.assert_held();
        const auto refused = [&](uint8_t owners) {
            mu_.assert_held();  // clang's analysis does not carry the outer lambda's assertion in
            return p.list.empty() ? p2m_->first_refused(Gfn{p.first}, p.n, to, owners)
                                  : p2m_->first_refused_list(p.list, to, owners);
        };
        if (const std::optional<Gfn> bad = refused(0xff)) {
            if (first_refused != nullptr) *first_refused = bad->raw();
            return Status::err(-EINVAL);
        }
        if (!foreign) {
            const uint8_t owners = changeable_owners(lk, who);
            if (owners != 0xff) foreign = refused(owners);
        }
        return Status::ok();
    }));
    if (foreign) {
        if (first_refused != nullptr) *first_refused = foreign->raw();
        return Status::err(-EPERM);
    }
    if (check_only) return Status::ok();
    // Commit. Nothing validated above can be refused now (only a disclaim
    // ran meanwhile, and it turns ioreq_server into ram_rw, which every
    // change from ioreq_server goes to), and the table pool holds a 4 KiB
    // leaf for every RAM page (Domain::create), so set_type_range cannot
    // fail here but for one reason: RISC-V keeps the owners of a leaf table
    // shared by several beside the table, within a bound each piece is
    // checked against when it is made (-ENOSPC, P2m::set_type_range). A
    // list piece is reported to the observer as the span it lies in.
    uint64_t committed = 0;  // pages of the pieces made so far
    const Status st = pass(true, [&](const Locked& lk, const GfnRuns::Piece& p) -> Status {
        mu_.assert_held();
        // The pages become `owner`'s: a disclaim of it meanwhile ended the
        // change in recheck, before this step.
        if (p.list.empty()) {
            HV_TRY(p2m_->set_type_range(Gfn{p.first}, p.n, to, owner));
            p2m_changed(lk, Gfn{p.first}, p.n);
        } else {
            HV_TRY(p2m_->set_type_list(p.list, to, owner));
            p2m_changed(lk, Gfn{p.first}, p.list.back() - p.first + 1);
        }
        committed += p.n;
        return Status::ok();
    });
    if (st || st.code() != -ENOSPC || committed == 0) return st;
    // All or nothing: the pieces made before the refused one go back to
    // ram_rw, what each page was (a change to ioreq_server is only from
    // ram_rw), in one hold. A page a disclaim meanwhile reset is ram_rw
    // already; the change back needs no table and no side record, so it
    // cannot fail.
    const Locked lk(*this, mu_);
    runs.rewind();
    GfnRuns::Piece p;
    for (uint64_t undone = 0; undone < committed && runs.next(mem_type_step, p); undone += p.n) {
        if (p.list.empty()) {
            const Status back = p2m_->set_type_range(Gfn{p.first}, p.n, P2mType::ram_rw);
            Ensures(back.is_ok());
            p2m_changed(lk, Gfn{p.first}, p.n);
        } else {
            const Status back = p2m_->set_type_list(p.list, P2mType::ram_rw);
            Ensures(back.is_ok());
            p2m_changed(lk, Gfn{p.first}, p.list.back() - p.first + 1);
        }
    }
    wake_held(lk);
    return st;
}

Status Domain::set_mem_type(EmulatorId who, uint16_t hvmmem_type, uint64_t first_pfn, uint32_t nr,
                            MemTypeProgress* progress) {
    const std::lock_guard types(mem_type_mu_);
    {
        // Xen's checks before its loop, in its order; all or nothing.
        const Locked lk(*this, mu_);
        if (stopped(lk)) return Status::err(-ESHUTDOWN);
        const uint64_t last = first_pfn + nr - 1;
        if (nr == 0 || last < first_pfn || last > p2m_->max_gfn()) return Status::err(-EINVAL);
        HV_TRY(mem_type_target(lk, who, hvmmem_type));
    }
    GfnRuns runs(first_pfn, nr);
    constexpr uint64_t not_preempted = ~uint64_t{0};
    uint64_t done = not_preempted;
    HV_TRY(change_types(who, hvmmem_type, runs, nullptr, &done));
    if (done != not_preempted && progress != nullptr) {
        progress->first_pfn = first_pfn + done;
        progress->nr = static_cast<uint32_t>(nr - done);
    }
    return Status::ok();
}

Status Domain::set_mem_type_list(EmulatorId who, uint16_t hvmmem_type, std::span<const uint64_t> gfns,
                                 uint64_t* first_refused, bool check_only) {
    uint64_t refused = ~uint64_t{0};
    const auto fail = [&](int err) {
        if (first_refused != nullptr) *first_refused = refused;
        return Status::err(err);
    };
    const std::lock_guard types(mem_type_mu_);
    uint64_t max_gfn = 0;
    {
        const Locked lk(*this, mu_);
        if (stopped(lk)) return fail(-ESHUTDOWN);
        if (gfns.empty()) return fail(-EINVAL);
        if (Status s = mem_type_target(lk, who, hvmmem_type).status(); !s) return fail(s.code());
        max_gfn = p2m_->max_gfn();
    }
    // The list itself, without the lock: strictly increasing, within RAM.
    for (size_t i = 0; i < gfns.size(); ++i) {
        if ((i > 0 && gfns[i] <= gfns[i - 1]) || gfns[i] > max_gfn) {
            refused = gfns[i];
            return fail(-EINVAL);
        }
    }
    GfnRuns runs(gfns);
    if (Status s = change_types(who, hvmmem_type, runs, &refused, nullptr, check_only); !s) return fail(s.code());
    if (first_refused != nullptr) *first_refused = refused;  // ~0
    return Status::ok();
}

void Domain::set_mem_type_pause(std::function<void()> fn) {
    const Locked lk(*this, mu_);
    mem_type_pause_ = std::move(fn);
}

Result<uint16_t> Domain::get_mem_type(uint64_t pfn) {
    const Locked lk(*this, mu_);
    if (stopped(lk)) return Status::err(-ESHUTDOWN);
    if (pfn >= p2m_->gfn_limit()) return Status::err(-EINVAL);
    const P2mType t = p2m_->lookup(Gfn{pfn}).type;
    // HVMOP_get_mem_type's order (xen/arch/x86/hvm/hvm.c).
    if (p2m_is_mmio(t)) return hvmmem::mmio_dm;
    if (t == P2mType::ioreq_server) return hvmmem::ioreq_server;
    if (t == P2mType::ram_ro) return hvmmem::ram_ro;
    if (p2m_is_ram(t)) return hvmmem::ram_rw;
    return hvmmem::mmio_dm;
}

// ---------------------------------------------------------------------------
// The shared-memory protocol's handles (the pages themselves: IoreqChannel).

Status Domain::map_ioreq_pages(EmulatorId who, IoservId id, IoreqSlot** sync, BufferedPage** buffered) {
    const Locked lk(*this, mu_);
    auto s = live_server(lk, who, id);
    HV_TRY(s);
    auto m = (*s)->channel.dm_mapping();
    HV_TRY(m);
    *sync = m->slots;
    if (buffered != nullptr) *buffered = m->buffered;
    return Status::ok();
}

Result<int> Domain::ioreq_fd(EmulatorId who, IoservId id) {
    const Locked lk(*this, mu_);
    auto s = live_server(lk, who, id);
    HV_TRY(s);
    return (*s)->channel.event_fd();
}

Status Domain::dup_ioreq_fds(EmulatorId who, IoservId id, int* pages_fd, int* event_fd, bool* buffered,
                             uint64_t* serial) {
    const Locked lk(*this, mu_);
    auto s = live_server(lk, who, id);
    HV_TRY(s);
    *buffered = (*s)->channel.buffered();
    if (serial != nullptr) *serial = (*s)->serial;
    return (*s)->channel.dup_fds(pages_fd, event_fd);
}

Status Domain::ioreq_server_serial(EmulatorId who, IoservId id, uint64_t* serial) {
    const Locked lk(*this, mu_);
    auto s = live_server(lk, who, id);
    HV_TRY(s);
    *serial = (*s)->serial;
    return Status::ok();
}

Status Domain::ioreq_notify(EmulatorId who, IoservId id, uint32_t vcpu) {
    const Locked lk(*this, mu_);
    auto s = live_server(lk, who, id);
    HV_TRY(s);
    if (vcpu >= cfg_.nr_vcpus) return Status::err(-EINVAL);
    // The notification is an observation point of the slot's state: an
    // unknown value stops the domain at once (XSA-262).
    // An isolated device model (emulators.hpp) loses its servers instead.
    if (const std::optional<uint8_t> st = (*s)->channel.unknown_state(vcpu)) {
        const std::string what = fmt::format("wrote unknown state {} into vCPU {}'s slot", *st, vcpu);
        if (!fault_emulator(lk, who, fmt::format("ioreq server {} {}", id.raw(), what)))
            stop(lk, fmt::format("device model of ioreq server {} {}", id.raw(), what));
        return Status::err(-EPROTO);
    }
    wake(lk, vcpu);  // this vCPU's thread may be waiting for its slot (host_access)
    return Status::ok();
}

}  // namespace hvcore

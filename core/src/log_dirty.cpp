// SPDX-License-Identifier: MIT
// Dirty tracking: the toolstack's log-dirty mode (Xen's paging log-dirty
// mode, xen/arch/x86/mm/paging.c), XEN_DMOP_track_dirty_vram and
// XEN_DMOP_modified_memory (xen/arch/x86/hvm/dm.c), over the bitmaps the
// p2m keeps (P2m, "log-dirty"). Unlike Xen, the mode starts and runs while
// ioreq_server entries are outstanding (Xen's hap_enable_log_dirty:
// -EBUSY): they stay trapped, and the router marks each write it forwards.
#include "domain_ports.hpp"

namespace hvcore {

namespace {
// Xen's track_dirty_vram: at most 1 GiB of frames (GB(1) >> PAGE_SHIFT).
constexpr uint64_t vram_max_frames = (uint64_t{1} << 30) >> 12;
}  // namespace

void Domain::mark_dirty(const Locked&, Gfn gfn) { p2m_->mark_dirty(gfn); }

uint64_t Domain::max_gfn() {
    const Locked lk(*this, mu_);
    return p2m_->max_gfn();
}

Status Domain::set_dirty_tracker(DirtyTracker* t) {
    const Locked lk(*this, mu_);
    if (t == nullptr) {
        // The host goes (its VM is destroyed): its log with it. A tracking
        // still on keeps what it has; the pages are not write-protected
        // any more than they were.
        dirty_tracker_ = nullptr;
        host_logging_ = false;
        if (!p2m_->tracking()) p2m_->write_protect(true);
        return Status::ok();
    }
    // The pages a tracking write-protected would stay so under the host.
    if (p2m_->tracking()) return Status::err(-EBUSY);
    dirty_tracker_ = t;
    p2m_->write_protect(false);
    return Status::ok();
}

Status Domain::sync_host_tracking(const Locked& lk) {
    if (dirty_tracker_ == nullptr) return Status::ok();
    const bool want = p2m_->tracking();
    if (want == host_logging_) return Status::ok();
    if (want) {
        if (Status s = dirty_tracker_->start_dirty_log(lk); !s) return s;
    } else {
        dirty_tracker_->stop_dirty_log(lk);
    }
    host_logging_ = want;
    return Status::ok();
}

Status Domain::collect_host_dirty(const Locked& lk) {
    if (dirty_tracker_ == nullptr || !host_logging_) return Status::ok();
    // The p2m through a plain pointer: the lambda runs inside this hold,
    // but is analysed on its own (thread_annotations.hpp).
    P2m* p2m = p2m_.get();
    return dirty_tracker_->collect_dirty_log(lk, [p2m](Gfn g) { p2m->mark_dirty(g); });
}

bool Domain::log_dirty_enabled() {
    const Locked lk(*this, mu_);
    return p2m_->log_dirty();
}

Status Domain::log_dirty_enable() {
    const Locked lk(*this, mu_);
    if (stopped(lk)) return Status::err(-ESHUTDOWN);
    if (Status s = p2m_->enable_log_dirty(); !s) return s;
    if (Status s = sync_host_tracking(lk); !s) {
        p2m_->disable_log_dirty();
        return s;
    }
    // Every RAM leaf may read ram_logdirty now (lazily): a host mirroring
    // the p2m re-projects it.
    if (p2m_->write_protects()) p2m_changed(lk, Gfn{0}, 0);
    return Status::ok();
}

Status Domain::log_dirty_disable() {
    const Locked lk(*this, mu_);
    if (stopped(lk)) return Status::err(-ESHUTDOWN);
    if (!p2m_->log_dirty()) return Status::ok();
    p2m_->disable_log_dirty();
    (void)sync_host_tracking(lk);  // stopping cannot fail
    if (p2m_->write_protects()) p2m_changed(lk, Gfn{0}, 0);
    return Status::ok();
}

Status Domain::log_dirty_read(uint64_t first_gfn, uint64_t nr, std::span<uint8_t> bitmap, bool clean) {
    const Locked lk(*this, mu_);
    if (stopped(lk)) return Status::err(-ESHUTDOWN);
    if (!p2m_->log_dirty()) return Status::err(-EINVAL);
    if (Status s = collect_host_dirty(lk); !s) return s;
    if (Status s = p2m_->read_dirty(Gfn{first_gfn}, nr, bitmap, clean); !s) return s;
    if (clean && p2m_->write_protects()) p2m_changed(lk, Gfn{first_gfn}, nr);
    return Status::ok();
}

Status Domain::track_dirty_vram(uint64_t first_pfn, uint32_t nr, std::span<uint8_t> bitmap) {
    if (nr > vram_max_frames || first_pfn + nr < first_pfn) return Status::err(-EINVAL);
    const Locked lk(*this, mu_);
    if (stopped(lk)) return Status::err(-ESHUTDOWN);
    if (Status s = collect_host_dirty(lk); !s) return s;
    if (Status s = p2m_->track_vram(Gfn{first_pfn}, nr, bitmap); !s) return s;
    if (Status s = sync_host_tracking(lk); !s) return s;
    if (p2m_->write_protects()) p2m_changed(lk, Gfn{0}, 0);
    return Status::ok();
}

Status Domain::modified_memory(std::span<const std::pair<uint64_t, uint64_t>> extents) {
    const Locked lk(*this, mu_);
    if (stopped(lk)) return Status::err(-ESHUTDOWN);
    if (!p2m_->log_dirty()) return Status::ok();
    // Only pages with a frame (Xen's get_page_from_gfn): holes are skipped.
    for (const auto& [first, nr] : extents)
        for (uint64_t g = first; g < first + nr; ++g)
            if (g <= p2m_->max_gfn() && p2m_is_ram(p2m_->peek_type(Gfn{g}))) p2m_->mark_dirty(Gfn{g});
    return Status::ok();
}

}  // namespace hvcore

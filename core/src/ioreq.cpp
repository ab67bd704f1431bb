// SPDX-License-Identifier: MIT
#include "hvcore/core/ioreq.hpp"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <utility>

#include "hvcore/core/types.hpp"
#include "sealed_memfd.hpp"

namespace hvcore {

namespace {
constexpr size_t map_bytes = ioreq_map_bytes;
}

Result<IoreqPages> IoreqPages::create(bool buffered) {
    IoreqPages p;
    // Sealed against resizing (sealed_memfd.hpp): descriptors of it go to
    // the device model (dup_fds), possibly another process.
    auto fd = detail::sealed_memfd("hvcore-ioreq", map_bytes);
    if (!fd) return fd.status();
    p.fd_ = *fd;
    void* m = mmap(nullptr, map_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, p.fd_, 0);
    if (m == MAP_FAILED) return Status::err(-errno);
    p.hv_map_ = static_cast<std::byte*>(m);
    const IoreqMapping hv = p.layout(p.hv_map_, buffered);
    p.sync_ = hv.slots;
    p.buf_ = hv.buffered;
    p.events_ = hv.events;
    const int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (efd < 0) return Status::err(-errno);
    try {
        p.event_ = std::make_shared<const EventFd>(efd);
    } catch (...) {
        close(efd);
        throw;
    }
    p.event_fd_ = efd;
    return p;
}

IoreqPages::IoreqPages(IoreqPages&& o) noexcept { *this = std::move(o); }

IoreqPages& IoreqPages::operator=(IoreqPages&& o) noexcept {
    if (this != &o) {
        reset();
        fd_ = std::exchange(o.fd_, -1);
        event_fd_ = std::exchange(o.event_fd_, -1);
        event_ = std::move(o.event_);
        hv_map_ = std::exchange(o.hv_map_, nullptr);
        dm_map_ = std::exchange(o.dm_map_, nullptr);
        sync_ = std::exchange(o.sync_, nullptr);
        buf_ = std::exchange(o.buf_, nullptr);
        events_ = std::exchange(o.events_, nullptr);
    }
    return *this;
}

IoreqPages::~IoreqPages() { reset(); }

void IoreqPages::reset() noexcept {
    // A device model polling its duplicate of the eventfd (dup_fds) wakes
    // and learns from its next call that the server is gone.
    if (event_fd_ >= 0) notify();
    if (dm_map_ != nullptr) munmap(dm_map_, map_bytes);
    if (hv_map_ != nullptr) munmap(hv_map_, map_bytes);
    if (fd_ >= 0) close(fd_);
    // The eventfd closes with its last reference: a wake-up still to be
    // sent after an unlock (wake_after_unlock.hpp) holds one.
    event_.reset();
    fd_ = event_fd_ = -1;
    hv_map_ = dm_map_ = nullptr;
    sync_ = nullptr;
    buf_ = nullptr;
    events_ = nullptr;
}

IoreqMapping IoreqPages::layout(std::byte* map, bool buffered) noexcept {
    // Xen's resource order (ioreq.hpp): frame 0 the ring, frame 1 the
    // slots; then hvcore's event page.
    return {.slots = reinterpret_cast<IoreqSlot*>(map + ioreq_frame_ioreq * page_size),
            .buffered = buffered ? reinterpret_cast<BufferedPage*>(map + ioreq_frame_bufioreq * page_size) : nullptr,
            .events = reinterpret_cast<EventPage*>(map + ioreq_frame_events * page_size)};
}

Result<IoreqMapping> IoreqPages::dm_mapping() {
    if (dm_map_ == nullptr) {
        void* m = mmap(nullptr, map_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
        if (m == MAP_FAILED) return Status::err(-errno);
        dm_map_ = static_cast<std::byte*>(m);
    }
    return layout(dm_map_, buf_ != nullptr);
}

Status IoreqPages::dup_fds(int* pages_fd, int* event_fd) const {
    const int p = fcntl(fd_, F_DUPFD_CLOEXEC, 0);
    if (p < 0) return Status::err(-errno);
    const int e = fcntl(event_fd_, F_DUPFD_CLOEXEC, 0);
    if (e < 0) {
        const int err = -errno;
        close(p);
        return Status::err(err);
    }
    *pages_fd = p;
    *event_fd = e;
    return Status::ok();
}

void IoreqPages::notify() const noexcept { event_->signal(); }

void IoreqPages::notify_after_unlock() const noexcept { WakeScope::signal_later(event_); }

// ---------------------------------------------------------------------------
// wake_after_unlock.hpp

EventFd::~EventFd() {
    if (fd_ >= 0) close(fd_);
}

void EventFd::signal() const noexcept {
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = write(fd_, &one, sizeof one);
}

namespace {
thread_local WakeScope* innermost = nullptr;
}

WakeScope::WakeScope() noexcept : outer_(innermost) { innermost = this; }

WakeScope::~WakeScope() {
    innermost = outer_;
    flush();
}

void WakeScope::flush() noexcept {
    for (size_t i = 0; i < nfds_; ++i) {
        fds_[i]->signal();
        fds_[i].reset();
    }
    for (size_t i = 0; i < ncvs_; ++i) cvs_[i]->notify_one();
    nfds_ = ncvs_ = 0;
}

void WakeScope::signal_later(const std::shared_ptr<const EventFd>& fd) noexcept {
    WakeScope* s = innermost;
    if (s == nullptr || s->nfds_ == capacity) {
        fd->signal();
        return;
    }
    for (size_t i = 0; i < s->nfds_; ++i)
        if (s->fds_[i] == fd) return;  // one signal wakes the poller; it takes every port's bit
    s->fds_[s->nfds_++] = fd;
}

void WakeScope::notify_later(std::condition_variable& cv) noexcept {
    WakeScope* s = innermost;
    if (s == nullptr || s->ncvs_ == capacity) {
        cv.notify_one();
        return;
    }
    for (size_t i = 0; i < s->ncvs_; ++i)
        if (s->cvs_[i] == &cv) return;
    s->cvs_[s->ncvs_++] = &cv;
}

}  // namespace hvcore

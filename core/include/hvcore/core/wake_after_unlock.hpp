// SPDX-License-Identifier: MIT
// Wake-ups made while a lock is held, sent after it is released. A thread
// woken under the lock it needs runs, finds the lock taken and sleeps
// again: two context switches more per wake-up on a shared CPU (the
// device model's eventfd poll, then hvdm_ioreq_notify's lock; a vCPU's
// condition variable). A WakeScope collects the wake-ups of one lock hold
// (LockToken, thread_annotations.hpp, opens one per hold) and sends them
// when it ends, after the unlock: the destructor of the token's unique_lock
// runs before the scope's.
//
// Each wake-up keeps what it signals alive until it is sent: an eventfd is
// held by a shared reference (EventFd), so that a server destroyed between
// the unlock and the signal does not close it (or let its number be
// reused) under the write. A condition variable must outlive the scope
// (a vCPU's: it lives as long as its domain, which the caller holds).
#pragma once

#include <array>
#include <condition_variable>
#include <cstddef>
#include <memory>

namespace hvcore {

// An eventfd (eventfd(2), non-blocking, close-on-exec), closed with its
// last reference.
class EventFd {
public:
    explicit EventFd(int fd) noexcept : fd_(fd) {}
    ~EventFd();
    EventFd(const EventFd&) = delete;
    EventFd& operator=(const EventFd&) = delete;
    [[nodiscard]] int fd() const noexcept { return fd_; }
    // counter += 1 (one write(2)); a full counter (2^64 - 2 unread
    // wake-ups) cannot happen in practice, and EAGAIN would leave it
    // readable anyway.
    void signal() const noexcept;

private:
    int fd_;
};

class WakeScope {
public:
    WakeScope() noexcept;
    ~WakeScope();
    WakeScope(const WakeScope&) = delete;
    WakeScope& operator=(const WakeScope&) = delete;

    // Send everything collected so far, now (before a wait that releases
    // the lock: the waiter's own wake-ups must not wait for it).
    void flush() noexcept;

    // Signal `fd` when the innermost scope of this thread ends, or now if
    // there is none (or it is full).
    static void signal_later(const std::shared_ptr<const EventFd>& fd) noexcept;
    // cv.notify_one() when the innermost scope of this thread ends, or now.
    static void notify_later(std::condition_variable& cv) noexcept;

private:
    static constexpr size_t capacity = 8;
    std::array<std::shared_ptr<const EventFd>, capacity> fds_{};
    std::array<std::condition_variable*, capacity> cvs_{};
    size_t nfds_ = 0;
    size_t ncvs_ = 0;
    WakeScope* outer_;
};

}  // namespace hvcore

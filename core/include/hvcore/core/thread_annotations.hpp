// SPDX-License-Identifier: MIT
// Clang's thread-safety analysis (https://clang.llvm.org/docs/ThreadSafetyAnalysis.html):
// the annotations, a mutex that is a capability, and a lock token whose
// existence proves that its owner's lock is held (Hafnium's `struct
// vm_locked`, vm.h). The macros expand to nothing on other compilers.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>

#include "hvcore/core/wake_after_unlock.hpp"

#if defined(__clang__)
#define HV_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define HV_THREAD_ANNOTATION(x)
#endif

#define HV_CAPABILITY(x) HV_THREAD_ANNOTATION(capability(x))
#define HV_SCOPED_CAPABILITY HV_THREAD_ANNOTATION(scoped_lockable)
#define HV_GUARDED_BY(x) HV_THREAD_ANNOTATION(guarded_by(x))
#define HV_PT_GUARDED_BY(x) HV_THREAD_ANNOTATION(pt_guarded_by(x))
#define HV_REQUIRES(...) HV_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define HV_ACQUIRE(...) HV_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define HV_RELEASE(...) HV_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define HV_EXCLUDES(...) HV_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define HV_ASSERT_CAPABILITY(x) HV_THREAD_ANNOTATION(assert_capability(x))
#define HV_NO_THREAD_SAFETY_ANALYSIS HV_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace hvcore {

// std::mutex as a capability the analysis tracks. It counts the threads
// blocked taking it (lock() and LockToken; a condition-variable wait
// re-taking it is not counted), so that long work under it can give it up
// at its next step when someone waits (Domain's set_mem_type chunks, as
// Xen's hypercall_preempt_check lets a preempted DMOP continue later).
class HV_CAPABILITY("mutex") Mutex {
public:
    void lock() HV_ACQUIRE() {
        std::unique_lock<std::mutex> lk(mu_, std::defer_lock);
        lock_counted(lk);
        lk.release();
    }
    void unlock() HV_RELEASE() { mu_.unlock(); }
    // Take the lock through lk (over native()), counted as a waiter while
    // blocked. While a thread takes it with priority, others wait for that
    // first: std::mutex is not fair, and a thread that takes the lock
    // again and again (a vCPU's accesses) would otherwise keep a waiting
    // one out indefinitely.
    void lock_counted(std::unique_lock<std::mutex>& lk) {
        while (priority_.load(std::memory_order_acquire)) std::this_thread::yield();
        if (lk.try_lock()) return;
        waiters_.fetch_add(1, std::memory_order_relaxed);
        lk.lock();
        waiters_.fetch_sub(1, std::memory_order_relaxed);
    }
    // Take the lock through lk ahead of every thread that comes after this
    // call (one at a time: work that has just given the lock up to a
    // waiter, and takes it back for its next step).
    void lock_priority(std::unique_lock<std::mutex>& lk) {
        priority_.store(true, std::memory_order_release);
        lk.lock();
        priority_.store(false, std::memory_order_release);
    }
    // Some thread is blocked taking the lock (a hint: it may be taken by
    // the time the caller acts on it).
    [[nodiscard]] bool contended() const noexcept { return waiters_.load(std::memory_order_relaxed) != 0; }
    // Tells the analysis the lock is held: only where a LockToken of this
    // mutex's owner is in hand (the token is the proof).
    void assert_held() const HV_ASSERT_CAPABILITY(this) {}
    [[nodiscard]] std::mutex& native() noexcept { return mu_; }

private:
    std::mutex mu_;
    std::atomic<unsigned> waiters_{0};
    std::atomic<bool> priority_{false};
};

// Proof that Owner's lock is held: only Owner constructs one (taking the
// lock), and the lock is released when it goes out of scope. Functions that
// need the lock take `const LockToken<Owner>&` instead of a `_locked`
// suffix. A token cannot be released early, so nothing obtained under it
// can outlive the hold by accident: work that must let go of the lock
// (a sweep in chunks) takes a new token per hold.
template <class Owner>
class HV_SCOPED_CAPABILITY LockToken {
public:
    LockToken(const LockToken&) = delete;
    LockToken& operator=(const LockToken&) = delete;
    ~LockToken() HV_RELEASE() = default;

    // Whose lock this is (a callee given a token checks it is its own).
    [[nodiscard]] const Owner* owner() const noexcept { return owner_; }
    // Block until cv is notified: the lock is released meanwhile and held
    // again on return (it is held on both sides, as far as the token's
    // holder can tell; anything read before must be looked up again).
    // The wake-ups the hold made so far are sent first.
    void wait(std::condition_variable& cv) const {
        wakes_.flush();
        cv.wait(lk_);
    }
    // Run f with the lock released, then hold it again (the same caveat
    // as wait: anything read before must be looked up again). The
    // wake-ups the hold made so far are sent first. A device model's
    // direct handler runs so (Domain::direct_call).
    template <class F>
    void unlocked(F&& f) const {
        wakes_.flush();
        lk_.unlock();
        struct Relock {
            std::unique_lock<std::mutex>& lk;
            ~Relock() { lk.lock(); }
        } relock{lk_};
        std::forward<F>(f)();
    }

private:
    friend Owner;
    LockToken(const Owner& o, Mutex& mu) HV_ACQUIRE(mu) : owner_(&o), lk_(mu.native(), std::defer_lock) {
        mu.lock_counted(lk_);
    }
    // Taken with Mutex::lock_priority.
    struct Priority {};
    LockToken(const Owner& o, Mutex& mu, Priority) HV_ACQUIRE(mu) : owner_(&o), lk_(mu.native(), std::defer_lock) {
        mu.lock_priority(lk_);
    }

    const Owner* owner_;
    // Declared before lk_, so destroyed after it: the wake-ups made under
    // the lock (wake_after_unlock.hpp) are sent once it is released.
    mutable WakeScope wakes_;
    mutable std::unique_lock<std::mutex> lk_;
};

}  // namespace hvcore

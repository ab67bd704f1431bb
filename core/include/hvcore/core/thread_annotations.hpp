// SPDX-License-Identifier: MIT
// Clang's thread-safety analysis (https://clang.llvm.org/docs/ThreadSafetyAnalysis.html):
// the annotations, a mutex that is a capability, and a lock token whose
// existence proves that its owner's lock is held (Hafnium's `struct
// vm_locked`, vm.h). The macros expand to nothing on other compilers.
#pragma once

#include <condition_variable>
#include <mutex>

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

// std::mutex as a capability the analysis tracks.
class HV_CAPABILITY("mutex") Mutex {
public:
    void lock() HV_ACQUIRE() { mu_.lock(); }
    void unlock() HV_RELEASE() { mu_.unlock(); }
    // Tells the analysis the lock is held: only where a LockToken of this
    // mutex's owner is in hand (the token is the proof).
    void assert_held() const HV_ASSERT_CAPABILITY(this) {}
    [[nodiscard]] std::mutex& native() noexcept { return mu_; }

private:
    std::mutex mu_;
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

private:
    friend Owner;
    LockToken(const Owner& o, Mutex& mu) HV_ACQUIRE(mu) : owner_(&o), lk_(mu.native()) {}

    const Owner* owner_;
    // Declared before lk_, so destroyed after it: the wake-ups made under
    // the lock (wake_after_unlock.hpp) are sent once it is released.
    mutable WakeScope wakes_;
    mutable std::unique_lock<std::mutex> lk_;
};

}  // namespace hvcore

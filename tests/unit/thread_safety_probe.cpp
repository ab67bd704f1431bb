// SPDX-License-Identifier: MIT
// Compiled, not run, by clang with -Wthread-safety -Werror (ctest
// core/thread_safety_*, HVCORE_THREAD_SAFETY): the lock token of
// thread_annotations.hpp used the way Domain uses it. As written it must
// compile; with PROBE_UNLOCKED_MEMBER (a guarded member touched with no
// token) or PROBE_UNLOCKED_CALL (a function that needs the token's lock
// called without one) clang must reject it.
#include "hvcore/core/thread_annotations.hpp"

namespace {

using hvcore::LockToken;

class Probe {
public:
    using Locked = LockToken<Probe>;

    int bump() {
        const Locked lk(*this, mu_);
        return bump(lk);
    }
#ifdef PROBE_UNLOCKED_MEMBER
    int bump_without_token() { return ++n_; }
#endif
#ifdef PROBE_UNLOCKED_CALL
    int call_without_token(const Locked& stale) { return bump(stale); }
#endif

private:
    int bump(const Locked&) HV_REQUIRES(mu_) { return ++n_; }

    hvcore::Mutex mu_;
    int n_ HV_GUARDED_BY(mu_) = 0;
};

}  // namespace

int probe_main() {
    Probe p;
    return p.bump();
}

// SPDX-License-Identifier: MIT
// The host's isolated emulators: device models in another process (a
// connection to hv_dm_listen, dm_api/src/server.cpp). A violation of the
// shared-page protocol by one of them (XSA-262's checks: an unknown state in
// a slot, a slot moved backwards, a slot not returned to NONE) costs that
// emulator its servers on the domain, not the whole domain: Xen calls
// domain_crash (xen/common/ioreq.c, hvm_wait_for_io / ioreq_send), which
// hvcore keeps for in-process handles only (README.md, "Where hvcore
// differs from Xen"). The registry tells a domain which emulators are
// isolated and whom to tell of a fault.
//
// Lock order: a domain's lock, then this registry's (a leaf: the fault
// callback runs under both, so it must only record and signal - an
// eventfd - and never call back into the core).
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "hvcore/core/ioreq_server.hpp"
#include "hvcore/core/thread_annotations.hpp"

namespace hvcore {

class Emulators {
public:
    using Locked = LockToken<Emulators>;

    // domid and the reason (names the server, the vCPU and the state).
    using FaultFn = std::function<void(uint16_t domid, const std::string& reason)>;

    // who is isolated from now on; fn is told of each of its faults.
    void isolate(EmulatorId who, FaultFn fn) {
        const Locked lk(*this, mu_);
        fns_[who] = std::move(fn);
    }
    // Not any more (its handle is closing). Once this returns, fn is not
    // running and is not called again.
    void forget(EmulatorId who) {
        const Locked lk(*this, mu_);
        fns_.erase(who);
    }
    [[nodiscard]] bool isolated(EmulatorId who) {
        const Locked lk(*this, mu_);
        return fns_.contains(who);
    }
    // Tells who's owner of a fault; false if who is not isolated.
    bool report(EmulatorId who, uint16_t domid, const std::string& reason) {
        const Locked lk(*this, mu_);
        auto it = fns_.find(who);
        if (it == fns_.end()) return false;
        if (it->second) it->second(domid, reason);
        return true;
    }

private:
    Mutex mu_;
    std::map<EmulatorId, FaultFn> fns_ HV_GUARDED_BY(mu_);
};

}  // namespace hvcore

// SPDX-License-Identifier: MIT
#include "hvcore/core/host.hpp"

#include <vector>

namespace hvcore {

Result<std::shared_ptr<Domain>> Host::create_domain(const DomainConfig& cfg) {
    const Backend* backend = nullptr;
    for (const Backend& b : linked_backends())
        if (b.arch == cfg.arch) backend = &b;
    if (backend == nullptr) return Status::err(-EOPNOTSUPP);  // not built into this library
    std::lock_guard lk(mu_);
    if (domains_.size() >= 0xfff0) return Status::err(-ENOSPC);
    while (next_id_ == 0 || domains_.contains(next_id_)) ++next_id_;
    const DomId id{next_id_++};
    auto d = Domain::create(id, cfg, *backend, log_, emulators_);
    HV_TRY(d);
    domains_.emplace(id.raw(), *d);
    return d;
}

Status Host::destroy_domain(DomId id) {
    std::shared_ptr<Domain> d;
    {
        std::lock_guard lk(mu_);
        auto it = domains_.find(id.raw());
        if (it == domains_.end()) return Status::err(-ESRCH);
        d = std::move(it->second);
        domains_.erase(it);
    }
    // A host vCPU thread blocked in host_access for a device model would
    // wait for an answer that can no longer come (the model's calls on this
    // domid are -ESRCH from now on): it fails with -ESHUTDOWN instead.
    d->shutdown_host();
    // The last reference (ours, or that of a call still in flight) frees it.
    return Status::ok();
}

std::shared_ptr<Domain> Host::find(DomId id) {
    std::lock_guard lk(mu_);
    auto it = domains_.find(id.raw());
    return it == domains_.end() ? nullptr : it->second;
}

void Host::emulator_gone(EmulatorId who) {
    std::vector<std::shared_ptr<Domain>> all;
    {
        std::lock_guard lk(mu_);
        for (auto& [id, d] : domains_) all.push_back(d);
    }
    for (auto& d : all) d->destroy_servers_of(who);
}

}  // namespace hvcore

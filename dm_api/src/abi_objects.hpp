// The objects behind the C ABI's opaque handles, and the guard that keeps
// every C++ exception on this side of the boundary.
#pragma once

#include <cerrno>
#include <map>
#include <memory>
#include <mutex>
#include <new>

#include "hvcore/core/host.hpp"
#include "hvcore/hv.h"
#include "hvcore/hvdm.h"

struct hv_host {
    hvcore::Host host;
    std::mutex mu;  // guards domains (taken before any hvcore lock)
    std::map<uint16_t, std::unique_ptr<hv_domain>> domains;
};

struct hv_domain {
    hv_host* host = nullptr;
    std::shared_ptr<hvcore::Domain> d;
};

struct hvdm_handle {
    hv_host* host = nullptr;
    hvcore::Caller caller;
};

namespace hvcore::abi {

// Runs fn; an exception (only std::bad_alloc can arise) becomes -ENOMEM.
template <class Fn>
[[nodiscard]] int guard(Fn&& fn) noexcept {
    try {
        return fn();
    } catch (const std::bad_alloc&) {
        return -ENOMEM;
    } catch (...) {
        return -EIO;
    }
}

}  // namespace hvcore::abi

// SPDX-License-Identifier: MIT
// The objects behind the C ABI's opaque handles, and the guard that keeps
// every C++ exception on this side of the boundary.
//
// Lifetimes (hv.h, "Lifetimes"): the embedder owns hv_host and its
// hv_domain objects; hv_host_destroy frees them. What an hvdm_handle needs
// after that lives in HostCore, which the hv_host and every handle share:
// hv_host_destroy marks it destroyed and destroys every domain, and the
// last of the host and its handles frees it. A handle's ioreq mappings and
// descriptors belong to the handle (DmPages), and so do its mappings of
// resources (ResourceMap) and guest RAM (GuestMap); they go with hvdm_close.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cerrno>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <vector>

#include "hvcore/core/host.hpp"
#include "hvcore/hv.h"
#include "hvcore/hvdm.h"
#include "transport.hpp"

namespace hvcore::abi {

struct HostCore {
    hvcore::Host host;
    // Set once by hv_host_destroy: every later call on a handle of this
    // host is -ENODEV (hvdm_close still frees the handle).
    std::atomic<bool> destroyed{false};
};

// One server's ioreq pages as a device model holds them: its own mapping of
// the memfd and its own duplicate of the wake-up eventfd, valid until
// hvdm_close whatever happens to the server, its domain or the host.
struct DmPages {
    hvdm_domid_t domid = 0;
    hvdm_ioservid_t id = 0;
    dev_t dev = 0;  // the memfd's identity: a new server behind a reused id
    ino_t ino = 0;  // has another file
    uint64_t serial = 0;  // the server's (IoreqServer::serial), as hvdm_serve_pending finds it
    std::byte* map = nullptr;  // ioreq_map_bytes, laid out as IoreqPages::layout
    int pages_fd = -1;  // the memfd, for hvdm_map_resource's own mappings
    int event_fd = -1;
    bool buffered = false;
    uint32_t nr_vcpus = 0;  // the slots in use; ports 0..nr_vcpus (resource.cpp)
};

// A mapping hvdm_map_resource made: the handle's until hvdm_unmap_resource
// or hvdm_close, whatever is destroyed first.
struct ResourceMap {
    void* addr = nullptr;
    unsigned int nr_frames = 0;
};

// A mapping of guest RAM (hvdm_map_guest_memory): the handle's until
// hvdm_unmap_guest_memory or hvdm_close, whatever is destroyed first.
struct GuestMap {
    void* addr = nullptr;
    uint32_t nr = 0;  // 4 KiB pages
};

}  // namespace hvcore::abi

struct hv_host {
    std::shared_ptr<hvcore::abi::HostCore> core = std::make_shared<hvcore::abi::HostCore>();
    std::mutex mu;  // guards domains (taken before any hvcore lock)
    std::map<uint16_t, std::unique_ptr<hv_domain>> domains;
};

struct hv_domain {
    hv_host* host = nullptr;
    std::shared_ptr<hvcore::Domain> d;
};

// A device model's handle: how it reaches the host (in this process, or over
// a socket) below the seam, its own views of server pages above it.
struct hvdm_handle {
    std::unique_ptr<hvcore::abi::Transport> t;
    std::mutex mu;  // guards pages, guest_maps and resources
    std::vector<hvcore::abi::DmPages> pages;
    std::vector<hvcore::abi::GuestMap> guest_maps;
    std::vector<hvcore::abi::ResourceMap> resources;
};

namespace hvcore::abi {

// A handle on this host's core (hvdm_open, and a listener's connection):
// nullptr if out of memory.
[[nodiscard]] hvdm_handle* open_local(const std::shared_ptr<HostCore>& core) noexcept;

// Runs fn; an exception (only std::bad_alloc can arise) becomes -ENOMEM.
// The core's messages made during fn reach the host's log callback after
// fn returns, with no core lock held (LogDeferral): the callback may call
// back into the library.
template <class Fn>
[[nodiscard]] int guard(Fn&& fn) noexcept {
    const hvcore::LogDeferral deferral;
    try {
        return fn();
    } catch (const std::bad_alloc&) {
        return -ENOMEM;
    } catch (...) {
        return -EIO;
    }
}

}  // namespace hvcore::abi

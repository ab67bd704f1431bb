// SPDX-License-Identifier: MIT
// The host: the domains it runs and the device-model identities (handles)
// that act on them. See domain.hpp for the lock order.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>

#include "hvcore/core/domain.hpp"
#include "hvcore/core/log.hpp"

namespace hvcore {

class Host {
public:
    [[nodiscard]] Result<std::shared_ptr<Domain>> create_domain(const DomainConfig& cfg);
    [[nodiscard]] Status destroy_domain(DomId id);
    // The domain, kept alive for the caller while it uses it; nullptr if none.
    [[nodiscard]] std::shared_ptr<Domain> find(DomId id);
    [[nodiscard]] EmulatorId new_emulator() noexcept { return next_emulator_.fetch_add(1); }
    // Closing a handle: its servers go, as if the emulator had exited, so no
    // guest is left retrying writes to pages nobody serves.
    void emulator_gone(EmulatorId who);
    // Where this host's messages (and its domains') go: hv_host_set_log.
    [[nodiscard]] Log& log() noexcept { return *log_; }
    // Its isolated emulators (device models in other processes): a fault of
    // one costs it its servers, not the domain (emulators.hpp).
    [[nodiscard]] Emulators& emulators() noexcept { return *emulators_; }

private:
    // Shared with every domain of the host (a domain may outlive it).
    std::shared_ptr<Log> log_ = std::make_shared<Log>();
    std::shared_ptr<Emulators> emulators_ = std::make_shared<Emulators>();
    std::mutex mu_;
    std::map<uint16_t, std::shared_ptr<Domain>> domains_;
    uint16_t next_id_ = 1;  // 0 would be the control domain in Xen's numbering
    std::atomic<EmulatorId> next_emulator_{1};
};

// The identity a DMOP is issued with.
// Its restriction (hvdm_restrict) is set by one thread while others check
// it, so it is one atomic word: a domid, or `unrestricted` (above every
// 16-bit domid); a compare-and-swap sets it once.
struct Caller {
    EmulatorId emulator = 0;

    // True if this identity may act on domid: unrestricted, or restricted to it.
    [[nodiscard]] bool may_access(uint16_t domid) const noexcept {
        const uint32_t r = restricted_.load(std::memory_order_acquire);
        return r == unrestricted || r == domid;
    }
    // Restricts it to domid (IOCTL_PRIVCMD_RESTRICT): true if it now is,
    // false if it already was to another domid (then nothing changes). Of
    // racing calls with different domids exactly one returns true.
    [[nodiscard]] bool restrict_to(uint16_t domid) noexcept {
        uint32_t expected = unrestricted;
        if (restricted_.compare_exchange_strong(expected, domid, std::memory_order_acq_rel,
                                                std::memory_order_acquire))
            return true;
        return expected == domid;
    }

private:
    static constexpr uint32_t unrestricted = 0x10000;
    std::atomic<uint32_t> restricted_{unrestricted};
};

// One raw DMOP buffer (hvdm_buf).
struct DmBuf {
    void* ptr = nullptr;
    size_t size = 0;
};

// The raw DMOP dispatcher: Xen's struct xen_dm_op layout and op numbers,
// Xen's order of checks (xen/common/dm.c do_dm_op, xen/arch/x86/hvm/dm.c
// dm_op). Returns 0 or a negative errno.
[[nodiscard]] int dm_op(Host& host, const Caller& caller, uint16_t domid, unsigned nr_bufs,
                        const DmBuf* bufs);

}  // namespace hvcore

// SPDX-License-Identifier: MIT
#include "hvcore/core/ioreq_server.hpp"

#include <algorithm>
#include <tuple>

namespace hvcore {

namespace {
constexpr uint8_t bufioreq_wide = 0x80;  // HVDM_BUFIOREQ_WIDE: a bit Xen does not define
}  // namespace

Result<IoreqServer*> IoreqServerRegistry::create(EmulatorId who, uint8_t bufioreq, uint32_t nr_vcpus) {
    const auto mode = static_cast<uint8_t>(bufioreq & ~bufioreq_wide);
    const bool wide = (bufioreq & bufioreq_wide) != 0;
    if (mode > bufioreq::atomic) return Status::err(-EINVAL);  // unknown mode or flag bits
    if (wide && mode == bufioreq::off) return Status::err(-EINVAL);  // wide posting without a ring
    auto slot = std::find_if(slots_.begin(), slots_.end(), [](const auto& p) { return !p; });
    if (slot == slots_.end()) return Status::err(-ENOSPC);
    auto channel = IoreqChannel::create(mode, nr_vcpus);
    HV_TRY(channel);
    auto s = std::make_unique<IoreqServer>();
    s->id = IoservId{static_cast<uint16_t>(slot - slots_.begin())};
    s->serial = next_serial_++;
    s->emulator = who;
    s->post_wide = wide;
    s->channel = std::move(channel).value();
    *slot = std::move(s);
    return slot->get();
}

void IoreqServerRegistry::destroy(IoservId id) noexcept {
    if (id.raw() < max_ioreq_servers) slots_[id.raw()].reset();
}

Result<IoreqServer*> IoreqServerRegistry::find(EmulatorId who, IoservId id) const {
    IoreqServer* s = get(id);
    if (s == nullptr) return Status::err(-ENOENT);
    if (s->emulator != who) return Status::err(-EPERM);
    return s;
}

IoreqServer* IoreqServerRegistry::get(IoservId id) const noexcept {
    return id.raw() < max_ioreq_servers ? slots_[id.raw()].get() : nullptr;
}

IoreqServer* IoreqServerRegistry::get(IoservId id, uint64_t serial) const noexcept {
    IoreqServer* s = get(id);
    return s != nullptr && s->serial == serial ? s : nullptr;
}

std::pair<uint64_t, uint64_t> mmio_span(const IoreqBody& r) noexcept {
    const uint64_t len = uint64_t{r.count} * r.size;
    if (r.df) return {r.addr - (len - r.size), r.addr + r.size - 1};
    return {r.addr, r.addr + len - 1};
}

std::optional<Selection> IoreqServerRegistry::select(const IoreqBody& req) const {
    const uint32_t cf8 = cf8_;
    RangeType type = RangeType::memory;
    uint64_t first = 0;
    uint64_t last = 0;
    IoreqBody routed = req;
    if (req.type == ioreq::type_pio) {
        if ((req.addr & ~uint64_t{3}) == 0xcfc && (cf8 & cf8_enable) != 0) {
            // CONFIG_ADDRESS: bus 23:16, device 15:11, function 10:8, register 7:2.
            const uint64_t sbdf = (cf8 >> 8) & 0xffff;  // segment 0
            const uint64_t reg = (cf8 & 0xfc) | (req.addr & 3);
            type = RangeType::pci;
            first = last = sbdf;
            routed.type = ioreq::type_pci_config;
            routed.addr = (sbdf << 32) | reg;
        } else {
            type = RangeType::port;
            first = req.addr;
            last = req.addr + req.size - 1;
        }
    } else {
        std::tie(first, last) = mmio_span(req);
    }
    // Highest id first ("more recently created ... favoured"); disabled skipped.
    for (unsigned i = max_ioreq_servers; i-- > 0;) {
        const IoreqServer* s = get(IoservId{static_cast<uint16_t>(i)});
        if (s == nullptr || !s->enabled) continue;
        if (!s->ranges[static_cast<uint32_t>(type)].contains(first, last)) continue;
        return Selection{s->id, routed};
    }
    return std::nullopt;
}

}  // namespace hvcore

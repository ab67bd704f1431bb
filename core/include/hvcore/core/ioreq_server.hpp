// SPDX-License-Identifier: MIT
// A domain's ioreq servers: the registry (Xen's MAX_NR_IOREQ_SERVERS slots,
// xen/common/ioreq.c ioreq_server_create / _destroy / get_ioreq_server)
// and the selection of the server an access goes to (select: Xen's
// ioreq_server_select), a pure function of the registry, the request and
// the latched CONFIG_ADDRESS. No locking: the domain that owns the registry
// serialises every call.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "hvcore/core/ioreq.hpp"
#include "hvcore/core/ioreq_channel.hpp"
#include "hvcore/core/rangeset.hpp"
#include "hvcore/core/status.hpp"
#include "hvcore/core/types.hpp"

namespace hvcore {

using EmulatorId = uint64_t;  // one per device-model handle

inline constexpr unsigned max_ioreq_servers = 8;  // MAX_NR_IOREQ_SERVERS

enum class RangeType : uint32_t { port = 0, memory = 1, pci = 2 };

// CONFIG_ADDRESS (port 0xcf8) enable bit.
inline constexpr uint32_t cf8_enable = 1u << 31;

inline constexpr size_t nr_range_types = 3;

class IoreqServerRegistry;

// A server's direct handler (hvdm_set_direct_handler; hvcore's own, Xen
// has no such mode): each synchronous request routed to the server is
// handed to fn on the vCPU thread that raised it, with the domain lock
// released, instead of being posted in the vCPU's slot. fn gets the
// request as the slot would hold it (state INPROCESS) and stores a read's
// answer in its data; it returns 0 or a negative errno (a failure of the
// device model: Domain::direct_call). `active` counts the calls decided
// (under the domain lock) and not yet finished: a clear, a replacement or
// the server's destruction waits for it to drop to the caller's own
// (Domain::wait_direct_idle). Guarded by the domain lock, as the server.
struct DirectHandler {
    std::function<int(IoreqSlot&)> fn;
    EmulatorId emulator = 0;  // whose device model fails when fn does
    uint32_t active = 0;
};

struct IoreqServer {
    IoservId id;
    uint64_t serial = 0;  // unique for the domain's lifetime: a reused id is a different server
    EmulatorId emulator = 0;
    // HVDM_BUFIOREQ_WIDE: also post port writes and MMIO writes below 1 MiB
    // (hvcore's opt-in; Xen posts only VGA memory writes).
    bool post_wide = false;
    IoreqChannel channel;
    // Set: requests go to the handler, not to the slot or the ring
    // (Domain::send).
    std::shared_ptr<DirectHandler> direct;
    [[nodiscard]] uint8_t bufioreq() const noexcept { return channel.mode(); }  // HVDM_BUFIOREQ_OFF / LEGACY / ATOMIC
    // Changed only through the registry (set_enabled, map_range,
    // unmap_range), which keeps its routing index in step.
    [[nodiscard]] bool enabled() const noexcept { return enabled_; }
    [[nodiscard]] const RangeSet& ranges(RangeType t) const noexcept { return ranges_[static_cast<uint32_t>(t)]; }

private:
    friend class IoreqServerRegistry;
    bool enabled_ = false;
    std::array<RangeSet, nr_range_types> ranges_;  // indexed by RangeType
};

// Where an access goes when no type claims its page: the server, and the
// request as that server receives it (an access to 0xcfc-0xcff while the
// latched CONFIG_ADDRESS is enabled becomes a PCI configuration request:
// addr = SBDF << 32 | register).
struct Selection {
    IoservId server;
    IoreqBody req;
};

class IoreqServerRegistry {
public:
    // bufioreq: Xen's handle_bufioreq mode, with hvcore's wide-posting bit
    // (HVDM_BUFIOREQ_WIDE, 0x80). -EINVAL an unknown mode or flag, or wide
    // posting without a ring; -ENOSPC every slot taken. The lowest free
    // slot is the id.
    [[nodiscard]] Result<IoreqServer*> create(EmulatorId who, uint8_t bufioreq, uint32_t nr_vcpus);
    // The server is gone: its channel's pages are unmapped and its eventfd
    // signalled (IoreqPages).
    void destroy(IoservId id) noexcept;
    // The server `who` may operate on: -ENOENT no such server, -EPERM
    // another emulator's.
    [[nodiscard]] Result<IoreqServer*> find(EmulatorId who, IoservId id) const;
    // The server with this id (and this serial): nullptr if it was
    // destroyed (and its id perhaps reused).
    [[nodiscard]] IoreqServer* get(IoservId id) const noexcept;
    [[nodiscard]] IoreqServer* get(IoservId id, uint64_t serial) const noexcept;

    // Xen's XEN_DMOP_set_ioreq_server_state and XEN_DMOP_{map,unmap}_io_range_to_ioreq_server
    // on a server of this registry (RangeSet::add / remove's errors; nothing
    // changes on failure). Each keeps the routing index in step.
    void set_enabled(IoreqServer& s, bool enabled) noexcept;
    [[nodiscard]] Status map_range(IoreqServer& s, RangeType t, uint64_t start, uint64_t end);
    [[nodiscard]] Status unmap_range(IoreqServer& s, RangeType t, uint64_t start, uint64_t end);

    // CONFIG_ADDRESS: the value of the last 4-byte write to port 0xcf8,
    // which decides where 0xcfc-0xcff go (select). The router latches it
    // and still forwards the write (Xen's hvm_access_cf8 returns
    // X86EMUL_UNHANDLEABLE).
    void latch_cf8(uint32_t value) noexcept { cf8_ = value; }
    [[nodiscard]] uint32_t cf8() const noexcept { return cf8_; }

    // Xen's ioreq_server_select: the highest id first ("more recently
    // created ... favoured"), disabled servers skipped, and the whole access
    // must lie in one range (rangeset_contains_range), so an access
    // straddling a range's end goes to nobody. A pure function of the
    // servers, the request and the latched CONFIG_ADDRESS (latch_cf8).
    //
    // Xen walks each enabled server's sorted list in turn. hvcore answers
    // from one segment array per range type (RouteIndex): a branch-free
    // search of a blocked copy of the segment starts (8 keys to a cache
    // line, a few levels of one line each), then the highest enabled server
    // covering the segment (and the next few segments, for an access that
    // crosses into them). A longer or wrapped access, or one ending at the
    // last byte of the space, is checked server by server, as Xen does
    // (select_slow), with the same result. Port accesses of up to 4 ports
    // below 0x10000, and PCI accesses, are answered from direct tables
    // instead.
    [[nodiscard]] std::optional<Selection> select(const IoreqBody& req) const;
    // The same answer, always by the per-server check (no index): what the
    // index must agree with (tests), and the path for accesses that cross
    // many segment boundaries.
    [[nodiscard]] std::optional<IoservId> select_slow(RangeType t, uint64_t first, uint64_t last) const noexcept;
    // The servers' ranges of type t merged into segments: the number of
    // segments (tests, benchmarks).
    [[nodiscard]] size_t segments(RangeType t) const noexcept { return index_[static_cast<uint32_t>(t)].starts.size(); }
    // The levels of type t's search copy (1 up to 16 segments, 4 for
    // 4,097; tests, benchmarks).
    [[nodiscard]] unsigned search_levels(RangeType t) const noexcept { return index_[static_cast<uint32_t>(t)].levels; }
    // The index, kept up to date change by change, is the one built from
    // the servers' ranges from scratch, and its search copy is the one
    // built from its segments (tests).
    [[nodiscard]] bool index_matches_ranges() const;

private:
    // The space of one range type cut at every range start and after every
    // range end: segment i is [starts[i], starts[i + 1] - 1] (the last one
    // ends at 2^64 - 1), starts[0] = 0, and covers[i] has bit n set iff
    // server n's ranges hold the whole segment. Neighbours with equal masks
    // are merged. At most 2 x 8 x 256 + 1 segments per type. Kept up to
    // date by map_range, unmap_range and destroy (paint); enabling and
    // disabling change only enabled_.
    //
    // The search copy (reindex, after every change): `starts` in lines of 8
    // keys (one 64-byte cache line each), padded with 2^64 - 1 and with at
    // least one padding key after the last start (the bottom level); above
    // it, the first key of each line of the level below, again in lines of
    // 8, until a level has at most top_keys keys (the top, 1 or 2 lines).
    // A search counts the top's keys at or below the address, then, level
    // by level, the keys of one line: the dependent loads are one per level
    // (4 for the largest index, 4,097 segments), where a bisection of the
    // array makes 12, and no step branches on the data. Levels are stored
    // top first; level_line[d] is the first line of level d.
    struct alignas(64) Line {
        std::array<uint64_t, 8> key;
    };
    static constexpr size_t line_keys = 8;
    static constexpr size_t top_keys = 2 * line_keys;
    static constexpr size_t max_levels = 8;  // 16 x 8^7 keys: far beyond 4,097
    struct RouteIndex {
        std::vector<uint64_t> starts{0};
        std::vector<uint8_t> covers{0};
        std::vector<Line> lines;
        std::array<uint32_t, max_levels> level_line{};
        uint32_t levels = 0;
        uint32_t top_lines = 0;
    };
    static_assert(max_ioreq_servers <= 8, "a segment's cover mask is 8 bits");
    static void reindex(RouteIndex& ix);
    static void paint(RouteIndex& ix, uint64_t start, uint64_t end, uint8_t bit, bool set);
    [[nodiscard]] std::pair<std::vector<uint64_t>, std::vector<uint8_t>> rebuilt(RangeType t) const;
    // The id of the server select picks, -1 for none: no branch on the
    // answer (a caller's branch on it is the only one), so that hits and
    // misses in any order cost the same.
    [[nodiscard]] int lookup(RangeType t, uint64_t first, uint64_t last) const noexcept;

    std::array<std::unique_ptr<IoreqServer>, max_ioreq_servers> slots_;
    uint64_t next_serial_ = 1;
    uint32_t cf8_ = 0;  // latched CONFIG_ADDRESS
    uint8_t enabled_ = 0;  // bit n: server n exists and is enabled
    std::array<RouteIndex, nr_range_types> index_ = make_indexes();
    [[nodiscard]] static std::array<RouteIndex, nr_range_types> make_indexes();
    // Ports 0-0xffff (the whole x86 port space) and the SBDFs of PCI
    // segment 0 (all CONFIG_ADDRESS reaches) also by direct tables: the
    // servers' mask of each port or SBDF, 64 KiB each, allocated at the
    // type's first range (none for MMIO). A port access is the AND of its
    // 1-4 ports' masks.
    static constexpr uint64_t direct_space = 0x10000;
    std::array<std::unique_ptr<uint8_t[]>, nr_range_types> direct_;
    void paint_direct(RangeType t, uint64_t start, uint64_t end, uint8_t bit, bool set);
};

// The byte span [first, last] an MMIO request touches (ioreq_mmio_first_byte
// / ioreq_mmio_last_byte: direction-aware since Xen 60a56dc006).
[[nodiscard]] std::pair<uint64_t, uint64_t> mmio_span(const IoreqBody& r) noexcept;

}  // namespace hvcore

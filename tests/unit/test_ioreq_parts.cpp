// SPDX-License-Identifier: MIT
// The parts of a domain that need no backend: server selection (a pure
// function of the registry and the request), the ioreq channel's slot
// protocol and buffered ring against pages it owns (the test plays the
// device model through its own mapping), and a vCPU's replay log with its
// one completion.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <vector>

#include "hvcore/core/ioreq_channel.hpp"
#include "hvcore/core/ioreq_server.hpp"
#include "hvcore/core/vcpu_io.hpp"

using namespace hvcore;

namespace {

constexpr EmulatorId dm = 1;

IoreqServer& make_server(IoreqServerRegistry& r, EmulatorId who = dm, uint8_t mode = 0) {
    auto s = r.create(who, mode, 2);
    REQUIRE(s.is_ok());
    r.set_enabled(**s, true);
    return **s;
}

IoreqBody mmio_write(uint64_t addr, uint32_t size, uint64_t data = 0) {
    return {.addr = addr, .data = data, .count = 1, .size = size, .type = ioreq::type_copy, .dir = ioreq::dir_write};
}

IoreqBody pio(uint64_t port, uint32_t size, uint8_t dir) {
    return {.addr = port, .data = 0, .count = 1, .size = size, .type = ioreq::type_pio, .dir = dir};
}

// The eventfd was signalled since the last look (and is drained).
bool notified(const IoreqChannel& c) {
    pollfd p{.fd = c.event_fd(), .events = POLLIN, .revents = 0};
    if (poll(&p, 1, 0) != 1) return false;
    uint64_t n = 0;
    return read(c.event_fd(), &n, sizeof n) == sizeof n && n > 0;
}

}  // namespace

TEST_CASE("selection_prefers_the_highest_enabled_id_whose_range_holds_the_whole_access") {
    IoreqServerRegistry r;
    IoreqServer& low = make_server(r);
    IoreqServer& high = make_server(r);
    REQUIRE(low.id.raw() == 0);
    REQUIRE(high.id.raw() == 1);
    const auto mem = RangeType::memory;
    REQUIRE(r.map_range(low, mem, 0x1000, 0x1fff).is_ok());
    REQUIRE(r.map_range(high, mem, 0x1000, 0x1fff).is_ok());

    auto sel = r.select(mmio_write(0x1800, 4));
    REQUIRE(sel);
    CHECK(sel->server == high.id);
    CHECK(sel->req == mmio_write(0x1800, 4));  // MMIO goes as issued

    r.set_enabled(high, false);  // disabled: skipped
    sel = r.select(mmio_write(0x1800, 4));
    REQUIRE(sel);
    CHECK(sel->server == low.id);

    // The last 4 bytes of the range are inside; 4 bytes from 2 before its
    // end straddle it and go to nobody, even though they start inside.
    CHECK(r.select(mmio_write(0x1ffc, 4)));
    CHECK_FALSE(r.select(mmio_write(0x1ffe, 4)));
    // A rep request walking down (df) covers [addr - (count-1)*size, addr+size-1].
    IoreqBody rep = mmio_write(0x1008, 4);
    rep.count = 3;
    rep.df = true;
    CHECK(r.select(rep));  // 0x1000..0x100b
    rep.addr = 0x1004;
    CHECK_FALSE(r.select(rep));  // 0xffc..0x1007: below the range
    r.set_enabled(low, false);
    CHECK_FALSE(r.select(mmio_write(0x1800, 4)));
}

TEST_CASE("an_access_across_a_segment_boundary_goes_to_the_server_holding_all_of_it") {
    // Server 0 holds [0x1000, 0x1fff], server 1 [0x1800, 0x18ff]: the
    // index cuts at 0x1800 and 0x1900. A write of 4 at 0x17fe crosses the
    // cut and lies wholly in server 0's range only; at 0x18fe it crosses
    // out of server 1's range into server 0's alone.
    IoreqServerRegistry r;
    IoreqServer& outer = make_server(r);
    IoreqServer& inner = make_server(r);
    REQUIRE(r.map_range(outer, RangeType::memory, 0x1000, 0x1fff).is_ok());
    REQUIRE(r.map_range(inner, RangeType::memory, 0x1800, 0x18ff).is_ok());
    CHECK(r.segments(RangeType::memory) == 5);  // below, outer, both, outer, above
    auto sel = r.select(mmio_write(0x17fe, 4));
    REQUIRE(sel);
    CHECK(sel->server == outer.id);
    sel = r.select(mmio_write(0x18fe, 4));
    REQUIRE(sel);
    CHECK(sel->server == outer.id);
    sel = r.select(mmio_write(0x1880, 4));
    REQUIRE(sel);
    CHECK(sel->server == inner.id);
    // Out of the outer range's end: nobody, though the access starts inside.
    CHECK_FALSE(r.select(mmio_write(0x1ffe, 4)));
    // Unmapped, the inner range's segments merge back into the outer's.
    REQUIRE(r.unmap_range(inner, RangeType::memory, 0x1800, 0x18ff).is_ok());
    CHECK(r.segments(RangeType::memory) == 3);
    sel = r.select(mmio_write(0x1880, 4));
    REQUIRE(sel);
    CHECK(sel->server == outer.id);
    // A failed unmap changes nothing.
    CHECK(r.unmap_range(inner, RangeType::memory, 0x1800, 0x18ff).code() == -ENOENT);
    CHECK(r.segments(RangeType::memory) == 3);
}

TEST_CASE("ranges_reaching_either_end_of_the_64_bit_space_or_of_the_port_table_route_and_unmap") {
    IoreqServerRegistry r;
    IoreqServer& s = make_server(r);
    REQUIRE(r.map_range(s, RangeType::memory, 0, 0xfff).is_ok());
    REQUIRE(r.map_range(s, RangeType::memory, UINT64_MAX - 0xfff, UINT64_MAX).is_ok());
    CHECK(r.select(mmio_write(0, 8))->server == s.id);
    CHECK(r.select(mmio_write(UINT64_MAX - 7, 8))->server == s.id);
    CHECK_FALSE(r.select(mmio_write(0x1000, 8)));
    CHECK(r.segments(RangeType::memory) == 3);
    CHECK(r.index_matches_ranges());
    REQUIRE(r.unmap_range(s, RangeType::memory, UINT64_MAX - 0xfff, UINT64_MAX).is_ok());
    REQUIRE(r.unmap_range(s, RangeType::memory, 0, 0xfff).is_ok());
    CHECK(r.segments(RangeType::memory) == 1);
    CHECK_FALSE(r.select(mmio_write(0, 8)));
    REQUIRE(r.map_range(s, RangeType::memory, 0, UINT64_MAX).is_ok());
    CHECK(r.segments(RangeType::memory) == 1);
    CHECK(r.select(mmio_write(0x1234, 8))->server == s.id);
    CHECK(r.index_matches_ranges());
    // Ports across the end of the port table (0xffff): inside it by the
    // table, beyond it by the segments.
    REQUIRE(r.map_range(s, RangeType::port, 0xfff0, 0x1000f).is_ok());
    CHECK(r.select(pio(0xfffe, 2, ioreq::dir_read))->server == s.id);
    CHECK(r.select(pio(0xffff, 4, ioreq::dir_read))->server == s.id);  // ports 0xffff-0x10002
    CHECK_FALSE(r.select(pio(0xffef, 2, ioreq::dir_read)));
    CHECK(r.index_matches_ranges());
    REQUIRE(r.unmap_range(s, RangeType::port, 0xfff0, 0x1000f).is_ok());
    CHECK_FALSE(r.select(pio(0xfffe, 2, ioreq::dir_read)));
    CHECK_FALSE(r.select(pio(0xffff, 4, ioreq::dir_read)));
    CHECK(r.index_matches_ranges());
}

TEST_CASE("a_destroyed_server_routes_nothing_and_its_reused_id_starts_with_no_ranges") {
    IoreqServerRegistry r;
    IoreqServer& low = make_server(r);
    IoreqServer& high = make_server(r);
    REQUIRE(r.map_range(low, RangeType::port, 0x3f8, 0x3ff).is_ok());
    REQUIRE(r.map_range(high, RangeType::port, 0x3f8, 0x3ff).is_ok());
    const IoservId gone = high.id;
    REQUIRE(r.select(pio(0x3f8, 1, ioreq::dir_write))->server == gone);
    r.destroy(gone);
    auto sel = r.select(pio(0x3f8, 1, ioreq::dir_write));
    REQUIRE(sel);
    CHECK(sel->server == low.id);
    IoreqServer& again = make_server(r);  // the lowest free slot: the destroyed id
    REQUIRE(again.id == gone);
    CHECK(again.ranges(RangeType::port).size() == 0);
    CHECK(r.select(pio(0x3f8, 1, ioreq::dir_write))->server == low.id);
    r.destroy(low.id);
    CHECK_FALSE(r.select(pio(0x3f8, 1, ioreq::dir_write)));
    CHECK(r.segments(RangeType::port) == 1);
}

TEST_CASE("the_segment_index_agrees_with_the_per_server_check_over_random_changes") {
    // Random maps, unmaps, enables, disables, destroys and creates over a
    // small space (so that ranges of different servers overlap, touch and
    // nest), each followed by every access of 1 to 8 ports, 2 to 16 MMIO
    // bytes and every SBDF starting in the space, compared with Xen's
    // per-server rule (select_slow).
    uint64_t seed = 0x9e3779b97f4a7c15;
    auto next = [&seed](uint64_t bound) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        return seed % bound;
    };
    constexpr uint64_t space = 96;
    IoreqServerRegistry r;
    for (unsigned i = 0; i < max_ioreq_servers; ++i) make_server(r);
    unsigned compared = 0;
    unsigned routed = 0;
    for (unsigned step = 0; step < 600; ++step) {
        const auto id = IoservId{static_cast<uint16_t>(next(max_ioreq_servers))};
        IoreqServer* s = r.get(id);
        const auto t = static_cast<RangeType>(next(nr_range_types));
        const uint64_t start = next(space);
        const uint64_t end = start + next(12);
        switch (next(10)) {
        case 0:
            if (s != nullptr) r.set_enabled(*s, !s->enabled());
            break;
        case 1:
            if (s != nullptr) {
                r.destroy(id);
            } else {
                make_server(r);
            }
            break;
        case 2:
        case 3:
        case 4:
            if (s != nullptr) (void)r.unmap_range(*s, t, start, end);
            break;
        default:
            if (s != nullptr) (void)r.map_range(*s, t, start, end);
            break;
        }
        // Changed step by step, the index is the one built from scratch.
        REQUIRE(r.index_matches_ranges());
        for (uint64_t first = 0; first < space + 16; ++first) {
            for (uint32_t size = 1; size <= 8; ++size) {
                // MMIO: a rep of `size` 2-byte elements, up to 16 bytes
                // (more segments than the index walks before it falls back).
                IoreqBody rep = mmio_write(first, 2);
                rep.count = size;
                const auto want_mem = r.select_slow(RangeType::memory, first, first + 2 * size - 1);
                const auto got_mem = r.select(rep);
                REQUIRE(want_mem.has_value() == got_mem.has_value());
                if (want_mem) REQUIRE(*want_mem == got_mem->server);
                const auto want_port = r.select_slow(RangeType::port, first, first + size - 1);
                const auto got_port = r.select(pio(first, size, ioreq::dir_read));
                REQUIRE(want_port.has_value() == got_port.has_value());
                if (want_port) REQUIRE(*want_port == got_port->server);
                compared += 2;
                routed += (want_mem ? 1 : 0) + (want_port ? 1 : 0);
            }
            // PCI: one SBDF through CONFIG_ADDRESS (bus 0, device:function = first).
            r.latch_cf8(cf8_enable | static_cast<uint32_t>(first << 8));
            const auto want_pci = r.select_slow(RangeType::pci, first, first);
            const auto got_pci = r.select(pio(0xcfc, 4, ioreq::dir_read));
            REQUIRE(want_pci.has_value() == got_pci.has_value());
            if (want_pci) REQUIRE(*want_pci == got_pci->server);
            ++compared;
        }
    }
    // The walk did exercise both answers.
    CHECK(routed > compared / 100);
    CHECK(routed < compared);
}

namespace {

// An independent model of what select must answer for one range type: each
// server's claimed units (ranges are whole units of `unit` addresses, so a
// bit per unit is the exact set), Xen's rules written out directly: the
// highest enabled server holding every unit the access touches. Also the
// errors RangeSet::add / remove must give (overlap, not inside one run,
// more than 256 runs).
struct RouteModel {
    uint64_t base;
    uint64_t unit;
    size_t units;
    std::array<std::vector<bool>, max_ioreq_servers> held;
    std::array<bool, max_ioreq_servers> exists{};
    std::array<bool, max_ioreq_servers> enabled{};

    RouteModel(uint64_t b, uint64_t u, size_t n) : base(b), unit(u), units(n) {
        for (auto& h : held) h.assign(n, false);
    }
    [[nodiscard]] size_t runs(const std::vector<bool>& h) const {
        size_t n = 0;
        for (size_t k = 0; k < units; ++k) n += (h[k] && (k == 0 || !h[k - 1])) ? 1 : 0;
        return n;
    }
    // What map_range must return for units [a, b] of server s.
    int add(unsigned s, size_t a, size_t b) {
        for (size_t k = a; k <= b; ++k)
            if (held[s][k]) return -EEXIST;
        std::vector<bool> next = held[s];
        for (size_t k = a; k <= b; ++k) next[k] = true;
        if (runs(next) > RangeSet::max_ranges) return -ENOMEM;
        held[s] = std::move(next);
        return 0;
    }
    int remove(unsigned s, size_t a, size_t b) {
        for (size_t k = a; k <= b; ++k)
            if (!held[s][k]) return -ENOENT;  // covered without a gap: one run
        std::vector<bool> next = held[s];
        for (size_t k = a; k <= b; ++k) next[k] = false;
        if (runs(next) > RangeSet::max_ranges) return -ENOMEM;
        held[s] = std::move(next);
        return 0;
    }
    // The server for the bytes [first, last] of the space (both inside it).
    [[nodiscard]] int route(uint64_t first, uint64_t last) const {
        if (first > last) return -1;
        const size_t a = (first - base) / unit;
        const size_t b = (last - base) / unit;
        for (unsigned s = max_ioreq_servers; s-- > 0;) {
            if (!exists[s] || !enabled[s]) continue;
            bool all = true;
            for (size_t k = a; k <= b && all; ++k) all = held[s][k];
            if (all) return static_cast<int>(s);
        }
        return -1;
    }
};

// Random maps, unmaps, enables, disables, destroys and creates on one type
// until its index holds thousands of segments, each change compared with
// the model: the status of the change, and select's answer for accesses
// at random places and at the edges of the range just changed (a byte
// before, the first, the last, a byte after, and spans across them).
void compare_with_model(RangeType t, RouteModel& m, unsigned steps, uint64_t seed, unsigned& max_levels_seen,
                        size_t& max_segments_seen) {
    auto next = [&seed](uint64_t bound) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        return seed % bound;
    };
    IoreqServerRegistry r;
    for (unsigned i = 0; i < max_ioreq_servers; ++i) {
        make_server(r);
        m.exists[i] = m.enabled[i] = true;
    }
    auto addr = [&m](size_t k) { return m.base + k * m.unit; };
    auto access = [t](uint64_t first, uint32_t size, uint32_t count) {
        IoreqBody b = t == RangeType::memory ? mmio_write(first, size) : pio(first, size, ioreq::dir_read);
        b.count = count;
        return b;
    };
    auto check = [&](uint64_t first, uint32_t size, uint32_t count) {
        const uint64_t len = uint64_t{size} * count;
        if (first < m.base || first - m.base > m.units * m.unit - len) return;  // outside the modelled space
        const auto sel = r.select(access(first, size, count));
        const int want = m.route(first, first + len - 1);
        INFO("first " << first << " size " << size << " count " << count);
        REQUIRE(sel.has_value() == (want >= 0));
        if (sel) REQUIRE(sel->server.raw() == want);
    };
    for (unsigned step = 0; step < steps; ++step) {
        const auto s = static_cast<unsigned>(next(max_ioreq_servers));
        IoreqServer* srv = r.get(IoservId{static_cast<uint16_t>(s)});
        const size_t a = next(m.units);
        const size_t b = std::min(m.units - 1, a + next(4));
        const unsigned what = static_cast<unsigned>(next(1000));
        if (what < 30) {  // enable or disable
            if (srv != nullptr) {
                m.enabled[s] = !m.enabled[s];
                r.set_enabled(*srv, m.enabled[s]);
            }
        } else if (what < 31) {  // destroy or create
            if (srv != nullptr) {
                r.destroy(srv->id);
                m.exists[s] = false;
                m.held[s].assign(m.units, false);
            } else {
                IoreqServer& again = make_server(r);  // the lowest free slot
                m.exists[again.id.raw()] = m.enabled[again.id.raw()] = true;
            }
        } else if (srv != nullptr) {
            const bool add = what >= 250;
            const Status st = add ? r.map_range(*srv, t, addr(a), addr(b + 1) - 1)
                                  : r.unmap_range(*srv, t, addr(a), addr(b + 1) - 1);
            const int want = add ? m.add(s, a, b) : m.remove(s, a, b);
            REQUIRE(st.code() == want);
        }
        if (step % 200 == 0) REQUIRE(r.index_matches_ranges());
        max_levels_seen = std::max(max_levels_seen, r.search_levels(t));
        max_segments_seen = std::max(max_segments_seen, r.segments(t));
        // The edges of what changed, and random places.
        for (const uint64_t edge : {addr(a), addr(b + 1)}) {
            for (const uint64_t at : {edge - 1, edge, edge - 2, edge - 4}) {
                check(at, 1, 1);
                check(at, 2, 1);
                check(at, 4, 1);
            }
        }
        for (unsigned k = 0; k < 24; ++k) {
            const uint64_t at = m.base + next(m.units * m.unit);
            check(at, static_cast<uint32_t>(1u << next(3)), 1);
            if (t == RangeType::memory) check(at, 8, static_cast<uint32_t>(1 + next(3 * m.unit / 8)));  // rep: across units
        }
    }
    REQUIRE(r.index_matches_ranges());
}

}  // namespace

TEST_CASE("the_blocked_segment_search_agrees_with_a_reference_model_from_1_to_thousands_of_segments") {
    // MMIO: 8,192 pages ending at the last byte of the 64-bit space (an
    // access there takes the per-server path), growing to thousands of
    // segments: every depth of the search copy, 1 to 4 levels, is crossed.
    RouteModel mem(0 - uint64_t{8192} * 0x1000, 0x1000, 8192);
    unsigned levels = 0;
    size_t segments = 0;
    compare_with_model(RangeType::memory, mem, 3000, 0x243f6a8885a308d3, levels, segments);
    CHECK(segments > 2500);
    CHECK(levels == 4);
    // Ports 0xf000-0x10fff: the direct table below 0x10000, the segments
    // above it, and accesses across the boundary.
    RouteModel ports(0xf000, 1, 0x2000);
    levels = 0;
    segments = 0;
    compare_with_model(RangeType::port, ports, 3000, 0x13198a2e03707344, levels, segments);
    CHECK(segments > 1500);
    CHECK(levels >= 3);
}

TEST_CASE("the_search_copy_has_one_level_up_to_15_segments_and_one_more_per_factor_of_8") {
    // Levels: segments + 1 padding key in at most 16 keys: 1; then one
    // level per factor of 8 in lines (RouteIndex). Server 0 maps the
    // single bytes 0x10 + 2k for k = 0, 1, ...: 2k + 3 segments after
    // k + 1 ranges.
    IoreqServerRegistry r;
    IoreqServer& s = make_server(r);
    CHECK(r.search_levels(RangeType::memory) == 1);
    unsigned k = 0;
    auto grow_to = [&](size_t segments) {
        while (r.segments(RangeType::memory) < segments) {
            REQUIRE(r.map_range(s, RangeType::memory, 0x10 + 2 * k, 0x10 + 2 * k).is_ok());
            ++k;
        }
    };
    grow_to(15);  // 16 keys with the padding one: the top alone
    CHECK(r.segments(RangeType::memory) == 15);
    CHECK(r.search_levels(RangeType::memory) == 1);
    grow_to(17);  // 18 keys: 3 lines under a top of 3 keys
    CHECK(r.search_levels(RangeType::memory) == 2);
    grow_to(129);  // 130 keys: 17 lines, 3 lines above them, then the top
    CHECK(r.search_levels(RangeType::memory) == 3);
    grow_to(513);  // the most one server makes: 1 + 2 x 256
    CHECK(r.segments(RangeType::memory) == 513);
    CHECK(r.search_levels(RangeType::memory) == 3);
    // Every segment start and the byte before it route as the ranges say.
    for (unsigned j = 0; j < k; ++j) {
        CHECK(r.select(mmio_write(0x10 + 2 * j, 1))->server == s.id);
        CHECK_FALSE(r.select(mmio_write(0x10 + 2 * j + 1, 1)));
    }
    CHECK_FALSE(r.select(mmio_write(0xf, 1)));
    CHECK(r.index_matches_ranges());
}

TEST_CASE("selection_turns_0xcfc_to_0xcff_into_a_pci_config_request_while_cf8_is_enabled") {
    IoreqServerRegistry r;
    IoreqServer& ports = make_server(r);
    IoreqServer& pci = make_server(r);
    REQUIRE(r.map_range(ports, RangeType::port, 0xcf8, 0xcff).is_ok());
    constexpr uint64_t sbdf = 0x0018;  // bus 0, device 3, function 0
    REQUIRE(r.map_range(pci, RangeType::pci, sbdf, sbdf).is_ok());
    // CONFIG_ADDRESS: enable, bus 0, device 3, function 0, register 0x10.
    const uint32_t cf8 = cf8_enable | (3u << 11) | 0x10;

    r.latch_cf8(cf8);
    CHECK(r.cf8() == cf8);
    auto sel = r.select(pio(0xcfe, 2, ioreq::dir_read));
    REQUIRE(sel);
    CHECK(sel->server == pci.id);
    CHECK(sel->req.type == ioreq::type_pci_config);
    CHECK(sel->req.addr == (sbdf << 32 | 0x12));  // register 0x10 + the port's low bits
    CHECK(sel->req.size == 2);
    CHECK(sel->req.dir == ioreq::dir_read);

    // The enable bit clear: a plain port access, to the port range's owner.
    r.latch_cf8(cf8 & ~cf8_enable);
    sel = r.select(pio(0xcfe, 2, ioreq::dir_read));
    REQUIRE(sel);
    CHECK(sel->server == ports.id);
    CHECK(sel->req == pio(0xcfe, 2, ioreq::dir_read));
    // 0xcf8 itself is never a configuration access.
    r.latch_cf8(cf8);
    sel = r.select(pio(0xcf8, 4, ioreq::dir_write));
    REQUIRE(sel);
    CHECK(sel->server == ports.id);
    // Another device's configuration space: nobody holds it.
    r.latch_cf8(cf8_enable | (4u << 11));
    CHECK_FALSE(r.select(pio(0xcfc, 4, ioreq::dir_read)));
}

TEST_CASE("the_registry_finds_by_emulator_and_tells_a_reused_id_by_its_serial") {
    IoreqServerRegistry r;
    CHECK(r.find(dm, IoservId{0}).status().code() == -ENOENT);
    CHECK(r.find(dm, IoservId{max_ioreq_servers}).status().code() == -ENOENT);
    IoreqServer& s = make_server(r);
    const uint64_t first_serial = s.serial;
    CHECK(r.find(dm + 1, s.id).status().code() == -EPERM);
    CHECK(r.find(dm, s.id).is_ok());
    CHECK(r.get(s.id, first_serial) == &s);
    const IoservId id = s.id;
    r.destroy(id);
    CHECK(r.get(id) == nullptr);
    IoreqServer& again = make_server(r);  // the lowest free slot: the same id
    CHECK(again.id == id);
    CHECK(again.serial != first_serial);
    CHECK(r.get(id, first_serial) == nullptr);
    // Modes: 0..2, and the wide bit only with a ring.
    CHECK(r.create(dm, 3, 1).status().code() == -EINVAL);
    CHECK(r.create(dm, 0x80, 1).status().code() == -EINVAL);
    CHECK(r.create(dm, 0x40 | 1, 1).status().code() == -EINVAL);
    for (unsigned i = 1; i < max_ioreq_servers; ++i) CHECK(r.create(dm, 0x80 | 1, 1).is_ok());
    CHECK(r.create(dm, 0, 1).status().code() == -ENOSPC);
}

TEST_CASE("the_channel_slot_protocol_none_ready_inprocess_resp_ready") {
    auto c = IoreqChannel::create(bufioreq::off, 2);
    REQUIRE(c.is_ok());
    auto map = c->dm_mapping();
    REQUIRE(map.is_ok());
    IoreqSlot* slots = map->slots;  // the device model's view
    CHECK(map->buffered == nullptr);  // no ring
    CHECK(slots[1].vp_eport == 1);

    IoreqBody read = mmio_write(0xfee00000, 4);
    read.dir = ioreq::dir_read;
    REQUIRE_FALSE(c->post(1, read).has_value());
    CHECK(notified(*c));
    CHECK(slot_state(slots[1]) == ioreq::state_ready);
    CHECK(slots[1].addr == 0xfee00000);
    CHECK(slots[1].size == 4);
    CHECK(slot_state(slots[0]) == ioreq::state_none);  // vCPU 0's slot untouched

    uint8_t seen = ioreq::state_ready;
    CHECK(c->take_answer(1, seen).kind == IoreqAnswer::Kind::pending);
    slot_set_state(slots[1], ioreq::state_inprocess);
    CHECK(c->take_answer(1, seen).kind == IoreqAnswer::Kind::pending);
    CHECK(seen == ioreq::state_inprocess);

    // A slot not NONE when a new request is due: nothing is posted.
    const auto busy = c->post(1, mmio_write(0x1000, 1));
    REQUIRE(busy.has_value());
    CHECK(*busy == ioreq::state_inprocess);
    CHECK(slots[1].addr == 0xfee00000);

    std::atomic_ref<uint64_t>(slots[1].data).store(0xabcd, std::memory_order_relaxed);
    slot_set_state(slots[1], ioreq::state_resp_ready);
    const IoreqAnswer a = c->take_answer(1, seen);
    CHECK(a.kind == IoreqAnswer::Kind::data);
    CHECK(a.data == 0xabcd);
    CHECK(slot_state(slots[1]) == ioreq::state_none);  // taken: NONE again
}

TEST_CASE("the_channel_calls_a_backwards_move_or_an_unknown_state_a_violation_and_none_no_response") {
    auto c = IoreqChannel::create(bufioreq::off, 1);
    REQUIRE(c.is_ok());
    IoreqSlot* slots = c->dm_mapping().value().slots;
    REQUIRE_FALSE(c->post(0, mmio_write(0x1000, 4, 7)).has_value());

    uint8_t seen = ioreq::state_inprocess;  // INPROCESS was seen; the slot says READY
    IoreqAnswer a = c->take_answer(0, seen);
    CHECK(a.kind == IoreqAnswer::Kind::violation);
    CHECK(a.reason == "moved vCPU 0's slot backwards (2 -> 1)");

    slot_set_state(slots[0], 7);  // XSA-262
    CHECK(c->unknown_state(0) == uint8_t{7});
    seen = ioreq::state_ready;
    a = c->take_answer(0, seen);
    CHECK(a.kind == IoreqAnswer::Kind::violation);
    CHECK(a.reason == "wrote unknown state 7 into vCPU 0's slot");

    slot_set_state(slots[0], ioreq::state_none);  // NONE with no response
    CHECK_FALSE(c->unknown_state(0).has_value());
    CHECK(c->take_answer(0, seen).kind == IoreqAnswer::Kind::no_response);
}

TEST_CASE("the_buffered_ring_posts_plain_writes_and_refuses_when_full") {
    auto off = IoreqChannel::create(bufioreq::off, 1);
    REQUIRE(off.is_ok());
    CHECK_FALSE(off->post_buffered(mmio_write(0xa0000, 1)));  // no ring

    auto c = IoreqChannel::create(bufioreq::legacy, 1);
    REQUIRE(c.is_ok());
    auto* bp = c->dm_mapping().value().buffered;
    REQUIRE(bp != nullptr);
    IoreqBody w = pio(0x3f8, 1, ioreq::dir_write);
    w.data = 0x41;
    REQUIRE(c->post_buffered(w));
    CHECK(notified(*c));
    CHECK(bp->write_pointer == 1);
    // buf_ioreq_t: type, dir at bit 9, size code at bits 11:10, addr at 31:12.
    CHECK(bp->slots[0].word0 == (ioreq::type_pio | 0u << 9 | 0u << 10 | 0x3f8u << 12));
    CHECK(bp->slots[0].data == 0x41);
    // 8 bytes take two slots, the high half in the second.
    REQUIRE(c->post_buffered(mmio_write(0xa0008, 8, 0x11223344'55667788)));
    CHECK(bp->write_pointer == 3);
    CHECK(bp->slots[1].word0 == (ioreq::type_copy | 3u << 10 | 0xa0008u << 12));
    CHECK(bp->slots[1].data == 0x55667788);
    CHECK(bp->slots[2].data == 0x11223344);
    // Not postable: a read, a size the ring cannot encode, beyond 20 bits.
    IoreqBody rd = mmio_write(0xa0000, 4);
    rd.dir = ioreq::dir_read;
    CHECK_FALSE(c->post_buffered(rd));
    CHECK_FALSE(c->post_buffered(mmio_write(0xa0000, 3)));
    CHECK_FALSE(c->post_buffered(mmio_write(0x100000, 4)));
    // Fill: 511 slots in all; an 8-byte write needs two.
    while (bp->write_pointer < ioreq::buffer_slots - 1) REQUIRE(c->post_buffered(mmio_write(0xa0000, 1)));
    CHECK_FALSE(c->post_buffered(mmio_write(0xa0000, 8)));
    CHECK(c->post_buffered(mmio_write(0xa0000, 1)));
    CHECK(bp->write_pointer == ioreq::buffer_slots);
    CHECK_FALSE(c->post_buffered(mmio_write(0xa0000, 1)));  // full
    CHECK(bp->write_pointer == ioreq::buffer_slots);
}

TEST_CASE("an_atomic_ring_canonicalises_both_pointers_after_a_post_and_a_legacy_ring_does_not") {
    for (const uint8_t mode : {bufioreq::legacy, bufioreq::atomic}) {
        CAPTURE(int{mode});
        auto c = IoreqChannel::create(mode, 1);
        REQUIRE(c.is_ok());
        auto* bp = c->dm_mapping().value().buffered;
        REQUIRE(bp != nullptr);
    REQUIRE(bp != nullptr);
        // The device model has consumed a whole ring's worth.
        bp->read_pointer = ioreq::buffer_slots + 2;
        bp->write_pointer = ioreq::buffer_slots + 2;
        REQUIRE(c->post_buffered(mmio_write(0xa0000, 2, 0x55)));
        CHECK(bp->slots[2].data == 0x55);  // (511 + 2) % 511
        if (mode == bufioreq::atomic) {
            CHECK(bp->read_pointer == 2);
            CHECK(bp->write_pointer == 3);
        } else {
            CHECK(bp->read_pointer == ioreq::buffer_slots + 2);
            CHECK(bp->write_pointer == ioreq::buffer_slots + 3);
        }
    }
}

TEST_CASE("the_pages_are_xen_resource_frames_ring_then_slots_then_the_event_page") {
    for (const uint8_t mode : {bufioreq::off, bufioreq::legacy}) {
        CAPTURE(int{mode});
        auto c = IoreqChannel::create(mode, 4);
        REQUIRE(c.is_ok());
        const IoreqMapping m = c->dm_mapping().value();
        // XENMEM_resource_ioreq_server_frame_bufioreq 0, frame_ioreq(0) 1;
        // the event page after them. Without a ring the frame is there,
        // unused.
        const auto* base = reinterpret_cast<const std::byte*>(m.slots) - page_size;
        CHECK(reinterpret_cast<const std::byte*>(m.events) == base + 2 * page_size);
        if (mode == bufioreq::off)
            CHECK(m.buffered == nullptr);
        else
            CHECK(reinterpret_cast<const std::byte*>(m.buffered) == base);
        CHECK(IoreqPages::layout(const_cast<std::byte*>(base), mode != bufioreq::off).slots == m.slots);
        CHECK(m.slots[3].vp_eport == 3);
    }
    CHECK(ioreq_map_bytes == 3 * page_size);
    CHECK(IoreqChannel::create(bufioreq::off, ioreq_max_slots).is_ok());
    CHECK(IoreqChannel::create(bufioreq::off, ioreq_max_slots + 1).status().code() == -EINVAL);
    CHECK(IoreqChannel::create(bufioreq::off, 0).status().code() == -EINVAL);
}

// The pages' memfd goes to the device model (dup_fds), possibly another
// process: it is sealed against resizing, so ftruncate there cannot make
// the hypervisor's own mapping SIGBUS.
TEST_CASE("the_pages_descriptor_handed_out_refuses_ftruncate_with_eperm_and_reports_its_seals") {
    auto p = IoreqPages::create(true);
    REQUIRE(p.is_ok());
    int pages = -1;
    int ev = -1;
    REQUIRE(p->dup_fds(&pages, &ev).is_ok());
    CHECK(fcntl(pages, F_GET_SEALS) == (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL));
    errno = 0;
    CHECK(ftruncate(pages, 0) == -1);
    CHECK(errno == EPERM);
    errno = 0;
    CHECK(ftruncate(pages, static_cast<off_t>(2 * ioreq_map_bytes)) == -1);
    CHECK(errno == EPERM);
    struct stat st {};
    REQUIRE(fstat(pages, &st) == 0);
    CHECK(static_cast<uint64_t>(st.st_size) == ioreq_map_bytes);
    // The hypervisor's mapping and the device model's still work.
    p->slot(1).vp_eport = 7;
    const IoreqMapping m = p->dm_mapping().value();
    CHECK(m.slots[1].vp_eport == 7);
    m.buffered->read_pointer = 3;
    CHECK(p->buffered()->read_pointer == 3);
    close(pages);
    close(ev);
}

TEST_CASE("a_post_sets_its_port_s_pending_bit_before_the_eventfd_vcpu_v_is_port_v_the_ring_nr_vcpus") {
    constexpr uint32_t vcpus = 70;  // ports 0..69 and the ring's 70: two words
    auto c = IoreqChannel::create(bufioreq::legacy, vcpus);
    REQUIRE(c.is_ok());
    const IoreqMapping m = c->dm_mapping().value();
    CHECK(c->bufioreq_port() == vcpus);
    for (const uint64_t w : m.events->pending) CHECK(w == 0);
    REQUIRE_FALSE(c->post(3, mmio_write(0x1000, 4)).has_value());
    CHECK(m.events->pending[0] == uint64_t{1} << 3);
    CHECK(m.events->pending[1] == 0);
    REQUIRE_FALSE(c->post(65, mmio_write(0x1000, 4)).has_value());
    REQUIRE(c->post_buffered(mmio_write(0xa0000, 1)));
    CHECK(m.events->pending[0] == uint64_t{1} << 3);
    CHECK(m.events->pending[1] == (uint64_t{1} << 1 | uint64_t{1} << 6));  // ports 65 and 70
    CHECK(m.events->pending[2] == 0);
    CHECK(notified(*c));
    // A post the ring refuses fires nothing.
    m.events->pending[1] = 0;
    CHECK_FALSE(c->post_buffered(mmio_write(0x100000, 4)));
    CHECK(m.events->pending[1] == 0);
}

TEST_CASE("vcpu_io_replays_its_log_and_completes_a_request_into_it") {
    VcpuIo io;
    io.begin();
    IoreqBody ram_read = mmio_write(0x2000, 2);
    ram_read.dir = ioreq::dir_read;
    io.log(ram_read, 0xbeef);
    const IoreqBody dev_write = mmio_write(0x3000, 4, 1);
    io.sent(IoservId{3}, 9, dev_write, dev_write);
    CHECK(io.waiting());
    CHECK(io.in_flight()->server == IoservId{3});
    CHECK(io.in_flight()->serial == 9);
    CHECK(io.seen_state() == ioreq::state_ready);

    io.complete(0x1234);  // a write: the answer's data is not kept
    CHECK_FALSE(io.waiting());
    CHECK(io.logged() == 2);

    // Re-executed: both pieces replay, in order; nothing after them.
    io.rewind();
    CHECK(io.next_logged() != nullptr);
    uint64_t data = 0;
    CHECK(io.replay(ram_read, &data, nullptr) == VcpuIo::Replay::replayed);
    CHECK(data == 0xbeef);
    // A plain write's value is not compared (Xen's hvmemul_do_io).
    CHECK(io.replay(mmio_write(0x3000, 4, 2), &data, nullptr) == VcpuIo::Replay::replayed);
    CHECK(io.next_logged() == nullptr);
    CHECK(io.replay(ram_read, &data, nullptr) == VcpuIo::Replay::not_logged);

    // Issued differently the second time: a mismatch naming what was expected.
    io.rewind();
    IoreqBody expected;
    CHECK(io.replay(mmio_write(0x2000, 2), &data, &expected) == VcpuIo::Replay::mismatch);
    CHECK(expected == ram_read);

    // A read completed with its answer replays it, masked to its size.
    io.begin();
    IoreqBody dev_read = mmio_write(0x4000, 1);
    dev_read.dir = ioreq::dir_read;
    IoreqBody routed = dev_read;
    routed.addr = 0x4000'0000;  // as the server received it
    io.sent(IoservId{0}, 1, routed, dev_read);
    io.complete(0x1ff);
    io.rewind();
    CHECK(io.replay(dev_read, &data, nullptr) == VcpuIo::Replay::replayed);  // compared as issued
    CHECK(data == 0xff);
}

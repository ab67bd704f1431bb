// SPDX-License-Identifier: MIT
#include "hvcore/core/ioreq_server.hpp"

#include <algorithm>
#include <bit>
#include <limits>
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
    if (id.raw() >= max_ioreq_servers || !slots_[id.raw()]) return;
    const std::unique_ptr<IoreqServer> gone = std::move(slots_[id.raw()]);
    const auto bit = static_cast<uint8_t>(1u << id.raw());
    enabled_ &= static_cast<uint8_t>(~bit);
    for (size_t t = 0; t < nr_range_types; ++t) {
        if (gone->ranges_[t].size() == 0) continue;
        // Its bit out of every segment, then neighbours that became equal merged.
        RouteIndex& ix = index_[t];
        size_t kept = 0;
        for (size_t i = 0; i < ix.starts.size(); ++i) {
            const auto mask = static_cast<uint8_t>(ix.covers[i] & ~bit);
            if (kept != 0 && ix.covers[kept - 1] == mask) continue;
            ix.starts[kept] = ix.starts[i];
            ix.covers[kept] = mask;
            ++kept;
        }
        ix.starts.resize(kept);
        ix.covers.resize(kept);
        reindex(ix);
        if (direct_[t]) paint_direct(static_cast<RangeType>(t), 0, direct_space - 1, bit, false);
    }
}

void IoreqServerRegistry::set_enabled(IoreqServer& s, bool enabled) noexcept {
    Expects(get(s.id) == &s);
    s.enabled_ = enabled;
    const auto bit = static_cast<uint8_t>(1u << s.id.raw());
    enabled_ = static_cast<uint8_t>(enabled ? enabled_ | bit : enabled_ & ~bit);
}

Status IoreqServerRegistry::map_range(IoreqServer& s, RangeType t, uint64_t start, uint64_t end) {
    Expects(get(s.id) == &s);
    HV_TRY(s.ranges_[static_cast<uint32_t>(t)].add(start, end));
    paint(index_[static_cast<uint32_t>(t)], start, end, static_cast<uint8_t>(1u << s.id.raw()), true);
    if (t != RangeType::memory) paint_direct(t, start, end, static_cast<uint8_t>(1u << s.id.raw()), true);
    return Status::ok();
}

Status IoreqServerRegistry::unmap_range(IoreqServer& s, RangeType t, uint64_t start, uint64_t end) {
    Expects(get(s.id) == &s);
    HV_TRY(s.ranges_[static_cast<uint32_t>(t)].remove(start, end));
    paint(index_[static_cast<uint32_t>(t)], start, end, static_cast<uint8_t>(1u << s.id.raw()), false);
    if (t != RangeType::memory) paint_direct(t, start, end, static_cast<uint8_t>(1u << s.id.raw()), false);
    return Status::ok();
}

void IoreqServerRegistry::paint_direct(RangeType t, uint64_t start, uint64_t end, uint8_t bit, bool set) {
    if (start >= direct_space) return;
    std::unique_ptr<uint8_t[]>& table = direct_[static_cast<uint32_t>(t)];
    if (!table) table = std::make_unique<uint8_t[]>(direct_space);  // zeroed
    const uint64_t stop = std::min(end, direct_space - 1);
    for (uint64_t p = start; p <= stop; ++p)
        table[p] = static_cast<uint8_t>(set ? table[p] | bit : table[p] & ~bit);
}

namespace {

// The segment holding x (the last one starting at or before it).
size_t segment_of(const std::vector<uint64_t>& starts, uint64_t x) noexcept {
    return static_cast<size_t>(std::upper_bound(starts.begin(), starts.end(), x) - starts.begin()) - 1;
}

}  // namespace

// [start, end] was just added to (set) or removed from (!set) one server's
// ranges: every byte of it changes that server's bit the same way. Split
// the segments at start and after end, flip the bit in between, and merge
// the two boundaries if their neighbours became equal. Segments inside
// stay distinct (each pair differed in another bit before). One insertion
// or erasure in arrays of at most 4,097: a few microseconds.
void IoreqServerRegistry::paint(RouteIndex& ix, uint64_t start, uint64_t end, uint8_t bit, bool set) {
    auto split = [&ix](uint64_t at) {
        const size_t i = segment_of(ix.starts, at);
        if (ix.starts[i] == at) return i;
        ix.starts.insert(ix.starts.begin() + static_cast<std::ptrdiff_t>(i + 1), at);
        ix.covers.insert(ix.covers.begin() + static_cast<std::ptrdiff_t>(i + 1), ix.covers[i]);
        return i + 1;
    };
    const size_t first = split(start);
    const bool to_top = end == std::numeric_limits<uint64_t>::max();
    const size_t past = to_top ? ix.starts.size() : split(end + 1);
    for (size_t i = first; i < past; ++i)
        ix.covers[i] = static_cast<uint8_t>(set ? ix.covers[i] | bit : ix.covers[i] & ~bit);
    auto merge = [&ix](size_t i) {  // segment i into segment i - 1 if their masks agree
        if (i == 0 || i >= ix.starts.size() || ix.covers[i - 1] != ix.covers[i]) return;
        ix.starts.erase(ix.starts.begin() + static_cast<std::ptrdiff_t>(i));
        ix.covers.erase(ix.covers.begin() + static_cast<std::ptrdiff_t>(i));
    };
    merge(past);  // first: merging at `first` would move `past`
    merge(first);
    reindex(ix);
}

// The search copy of ix.starts (RouteIndex): the bottom level is the starts
// with at least one padding key after them, each level above holds the
// first key of each line below, up to a top of at most top_keys keys.
// O(segments): a few microseconds for 4,097, on the rare DMOPs that change
// the index.
void IoreqServerRegistry::reindex(RouteIndex& ix) {
    constexpr uint64_t pad = std::numeric_limits<uint64_t>::max();
    auto lines_for = [](size_t keys) { return (keys + line_keys - 1) / line_keys; };
    // Key counts per level, bottom first.
    std::array<size_t, max_levels> keys{};
    size_t levels = 1;
    keys[0] = ix.starts.size();
    size_t below_lines = lines_for(keys[0] + 1);  // room for the padding key after the last start
    if (keys[0] + 1 > top_keys) {
        for (;;) {
            Expects(levels < max_levels);
            keys[levels] = below_lines;  // one key per line below
            ++levels;
            if (below_lines <= top_keys) break;
            below_lines = lines_for(below_lines);
        }
    }
    // Lines per level, top first: the top 1 or 2.
    std::array<size_t, max_levels> nlines{};
    for (size_t d = 0; d < levels; ++d) {
        const size_t level_keys = keys[levels - 1 - d];
        nlines[d] = lines_for(d == levels - 1 ? level_keys + 1 : level_keys);
    }
    size_t total = 0;
    ix.level_line = {};
    for (size_t d = 0; d < levels; ++d) {
        ix.level_line[d] = static_cast<uint32_t>(total);
        total += nlines[d];
    }
    ix.lines.assign(total, Line{});
    for (Line& l : ix.lines) l.key.fill(pad);
    // The bottom: the starts themselves; each level above: every 8th key of
    // the one below (the first key of each of its lines).
    uint64_t* const bottom = ix.lines[ix.level_line[levels - 1]].key.data();
    std::copy(ix.starts.begin(), ix.starts.end(), bottom);
    for (size_t d = levels - 1; d-- > 0;) {
        const uint64_t* const below = ix.lines[ix.level_line[d + 1]].key.data();
        uint64_t* const here = ix.lines[ix.level_line[d]].key.data();
        const size_t n = keys[levels - 1 - d];
        for (size_t k = 0; k < n; ++k) here[k] = below[k * line_keys];
    }
    ix.levels = static_cast<uint32_t>(levels);
    ix.top_lines = static_cast<uint32_t>(nlines[0]);
}

std::array<IoreqServerRegistry::RouteIndex, nr_range_types> IoreqServerRegistry::make_indexes() {
    std::array<RouteIndex, nr_range_types> out;
    for (RouteIndex& ix : out) reindex(ix);
    return out;
}

bool IoreqServerRegistry::index_matches_ranges() const {
    for (size_t t = 0; t < nr_range_types; ++t) {
        if (rebuilt(static_cast<RangeType>(t)) != std::pair{index_[t].starts, index_[t].covers}) return false;
        // The search copy: the one built afresh from the segments.
        RouteIndex fresh;
        fresh.starts = index_[t].starts;
        reindex(fresh);
        if (fresh.levels != index_[t].levels || fresh.level_line != index_[t].level_line ||
            fresh.top_lines != index_[t].top_lines ||
            fresh.lines.size() != index_[t].lines.size())
            return false;
        for (size_t i = 0; i < fresh.lines.size(); ++i)
            if (fresh.lines[i].key != index_[t].lines[i].key) return false;
    }
    // The direct tables: each port's or SBDF's mask is its segment's.
    for (const RangeType t : {RangeType::port, RangeType::pci}) {
        const RouteIndex& ix = index_[static_cast<uint32_t>(t)];
        const uint8_t* const table = direct_[static_cast<uint32_t>(t)].get();
        size_t i = 0;
        for (uint64_t p = 0; p < direct_space; ++p) {
            while (i + 1 < ix.starts.size() && ix.starts[i + 1] <= p) ++i;
            if ((table != nullptr ? table[p] : 0) != ix.covers[i]) return false;
        }
    }
    return true;
}

// From scratch: cut the type's space at every run start and after every run
// end, so that no run begins or ends inside a segment, give each segment
// the mask of the servers whose runs hold it (one cursor per server, the
// segments in ascending order) and merge neighbours with equal masks.
std::pair<std::vector<uint64_t>, std::vector<uint8_t>> IoreqServerRegistry::rebuilt(RangeType t) const {
    const auto ti = static_cast<uint32_t>(t);
    std::vector<uint64_t> cuts{0};
    for (const auto& s : slots_) {
        if (!s) continue;
        for (const RangeSet::Run& r : s->ranges_[ti].runs()) {
            cuts.push_back(r.start);
            if (r.end != std::numeric_limits<uint64_t>::max()) cuts.push_back(r.end + 1);
        }
    }
    std::sort(cuts.begin(), cuts.end());
    cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
    std::array<size_t, max_ioreq_servers> cursor{};
    RouteIndex out;
    out.starts.clear();
    out.covers.clear();
    for (const uint64_t at : cuts) {
        uint8_t mask = 0;
        for (unsigned n = 0; n < max_ioreq_servers; ++n) {
            if (!slots_[n]) continue;
            const std::span<const RangeSet::Run> runs = slots_[n]->ranges_[ti].runs();
            size_t& k = cursor[n];
            while (k < runs.size() && runs[k].end < at) ++k;
            if (k < runs.size() && runs[k].start <= at) mask = static_cast<uint8_t>(mask | (1u << n));
        }
        if (!out.covers.empty() && out.covers.back() == mask) continue;
        out.starts.push_back(at);
        out.covers.push_back(mask);
    }
    return {std::move(out.starts), std::move(out.covers)};
}

namespace {

// How many of a line's 8 keys are at or below x: 8 independent compares
// summed as a tree (no data-dependent branch; a chain of 3 additions after
// the compares). The empty asm statements keep the four pair sums apart:
// without them GCC folds the sum into one chain of 8 dependent
// subtract-with-borrow instructions, which costs as much as the bisection
// it replaces.
[[gnu::always_inline]] inline unsigned at_or_below(const uint64_t* k, uint64_t x) noexcept {
    unsigned a = static_cast<unsigned>(k[0] <= x) + static_cast<unsigned>(k[1] <= x);
    unsigned b = static_cast<unsigned>(k[2] <= x) + static_cast<unsigned>(k[3] <= x);
    unsigned c = static_cast<unsigned>(k[4] <= x) + static_cast<unsigned>(k[5] <= x);
    unsigned d = static_cast<unsigned>(k[6] <= x) + static_cast<unsigned>(k[7] <= x);
    asm("" : "+r"(a), "+r"(b), "+r"(c), "+r"(d));
    return (a + b) + (c + d);
}

// The highest server in a mask, -1 for none, without a branch on zero
// (std::bit_width(held) - 1 compiles to a test and a jump around bsr).
[[gnu::always_inline]] inline int highest(unsigned held) noexcept {
    return static_cast<int>(std::bit_width((held << 1) | 1)) - 2;
}

}  // namespace

// The segment holding `first` from the search copy (RouteIndex): the top's
// keys at or below it, then one line per level, each count a tree of
// compares (no branch on the data); then the highest enabled server whose
// ranges hold that segment and any others up to `last`. An address of
// 2^64 - 1 would count the padding keys: it goes server by server, as a
// wrapped access does.
int IoreqServerRegistry::lookup(RangeType t, uint64_t first, uint64_t last) const noexcept {
    if (t != RangeType::memory && last < direct_space && first <= last && last - first < 4) {
        const uint8_t* const table = direct_[static_cast<uint32_t>(t)].get();
        // Nothing mapped yet: no table, nobody.
        if (table == nullptr) return -1;
        // The AND of the 1 to 4 ports' masks, without a loop: the ports
        // past `last` repeat `last`.
        const unsigned held = enabled_ & table[first] & table[std::min(first + 1, last)] &
                              table[std::min(first + 2, last)] & table[last];
        return highest(held);
    }
    auto slow = [this, t, first, last] {
        const std::optional<IoservId> id = select_slow(t, first, last);
        return id ? static_cast<int>(id->raw()) : -1;
    };
    if (first > last || first == std::numeric_limits<uint64_t>::max()) [[unlikely]]
        return slow();  // wrapped: as Xen's check answers it
    const RouteIndex& ix = index_[static_cast<uint32_t>(t)];
    const Line* const lines = ix.lines.data();
    // At least the top's first key (0) is at or below `first`, and no
    // padding key is: i >= 0, and within the level's keys.
    size_t i = at_or_below(lines[0].key.data(), first) - 1;
    if (ix.top_lines == 2) i += at_or_below(lines[1].key.data(), first);  // a top of 9 to 16 keys
    for (uint32_t d = 1; d < ix.levels; ++d)
        i = i * line_keys + at_or_below(lines[ix.level_line[d] + i].key.data(), first) - 1;
    auto held = static_cast<unsigned>(ix.covers[i] & enabled_);
    // Across segment boundaries: a server holds the access iff it holds
    // every segment the access touches, because its runs are disjoint and
    // never adjacent (RangeSet merges them), so bytes it covers without a
    // gap lie in one run, which is rangeset_contains_range's condition.
    // Beyond a few segments (a long rep access), server by server. The
    // bottom level has a padding key after the last start.
    const uint64_t* const bottom = lines[ix.level_line[ix.levels - 1]].key.data();
    if (bottom[i + 1] <= last) [[unlikely]] {
        const uint64_t* const starts = ix.starts.data();
        const size_t n_segments = ix.starts.size();
        for (unsigned crossed = 0; held != 0 && i + 1 < n_segments && starts[i + 1] <= last; ++crossed) {
            if (crossed == 8) return slow();
            held &= ix.covers[++i];
        }
    }
    return highest(held);  // -1: nobody enabled holds all of it
}

std::optional<IoservId> IoreqServerRegistry::select_slow(RangeType t, uint64_t first, uint64_t last) const noexcept {
    // Highest id first ("more recently created ... favoured"); disabled skipped.
    for (unsigned i = max_ioreq_servers; i-- > 0;) {
        const IoreqServer* s = get(IoservId{static_cast<uint16_t>(i)});
        if (s == nullptr || !s->enabled_) continue;
        if (!s->ranges(t).contains(first, last)) continue;
        return s->id;
    }
    return std::nullopt;
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
    const int id = lookup(type, first, last);
    // No branch on the answer: the result is copied from one of two
    // objects, picked by a conditional move of their addresses (GCC turns
    // `if (id < 0) return std::nullopt` and optional::reset into a jump,
    // which a random mix of hits and misses mispredicts half the time).
    static constexpr std::optional<Selection> miss{};
    const std::optional<Selection> hit{Selection{IoservId{static_cast<uint16_t>(id)}, routed}};
    return *(id >= 0 ? &hit : &miss);
}

}  // namespace hvcore

// SPDX-License-Identifier: MIT
// The stage-2 table engine on its own (hvcore/s2/engine.hpp), with no
// backend: a test entry format defined here, over three geometries - the
// x86 4-level one (512-entry root, leaves at levels 0-2), the RISC-V
// Sv39x4 shape (3 levels, a 2048-entry root of 4 frames, leaves at every
// level) and the Arm64 default (start level 1: 3 levels, 2 concatenated
// root frames). What each backend's format does with the bits is tested in
// its own folder and in tests/conformance.
#include <doctest/doctest.h>

#include <cstdint>
#include <memory>
#include <tuple>
#include <vector>

#include "hvcore/core/machine_memory.hpp"
#include "hvcore/core/p2m_type.hpp"
#include "hvcore/s2/engine.hpp"
#include "hvcore/s2/engine_impl.hpp"

namespace {

using namespace hvcore;

// A format with no hardware behind it: rights in bits 2:0 (none = not
// present), bit 3 = table, bit 4 = device memory, bit 5 in every entry
// written (so 0 is absent), bit 11 the recalculation mark, frame 51:12,
// type 61:56.
struct TestFormat {
    static constexpr uint64_t r = 1U << 0;
    static constexpr uint64_t w = 1U << 1;
    static constexpr uint64_t x = 1U << 2;
    static constexpr uint64_t rwx = r | w | x;
    static constexpr uint64_t table_bit = 1U << 3;
    static constexpr uint64_t device = 1U << 4;
    static constexpr uint64_t written = 1U << 5;
    static constexpr uint64_t mark_bit = 1U << 11;
    static constexpr uint64_t frame_mask = 0x000F'FFFF'FFFF'F000;
    static constexpr unsigned type_shift = 56;
    static constexpr uint64_t type_mask = uint64_t{0x3f} << type_shift;

    static constexpr bool encodable(Perm p) noexcept { return p.r || !p.w; }
    static constexpr uint64_t encode_leaf(Mfn m, P2mType t, Perm p, MemClass mc, unsigned /*level*/) noexcept {
        return (p.r ? r : 0) | (p.w ? w : 0) | (p.x ? x : 0) | (mc == MemClass::device ? device : 0) | written |
               (m.raw() << page_shift) | (static_cast<uint64_t>(t) << type_shift);
    }
    static constexpr uint64_t encode_table(Mfn m) noexcept { return rwx | table_bit | written | (m.raw() << page_shift); }
    static constexpr uint64_t split_attrs(uint64_t parent, unsigned /*level*/) noexcept { return parent & ~frame_mask; }
    static constexpr uint64_t mark(uint64_t e) noexcept { return e | mark_bit; }
    static constexpr uint64_t unmark(uint64_t e) noexcept { return e & ~mark_bit; }
    static constexpr bool present(uint64_t e) noexcept { return (e & rwx) != 0; }
    static constexpr bool marked(uint64_t e) noexcept { return (e & mark_bit) != 0; }
    static constexpr bool is_table(uint64_t e, unsigned level) noexcept {
        return e != 0 && level > 0 && (e & table_bit) != 0;
    }
    static constexpr bool is_leaf(uint64_t e, unsigned level) noexcept { return e != 0 && !is_table(e, level); }
    static constexpr Mfn frame(uint64_t e) noexcept { return Mfn{(e & frame_mask) >> page_shift}; }
    static constexpr Mfn leaf_frame(uint64_t e, unsigned /*level*/) noexcept { return frame(e); }
    static constexpr P2mType type_of(uint64_t e) noexcept {
        if (e == 0) return P2mType::mmio_dm;
        return p2m_type_from_raw(static_cast<uint8_t>((e & type_mask) >> type_shift)).value();
    }
};
static_assert(s2::EntryFormat<TestFormat>);

// A format that holds the type in bits the rights also use (as RISC-V
// does with RSW and X) refuses some (type, rights) pairs.
struct TypedFormat : TestFormat {
    using TestFormat::encodable;
    static constexpr bool encodable(P2mType t, Perm p) noexcept {
        return encodable(p) && !(t == P2mType::ram_ro && p.x);
    }
};
static_assert(s2::EntryFormat<TypedFormat> && s2::TypedEncodable<TypedFormat>);
static_assert(!s2::TypedEncodable<TestFormat>);

// A format with the frame where RISC-V keeps it (PPN, bits 53:10) and the
// mark in bit 8 (RSW): the engine places split children's frames through
// with_frame.
struct PpnFormat : TestFormat {
    static constexpr uint64_t mark_bit = 1U << 8;
    static constexpr uint64_t ppn_mask = 0x003F'FFFF'FFFF'FC00;
    static constexpr uint64_t encode_leaf(Mfn m, P2mType t, Perm p, MemClass mc, unsigned level) noexcept {
        return with_frame(TestFormat::encode_leaf(Mfn{0}, t, p, mc, level), m);
    }
    static constexpr uint64_t encode_table(Mfn m) noexcept { return with_frame(TestFormat::encode_table(Mfn{0}), m); }
    static constexpr uint64_t split_attrs(uint64_t parent, unsigned /*level*/) noexcept { return parent & ~ppn_mask; }
    static constexpr uint64_t with_frame(uint64_t attrs, Mfn m) noexcept { return attrs | (m.raw() << 10); }
    static constexpr uint64_t mark(uint64_t e) noexcept { return e | mark_bit; }
    static constexpr uint64_t unmark(uint64_t e) noexcept { return e & ~mark_bit; }
    static constexpr bool marked(uint64_t e) noexcept { return (e & mark_bit) != 0; }
    static constexpr Mfn frame(uint64_t e) noexcept { return Mfn{(e & ppn_mask) >> 10}; }
    static constexpr Mfn leaf_frame(uint64_t e, unsigned /*level*/) noexcept { return frame(e); }
};
static_assert(s2::EntryFormat<PpnFormat> && s2::FrameField<PpnFormat> && !s2::FrameField<TestFormat>);

// A backend over a test format: its walker reads the table as a hardware
// walk would (present, then mark, then leaf).
template <class Fmt>
class BasicTestTable final : public s2::Table<Fmt> {
public:
    static Result<std::unique_ptr<BasicTestTable>> create(MachineMemory& mem, const s2::Geometry& g) {
        return s2::create<BasicTestTable>(mem, g);
    }
    explicit BasicTestTable(const s2::Placement& p) noexcept : s2::Table<Fmt>(p) {}

    [[nodiscard]] Arch arch() const noexcept override { return Arch::x86_vmx; }
    [[nodiscard]] Translation translate(Gpa gpa, AccessType /*access*/, const AccessContext& /*ctx*/) override {
        Translation tr;
        tr.record.gpa = gpa.raw();
        const uint64_t gfn = gpa.gfn().raw();
        Mfn t = this->root();
        for (unsigned level = this->geometry().root_level();; --level) {
            const uint64_t e = this->entry(t, level, gfn);
            if (!Fmt::present(e)) return tr;
            if (Fmt::marked(e)) {
                tr.record.kind = 1;
                return tr;
            }
            if (Fmt::is_leaf(e, level)) {
                tr.ok = true;
                tr.mfn = Fmt::leaf_frame(e, level) + (gfn & (s2::level_pages(level) - 1));
                return tr;
            }
            t = Fmt::frame(e);
        }
    }
    [[nodiscard]] Fault decode_fault(const FaultRecord& record) const override {
        Fault f;
        f.gpa = Gpa{record.gpa};
        f.cause = record.kind == 1 && this->marked_on_walk(f.gpa.gfn().raw()) ? FaultCause::recalc
                                                                              : FaultCause::not_present;
        return f;
    }

private:
    [[nodiscard]] uint64_t root_register() const noexcept override { return this->root().raw() << page_shift; }
    [[nodiscard]] int arch_level(unsigned level) const noexcept override { return 10 + static_cast<int>(level); }
};
using TestTable = BasicTestTable<TestFormat>;

inline constexpr Perm rwx{.r = true, .w = true, .x = true};
inline constexpr uint64_t pages_2m = 512;
inline constexpr uint64_t pages_1g = 512 * 512;

struct Shape {
    const char* name;
    s2::Geometry geo;
};
// x86: 48-bit GPA, PML4 without leaves.
constexpr Shape x86{"x86 4-level", s2::x86_4level(46)};
// RISC-V Sv39x4: 41-bit GPA, a 16 KiB root of 2048 entries, leaves at
// every level (a root entry maps 1 GiB).
constexpr Shape sv39x4{"Sv39x4", {.levels = 3, .root_entries = 2048, .ia_bits = 41, .oa_bits = 56, .leaf_levels = 0b111}};
// Arm64 default VTCR: 40-bit IPA, start level 1 with 2 concatenated tables.
constexpr Shape arm_l1{"Arm64 L1 x2", {.levels = 3, .root_entries = 1024, .ia_bits = 40, .oa_bits = 48, .leaf_levels = 0b111}};
constexpr Shape shapes[] = {x86, sv39x4, arm_l1};

struct Machine {
    std::unique_ptr<MachineMemory> mem;
    std::unique_ptr<TestTable> t;
    explicit Machine(const s2::Geometry& g, uint64_t table_limit = 256) {
        auto m = MachineMemory::create(4 << 20, table_limit);
        REQUIRE(m.is_ok());
        mem = std::move(m).value();
        auto tb = TestTable::create(*mem, g);
        REQUIRE(tb.is_ok());
        t = std::move(tb).value();
    }
    TestTable* operator->() { return t.get(); }
};

using Leaf = std::tuple<uint64_t, uint64_t, P2mType, unsigned, bool>;  // gfn, mfn, type, order, pending
std::vector<Leaf> leaves(const TestTable& t) {
    std::vector<Leaf> v;
    t.for_each_leaf([&](Gfn g, const Stage2Leaf& l) { v.emplace_back(g.raw(), l.mfn.raw(), l.type, l.order, l.recalc_pending); });
    return v;
}

class RecordingPolicy final : public RecalcPolicy {
public:
    std::vector<std::pair<uint64_t, unsigned>> calls;
    Update recalc(Gfn first, unsigned order, P2mType stored, uint8_t /*stored_owner*/) override {
        calls.emplace_back(first.raw(), order);
        return {stored == P2mType::ram_logdirty ? P2mType::ram_rw : stored, rwx};
    }
};

}  // namespace

// Every member compiles for formats the engine has never seen.
template class hvcore::s2::Table<TestFormat>;
template class hvcore::s2::Table<TypedFormat>;
template class hvcore::s2::Table<PpnFormat>;

TEST_CASE("geometry_validity_and_the_derived_sizes") {
    for (const Shape& s : shapes) {
        CAPTURE(s.name);
        CHECK(s.geo.valid());
    }
    CHECK(x86.geo.root_frames() == 1);
    CHECK(sv39x4.geo.root_frames() == 4);
    CHECK(arm_l1.geo.root_frames() == 2);
    CHECK(sv39x4.geo.gfn_count() == uint64_t{1} << 29);
    // The root index runs over every concatenated frame.
    CHECK(sv39x4.geo.index(sv39x4.geo.gfn_count() - 1, 2) == 2047);
    CHECK(arm_l1.geo.index(arm_l1.geo.gfn_count() - 1, 2) == 1023);
    CHECK(x86.geo.index((uint64_t{1} << 36) - 1, 3) == 511);
    // Which levels hold leaves.
    CHECK_FALSE(x86.geo.may_leaf(3));
    CHECK(sv39x4.geo.may_leaf(2));

    s2::Geometry g = x86.geo;
    g.root_entries = 768;  // not a power of two
    CHECK_FALSE(g.valid());
    g = x86.geo;
    g.ia_bits = 49;  // one bit more than the root resolves
    CHECK_FALSE(g.valid());
    g.ia_bits = 39;  // the root resolves nothing
    CHECK_FALSE(g.valid());
    g = arm_l1.geo;
    g.root_entries = 512 * 32;  // more than 16 frames
    g.ia_bits = 44;
    CHECK_FALSE(g.valid());
    g = x86.geo;
    g.leaf_levels = 0b0110;  // no 4 KiB leaf
    CHECK_FALSE(g.valid());
    g.leaf_levels = 0b10111;  // a level that does not exist
    CHECK_FALSE(g.valid());
    g = sv39x4.geo;
    g.oa_bits = 57;  // wider than any 64-bit entry holds
    CHECK_FALSE(g.valid());
    // An Arm64 start level 1 with 32 bits: 4 root entries in one frame.
    CHECK(s2::Geometry{.levels = 3, .root_entries = 512, .ia_bits = 32, .oa_bits = 40, .leaf_levels = 0b111}.valid());
}

TEST_CASE("table_budget_counts_the_levels_below_the_root") {
    // The root's frames, then ceil(frames / 512^k) tables at each level k
    // below it.
    for (uint64_t frames : {uint64_t{1}, uint64_t{512}, uint64_t{513}, uint64_t{1} << 20, (uint64_t{63} << 30) >> 12}) {
        CAPTURE(frames);
        const uint64_t l1 = (frames + 511) / 512;
        const uint64_t l2 = (frames + 512 * 512 - 1) / (512 * 512);
        const uint64_t l3 = (frames + 512 * 512 * 512 - 1) / (512 * 512 * 512);
        CHECK(s2::table_budget(x86.geo, frames) == 1 + l1 + l2 + l3);
        CHECK(s2::table_budget(arm_l1.geo, frames) == arm_l1.geo.root_frames() + l1 + l2);
        CHECK(s2::table_budget(sv39x4.geo, frames) == 4 + l1 + l2);
    }
    // Enough for every RAM frame mapped 4 KiB by 4 KiB.
    const uint64_t frames = 3 * pages_2m + 17;
    for (const Shape& s : shapes) {
        CAPTURE(s.name);
        Machine m(s.geo, s2::table_budget(s.geo, frames));
        const uint64_t n = m->tables_needed_4k(Gfn{0}, frames);
        REQUIRE(m.mem->reserve_tables(n).is_ok());
        for (uint64_t g = 0; g < frames; ++g) m->set_4k(Gfn{g}, Mfn{0x40000 + g}, P2mType::ram_rw, rwx);
        CHECK(m.mem->reserved() == 0);
        CHECK(m.mem->tables_in_use() == s2::table_budget(s.geo, frames));
    }
}

TEST_CASE("create_checks_the_geometry_and_allocates_an_aligned_root") {
    for (const Shape& s : shapes) {
        CAPTURE(s.name);
        auto mem = MachineMemory::create(4 << 20, 64);
        REQUIRE(mem.is_ok());
        // A frame already taken, so the pool's next frame is not aligned.
        auto taken = (*mem)->alloc_table();
        REQUIRE(taken.is_ok());
        {
            auto t = TestTable::create(**mem, s.geo);
            REQUIRE(t.is_ok());
            const Mfn root = (*t)->root();
            CHECK(root.raw() % s.geo.root_frames() == 0);  // aligned to the concatenated size
            CHECK((*mem)->tables_in_use() == 1 + s.geo.root_frames());  // nothing else kept
            CHECK((*t)->gfn_limit() == s.geo.gfn_count());
            const Stage2Walk w = (*t)->walk_entries(Gfn{s.geo.gfn_count() - 1});
            CHECK(w.root == root);
            CHECK(w.root_frames == s.geo.root_frames());
            CHECK(w.config == root.raw() << page_shift);
            REQUIRE(w.count == 1);  // an empty table: the root entry only
            CHECK(w.level[0].index == s.geo.root_entries - 1);
            CHECK(w.level[0].level == 10 + static_cast<int>(s.geo.root_level()));
        }
        (*mem)->free_table(*taken);
        CHECK((*mem)->tables_in_use() == 0);
        // Out of frames for a concatenated root: -ENOMEM, nothing kept.
        if (s.geo.root_frames() > 1) {
            auto tiny = MachineMemory::create(4 << 20, s.geo.root_frames() - 1);
            REQUIRE(tiny.is_ok());
            CHECK(TestTable::create(**tiny, s.geo).status().code() == -ENOMEM);
            CHECK((*tiny)->tables_in_use() == 0);
        }
    }
    auto mem = MachineMemory::create(4 << 20, 64);
    REQUIRE(mem.is_ok());
    s2::Geometry bad = x86.geo;
    bad.levels = 6;
    CHECK(TestTable::create(**mem, bad).status().code() == -EINVAL);
    // An output width that does not reach the table pool (64 GiB up).
    bad = x86.geo;
    bad.oa_bits = 36;
    CHECK(TestTable::create(**mem, bad).status().code() == -EINVAL);
    CHECK((*mem)->tables_in_use() == 0);
}

TEST_CASE("map_range_takes_the_largest_leaves_and_for_each_leaf_reports_them_in_order") {
    for (const Shape& s : shapes) {
        CAPTURE(s.name);
        Machine m(s.geo);
        // 1 GiB + 2 MiB + 3 pages from gfn 1 GiB: one leaf of each size
        // (leaves of a level with no leaf would be split).
        const uint64_t g0 = pages_1g;
        const uint64_t m0 = 0x40000;
        REQUIRE(m->map_range(Gfn{g0}, Mfn{m0}, pages_1g + pages_2m + 3, P2mType::ram_rw, rwx).is_ok());
        const std::vector<Leaf> want{{g0, m0, P2mType::ram_rw, 18, false},
                                     {g0 + pages_1g, m0 + pages_1g, P2mType::ram_rw, 9, false},
                                     {g0 + pages_1g + pages_2m, m0 + pages_1g + pages_2m, P2mType::ram_rw, 0, false},
                                     {g0 + pages_1g + pages_2m + 1, m0 + pages_1g + pages_2m + 1, P2mType::ram_rw, 0, false},
                                     {g0 + pages_1g + pages_2m + 2, m0 + pages_1g + pages_2m + 2, P2mType::ram_rw, 0, false}};
        CHECK(leaves(*m.t) == want);
        // Lookup inside a large leaf: base + offset.
        const Stage2Leaf l = m->lookup(Gfn{g0 + 12345});
        CHECK(l.mapped);
        CHECK(l.mfn == Mfn{m0 + 12345});
        CHECK(l.order == 18);
        CHECK(m->translate(Gpa{(g0 + pages_1g + 7) << page_shift}, AccessType::read, {}).mfn == Mfn{m0 + pages_1g + 7});

        // Merging: 4 KiB pages of a 2 MiB range, then the whole range in one
        // call: one 2 MiB leaf again, and the table below it is freed.
        const uint64_t g1 = 4 * pages_1g;
        for (uint64_t i = 0; i < 4; ++i)
            REQUIRE(m->map_range(Gfn{g1 + i}, Mfn{0x100 + i}, 1, P2mType::mmio_direct, {.r = true, .w = true}).is_ok());
        const uint64_t before = m.mem->tables_in_use();
        REQUIRE(m->map_range(Gfn{g1}, Mfn{0x200000}, pages_2m, P2mType::ram_ro, {.r = true}).is_ok());
        CHECK(m.mem->tables_in_use() == before - 1);
        const std::vector<Leaf> after = leaves(*m.t);
        REQUIRE(after.size() == want.size() + 1);
        CHECK(after.back() == Leaf{g1, 0x200000, P2mType::ram_ro, 9, false});
        // gfn order throughout.
        for (size_t i = 1; i < after.size(); ++i) CHECK(std::get<0>(after[i - 1]) < std::get<0>(after[i]));
    }
    // A root entry holds a leaf only where the geometry allows it: the x86
    // PML4 does not (512 GiB mapped as 512 1 GiB leaves), Sv39x4's root
    // does (1 GiB).
    Machine m(x86.geo);
    REQUIRE(m->map_range(Gfn{0}, Mfn{0}, uint64_t{1} << 27, P2mType::ram_rw, rwx).is_ok());
    CHECK(m->lookup(Gfn{5}).order == 18);
    CHECK(leaves(*m.t).size() == 512);
}

TEST_CASE("map_range_is_all_or_nothing") {
    for (const Shape& s : shapes) {
        CAPTURE(s.name);
        // Room for the root and a few tables only.
        Machine m(s.geo, s.geo.root_frames() + 4);
        REQUIRE(m->map_range(Gfn{0}, Mfn{0x40000}, pages_2m + 1, P2mType::ram_rw, rwx).is_ok());
        REQUIRE(m->map_range(Gfn{pages_1g}, Mfn{0x80000}, pages_1g, P2mType::ram_rw, rwx).is_ok());
        m->mark_recalc_all();  // the failing map pushes marks down before it fails
        const std::vector<Leaf> before = leaves(*m.t);
        const uint64_t in_use = m.mem->tables_in_use();
        std::vector<uint64_t> raw;
        for (uint64_t g : {uint64_t{0}, pages_2m, pages_1g, pages_1g + 3 * pages_2m}) raw.push_back(m->raw_entry(Gfn{g}));
        // Misaligned frames: 4 KiB leaves over 8 MiB, splitting the 1 GiB
        // leaf: more tables than the pool has.
        CHECK(m->map_range(Gfn{pages_1g - 8 * pages_2m}, Mfn{0x1001}, 16 * pages_2m, P2mType::ram_ro, {.r = true})
                  .code() == -ENOMEM);
        CHECK(leaves(*m.t) == before);
        CHECK(m.mem->tables_in_use() == in_use);
        std::vector<uint64_t> raw_after;
        for (uint64_t g : {uint64_t{0}, pages_2m, pages_1g, pages_1g + 3 * pages_2m})
            raw_after.push_back(m->raw_entry(Gfn{g}));
        CHECK(raw_after == raw);
        // Bad input changes nothing either.
        CHECK(m->map_range(Gfn{s.geo.gfn_count() - 1}, Mfn{0}, 2, P2mType::ram_rw, rwx).code() == -EINVAL);
        CHECK(m->map_range(Gfn{0}, Mfn{s.geo.mfn_limit() - 1}, 2, P2mType::ram_rw, rwx).code() == -EINVAL);
        CHECK(m->map_range(Gfn{0}, Mfn{0}, 1, P2mType::ram_rw, {.w = true}).code() == -EINVAL);
        CHECK(leaves(*m.t) == before);
    }
    // A format whose check takes the type refuses the pair, not the rights.
    auto mem = MachineMemory::create(4 << 20, 16);
    REQUIRE(mem.is_ok());
    auto typed = BasicTestTable<TypedFormat>::create(**mem, x86.geo);
    REQUIRE(typed.is_ok());
    CHECK((*typed)->map_range(Gfn{0}, Mfn{0}, 1, P2mType::ram_ro, {.r = true, .x = true}).code() == -EINVAL);
    CHECK((*mem)->tables_in_use() == 1);
    CHECK((*typed)->map_range(Gfn{0}, Mfn{0}, 1, P2mType::ram_rw, {.r = true, .x = true}).is_ok());
    CHECK((*typed)->map_range(Gfn{1}, Mfn{1}, 1, P2mType::ram_ro, {.r = true}).is_ok());
}

TEST_CASE("tables_needed_4k_is_exactly_what_set_4k_takes") {
    struct Case {
        const char* what;
        uint64_t first;
        uint64_t nr;
    };
    // Over a table holding a 1 GiB leaf at 1 GiB, a 2 MiB leaf at 2 MiB,
    // and 4 KiB leaves at 0..2.
    const Case cases[] = {
        {"inside the 1 GiB leaf (two splits)", pages_1g + 5, 3},
        {"across two 2 MiB parts of the 1 GiB leaf", pages_1g + pages_2m - 2, 4},
        {"inside the 2 MiB leaf (one split)", pages_2m + 7, 1},
        {"into existing 4 KiB tables", 0, 3},
        {"an empty region, across a 1 GiB boundary", 3 * pages_1g - 1, 2},
        {"an empty region, a whole 2 MiB", 5 * pages_1g, pages_2m},
        {"the last gfn", 0, 0},
    };
    for (const Shape& s : shapes) {
        for (Case c : cases) {
            CAPTURE(s.name);
            CAPTURE(c.what);
            if (c.nr == 0) c = {c.what, s.geo.gfn_count() - 1, 1};
            Machine m(s.geo);
            REQUIRE(m->map_range(Gfn{0}, Mfn{0x40000}, 3, P2mType::ram_rw, rwx).is_ok());
            REQUIRE(m->map_range(Gfn{pages_2m}, Mfn{0x40000 + pages_2m}, pages_2m, P2mType::ram_rw, rwx).is_ok());
            REQUIRE(m->map_range(Gfn{pages_1g}, Mfn{pages_1g}, pages_1g, P2mType::ram_logdirty, {.r = true, .x = true})
                        .is_ok());
            const uint64_t n = m->tables_needed_4k(Gfn{c.first}, c.nr);
            CHECK(n == m->tables_needed_4k(Gfn{c.first}, c.nr));  // a read: asking again gives the same
            REQUIRE(m.mem->reserve_tables(n).is_ok());
            const uint64_t in_use = m.mem->tables_in_use();
            for (uint64_t g = c.first; g < c.first + c.nr; ++g) m->set_4k(Gfn{g}, Mfn{0x7000 + (g & 0xffff)}, P2mType::mmio_direct, rwx);
            CHECK(m.mem->reserved() == 0);            // every reserved frame taken ...
            CHECK(m.mem->tables_in_use() == in_use);  // ... and no other
            CHECK(m->tables_needed_4k(Gfn{c.first}, c.nr) == 0);
            for (uint64_t g = c.first; g < c.first + c.nr; ++g) {
                const Stage2Leaf l = m->lookup(Gfn{g});
                CHECK(l.mfn == Mfn{0x7000 + (g & 0xffff)});
                CHECK(l.order == 0);
            }
            // The neighbours of a split keep their mapping and type.
            if (c.first > pages_1g && c.first < 2 * pages_1g) {
                const Stage2Leaf l = m->lookup(Gfn{c.first + c.nr});
                CHECK(l.mfn == Mfn{c.first + c.nr});
                CHECK(l.type == P2mType::ram_logdirty);
            }
        }
    }
}

namespace {
class CountingCounter final : public TypeCounter {
public:
    uint64_t added = 0;
    unsigned deltas = 0;
    void counted(const Delta& d) override {
        added += d.added;
        ++deltas;
    }
};
}  // namespace

TEST_CASE("the_list_operations_reach_only_the_listed_gfns_and_take_exactly_the_tables_they_count") {
    for (const Shape& s : shapes) {
        CAPTURE(s.name);
        Machine m(s.geo);
        // As above: 4 KiB leaves at 0..2, a 2 MiB leaf at 2 MiB, a 1 GiB
        // ram_logdirty leaf at 1 GiB, nothing elsewhere.
        REQUIRE(m->map_range(Gfn{0}, Mfn{0x40000}, 3, P2mType::ram_rw, rwx).is_ok());
        REQUIRE(m->map_range(Gfn{pages_2m}, Mfn{0x40000 + pages_2m}, pages_2m, P2mType::ram_rw, rwx).is_ok());
        REQUIRE(m->map_range(Gfn{pages_1g}, Mfn{pages_1g}, pages_1g, P2mType::ram_logdirty, {.r = true, .x = true})
                    .is_ok());
        // Scattered: two pages of the existing 4 KiB table, three of the
        // 2 MiB leaf (one split), two 2 MiB parts of the 1 GiB leaf far
        // apart (three splits), an empty region (a new walk), the last gfn.
        const uint64_t last = s.geo.gfn_count() - 1;
        const std::vector<uint64_t> list = {0,
                                            2,
                                            pages_2m + 7,
                                            pages_2m + 9,
                                            pages_2m + 511,
                                            pages_1g + 5,
                                            pages_1g + 300 * pages_2m + 1,
                                            3 * pages_1g + 1,
                                            last};
        TypeChange c{.to = P2mType::mmio_direct, .perm = rwx, .allowed = 0xffff, .allowed_marked = 0xffff, .has_frame = 0};
        // Refused at the first listed page of the 1 GiB leaf when
        // ram_logdirty may not change, with nothing written or taken.
        TypeChange no_logdirty = c;
        no_logdirty.allowed = static_cast<uint16_t>(0xffff & ~(1U << static_cast<unsigned>(P2mType::ram_logdirty)));
        const auto before = leaves(*m.t);
        const uint64_t in_use_before = m.mem->tables_in_use();
        CHECK(m->first_refused_list(list, no_logdirty) == Gfn{pages_1g + 5});
        CHECK(!m->first_refused_list(list, c));
        CHECK(m->first_refused_list(std::span<const uint64_t>(list).first(5), no_logdirty) == std::nullopt);
        CHECK(leaves(*m.t) == before);
        CHECK(m.mem->tables_in_use() == in_use_before);

        const uint64_t n = m->tables_needed_4k_list(list);
        CHECK(n == m->tables_needed_4k_list(list));  // a read
        // As set_4k on each gfn would take, which tables_needed_4k counts
        // per gfn, except that gfns sharing a new table count it once:
        // 1 (2 MiB split) + 2 x 2 (1 GiB split, then 2 MiB) - 1 (one 1 GiB
        // split) + new walks below the empty regions.
        uint64_t per_gfn = 0;
        for (const uint64_t g : list) per_gfn += m->tables_needed_4k(Gfn{g}, 1);
        CHECK(n < per_gfn);
        REQUIRE(m.mem->reserve_tables(n).is_ok());
        const uint64_t in_use = m.mem->tables_in_use();
        RecordingPolicy policy;
        CountingCounter counter;
        m->retype_list(list, c, policy, counter);
        CHECK(m.mem->reserved() == 0);            // every reserved frame taken ...
        CHECK(m.mem->tables_in_use() == in_use);  // ... and no other
        CHECK(m->tables_needed_4k_list(list) == 0);
        CHECK(counter.added == list.size());
        CHECK(policy.calls.empty());
        for (const uint64_t g : list) {
            CAPTURE(g);
            const Stage2Leaf l = m->lookup(Gfn{g});
            CHECK(l.type == P2mType::mmio_direct);
            CHECK(l.order == 0);
            CHECK(l.mfn == Mfn{0});  // has_frame is empty: no frame kept
        }
        // Their neighbours, and the parts of the large leaves no listed gfn
        // reaches, keep their mapping, type and size.
        for (const uint64_t g : {uint64_t{1}, pages_2m + 8, pages_1g + 4, pages_1g + 6}) {
            CAPTURE(g);
            const Stage2Leaf l = m->lookup(Gfn{g});
            CHECK(l.order == 0);
            CHECK(l.type == (g >= pages_1g ? P2mType::ram_logdirty : P2mType::ram_rw));
            CHECK(l.mfn == (g >= pages_1g ? Mfn{g} : Mfn{0x40000 + g}));
        }
        const Stage2Leaf untouched = m->lookup(Gfn{pages_1g + 100 * pages_2m});
        CHECK(untouched.order == 9);
        CHECK(untouched.type == P2mType::ram_logdirty);
        CHECK(!m->lookup(Gfn{2 * pages_1g}).mapped);  // the empty region between stays empty
    }
}

TEST_CASE("resolve_pushes_marks_one_level_per_table_and_recalculates_the_last_table") {
    for (const Shape& s : shapes) {
        CAPTURE(s.name);
        Machine m(s.geo);
        // A 4 KiB table at 0..511 (with 3 leaves), 2 MiB leaves above, and
        // a page in another 1 GiB region.
        REQUIRE(m->map_range(Gfn{0}, Mfn{0x40000}, 3, P2mType::ram_logdirty, {.r = true, .x = true}).is_ok());
        REQUIRE(m->map_range(Gfn{pages_2m}, Mfn{0x40000 + pages_2m}, 2 * pages_2m, P2mType::ram_logdirty, {.r = true})
                    .is_ok());
        REQUIRE(m->map_range(Gfn{2 * pages_1g}, Mfn{0x10}, 1, P2mType::ram_logdirty, {.r = true}).is_ok());
        RecordingPolicy none;
        CHECK_FALSE(m->resolve(Gfn{1}, none));  // nothing pending
        CHECK(none.calls.empty());

        m->mark_recalc_all();
        for (const Leaf& l : leaves(*m.t)) CHECK(std::get<4>(l));  // every leaf pending
        CHECK(m->lookup(Gfn{2 * pages_1g}).recalc_pending);
        // The hardware walk faults on the mark; the decoder sees it on the walk.
        const Translation tr = m->translate(Gpa{0x1000}, AccessType::read, {});
        CHECK_FALSE(tr.ok);
        CHECK(m->decode_fault(tr.record).cause == FaultCause::recalc);

        RecordingPolicy p;
        CHECK(m->resolve(Gfn{1}, p));
        // The level-0 table of gfn 1: its three marked leaves.
        CHECK(p.calls == std::vector<std::pair<uint64_t, unsigned>>{{0, 0}, {1, 0}, {2, 0}});
        CHECK_FALSE(m->lookup(Gfn{1}).recalc_pending);
        CHECK(m->lookup(Gfn{1}).type == P2mType::ram_rw);
        // The 2 MiB leaves beside that table got the mark pushed onto them
        // and stay pending; so does the other 1 GiB region.
        CHECK(m->lookup(Gfn{pages_2m}).recalc_pending);
        CHECK(m->lookup(Gfn{2 * pages_1g}).recalc_pending);
        CHECK(TestFormat::marked(m->raw_entry(Gfn{pages_2m})));
        // Resolving one of them recalculates both 2 MiB leaves of its table.
        RecordingPolicy q;
        CHECK(m->resolve(Gfn{pages_2m + 9}, q));
        CHECK(q.calls == std::vector<std::pair<uint64_t, unsigned>>{{pages_2m, 9}, {2 * pages_2m, 9}});
        CHECK_FALSE(m->lookup(Gfn{2 * pages_2m}).recalc_pending);
        CHECK(m->translate(Gpa{pages_2m << page_shift}, AccessType::read, {}).ok);
        // Nothing left on those walks.
        RecordingPolicy again;
        CHECK_FALSE(m->resolve(Gfn{1}, again));
        CHECK(again.calls.empty());
        // A map under a marked table carries the mark down first: the new
        // leaf is not pending, its marked neighbour still is.
        REQUIRE(m->map_range(Gfn{2 * pages_1g + 1}, Mfn{0x11}, 1, P2mType::ram_rw, rwx).is_ok());
        CHECK_FALSE(m->lookup(Gfn{2 * pages_1g + 1}).recalc_pending);
        CHECK(m->lookup(Gfn{2 * pages_1g}).recalc_pending);
    }
}

TEST_CASE("the_walker_visits_in_gfn_order_with_pre_and_post_visits_paired") {
    for (const Shape& s : shapes) {
        CAPTURE(s.name);
        Machine m(s.geo);
        REQUIRE(m->map_range(Gfn{pages_2m - 1}, Mfn{0x40001}, 2, P2mType::ram_rw, rwx).is_ok());
        REQUIRE(m->map_range(Gfn{7 * pages_1g}, Mfn{0x40000}, pages_2m, P2mType::ram_rw, rwx).is_ok());
        std::vector<std::tuple<unsigned, unsigned, uint64_t>> seen;  // visit, level, first gfn
        uint64_t last_leaf = 0;
        bool ordered = true;
        const Status st = m->walk(0, s.geo.gfn_count(), s2::visit_leaf | s2::visit_table_pre | s2::visit_table_post,
                                  [&](const s2::WalkCtx& c, s2::Visit v) {
                                      if (v == s2::visit_leaf && *c.slot != 0) {
                                          ordered = ordered && c.first >= last_leaf;
                                          last_leaf = c.first;
                                      }
                                      if (v != s2::visit_leaf) seen.emplace_back(v, c.level, c.first);
                                      return 0;
                                  });
        CHECK(st.is_ok());
        CHECK(ordered);
        // Tables: below root entry 0 the two level-0 tables of the
        // straddling pair and the one level-1 table above them (x86: and
        // the PDPT), below root entry 7 (x86: PDPT entry 7) the level-1
        // table holding the 2 MiB leaf.
        const size_t tables = s.geo.levels == 4 ? 5 : 4;
        REQUIRE(seen.size() == 2 * tables);
        // Depth first: each post closes the last pre still open.
        std::vector<std::pair<unsigned, uint64_t>> open;
        for (const auto& [v, level, first] : seen) {
            if (v == s2::visit_table_pre) {
                open.emplace_back(level, first);
                continue;
            }
            REQUIRE_FALSE(open.empty());
            CHECK(open.back() == std::pair<unsigned, uint64_t>{level, first});
            open.pop_back();
        }
        CHECK(open.empty());
        CHECK(std::get<1>(seen.front()) == s.geo.root_level());
        // A negative return stops the walk and comes back as the status.
        unsigned calls = 0;
        CHECK(m->walk(0, s.geo.gfn_count(), s2::visit_leaf,
                      [&](const s2::WalkCtx&, s2::Visit) { return ++calls == 3 ? -E2BIG : 0; })
                  .code() == -E2BIG);
        CHECK(calls == 3);
    }
}

TEST_CASE("free_returns_every_frame") {
    for (const Shape& s : shapes) {
        CAPTURE(s.name);
        auto mem = MachineMemory::create(4 << 20, 256);
        REQUIRE(mem.is_ok());
        {
            auto t = TestTable::create(**mem, s.geo);
            REQUIRE(t.is_ok());
            TestTable& tb = **t;
            REQUIRE(tb.map_range(Gfn{3}, Mfn{0x5003}, 3 * pages_2m, P2mType::ram_rw, rwx).is_ok());
            REQUIRE(tb.map_range(Gfn{pages_1g}, Mfn{pages_1g}, pages_1g, P2mType::ram_rw, rwx).is_ok());
            REQUIRE(tb.map_range(Gfn{s.geo.gfn_count() - 1}, Mfn{0x9}, 1, P2mType::mmio_dm, {}).is_ok());
            REQUIRE((*mem)->reserve_tables(tb.tables_needed_4k(Gfn{pages_1g + 1}, 1)).is_ok());
            tb.set_4k(Gfn{pages_1g + 1}, Mfn{1}, P2mType::ram_ro, {.r = true});
            tb.mark_recalc_all();
            CHECK((*mem)->tables_in_use() > s.geo.root_frames() + 4);
        }
        CHECK((*mem)->tables_in_use() == 0);
    }
}

TEST_CASE("a_split_places_the_frames_where_the_format_keeps_them") {
    // Frames in bits 53:10 (RISC-V's PPN): splitting a 1 GiB leaf twice and
    // a 2 MiB leaf once keeps every neighbour's frame and the mark.
    auto mem = MachineMemory::create(4 << 20, 32);
    REQUIRE(mem.is_ok());
    auto made = BasicTestTable<PpnFormat>::create(**mem, sv39x4.geo);
    REQUIRE(made.is_ok());
    BasicTestTable<PpnFormat>& t = **made;
    REQUIRE(t.map_range(Gfn{pages_1g}, Mfn{pages_1g}, pages_1g, P2mType::ram_rw, rwx).is_ok());
    REQUIRE(t.map_range(Gfn{pages_2m}, Mfn{0x40000 + pages_2m}, pages_2m, P2mType::ram_ro, {.r = true}).is_ok());
    t.mark_recalc_all();
    REQUIRE((*mem)->reserve_tables(t.tables_needed_4k(Gfn{pages_1g + pages_2m + 7}, 1)).is_ok());
    t.set_4k(Gfn{pages_1g + pages_2m + 7}, Mfn{0x77}, P2mType::mmio_direct, rwx);
    REQUIRE(t.map_range(Gfn{pages_2m + 3}, Mfn{0x33}, 1, P2mType::ram_rw, rwx).is_ok());
    CHECK((*mem)->reserved() == 0);
    for (uint64_t g : {pages_1g, pages_1g + pages_2m + 6, pages_1g + pages_2m + 8, 2 * pages_1g - 1}) {
        CAPTURE(g);
        const Stage2Leaf l = t.lookup(Gfn{g});
        CHECK(l.mfn == Mfn{g});
        CHECK(l.type == P2mType::ram_rw);
        CHECK(l.recalc_pending);  // the mark went down with the split
    }
    CHECK(t.lookup(Gfn{pages_1g + pages_2m + 7}).mfn == Mfn{0x77});
    CHECK(t.lookup(Gfn{pages_2m + 2}).mfn == Mfn{0x40000 + pages_2m + 2});
    CHECK(t.lookup(Gfn{pages_2m + 3}).mfn == Mfn{0x33});
    CHECK(t.lookup(Gfn{pages_2m + 4}).mfn == Mfn{0x40000 + pages_2m + 4});
    CHECK(t.lookup(Gfn{pages_2m + 4}).order == 0);
}

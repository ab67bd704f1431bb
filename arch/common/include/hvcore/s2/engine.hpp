// SPDX-License-Identifier: MIT
// The stage-2 table engine every backend shares: one radix table of 8-byte
// entries in table frames of MachineMemory, written and read through an
// entry format class, with one depth-first walker and the visitors that
// make the Stage2 contract (hvcore/core/stage2.hpp) out of it. A backend
// (EPT, NPT, Arm64, RISC-V G-stage) is the engine instantiated for its
// format plus what the engine cannot know: its hardware walk order and
// fault record (translate), its fault decoder (decode_fault), its
// configuration register (EPTP, nCR3, VTTBR/VTCR, hgatp) and its own
// numbering of levels in Stage2Walk.
//
// DESIGN
//
// Levels are counted from the leaf on every architecture: level 0 holds
// 4 KiB leaves, a level-L entry covers 2^(9L) pages. Intel and AMD count
// that way already (PT = 0 ... PML4 = 3); the Arm ARM counts from the top
// (lookup level 3 is the page level) and RISC-V numbers the levels of a
// walk from LEVELS-1 down to 0. A backend converts only where a hardware
// record or Stage2Walk::Level::level needs the architecture's number
// (arch_level()).
//
// The shape of a table is a runtime Geometry, not a template parameter:
// the number of levels, the entries of the root (512, or a concatenated
// root of 2..16 frames: Arm64's VTCR-driven initial lookup, RISC-V's
// 2-bit-wider x4 root of 2048 entries), the input (GPA/IPA) and output (PA)
// widths, and which levels may hold leaves. One compiled engine per format
// serves every configuration of it (Arm64's VTCR values).
//
// One walker, in the shape of Linux's kvm_pgtable_walk
// (arch/arm64/kvm/hyp/pgtable.c: a walker with LEAF, TABLE_PRE and
// TABLE_POST flags calling one visitor): walk() visits the entries over a
// gfn range depth first. A visitor sees the level, the index, the entry's
// slot and the gfn range; it may rewrite the slot, and the walker re-reads
// it before deciding whether to descend, so a visitor that installs a table
// in a leaf visit is then walked into it, and one that replaces a table by
// a leaf in a pre-order visit is not. The table operations are visitors:
// map_range (with its undo log: all or nothing), tables_needed_4k (the
// count set_4k will take), set_4k, resolve (Xen's lazy recalculation: push
// the mark one level down per table on the walk, recalculate the marked
// leaves of the last table through the core's RecalcPolicy),
// for_each_leaf, and freeing. Single-gfn reads (lookup, raw_entry,
// walk_entries, marked_on_walk) are a plain loop over the same geometry.
//
// NOVA's Ptab is the other model: one page-table template, explicitly
// instantiated once per format in inc/<arch>/ptab_tmp.hpp (Ptab<Dpt, ...>,
// Ptab<Hpt, ...>, Ptab<Ept, ...> or Ptab<Npt, ...>); the walking code is
// written once and the formats are classes of pure functions. As there, the member
// definitions are in engine_impl.hpp, which only a backend's source
// includes, to instantiate the engine for its format once
// (`template class hvcore::s2::Table<Format>;`); everyone else sees these
// declarations and the backend's `extern template`.
//
// What a format must make true for the engine to hold (each format says
// beside its masks why it does): the p2m type is in every leaf, so the
// table is the p2m; "leaf or table" can be told without the present bit
// (a not-present leaf still reads as a leaf at its level); hvcore writes
// no not-present table pointer other than a marked one; a written entry is
// never 0, so 0 means absent; and mark() makes the next hardware access
// through a present entry fault while keeping what unmark() restores.
//
// Not thread-safe: the owning domain's p2m lock serialises every call, as
// it does for MachineMemory.
#pragma once

#include <array>
#include <concepts>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "hvcore/core/machine_memory.hpp"
#include "hvcore/core/p2m_type.hpp"
#include "hvcore/core/stage2.hpp"
#include "hvcore/core/status.hpp"
#include "hvcore/core/types.hpp"

namespace hvcore::s2 {

inline constexpr unsigned bits_per_level = 9;                 // 512 8-byte entries per 4 KiB table
inline constexpr unsigned entries_per_table = 1U << bits_per_level;
inline constexpr unsigned max_levels = Stage2Walk::max_levels;  // 5: x86 5-level, Sv57x4
inline constexpr unsigned max_root_frames = 16;              // Arm64's most concatenated start-level tables

// Of a level counted from the leaf: the order of the pages an entry covers,
// and how many 4 KiB pages that is.
[[nodiscard]] constexpr unsigned level_order(unsigned level) noexcept { return level * bits_per_level; }
[[nodiscard]] constexpr uint64_t level_pages(unsigned level) noexcept { return uint64_t{1} << level_order(level); }

// The shape of one table.
struct Geometry {
    unsigned levels = 0;        // levels walked, 1..max_levels; the root is level `levels - 1`
    unsigned root_entries = 0;  // 512 * 2^k, k = 0..4: root_frames() concatenated 4 KiB frames
    unsigned ia_bits = 0;       // input (guest-physical / IPA) address bits
    unsigned oa_bits = 0;       // output (physical) address bits: frames at or above 2^(oa_bits-12) cannot be encoded
    uint32_t leaf_levels = 0;   // bit L set: a level-L entry may be a leaf (bit 0 always)
    constexpr bool operator==(const Geometry&) const noexcept = default;

    [[nodiscard]] constexpr unsigned root_level() const noexcept { return levels - 1; }
    [[nodiscard]] constexpr unsigned root_frames() const noexcept { return root_entries / entries_per_table; }
    [[nodiscard]] constexpr uint64_t gfn_count() const noexcept { return uint64_t{1} << (ia_bits - page_shift); }
    [[nodiscard]] constexpr uint64_t mfn_limit() const noexcept { return uint64_t{1} << (oa_bits - page_shift); }
    [[nodiscard]] constexpr bool may_leaf(unsigned level) const noexcept { return ((leaf_levels >> level) & 1U) != 0; }
    // Entries of the level-`level` table: the root may be concatenated.
    [[nodiscard]] constexpr uint64_t entries_at(unsigned level) const noexcept {
        return level == root_level() ? root_entries : entries_per_table;
    }
    // Index of gfn's entry in its level-`level` table (at the root, over
    // all concatenated frames).
    [[nodiscard]] constexpr unsigned index(uint64_t gfn, unsigned level) const noexcept {
        return static_cast<unsigned>((gfn >> level_order(level)) & (entries_at(level) - 1));
    }

    // Whether the fields describe a table the engine can hold: the root
    // resolves at least one and at most log2(root_entries) input bits, the
    // root is 1..16 whole frames, leaves are allowed at level 0 and only at
    // levels that exist, and the output reaches at least one 4 KiB frame
    // and at most 56 bits (RISC-V's 44-bit PPN; x86 and Arm64 stop at 52).
    [[nodiscard]] constexpr bool valid() const noexcept {
        if (levels < 1 || levels > max_levels) return false;
        if (root_entries < entries_per_table || root_entries > entries_per_table * max_root_frames ||
            (root_entries & (root_entries - 1)) != 0)
            return false;
        const unsigned below_root = page_shift + level_order(root_level());
        unsigned root_bits = 0;
        while ((1U << root_bits) < root_entries) ++root_bits;
        if (ia_bits <= below_root || ia_bits > below_root + root_bits) return false;
        if (oa_bits <= page_shift || oa_bits > 56) return false;
        return may_leaf(0) && (leaf_levels >> levels) == 0;
    }
};

// A 4-level table of one 512-entry root, leaves at levels 0-2: the x86
// geometry EPT and NPT share (48-bit input; SDM Vol. 3C §29.3.2, APM Vol. 2
// §5.3.3), with the output width of the model CPU.
[[nodiscard]] constexpr Geometry x86_4level(unsigned oa_bits) noexcept {
    return {.levels = 4, .root_entries = 512, .ia_bits = 48, .oa_bits = oa_bits, .leaf_levels = 0b0111};
}
static_assert(x86_4level(46).valid() && x86_4level(46).gfn_count() == uint64_t{1} << 36);

// Table frames a table of geometry g needs to map gfns [0, ram_frames)
// with 4 KiB leaves: the root's frames, then at each level k below the
// root one level-(k-1) table per level-k entry the range touches,
// ceil(ram_frames / 512^k). Exact, not a bound: Domain::create sizes the
// table pool with it (through Backend::table_frames), and a domain maps
// nothing outside its RAM.
[[nodiscard]] constexpr uint64_t table_budget(const Geometry& g, uint64_t ram_frames) noexcept {
    uint64_t n = g.root_frames();
    for (unsigned k = 1; k < g.levels; ++k) n += (ram_frames + level_pages(k) - 1) >> level_order(k);
    return n;
}

// Tables set_4k allocates below a fresh (not yet existing) level-`level`
// table to reach every gfn of [first, end): one level-(k-1) table per
// distinct level-k entry touched, for k = level .. 1.
[[nodiscard]] constexpr uint64_t tables_below_fresh(unsigned level, uint64_t first, uint64_t end) noexcept {
    uint64_t n = 0;
    for (unsigned k = level; k >= 1; --k) n += ((end - 1) >> level_order(k)) - (first >> level_order(k)) + 1;
    return n;
}
// The same for the listed gfns only (sorted): one table per distinct
// level-k entry they reach.
[[nodiscard]] constexpr uint64_t tables_below_fresh_list(unsigned level, std::span<const uint64_t> gfns) noexcept {
    uint64_t n = 0;
    for (unsigned k = level; k >= 1; --k) {
        uint64_t last = ~uint64_t{0};  // no gfn reaches 2^64 >> 9
        for (const uint64_t g : gfns)
            if ((g >> level_order(k)) != last) {
                last = g >> level_order(k);
                ++n;
            }
    }
    return n;
}
static_assert(tables_below_fresh(0, 0, 1) == 0);
static_assert(tables_below_fresh(1, 511, 513) == 2);  // two level-0 tables under one level-1 table
static_assert(tables_below_fresh(2, 0, 1) == 2);      // one level-1 and one level-0 table

// What the engine needs of an entry format: pure functions between a raw
// entry and its meaning, levels counted from the leaf.
//
// encodable: whether a leaf of this type with these rights can be encoded
// at all (EPT: no write without read; NPT: no rights without read), as
// encodable(p) or, for a format whose entry holds the type in bits the
// rights also use (RISC-V: RSW plus X), encodable(t, p).
template <class F>
concept TypedEncodable = requires(P2mType t, Perm p) {
    { F::encodable(t, p) } -> std::same_as<bool>;
};
template <class F>
concept EntryFormat = (TypedEncodable<F> || requires(Perm p) {
                          { F::encodable(p) } -> std::same_as<bool>;
                      }) && requires(uint64_t e, unsigned level, Mfn m, P2mType t, Perm p, MemClass mc) {
    { F::encode_leaf(m, t, p, mc, level) } -> std::same_as<uint64_t>;
    { F::encode_table(m) } -> std::same_as<uint64_t>;
    // The non-frame bits each child of a split leaf carries, given the
    // parent and the children's level (the frame goes in with with_frame,
    // below).
    { F::split_attrs(e, level) } -> std::same_as<uint64_t>;
    // The lazy-recalculation mark on a present entry (leaf or table), and
    // its removal from a marked table entry.
    { F::mark(e) } -> std::same_as<uint64_t>;
    { F::unmark(e) } -> std::same_as<uint64_t>;
    { F::present(e) } -> std::same_as<bool>;
    { F::marked(e) } -> std::same_as<bool>;
    // Of a written (non-zero) entry at `level`; is_table is false for 0.
    { F::is_leaf(e, level) } -> std::same_as<bool>;
    { F::is_table(e, level) } -> std::same_as<bool>;
    // The frame a table entry holds, and the first frame of a leaf.
    { F::frame(e) } -> std::same_as<Mfn>;
    { F::leaf_frame(e, level) } -> std::same_as<Mfn>;
    { F::type_of(e) } -> std::same_as<P2mType>;
};

// A format whose leaf frame is not at bit 12 (RISC-V: PPN in bits 53:10)
// says where it goes: with_frame(attrs, m) is attrs (a split_attrs result)
// with leaf frame m. Without it the frame is m << 12.
template <class F>
concept FrameField = requires(uint64_t attrs, Mfn m) {
    { F::with_frame(attrs, m) } -> std::same_as<uint64_t>;
};
template <EntryFormat F>
[[nodiscard]] constexpr uint64_t with_frame(uint64_t attrs, Mfn m) noexcept {
    if constexpr (FrameField<F>)
        return F::with_frame(attrs, m);
    else
        return attrs | (m.raw() << page_shift);
}

// Where an ioreq_server leaf keeps its owner (Stage2Leaf::owner, 0..7). A
// format with room in the entry says so with owner_of(e) (the owner of an
// ioreq_server leaf e) and with_owner(e, o) (the ioreq_server leaf e, as
// encode_leaf wrote it, owned by o); the engine then writes the owner with
// every ioreq_server leaf, and split (split_attrs), merge (split_of compares
// whole entries) and the run checks (a run shares its non-frame bits) keep
// it without knowing it. A format without room (RISC-V G-stage: RSW is
// full) gets the engine's OwnerSide instead.
template <class F>
concept OwnerBits = requires(uint64_t e, uint8_t o) {
    { F::owner_of(e) } -> std::same_as<uint8_t>;
    { F::with_owner(e, o) } -> std::same_as<uint64_t>;
};

// The owners of ioreq_server leaves for a format with no room for them in
// the entry, per 4 KiB leaf table (key: its first gfn / 512). A table whose
// ioreq_server leaves all belong to owner 0 has no record; one whose
// ioreq_server leaves share one owner k != 0 has one 8-byte slot of an
// open-addressing hash table (at most 7/8 full); one with leaves of two or
// more owners has a slot plus a packed array of 512 3-bit owners (192
// bytes). The memory bound: 1% of the table frames (4,096 bytes each) in
// use when an owner's pages are set, with the leaf tables the change adds
// (so one owner's pages over any range fit); every change to ioreq_server is
// checked against it first (fits(), Stage2::owners_fit) and a change that
// would pass it is refused before anything changes (P2m: -ENOSPC). A slot
// costs at most 8 x 16/7 = 18.3 bytes per leaf table holding one (0.45% of
// the table), so leaf tables of one owner each (a single-claim domain)
// always fit while no mixed record takes the rest; each mixed table costs
// 192 more. Tables freed later (a merge) leave every mixed record with its
// own live leaf table, so the structure then stays under (192 + 18.3) /
// 4,096 of the tables that hold them.
class OwnerSide {
public:
    static constexpr unsigned leaves = entries_per_table;
    static constexpr unsigned packed_bytes = leaves * 3 / 8;  // 192
    using Owners = std::array<uint8_t, entries_per_table>;

    // The owner recorded for leaf i of table `key` (0 without a record).
    [[nodiscard]] uint8_t get(uint64_t key, unsigned i) const noexcept;
    // Every leaf's recorded owner (0 without a record).
    void load(uint64_t key, Owners& out) const noexcept;
    // The record of table `key` becomes `own` (own[i]: the owner of leaf i
    // when it is an ioreq_server leaf, else `none`): none (owner 0 only),
    // one owner, or mixed.
    static constexpr uint8_t none = 8;
    void store(uint64_t key, const Owners& own);
    void erase(uint64_t key) noexcept;
    [[nodiscard]] bool has(uint64_t key) const noexcept { return find(key) != npos; }
    // One owner k for every ioreq_server leaf of the table (0: no record),
    // or `mixed`.
    static constexpr uint8_t mixed = 0xff;
    [[nodiscard]] uint8_t single(uint64_t key) const noexcept;
    // Whether `more_records` new records, `more_mixed` new mixed ones, fit
    // in 1% of `table_frames` 4 KiB frames. It also sets how far the next
    // growth of the arrays may go.
    [[nodiscard]] bool fits(uint64_t more_records, uint64_t more_mixed, uint64_t table_frames) noexcept;
    [[nodiscard]] uint64_t bytes() const noexcept {
        return slots_.capacity() * sizeof(uint64_t) + pool_.capacity() * packed_bytes;
    }
    [[nodiscard]] uint64_t records() const noexcept { return used_; }
    [[nodiscard]] uint64_t mixed_records() const noexcept { return mixed_used_; }

private:
    static constexpr size_t npos = ~size_t{0};
    using Packed = std::array<uint8_t, packed_bytes>;
    // A slot: bits 39:0 key + 1 (0: empty), 47:40 owner or `mixed`, 63:48
    // the index of the packed array of a mixed record.
    static constexpr uint64_t key_mask = (uint64_t{1} << 40) - 1;
    [[nodiscard]] size_t home(uint64_t key) const noexcept;
    [[nodiscard]] size_t find(uint64_t key) const noexcept;
    void put(uint64_t key, uint8_t owner, uint16_t index);
    void erase_at(size_t i) noexcept;
    [[nodiscard]] uint16_t take_packed();
    void free_packed(uint16_t index) noexcept;

    static constexpr uint16_t no_packed = 0xffff;
    static constexpr size_t min_slots = 4;  // a small table's 1% (245 bytes for 6 frames) holds 4 slots and one array
    std::vector<uint64_t> slots_;   // empty, or a power of two
    std::vector<Packed> pool_;      // the packed arrays of mixed records; a free one holds the next free index
    uint16_t free_head_ = no_packed;
    size_t grow_to_ = 1;            // the pool's next capacity (fits())
    uint64_t used_ = 0;
    uint64_t mixed_used_ = 0;
};

template <EntryFormat F>
[[nodiscard]] constexpr bool encodable(P2mType t, Perm p) noexcept {
    if constexpr (TypedEncodable<F>)
        return F::encodable(t, p);
    else
        return F::encodable(p);
}

// --- the walker --------------------------------------------------------------

// Which visits a walk makes (Linux: KVM_PGTABLE_WALK_LEAF, _TABLE_PRE,
// _TABLE_POST). A leaf visit is made for every entry that is not a table
// (absent ones included); a table entry gets a pre-order visit before its
// table is walked and a post-order visit after.
enum Visit : unsigned {
    visit_leaf = 1U << 0,
    visit_table_pre = 1U << 1,
    visit_table_post = 1U << 2,
};

// What a visitor returns: 0 to go on, walk_skip to not descend below this
// entry, a negative errno to stop the walk (walk() returns it).
inline constexpr int walk_skip = 1;

// One visited entry.
struct WalkCtx {
    unsigned level;   // counted from the leaf
    unsigned index;   // in its table (at the root, over all concatenated frames)
    uint64_t* slot;   // the entry
    Mfn table;        // the frame holding the slot
    uint64_t first;   // first gfn the entry covers
    uint64_t start;   // the part of the walked range inside the entry: [start, end)
    uint64_t end;
    [[nodiscard]] uint64_t pages() const noexcept { return level_pages(level); }
    [[nodiscard]] bool whole() const noexcept { return start == first && end - first == pages(); }
};

template <EntryFormat F>
class Table;

// What create() gives a backend's constructor (to pass to Table's): only
// create() makes one, so every table's root comes from alloc_contiguous.
class Placement {
public:
    MachineMemory& mem;
    Geometry geometry;
    Mfn root;

private:
    Placement(MachineMemory& m, const Geometry& g, Mfn r) noexcept : mem(m), geometry(g), root(r) {}
    template <class Backend, class... Args>
    friend Result<std::unique_ptr<Backend>> create(MachineMemory& mem, const Geometry& g, Args&&... args);
};

// `n` consecutive table frames whose first frame is aligned to n frames
// (n a power of two, 1..16), as a concatenated root must be (Arm ARM D8.2
// and VTTBR_EL2.BADDR, "aligned to the size of the concatenated tables";
// RISC-V hgatp: the x4 root is 16 KiB, 16 KiB aligned). MachineMemory hands
// out single frames, so frames are taken one at a time until an aligned run
// of the needed length is complete, and every other frame is returned. A
// fresh pool hands out consecutive frames from an aligned base, so this
// costs nothing there; in a fragmented pool it may hold up to (free frames
// + 2n - 1) frames for a moment and can fail with -ENOMEM while fewer would
// do (documented limitation).
[[nodiscard]] Result<Mfn> alloc_contiguous(MachineMemory& mem, unsigned n);

// The factory of every backend: checks the geometry (-EINVAL when invalid,
// or when a frame of mem, RAM or table pool, lies beyond its output width,
// which no entry could then reach), allocates the root (-ENOMEM), and
// constructs Backend(placement, args...). mem must outlive the table; its
// destructor returns every table frame to it.
template <class Backend, class... Args>
Result<std::unique_ptr<Backend>> create(MachineMemory& mem, const Geometry& g, Args&&... args) {
    if (!g.valid()) return Status::err(-EINVAL);
    const uint64_t limit = g.mfn_limit();
    if (mem.table_base().raw() + mem.table_frame_limit() > limit ||
        MachineMemory::ram_base_mfn.raw() + mem.ram_frames() > limit)
        return Status::err(-EINVAL);
    auto root = alloc_contiguous(mem, g.root_frames());
    if (!root) return root.status();
    return std::unique_ptr<Backend>{new Backend(Placement{mem, g, *root}, std::forward<Args>(args)...)};
}

// A backend's make_stage2 (Backend::create(mem), as the Stage2 interface).
template <class Backend>
Result<std::unique_ptr<Stage2>> make_stage2(MachineMemory& mem) {
    auto t = Backend::create(mem);
    if (!t) return t.status();
    return std::unique_ptr<Stage2>{std::move(t).value()};
}

// --- the engine ----------------------------------------------------------------

template <EntryFormat F>
class Table : public Stage2 {
public:
    // Returns every table frame to the MachineMemory of the placement.
    ~Table() override;
    Table(const Table&) = delete;
    Table& operator=(const Table&) = delete;

    [[nodiscard]] uint64_t gfn_limit() const noexcept final { return geo_.gfn_count(); }

    Status map_range(Gfn gfn, Mfn mfn, uint64_t nr, P2mType t, Perm p) final;
    [[nodiscard]] Stage2Leaf lookup(Gfn gfn) const final;
    [[nodiscard]] uint64_t tables_needed_4k(Gfn first, uint64_t nr) const final;
    void set_4k(Gfn gfn, Mfn mfn, P2mType t, Perm p) final;
    [[nodiscard]] std::optional<Gfn> first_refused(Gfn first, uint64_t nr, const TypeChange& c) const final;
    void retype_range(Gfn first, uint64_t nr, const TypeChange& c, RecalcPolicy& policy, TypeCounter& counter) final;
    [[nodiscard]] std::optional<Gfn> first_refused_list(std::span<const uint64_t> gfns,
                                                        const TypeChange& c) const final;
    [[nodiscard]] uint64_t tables_needed_4k_list(std::span<const uint64_t> gfns) const final;
    void retype_list(std::span<const uint64_t> gfns, const TypeChange& c, RecalcPolicy& policy,
                     TypeCounter& counter) final;
    uint64_t reset_leaves(Gfn base, unsigned lo, unsigned hi, P2mType from, const TypeChange& c,
                          bool clear_parent_mark, TypeCounter& counter) final;
    uint64_t reset_tables(std::span<const ResetTable> tables, P2mType from, const TypeChange& c,
                          bool clear_parent_mark, bool merge, TypeCounter& counter) final;
    unsigned merge(Gfn base, P2mType t, Perm p) final;
    void mark_recalc_all() final;
    bool resolve(Gfn gfn, RecalcPolicy& policy) final;
    [[nodiscard]] uint64_t raw_entry(Gfn gfn) const final;
    [[nodiscard]] Stage2Walk walk_entries(Gfn gfn) const final;
    void for_each_leaf(const std::function<void(Gfn first, const Stage2Leaf&)>& fn) const final;
    [[nodiscard]] uint64_t side_bytes() const noexcept final;
    [[nodiscard]] bool owners_fit(Gfn first, uint64_t nr, const TypeChange& c) const final;
    [[nodiscard]] bool owners_fit_list(std::span<const uint64_t> gfns, const TypeChange& c) const final;

    [[nodiscard]] const Geometry& geometry() const noexcept { return geo_; }
    // The owners of ioreq_server leaves kept beside the table (a format
    // without OwnerBits; empty otherwise).
    [[nodiscard]] const OwnerSide& owner_side() const noexcept { return side_; }
    // The root (its first frame; the others follow it).
    [[nodiscard]] Mfn root() const noexcept { return root_; }

    // Visit the entries over [first, end) (gfns, end <= gfn_limit()) depth
    // first, in gfn order; `flags` are Visit bits. The visitor is called as
    // int(const WalkCtx&, Visit) and returns 0, walk_skip or a negative
    // errno (which stops the walk and is returned).
    template <class Visitor>
    Status walk(uint64_t first, uint64_t end, unsigned flags, Visitor&& visitor);

protected:
    explicit Table(const Placement& p) noexcept : mem_(p.mem), geo_(p.geometry), root_(p.root) {}

    // The register value that points the hardware at this table (EPTP,
    // nCR3, VTCR_EL2, hgatp), for walk_entries().
    [[nodiscard]] virtual uint64_t root_register() const noexcept = 0;
    // The architecture's number for a level counted from the leaf
    // (Stage2Walk::Level::level, hv_p2m_walk_level).
    [[nodiscard]] virtual int arch_level(unsigned level) const noexcept = 0;

    // Entry `index` of the level-`level` table starting at frame t (index
    // may exceed 511 only at the root: the next concatenated frame).
    [[nodiscard]] uint64_t& slot(Mfn t, unsigned level, unsigned index) const noexcept;
    // gfn's entry in the level-`level` table t, for the backend's walker.
    [[nodiscard]] uint64_t entry(Mfn t, unsigned level, uint64_t gfn) const noexcept {
        return slot(t, level, geo_.index(gfn, level));
    }
    // Whether a lazy-recalculation mark lies on the walk to gfn (false
    // beyond the table's reach): what tells a recalculation fault from
    // another one with the same hardware record.
    [[nodiscard]] bool marked_on_walk(uint64_t gfn) const;

    MachineMemory& memory() const noexcept { return mem_; }

private:
    // The entries a software walk to one gfn reads, root first. It follows
    // table entries that are present or marked, and stops at a leaf, at an
    // absent entry or at a not-present unmarked table entry.
    struct Path {
        struct Step {
            uint64_t entry;
            Mfn table;
            unsigned index;
            unsigned level;
        };
        std::array<Step, max_levels> step{};
        unsigned count = 0;
        [[nodiscard]] const Step& last() const noexcept { return step[count - 1]; }
        [[nodiscard]] bool any_marked() const noexcept;
    };
    [[nodiscard]] Path path(uint64_t gfn) const;

    template <class Visitor>
    int walk_table(Mfn t, unsigned level, uint64_t gfn, uint64_t end, unsigned flags, Visitor& v) const;
    void free_subtree(Mfn t, unsigned level) noexcept;
    void fill_split(Mfn child, uint64_t parent, unsigned parent_level) const noexcept;
    void push_marks(Mfn child) const noexcept;
    // The bits of a 4 KiB leaf that hold its frame (with_frame of the
    // largest frame).
    [[nodiscard]] uint64_t frame_bits() const noexcept;
    // The 512 entries of the level-0 table t.
    [[nodiscard]] uint64_t* leaves(Mfn t) const noexcept;
    // The leaves [lo, hi] of the leaf table `leaf` (its first leaf maps
    // gfn `base`) that have type `from` become c.to, counted: the reset of
    // reset_leaves and reset_tables. Returns how many changed.
    uint64_t reset_in(uint64_t* leaf, Gfn base, unsigned lo, unsigned hi, P2mType from, const TypeChange& c,
                      TypeCounter& counter) const;
    // The leaves [start, end) of the level-0 table `t` (its first leaf maps
    // gfn `base`): the commit of retype_range there, and its check
    // (the first refused gfn, or end).
    // Both loops are written once over `gfns`, a range of gfns in
    // increasing order inside the table: every gfn of [start, end) (an
    // iota view) or the listed ones (a span of the list).
    void retype_leaves(uint64_t* t, uint64_t base, uint64_t start, uint64_t end, const TypeChange& c,
                       RecalcPolicy& policy, TypeCounter& counter, bool split = false) const;
    template <class Gfns>
    void retype_each(uint64_t* t, uint64_t base, const Gfns& gfns, const TypeChange& c, RecalcPolicy& policy,
                     TypeCounter& counter, bool split = false) const;
    [[nodiscard]] uint64_t refused_in(const uint64_t* t, uint64_t base, uint64_t start, uint64_t end,
                                      const TypeChange& c, bool marked_above) const noexcept;
    // The first refused gfn of `gfns`, or no_gfn.
    static constexpr uint64_t no_gfn = ~uint64_t{0};
    template <class Gfns>
    [[nodiscard]] uint64_t refused_each(const uint64_t* t, uint64_t base, const Gfns& gfns, const TypeChange& c,
                                        bool marked_above) const noexcept;
    // Whether the 512 entries of the level-`level` table t are the children
    // of the leaf `parent` (split_attrs, consecutive frames).
    [[nodiscard]] bool split_of(const uint64_t* t, uint64_t parent, unsigned level) const noexcept;
    // The leaf a level-`level` table entry pointing to `child` becomes when
    // the child's entries are the split of one (split_of checked only when
    // !known_split; in debug builds always), or 0.
    [[nodiscard]] uint64_t merged_leaf(const uint64_t* child, unsigned level, P2mType t, Perm p,
                                       bool known_split) const noexcept;
    // One level of a merge: the table the level-`level` entry *e points to
    // into one leaf, freed; false when it is not the split of one.
    // gfn: one the entry covers.
    bool merge_one(uint64_t* e, unsigned level, uint64_t gfn, P2mType t, Perm p, bool known_split) noexcept;

    // The leaf encode_leaf writes, owned by `owner` when t is ioreq_server
    // (in the entry with OwnerBits; else the caller records it in side_).
    [[nodiscard]] static uint64_t encode(Mfn m, P2mType t, Perm p, unsigned level, uint8_t owner) noexcept;
    // The owner of the leaf e at gfn (0 unless it is an ioreq_server leaf).
    [[nodiscard]] uint8_t owner_at(uint64_t e, uint64_t gfn, unsigned level = 0) const noexcept;
    // Whether the leaf e owned by `owner` may change, by the masks of c and
    // `ok` (c.allowed or c.allowed_marked).
    [[nodiscard]] static bool leaf_allowed(uint64_t e, uint8_t owner, unsigned ok, const TypeChange& c) noexcept;
    // OwnerSide only: the record of the leaf table t (key) from `own` (the
    // leaves that are not ioreq_server leaves left out).
    void store_owners(const uint64_t* t, uint64_t key, OwnerSide::Owners& own) const;
    // OwnerSide only: the records a change to ioreq_server owned by
    // c.owner of the leaves `changed` (a bit per leaf) of the leaf table t
    // would add: new records and new mixed ones.
    void owners_needed(const uint64_t* t, uint64_t key, const std::array<uint64_t, 8>& changed, const TypeChange& c,
                       uint64_t& records, uint64_t& mixed) const;
    [[nodiscard]] uint64_t side_frames() const noexcept { return mem_.tables_in_use(); }

    MachineMemory& mem_;
    Geometry geo_;
    Mfn root_;
    mutable OwnerSide side_;
};

}  // namespace hvcore::s2

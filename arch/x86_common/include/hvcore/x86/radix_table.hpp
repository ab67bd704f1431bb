// SPDX-License-Identifier: MIT
// The table half of an x86 stage-2 backend: a 4-level radix table (PML4,
// PDPT, PD, PT) held in table frames of MachineMemory, written and read
// through an entry format class. Intel EPT (hvcore/vmx/ept_stage2.hpp) and
// AMD NPT (hvcore/svm/npt_stage2.hpp) are RadixTable4<EptEntry> and
// RadixTable4<NptEntry> plus their own walker (translate) and fault decoder
// (decode_fault): those read hardware records the formats do not share.
//
// What is shared, and why it can be: both formats are the same radix
// geometry (radix_levels.hpp); both keep the p2m type in software bits of
// every leaf, so the table is the p2m; both set bit 7 in every superpage
// leaf, present or not, and write no not-present table pointer, so "leaf or
// pointer" is answered without the present bit; and both implement Xen's
// lazy recalculation as a mark on present entries that makes the next access
// through them fault (EPT: a reserved memory type, exit 49; NPT: U/S = 0,
// #NPF with P = 1), pushed one level down per table on the walk.
//
// The member definitions are in radix_table_impl.hpp, which only a
// backend's source includes, to instantiate the table for its format once
// (as NOVA does for its Ptab).
//
// Not thread-safe: the owning domain's p2m lock serialises every call, as
// it does for MachineMemory.
#pragma once

#include <array>
#include <concepts>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "hvcore/core/machine_memory.hpp"
#include "hvcore/core/p2m_type.hpp"
#include "hvcore/core/stage2.hpp"
#include "hvcore/core/types.hpp"
#include "hvcore/x86/radix_levels.hpp"

namespace hvcore::x86 {

// What the table needs of an entry format: pure functions between a raw
// entry and its meaning. Each format documents, beside its masks, why its
// answer is what it is.
template <class E>
concept RadixEntryFormat = requires(uint64_t e, unsigned level, Mfn m, P2mType t, Perm p, MemClass mc) {
    // The physical-address width of the model CPU: frames at or above
    // 2^(maxphyaddr-12) cannot be encoded.
    { E::maxphyaddr } -> std::convertible_to<unsigned>;
    // Whether a leaf with these rights can be encoded at all (EPT: no write
    // without read; NPT: no rights without read).
    { E::encodable(p) } -> std::same_as<bool>;
    { E::encode_leaf(m, t, p, mc, level) } -> std::same_as<uint64_t>;
    { E::encode_table(m) } -> std::same_as<uint64_t>;
    // The non-frame bits each child of a split superpage leaf carries, given
    // the parent and the children's level.
    { E::split_attrs(e, level) } -> std::same_as<uint64_t>;
    { E::with_mark(e) } -> std::same_as<uint64_t>;
    { E::table_without_mark(e) } -> std::same_as<uint64_t>;
    { E::present(e) } -> std::same_as<bool>;
    { E::marked(e) } -> std::same_as<bool>;
    // Of a written (non-zero) entry at `level`.
    { E::is_leaf(e, level) } -> std::same_as<bool>;
    { E::is_table(e, level) } -> std::same_as<bool>;
    // The frame a table pointer holds, and the first frame of a leaf.
    { E::frame(e) } -> std::same_as<Mfn>;
    { E::leaf_frame(e, level) } -> std::same_as<Mfn>;
    { E::type_of(e) } -> std::same_as<P2mType>;
};

template <RadixEntryFormat Entry>
class RadixTable4 : public Stage2 {
public:
    // 48-bit guest-physical addresses: the reach of a 4-level walk.
    static constexpr unsigned gpa_bits = page_shift + nr_levels * bits_per_level;
    static constexpr uint64_t gfn_count = uint64_t{1} << (gpa_bits - page_shift);

    // Returns every table frame to the MachineMemory given at construction.
    ~RadixTable4() override;
    RadixTable4(const RadixTable4&) = delete;
    RadixTable4& operator=(const RadixTable4&) = delete;

    [[nodiscard]] uint64_t gfn_limit() const noexcept final { return gfn_count; }

    Status map_range(Gfn gfn, Mfn mfn, uint64_t nr, P2mType t, Perm p) final;
    [[nodiscard]] Stage2Leaf lookup(Gfn gfn) const final;
    [[nodiscard]] uint64_t tables_needed_4k(Gfn first, uint64_t nr) const final;
    void set_4k(Gfn gfn, Mfn mfn, P2mType t, Perm p) final;
    void mark_recalc_all() final;
    bool resolve(Gfn gfn, RecalcPolicy& policy) final;
    [[nodiscard]] uint64_t raw_entry(Gfn gfn) const final;
    [[nodiscard]] Stage2Walk walk_entries(Gfn gfn) const final;
    void for_each_leaf(const std::function<void(Gfn first, const Stage2Leaf&)>& fn) const final;

    // The PML4 frame.
    [[nodiscard]] Mfn root() const noexcept { return root_; }

protected:
    using Table = std::span<uint64_t, entries_per_table>;

    // root: a zeroed table frame of mem, the PML4. mem must outlive the table.
    RadixTable4(MachineMemory& mem, Mfn root) noexcept : mem_(mem), root_(root) {}

    // The register value that points the processor at this table (EPTP,
    // nCR3): the format's, for walk_entries().
    [[nodiscard]] virtual uint64_t root_register() const noexcept = 0;

    // The table in frame m, for the backend's walker.
    [[nodiscard]] Table table(Mfn m) const noexcept;
    // Whether a lazy-recalculation mark lies on the walk to gfn (false
    // beyond the walk's reach): what tells a recalculation fault from
    // another one with the same hardware record.
    [[nodiscard]] bool marked_on_walk(uint64_t gfn) const;

private:
    // The entries a software walk to one gfn reads, root first. It stops at
    // a leaf, at an absent (zero) entry or at a not-present entry.
    struct Path {
        std::array<uint64_t, nr_levels> entry{};
        unsigned count = 0;  // entries read
        [[nodiscard]] uint64_t last() const noexcept { return entry[count - 1]; }
        [[nodiscard]] unsigned last_level() const noexcept { return level_pml4 + 1 - count; }
        [[nodiscard]] bool any_marked() const noexcept;
    };

    // Undo log of one map_range (all or nothing). Writes into tables this
    // map_range allocated are not logged: freeing the table undoes them.
    struct Txn {
        struct Write {
            Mfn table;
            unsigned index;
            uint64_t old;
        };
        std::vector<Write> writes;
        std::vector<Mfn> fresh;  // tables allocated, freed on failure
        struct Subtree {
            Mfn table;
            unsigned level;
        };
        std::vector<Subtree> replaced;  // subtrees cut off by a new large leaf, freed on success
    };
    struct LeafSpec {
        P2mType type;
        Perm perm;
        MemClass mem;
    };

    // The largest frame number maxphyaddr lets an entry hold, plus one.
    static constexpr uint64_t mfn_limit = uint64_t{1} << (Entry::maxphyaddr - page_shift);

    [[nodiscard]] Path walk(uint64_t gfn) const;
    void free_subtree(Mfn t, unsigned level) noexcept;
    void fill_split(Mfn child, uint64_t parent, unsigned parent_level) const noexcept;
    void push_marks(Mfn child) const noexcept;
    // Tables set_4k over [first, end) allocates below the existing
    // level-`level` table t.
    [[nodiscard]] uint64_t count_tables(Mfn t, unsigned level, uint64_t first, uint64_t end) const;
    void txn_write(Txn& txn, bool fresh_table, Mfn t, unsigned index, uint64_t value) const;
    [[nodiscard]] Status map_in(Txn& txn, Mfn t, bool fresh_table, unsigned level, uint64_t& gfn,
                                uint64_t& mfn, uint64_t end, const LeafSpec& spec);
    void visit_leaves(Mfn t, unsigned level, uint64_t base, bool marked_above,
                      const std::function<void(Gfn, const Stage2Leaf&)>& fn) const;

    MachineMemory& mem_;
    Mfn root_;
};

}  // namespace hvcore::x86

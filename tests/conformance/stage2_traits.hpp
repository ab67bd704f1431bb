// SPDX-License-Identifier: MIT
// What the stage-2 conformance suite (test_stage2.cpp) needs from a
// backend, and the fixture it runs every scenario on. A scenario is
// written once against hvcore::Stage2 and run on each backend this build
// links; whatever is the backend's own business comes from its traits
// type (arch/<b>/tests/stage2_traits_<format>.hpp: ept, npt,
// arm64): how to build the table, the golden entry bits
// per p2m type, the table geometry, and the hardware fault record an
// access should produce.
//
// Levels are spoken of by *order*, as Stage2Leaf::order is: the log2 of
// the 4 KiB pages one entry covers (0 = 4 KiB, 9 = 2 MiB, 18 = 1 GiB,
// 27 = 512 GiB). x86 numbers its levels from the leaf (PT = 0) and Arm
// from the root (level 3 = pages); an order means the same on both.
//
// The arch unit tests (arch/x86_vmx/tests, arch/x86_svm/tests) reuse the
// fixture for their format-specific checks.
#pragma once

#include <doctest/doctest.h>

#include <array>
#include <concepts>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <tuple>
#include <utility>
#include <vector>

#include "hvcore/core/fault.hpp"
#include "hvcore/core/machine_memory.hpp"
#include "hvcore/core/p2m_type.hpp"
#include "hvcore/core/stage2.hpp"

namespace conformance::stage2 {

using namespace hvcore;

inline constexpr uint64_t mib = uint64_t{1} << 20;
// 2 MiB and 1 GiB, in 4 KiB pages.
inline constexpr uint64_t pages_2m = 512;
inline constexpr uint64_t pages_1g = 512 * 512;
// 512 GiB in 4 KiB pages: beyond the reach of one x86 PML4 entry, and the
// first gfn of the second of Arm64's two concatenated level-1 tables.
inline constexpr uint64_t pages_512g = uint64_t{1} << 27;
// Every table level resolves 9 bits: 512 entries of 8 bytes in 4 KiB.
inline constexpr unsigned order_step = 9;
inline constexpr unsigned entries_per_frame = 1U << order_step;

inline constexpr Perm rwx{.r = true, .w = true, .x = true};
inline constexpr AccessType all_access[] = {AccessType::read, AccessType::write, AccessType::fetch};

// The rights a p2m type's entries get (p2m_entry_perm), with or without the
// ioreq_server write claim.
inline Perm perm_of(P2mType t, bool claimed = false) {
    return p2m_entry_perm(t, claimed ? ioreq_claim_write : 0U);
}

inline bool allows(Perm p, AccessType a) {
    switch (a) {
    case AccessType::read: return p.r;
    case AccessType::write: return p.w;
    case AccessType::fetch: return p.x;
    }
    return false;
}

// `mov dword [rax], ebx` (89 /r, ModRM 18): the bytes an x86 executor
// passes as AccessContext::insn for a 4-byte store (SVM decode assists).
inline constexpr std::array<uint8_t, 2> x86_mov_dword_store{0x89, 0x18};

// A golden leaf from a manual: what encode_leaf must give for a type's
// rights, unclaimed and claimed.
struct Golden {
    P2mType t;
    bool claimed;  // the ioreq_server type is claimed for writes (p2m_entry_perm with ioreq_claim_write)
    uint64_t value;
};

// The neutral content of a leaf entry, whatever the format.
struct DecodedLeaf {
    Mfn mfn{};
    P2mType type = P2mType::mmio_dm;
    Perm perm{};
    std::optional<MemClass> mem;  // nullopt for attributes hvcore never writes
    bool present = false;         // the hardware would use the entry (EPT RWX != 0, NPT P, Arm64 valid)
    bool recalc = false;          // the lazy-recalculation mark
};

// An access the walk refuses, as the expected fault record is computed
// from it.
struct FaultSpec {
    AccessType access = AccessType::read;
    FaultCause cause = FaultCause::not_present;
    unsigned order = 0;  // the entry the walk stopped at: the leaf, the absent entry, or the marked one
    Perm rights{};       // the leaf's rights (a permission fault)
    Gpa gpa{};
    AccessContext ctx{};
};

// Everything a backend supplies to the suite. Each requirement is
// explained where a traits type defines it.
template <class B>
concept Stage2Traits = requires(MachineMemory& mem, uint64_t e, unsigned order, Mfn m, P2mType t, Perm p,
                                MemClass mc, const FaultSpec& s, uint64_t gla) {
    typename B::Table;  // the backend's Stage2 class, with root()
    requires std::derived_from<typename B::Table, Stage2>;
    { B::create(mem) } -> std::same_as<Result<std::unique_ptr<typename B::Table>>>;
    { B::arch } -> std::convertible_to<Arch>;
    // Geometry: one past the last gfn and mfn; the frames the root takes
    // and the order of one root entry; the orders leaves can have.
    { B::gfn_limit } -> std::convertible_to<uint64_t>;
    { B::mfn_limit } -> std::convertible_to<uint64_t>;
    { B::root_frames } -> std::convertible_to<unsigned>;
    { B::root_entry_order } -> std::convertible_to<unsigned>;
    { B::leaf_orders } -> std::convertible_to<std::span<const unsigned>>;
    { B::order_of_level(order) } -> std::same_as<unsigned>;
    // The entry format.
    { B::goldens } -> std::convertible_to<std::span<const Golden>>;
    { B::encodable(p) } -> std::same_as<bool>;
    { B::encode_leaf(m, t, p, mc, order) } -> std::same_as<uint64_t>;
    { B::encode_table(m) } -> std::same_as<uint64_t>;
    { B::decode_leaf(e, order) } -> std::same_as<DecodedLeaf>;
    { B::is_leaf(e, order) } -> std::same_as<bool>;
    { B::present(e) } -> std::same_as<bool>;
    { B::frame(e) } -> std::same_as<Mfn>;
    { B::mark(e) } -> std::same_as<uint64_t>;
    { B::carries_mark(e) } -> std::same_as<bool>;
    // The fault record.
    { B::guest_access(gla) } -> std::same_as<AccessContext>;
    { B::expected_record(s) } -> std::same_as<FaultRecord>;
    { B::decoded_gla(s) } -> std::same_as<std::optional<uint64_t>>;
    { B::out_of_range_order } -> std::convertible_to<unsigned>;
    { B::recalc_record_has_access } -> std::convertible_to<bool>;
    // The read of a read-modify-write (AccessContext::rmw): the access it
    // is checked and reported as, and the syndrome of the golden case
    // (such a read of a 4 KiB mmio_dm hole, with the linear address
    // B::guest_access gives and no instruction syndrome).
    { B::rmw_read_faults_as } -> std::convertible_to<AccessType>;
    { B::rmw_hole_syndrome } -> std::convertible_to<uint64_t>;
    // An ioreq_server leaf whose owner claims reads (p2m_entry_perm: no
    // rights): its golden 4 KiB leaf (mfn 0x1234, owner 5), the cause of the
    // fault every access to it takes, and whether the owner is in the entry.
    { B::read_trapped_owner5 } -> std::convertible_to<uint64_t>;
    { B::read_trap_cause } -> std::convertible_to<FaultCause>;
    { B::owner_in_entry } -> std::convertible_to<bool>;
};

// Table frames a walk from the root to an entry of `order` crosses below
// the root: what a fresh walk to such a leaf allocates.
template <class B>
constexpr uint64_t tables_below_root(unsigned order) {
    return (B::root_entry_order - order) / order_step;
}

// The order of the entry at which a walk to an absent gfn stops: the
// absent entry's own, unless that lies above the root, whose entries are
// then the ones missing.
template <class B>
constexpr unsigned stop_order(unsigned order) {
    return order < B::root_entry_order ? order : B::root_entry_order;
}

// A table of backend B over a fresh MachineMemory, with raw access to its
// entries for reading what the backend wrote (and, in the arch unit tests,
// for crafting entries hvcore never writes).
template <class B>
struct Machine {
    using Table = typename B::Table;
    std::unique_ptr<MachineMemory> mem;
    std::unique_ptr<Table> table;

    // RAM size does not matter to the table (frames are numbers, the walker
    // never touches RAM); table_limit bounds the pool for -ENOMEM.
    explicit Machine(uint64_t table_limit = 64) {
        auto m = MachineMemory::create(4 * mib, table_limit);
        REQUIRE(m.is_ok());
        mem = std::move(m).value();
        auto t = B::create(*mem);
        REQUIRE(t.is_ok());
        table = std::move(t).value();
    }
    Table& operator*() { return *table; }
    Table* operator->() { return table.get(); }

    // Entry `index` of the table starting at frame t (a root of several
    // concatenated frames continues into the next one).
    uint64_t& entry(Mfn t, uint64_t index) {
        return reinterpret_cast<uint64_t*>(mem->frame(t + index / entries_per_frame))[index % entries_per_frame];
    }
    uint64_t& root_entry(uint64_t index) { return entry(table->root(), index); }
    static constexpr uint64_t root_entries = uint64_t{B::root_frames} * entries_per_frame;

    // Index of gfn's entry of `order` in its table.
    static uint64_t index(uint64_t gfn, unsigned order) {
        const uint64_t n = order == B::root_entry_order ? root_entries : entries_per_frame;
        return (gfn >> order) & (n - 1);
    }
    // The table holding gfn's entry of `order` (the walk must reach it).
    Mfn table_on_walk(uint64_t gfn, unsigned order) {
        Mfn t = table->root();
        for (unsigned o = B::root_entry_order; o > order; o -= order_step) t = B::frame(entry(t, index(gfn, o)));
        return t;
    }
    uint64_t& entry_at(uint64_t gfn, unsigned order) { return entry(table_on_walk(gfn, order), index(gfn, order)); }
    // The same, by the backend's own level number.
    uint64_t& entry_on_walk(uint64_t gfn, unsigned level) { return entry_at(gfn, B::order_of_level(level)); }
};

// The core's recalculation policy, reduced: p2m_recalc_type plus the claim,
// recording each call.
class RecordingPolicy final : public RecalcPolicy {
public:
    struct Call {
        uint64_t gfn;
        unsigned order;
        P2mType stored;
        uint8_t owner = 0;  // the stored owner of an ioreq_server leaf
        bool operator==(const Call&) const = default;
    };
    std::vector<Call> calls;
    bool ioreq_claimed = false;

    Update recalc(Gfn first, unsigned order, P2mType stored, uint8_t stored_owner) override {
        calls.push_back({first.raw(), order, stored, stored_owner});
        const P2mType now = p2m_recalc_type(true, stored, ioreq_claimed);
        return {now, p2m_entry_perm(now, ioreq_claimed ? ioreq_claim_write : 0U)};
    }
};

// One leaf as for_each_leaf reports it.
struct LeafSeen {
    uint64_t gfn;
    unsigned order;
    uint64_t mfn;
    P2mType type;
    bool operator==(const LeafSeen&) const = default;
};

inline std::vector<LeafSeen> leaves(const Stage2& s2) {
    std::vector<LeafSeen> out;
    s2.for_each_leaf([&](Gfn g, const Stage2Leaf& l) {
        CHECK(l.mapped);
        out.push_back({g.raw(), l.order, l.mfn.raw(), l.type});
    });
    return out;
}

// The backends a build links, as one type list for TEST_CASE_TEMPLATE_APPLY.
template <class... Lists>
using concat_t = decltype(std::tuple_cat(std::declval<Lists>()...));

}  // namespace conformance::stage2

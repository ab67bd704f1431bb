// The AMD NPT stage-2 backend: a 4-level long-mode nested page table (PML4,
// PDP, PD, PT) held in table frames of MachineMemory, the model MMU that
// walks it as the processor walks nested tables for a guest access (APM
// Vol. 2 §15.25.5 "Nested Table Walk"), and the decoder of the #NPF record
// that walk produces (exit code 400h, §15.25.6). The p2m type lives in each
// leaf's bits 58:52 (npt.hpp), so this table is the p2m.
//
// Lazy recalculation follows Xen's p2m-pt.c: mark_recalc_all() clears U/S
// (and A) on the PML4 entries and sets bit 11; the next access through them
// is a #NPF with P = 1 (a present entry denying the user access), and
// resolve() pushes the mark one level down per table on the walk until it
// reaches the leaves, which the core recalculates (Xen's do_recalc).
//
// Accessed/dirty flags: preset in every entry hvcore writes (npt.hpp); the
// model walker writes none.
//
// Not thread-safe: the owning domain's p2m lock serialises every call, as
// it does for MachineMemory.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "hvcore/core/machine_memory.hpp"
#include "hvcore/core/stage2.hpp"
#include "hvcore/svm/npt.hpp"

namespace hvcore::svm {

class Npt final : public Stage2 {
public:
    // 48-bit guest-physical addresses: the reach of a 4-level walk.
    static constexpr unsigned gpa_bits = 48;
    static constexpr uint64_t gfn_count = uint64_t{1} << (gpa_bits - page_shift);

    // Allocates the PML4 (-ENOMEM when the pool is exhausted). mem must
    // outlive the Npt; the destructor returns every table frame to it.
    [[nodiscard]] static Result<std::unique_ptr<Npt>> create(MachineMemory& mem);
    ~Npt() override;
    Npt(const Npt&) = delete;
    Npt& operator=(const Npt&) = delete;

    [[nodiscard]] Arch arch() const noexcept override { return Arch::x86_svm; }
    [[nodiscard]] uint64_t gfn_limit() const noexcept override { return gfn_count; }

    Status map_range(Gfn gfn, Mfn mfn, uint64_t nr, P2mType t, Perm p) override;
    [[nodiscard]] Stage2Leaf lookup(Gfn gfn) const override;
    [[nodiscard]] uint64_t tables_needed_4k(Gfn first, uint64_t nr) const override;
    void set_4k(Gfn gfn, Mfn mfn, P2mType t, Perm p) override;
    void mark_recalc_all() override;
    bool resolve(Gfn gfn, RecalcPolicy& policy) override;
    [[nodiscard]] uint64_t raw_entry(Gfn gfn) const override;
    void for_each_leaf(const std::function<void(Gfn first, const Stage2Leaf&)>& fn) const override;
    [[nodiscard]] Translation translate(Gpa gpa, AccessType access, const AccessContext& ctx) override;
    [[nodiscard]] Fault decode_fault(const FaultRecord& record) const override;

    // The PML4 frame, and the nCR3 a VMCB would hold for this table.
    [[nodiscard]] Mfn root() const noexcept { return root_; }
    [[nodiscard]] uint64_t ncr3() const noexcept { return NestedCr3::encode(root_); }

private:
    using Table = std::span<uint64_t, entries_per_table>;

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

    Npt(MachineMemory& mem, Mfn root) noexcept : mem_(mem), root_(root) {}

    [[nodiscard]] Table table(Mfn m) const noexcept;
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

// The backend's make_stage2.
[[nodiscard]] Result<std::unique_ptr<Stage2>> make_npt_stage2(MachineMemory& mem);

}  // namespace hvcore::svm

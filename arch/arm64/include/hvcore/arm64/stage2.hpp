// SPDX-License-Identifier: MIT
// The Arm64 stage-2 backend: a VMSAv8-64 stage-2 table with the 4 KiB
// granule, shaped by a VTCR_EL2 value (vtcr.hpp), held in table frames of
// MachineMemory; the model MMU that walks it as the processor does (Arm
// ARM D8.2 "Translation table walk", checks in the order of QEMU 7.2
// target/arm/ptw.c get_phys_addr_lpae); and the decoder of the ESR_EL2/HPFAR_EL2/FAR_EL2 record that walk
// produces (esr.hpp). The p2m type lives in each leaf's bits 58:55
// (descriptor.hpp), so this table is the p2m.
//
// Lazy recalculation, the Arm way: mark_recalc_all() makes every valid
// start-level descriptor invalid and sets the software mark (bit 59,
// everything else kept). An access through it takes a stage-2 translation
// fault at the start level; decode_fault() reports recalc when the walk
// shows a mark, and resolve() pushes the mark one level down per table on
// the walk (invalidate + mark every valid child, restore the parent) until
// it reaches the leaves, which the core recalculates.
//
// The start level may be several concatenated tables (2..16, VTCR-driven).
// MachineMemory hands out single frames, so the root is built by
// alloc_contiguous() below: frames are taken one at a time until an aligned
// run of the needed length is complete, and every other frame is returned.
// A fresh pool hands out consecutive frames from an aligned base, so this
// costs nothing there; in a fragmented pool it may hold up to
// (free frames + 2n - 1) frames for a moment and can fail with -ENOMEM
// while fewer would do (documented limitation).
//
// Not thread-safe: the owning domain's p2m lock serialises every call.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "hvcore/arm64/descriptor.hpp"
#include "hvcore/arm64/esr.hpp"
#include "hvcore/arm64/vtcr.hpp"
#include "hvcore/core/machine_memory.hpp"
#include "hvcore/core/stage2.hpp"

namespace hvcore::arm64 {

class Arm64Stage2 final : public Stage2 {
public:
    // make_stage2's configuration: KVM's default 40-bit IPA, start at level
    // 1 with 2 concatenated tables, 48-bit PA.
    [[nodiscard]] static Result<std::unique_ptr<Arm64Stage2>> create(MachineMemory& mem);
    // Any VTCR the model CPU accepts (Vtcr::decode), whose PA size also
    // reaches every frame of mem (the table pool lives at host-physical
    // 64 GiB, so PS must be at least 40 bits); -EINVAL otherwise, -ENOMEM
    // if the root tables cannot be allocated. mem must outlive the table;
    // the destructor returns every table frame to it.
    [[nodiscard]] static Result<std::unique_ptr<Arm64Stage2>> create(MachineMemory& mem, uint64_t vtcr);
    ~Arm64Stage2() override;
    Arm64Stage2(const Arm64Stage2&) = delete;
    Arm64Stage2& operator=(const Arm64Stage2&) = delete;

    [[nodiscard]] Arch arch() const noexcept override { return Arch::arm64; }
    [[nodiscard]] uint64_t gfn_limit() const noexcept override { return cfg_.gfn_count(); }

    Status map_range(Gfn gfn, Mfn mfn, uint64_t nr, P2mType t, Perm p) override;
    [[nodiscard]] Stage2Leaf lookup(Gfn gfn) const override;
    [[nodiscard]] uint64_t tables_needed_4k(Gfn first, uint64_t nr) const override;
    void set_4k(Gfn gfn, Mfn mfn, P2mType t, Perm p) override;
    void mark_recalc_all() override;
    bool resolve(Gfn gfn, RecalcPolicy& policy) override;
    [[nodiscard]] uint64_t raw_entry(Gfn gfn) const override;
    [[nodiscard]] Stage2Walk walk_entries(Gfn gfn) const override;
    void for_each_leaf(const std::function<void(Gfn first, const Stage2Leaf&)>& fn) const override;
    [[nodiscard]] Translation translate(Gpa gpa, AccessType access, const AccessContext& ctx) override;
    [[nodiscard]] Fault decode_fault(const FaultRecord& record) const override;

    [[nodiscard]] const S2Config& config() const noexcept { return cfg_; }
    [[nodiscard]] uint64_t vtcr() const noexcept { return vtcr_; }
    // The first root frame (the others follow it), and VTTBR_EL2 for VMID 0.
    [[nodiscard]] Mfn root() const noexcept { return root_; }
    [[nodiscard]] uint64_t vttbr() const noexcept { return Vttbr::encode(root_, 0); }
    // Index of gfn's descriptor in its level-`level` table; at the start
    // level it runs over all concatenated tables (0 .. root_entries - 1).
    [[nodiscard]] unsigned index(uint64_t gfn, unsigned level) const noexcept;

private:
    using Table = std::span<uint64_t, entries_per_table>;

    // The descriptors a software walk to one gfn reads, root first. It
    // follows marked (invalid) table descriptors, and stops at a leaf or
    // at an absent (zero) descriptor.
    struct Path {
        std::array<uint64_t, 4> entry{};
        unsigned count = 0;
        unsigned first_level = 0;
        [[nodiscard]] uint64_t last() const noexcept { return entry[count - 1]; }
        [[nodiscard]] unsigned last_level() const noexcept { return first_level + count - 1; }
        [[nodiscard]] bool any_marked() const noexcept;
    };

    // Undo log of one map_range (all or nothing), as the EPT backend keeps.
    struct Txn {
        struct Write {
            uint64_t* slot;
            uint64_t old;
        };
        std::vector<Write> writes;
        std::vector<Mfn> fresh;  // tables allocated, freed on failure
        struct Subtree {
            Mfn table;
            unsigned level;
        };
        std::vector<Subtree> replaced;  // subtrees cut off by a new block, freed on success
    };
    struct LeafSpec {
        P2mType type;
        Perm perm;
        MemClass mem;
    };

    Arm64Stage2(MachineMemory& mem, uint64_t vtcr, const S2Config& cfg, Mfn root) noexcept
        : mem_(mem), vtcr_(vtcr), cfg_(cfg), root_(root) {}

    [[nodiscard]] Table table(Mfn m) const noexcept;
    // Descriptor `i` of the level-`level` table starting at frame t (i can
    // exceed 511 only at the start level: the next concatenated frame).
    [[nodiscard]] uint64_t& slot(Mfn t, unsigned i) const noexcept;
    // Descriptors in the table at `level`: 512, or all root entries.
    [[nodiscard]] uint64_t entries_at(unsigned level) const noexcept;
    // One past the last gfn the level-`level` table holding gfn covers.
    [[nodiscard]] uint64_t table_end(uint64_t gfn, unsigned level) const noexcept;
    [[nodiscard]] Path walk(uint64_t gfn) const;
    void free_subtree(Mfn t, unsigned level) noexcept;
    void fill_split(Mfn child, uint64_t parent, unsigned parent_level) const noexcept;
    void push_marks(Mfn child) const noexcept;
    [[nodiscard]] uint64_t count_tables(Mfn t, unsigned level, uint64_t first, uint64_t end) const;
    static void txn_write(Txn& txn, bool fresh_table, uint64_t& slot, uint64_t value);
    [[nodiscard]] Status map_in(Txn& txn, Mfn t, bool fresh_table, unsigned level, uint64_t& gfn, uint64_t& mfn,
                                uint64_t end, const LeafSpec& spec);
    void visit_leaves(Mfn t, unsigned level, uint64_t base, bool marked_above,
                      const std::function<void(Gfn, const Stage2Leaf&)>& fn) const;
    [[nodiscard]] bool beyond_pa(uint64_t e) const noexcept;

    MachineMemory& mem_;
    uint64_t vtcr_;
    S2Config cfg_;
    Mfn root_;
};

// `n` consecutive table frames whose first frame is aligned to n frames
// (n a power of two, 1..16), as concatenated start-level tables must be
// (Arm ARM D8.2, and VTTBR_EL2.BADDR: "aligned to the size of the
// concatenated tables"). See the file comment for the cost.
[[nodiscard]] Result<Mfn> alloc_contiguous(MachineMemory& mem, unsigned n);

// The backend's make_stage2 (default configuration).
[[nodiscard]] Result<std::unique_ptr<Stage2>> make_arm64_stage2(MachineMemory& mem);

}  // namespace hvcore::arm64

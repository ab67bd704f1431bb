// SPDX-License-Identifier: MIT
// The Arm64 stage-2 backend: the stage-2 table engine
// (hvcore/s2/engine.hpp) in the VMSAv8-64 stage-2 descriptor format with
// the 4 KiB granule (descriptor.hpp, seen by the engine through S2Format
// below), shaped by a VTCR_EL2 value (vtcr.hpp); the model MMU that walks
// it as the processor does (Arm ARM D8.2 "Translation table walk", checks
// in the order of QEMU 7.2 target/arm/ptw.c get_phys_addr_lpae); and the
// decoder of the ESR_EL2/HPFAR_EL2/FAR_EL2 record that walk produces
// (esr.hpp). The p2m type lives in each leaf's bits 58:55
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
// The start level may be several concatenated tables (2..16, VTCR-driven):
// the engine's geometry has a root of that many frames, allocated aligned
// to its size by s2::alloc_contiguous (see there for the cost).
//
// Not thread-safe: the owning domain's p2m lock serialises every call.
#pragma once

#include <cstdint>
#include <memory>

#include "hvcore/arm64/descriptor.hpp"
#include "hvcore/arm64/esr.hpp"
#include "hvcore/arm64/vtcr.hpp"
#include "hvcore/core/machine_memory.hpp"
#include "hvcore/core/stage2.hpp"
#include "hvcore/s2/engine.hpp"

namespace hvcore::arm64 {

// S2Desc as the engine sees it: levels counted from the leaf (engine level
// L is Arm lookup level 3 - L); every S2AP/XN combination is encodable.
struct S2Format {
    [[nodiscard]] static constexpr unsigned lookup_level(unsigned level) noexcept { return level_3 - level; }
    [[nodiscard]] static constexpr bool encodable(Perm /*p*/) noexcept { return true; }
    [[nodiscard]] static constexpr uint64_t encode_leaf(Mfn m, P2mType t, Perm p, MemClass mc, unsigned level) noexcept {
        return S2Desc::encode_leaf(m, t, p, mc, lookup_level(level));
    }
    [[nodiscard]] static constexpr uint64_t encode_table(Mfn m) noexcept { return S2Desc::encode_table(m); }
    // The 512 children of a block keep its attributes, rights, AF, XN,
    // type, validity and recalc mark; only the output address advances,
    // and page (level-3) children get bit 1.
    [[nodiscard]] static constexpr uint64_t split_attrs(uint64_t parent, unsigned level) noexcept {
        return (parent & ~S2Desc::oa_mask & ~S2Desc::type_bit) | (level == 0 ? S2Desc::type_bit : 0);
    }
    [[nodiscard]] static constexpr uint64_t mark(uint64_t e) noexcept { return S2Desc::mark(e); }
    [[nodiscard]] static constexpr uint64_t unmark(uint64_t e) noexcept { return S2Desc::unmark(e); }
    [[nodiscard]] static constexpr bool present(uint64_t e) noexcept { return S2Desc::is_valid(e); }
    [[nodiscard]] static constexpr bool marked(uint64_t e) noexcept { return S2Desc::marked(e); }
    [[nodiscard]] static constexpr bool is_leaf(uint64_t e, unsigned level) noexcept {
        return S2Desc::is_leaf(e, lookup_level(level));
    }
    [[nodiscard]] static constexpr bool is_table(uint64_t e, unsigned level) noexcept {
        return S2Desc::is_table(e, lookup_level(level));
    }
    [[nodiscard]] static constexpr Mfn frame(uint64_t e) noexcept { return S2Desc::frame(e); }
    [[nodiscard]] static constexpr Mfn leaf_frame(uint64_t e, unsigned /*level*/) noexcept { return S2Desc::frame(e); }
    [[nodiscard]] static constexpr P2mType type_of(uint64_t e) noexcept { return S2Desc::type_of(e); }
    [[nodiscard]] static constexpr uint8_t owner_of(uint64_t e) noexcept { return S2Desc::owner_of(e); }
    [[nodiscard]] static constexpr uint64_t with_owner(uint64_t e, uint8_t o) noexcept { return S2Desc::with_owner(e, o); }
};
static_assert(s2::EntryFormat<S2Format> && s2::OwnerBits<S2Format>);

// The engine's geometry of a VTCR's walk: 4 - start level levels, the
// concatenated start-level tables as the root, blocks at lookup levels 1
// and 2 (none at level 0 with the 4 KiB granule, Arm ARM D8.3).
[[nodiscard]] constexpr s2::Geometry geometry_of(const S2Config& c) noexcept {
    const unsigned levels = level_3 + 1 - c.start_level;
    return {.levels = levels,
            .root_entries = static_cast<unsigned>(c.root_entries()),
            .ia_bits = c.ipa_bits,
            .oa_bits = c.pa_bits,
            .leaf_levels = 0b111U & ((1U << levels) - 1)};
}
static_assert(geometry_of(*Vtcr::decode(vtcr_default).config) ==
              s2::Geometry{.levels = 3, .root_entries = 1024, .ia_bits = 40, .oa_bits = 48, .leaf_levels = 0b111});
static_assert(geometry_of(*Vtcr::decode(Vtcr::make(48, level_0, 48)).config).leaf_levels == 0b0111);

}  // namespace hvcore::arm64

// Instantiated once, in stage2.cpp.
extern template class hvcore::s2::Table<hvcore::arm64::S2Format>;

namespace hvcore::arm64 {

class Arm64Stage2 final : public s2::Table<S2Format> {
public:
    // make_stage2's configuration: KVM's default 40-bit IPA, start at level
    // 1 with 2 concatenated tables, 48-bit PA.
    [[nodiscard]] static Result<std::unique_ptr<Arm64Stage2>> create(MachineMemory& mem) {
        return create(mem, vtcr_default);
    }
    // Any VTCR the model CPU accepts (Vtcr::decode), whose PA size also
    // reaches every frame of mem (the table pool lives at host-physical
    // 64 GiB, so PS must be at least 40 bits); -EINVAL otherwise, -ENOMEM
    // if the root tables cannot be allocated. mem must outlive the table;
    // the destructor returns every table frame to it.
    [[nodiscard]] static Result<std::unique_ptr<Arm64Stage2>> create(MachineMemory& mem, uint64_t vtcr);
    Arm64Stage2(const s2::Placement& p, uint64_t vtcr, const S2Config& cfg) noexcept
        : Table(p), vtcr_(vtcr), cfg_(cfg) {}

    [[nodiscard]] Arch arch() const noexcept override { return Arch::arm64; }
    [[nodiscard]] Translation translate(Gpa gpa, AccessType access, const AccessContext& ctx) override;
    [[nodiscard]] Fault decode_fault(const FaultRecord& record) const override;

    [[nodiscard]] const S2Config& config() const noexcept { return cfg_; }
    [[nodiscard]] uint64_t vtcr() const noexcept { return vtcr_; }
    // VTTBR_EL2 for VMID 0 (root(): the first root frame).
    [[nodiscard]] uint64_t vttbr() const noexcept { return Vttbr::encode(root(), 0); }
    // Index of gfn's descriptor in its table at lookup level `level`; at
    // the start level it runs over all concatenated tables (0 ..
    // root_entries - 1).
    [[nodiscard]] unsigned index(uint64_t gfn, unsigned level) const noexcept {
        return geometry().index(gfn, S2Format::lookup_level(level));
    }

private:
    // Levels are the Arm ARM's lookup levels (0..3); config is VTCR_EL2.
    [[nodiscard]] uint64_t root_register() const noexcept override { return vtcr_; }
    [[nodiscard]] int arch_level(unsigned level) const noexcept override {
        return static_cast<int>(S2Format::lookup_level(level));
    }
    [[nodiscard]] bool beyond_pa(uint64_t e) const noexcept;

    uint64_t vtcr_;
    S2Config cfg_;
};

// The backend's make_stage2 (default configuration).
[[nodiscard]] inline Result<std::unique_ptr<Stage2>> make_arm64_stage2(MachineMemory& mem) {
    return s2::make_stage2<Arm64Stage2>(mem);
}

}  // namespace hvcore::arm64

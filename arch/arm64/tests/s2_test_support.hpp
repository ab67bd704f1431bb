// SPDX-License-Identifier: MIT
// Shared by the test_s2_*.cpp files: a machine with an Arm64 stage-2
// table, a recording RecalcPolicy, and raw access to descriptors for
// crafting hardware states hvcore itself never writes.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "hvcore/arm64/descriptor.hpp"
#include "hvcore/arm64/esr.hpp"
#include "hvcore/arm64/stage2.hpp"
#include "hvcore/arm64/vtcr.hpp"
#include "hvcore/core/machine_memory.hpp"
#include "hvcore/core/p2m_type.hpp"

namespace s2_test {

using namespace hvcore;
using namespace hvcore::arm64;

inline constexpr uint64_t mib = uint64_t{1} << 20;
// 2 MiB and 1 GiB blocks, in 4 KiB frames.
inline constexpr uint64_t pages_2m = 512;
inline constexpr uint64_t pages_1g = 512 * 512;
inline constexpr Perm rwx{.r = true, .w = true, .x = true};

// Test configurations besides vtcr_default (KVM's: 40-bit IPA, level 1, 2
// tables); Vtcr::make: T0SZ = 64 - IPA bits, SL0 = 2 - start.
inline const uint64_t vtcr_48_l0 = Vtcr::make(48, level_0, 48);  // 4-level walk, one table
inline const uint64_t vtcr_39_l1 = Vtcr::make(39, level_1, 40);  // 3 levels, one level-1 table
inline const uint64_t vtcr_32_l1 = Vtcr::make(32, level_1, 40);  // 4 level-1 entries (PS 40: see create())
inline const uint64_t vtcr_43_l1 = Vtcr::make(43, level_1, 44);  // 16 concatenated level-1 tables
inline const uint64_t vtcr_31_l2 = Vtcr::make(31, level_2, 40);  // 2 GiB IPA, two level-2 tables

struct Machine {
    std::unique_ptr<MachineMemory> mem;
    std::unique_ptr<Arm64Stage2> s2;

    // RAM size does not matter to the table tests (frames are numbers, the
    // walker never touches RAM); table_limit bounds the pool for -ENOMEM.
    explicit Machine(uint64_t vtcr = vtcr_default, uint64_t table_limit = 64) {
        auto m = MachineMemory::create(4 * mib, table_limit);
        REQUIRE(m.is_ok());
        mem = std::move(m).value();
        auto s = Arm64Stage2::create(*mem, vtcr);
        REQUIRE(s.is_ok());
        s2 = std::move(s).value();
    }
    Arm64Stage2& operator*() { return *s2; }
    Arm64Stage2* operator->() { return s2.get(); }

    // Descriptor `index` of the table starting at frame t (the start level
    // may span several frames).
    uint64_t& entry(Mfn t, unsigned index) {
        return reinterpret_cast<uint64_t*>(mem->frame(t + index / entries_per_table))[index % entries_per_table];
    }
    // The table of level `level` on the walk to gfn.
    Mfn table_on_walk(uint64_t gfn, unsigned level) {
        Mfn t = s2->root();
        for (unsigned l = s2->config().start_level; l < level; ++l) t = S2Desc::frame(entry(t, s2->index(gfn, l)));
        return t;
    }
    uint64_t& entry_on_walk(uint64_t gfn, unsigned level) {
        return entry(table_on_walk(gfn, level), s2->index(gfn, level));
    }
};

// The core's policy, reduced: p2m_recalc_type plus the claim, recording
// each call.
class RecordingPolicy final : public RecalcPolicy {
public:
    struct Call {
        uint64_t gfn;
        unsigned order;
        P2mType stored;
        bool operator==(const Call&) const = default;
    };
    std::vector<Call> calls;
    bool ioreq_claimed = false;

    Update recalc(Gfn first, unsigned order, P2mType stored, uint8_t /*stored_owner*/) override {
        calls.push_back({first.raw(), order, stored});
        const P2mType now = p2m_recalc_type(true, stored, ioreq_claimed);
        return {now, p2m_entry_perm(now, ioreq_claimed ? ioreq_claim_write : 0U)};
    }
};

inline Perm perm_of(P2mType t, bool claimed = false) {
    return p2m_entry_perm(t, claimed ? ioreq_claim_write : 0U);
}

}  // namespace s2_test

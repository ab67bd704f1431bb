// Shared by the test_npt_*.cpp files: a machine with an NPT, a recording
// RecalcPolicy, and raw access to table entries for crafting hardware
// states hvcore itself never writes.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "hvcore/core/machine_memory.hpp"
#include "hvcore/core/p2m_type.hpp"
#include "hvcore/svm/npt.hpp"
#include "hvcore/svm/npt_stage2.hpp"

namespace npt_test {

using namespace hvcore;
using namespace hvcore::svm;

inline constexpr uint64_t mib = uint64_t{1} << 20;
// 2 MiB and 1 GiB pages, in 4 KiB frames.
inline constexpr uint64_t pages_2m = 512;
inline constexpr uint64_t pages_1g = 512 * 512;
inline constexpr Perm rwx{.r = true, .w = true, .x = true};

struct Machine {
    std::unique_ptr<MachineMemory> mem;
    std::unique_ptr<Npt> npt;

    // RAM size does not matter to the table tests (frames are numbers, the
    // walker never touches RAM); table_limit bounds the pool for -ENOMEM.
    explicit Machine(uint64_t table_limit = 64) {
        auto m = MachineMemory::create(4 * mib, table_limit);
        REQUIRE(m.is_ok());
        mem = std::move(m).value();
        auto n = Npt::create(*mem);
        REQUIRE(n.is_ok());
        npt = std::move(n).value();
    }
    Npt& operator*() { return *npt; }
    Npt* operator->() { return npt.get(); }

    // Entry `index` of the table in frame t, for reading or crafting.
    uint64_t& entry(Mfn t, unsigned index) {
        return reinterpret_cast<uint64_t*>(mem->frame(t))[index];
    }
    // The table frame of level `level` on the walk to gfn (level 3 = PML4).
    Mfn table_on_walk(uint64_t gfn, unsigned level) {
        Mfn t = npt->root();
        for (unsigned l = level_pml4; l > level; --l) t = NptEntry::frame(entry(t, level_index(gfn, l)));
        return t;
    }
    uint64_t& entry_on_walk(uint64_t gfn, unsigned level) {
        return entry(table_on_walk(gfn, level), level_index(gfn, level));
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

    Update recalc(Gfn first, unsigned order, P2mType stored) override {
        calls.push_back({first.raw(), order, stored});
        const P2mType now = p2m_recalc_type(true, stored, ioreq_claimed);
        return {now, p2m_entry_perm(now, {.ioreq_write_claimed = ioreq_claimed})};
    }
};

inline Perm perm_of(P2mType t, bool claimed = false) {
    return p2m_entry_perm(t, {.ioreq_write_claimed = claimed});
}

}  // namespace npt_test

// SPDX-License-Identifier: MIT
// Shared pieces of the riscv64 unit tests: the golden field values written
// from the privileged spec (not taken from gstage.hpp, so a wrong mask
// there fails here), a hand-built G-stage table in MachineMemory frames
// (entries written one by one, to give the walker exactly the entries a
// test needs), and a recording MemPort for the executor.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "hvcore/core/machine_memory.hpp"
#include "hvcore/riscv64/gstage.hpp"
#include "hvcore/riscv64/isa_rv64.hpp"
#include "hvcore/riscv64/walk.hpp"

namespace rv_test {

using namespace hvcore;
using namespace hvcore::riscv64;

// Sv39/Sv48 PTE fields, privileged spec "Sv39" PTE figure and "Sv32" text.
namespace bits {
inline constexpr uint64_t v = 1 << 0;
inline constexpr uint64_t r = 1 << 1;
inline constexpr uint64_t w = 1 << 2;
inline constexpr uint64_t x = 1 << 3;
inline constexpr uint64_t u = 1 << 4;
inline constexpr uint64_t g = 1 << 5;
inline constexpr uint64_t a = 1 << 6;
inline constexpr uint64_t d = 1 << 7;
inline constexpr uint64_t rsw(uint64_t code) { return code << 8; }          // RSW, bits 9:8
inline constexpr uint64_t ppn(uint64_t mfn) { return mfn << 10; }           // PPN, bits 53:10
inline constexpr uint64_t reserved54 = uint64_t{1} << 54;                   // bits 60:54 reserved
inline constexpr uint64_t pbmt_nc = uint64_t{1} << 61;                      // PBMT = 1 (NC), bits 62:61
inline constexpr uint64_t napot = uint64_t{1} << 63;                        // N
// hvcore's software fields of a V = 0 entry.
inline constexpr uint64_t hole_type(uint64_t t) { return t << 54; }         // bits 57:54
inline constexpr uint64_t recalc = uint64_t{1} << 58;
}  // namespace bits

inline constexpr Perm rwx{.r = true, .w = true, .x = true};

// A G-stage table built by hand: the 16 KiB root (the first 4 frames of a
// fresh pool are consecutive and 16 KiB aligned), tables added on demand.
struct HandTable {
    std::unique_ptr<MachineMemory> mem;
    Mfn root{};
    s2::Geometry geo;

    explicit HandTable(Mode m = Mode::sv39x4) : geo(geometry(m)) {
        auto mm = MachineMemory::create(4 * 1024 * 1024, 64);
        REQUIRE(mm.is_ok());
        mem = std::move(mm).value();
        for (unsigned i = 0; i < root_frames; ++i) {
            auto f = mem->alloc_table();
            REQUIRE(f.is_ok());
            if (i == 0) root = *f;
            REQUIRE(*f == root + i);
        }
        REQUIRE((root.raw() & (root_frames - 1)) == 0);
    }
    uint64_t& slot(Mfn table, unsigned index) {
        return reinterpret_cast<uint64_t*>(mem->frame(table + index / entries_per_table))[index % entries_per_table];
    }
    // The entry for gfn at `level`, creating pointer tables above it.
    uint64_t& entry(uint64_t gfn, unsigned level) {
        Mfn t = root;
        for (unsigned l = geo.root_level(); l > level; --l) {
            uint64_t& s = slot(t, geo.index(gfn, l));
            if (s == 0) {
                auto f = mem->alloc_table();
                REQUIRE(f.is_ok());
                s = bits::ppn(f->raw()) | bits::v;
            }
            t = Mfn{(s >> 10) & ((uint64_t{1} << 44) - 1)};
        }
        return slot(t, geo.index(gfn, level));
    }
    Translation translate(uint64_t gpa, AccessType a, const AccessContext& ctx = {}) {
        const auto read = [this](Mfn t, unsigned level, uint64_t gfn) { return slot(t, geo.index(gfn, level)); };
        return gstage_translate(read, root, geo, Gpa{gpa}, a, ctx);
    }
};

enum class Kind : uint8_t { read, write };
struct Access {
    Kind kind = Kind::read;
    uint64_t addr = 0;
    unsigned size = 0;
    uint64_t value = 0;
    uint64_t syndrome = 0;
    bool operator==(const Access&) const = default;
};

class FakePort final : public MemPort {
public:
    std::map<uint64_t, uint8_t> ram;
    std::vector<Access> log;
    MemStatus answer = MemStatus::ok;

    void put(uint64_t addr, uint64_t value, unsigned size) {
        for (unsigned i = 0; i < size; ++i) ram[addr + i] = static_cast<uint8_t>(value >> (8 * i));
    }
    MemStatus read(uint64_t addr, unsigned size, void* out, const AccessInfo& info) override {
        log.push_back({Kind::read, addr, size, 0, info.isa_syndrome});
        if (answer != MemStatus::ok) return answer;
        auto* b = static_cast<uint8_t*>(out);
        for (unsigned i = 0; i < size; ++i) b[i] = ram.count(addr + i) != 0 ? ram[addr + i] : 0;
        return MemStatus::ok;
    }
    MemStatus write(uint64_t addr, unsigned size, const void* in, const AccessInfo& info) override {
        const auto* b = static_cast<const uint8_t*>(in);
        uint64_t v = 0;
        for (unsigned i = size; i-- > 0;) v = (v << 8) | b[i];
        log.push_back({Kind::write, addr, size, v, info.isa_syndrome});
        if (answer != MemStatus::ok) return answer;
        for (unsigned i = 0; i < size; ++i) ram[addr + i] = b[i];
        return MemStatus::ok;
    }
    MemStatus pio(uint16_t, unsigned, bool, uint64_t*) override {
        FAIL("RISC-V has no port I/O");
        return MemStatus::guest_fault;
    }
};

inline std::vector<uint8_t> le32(uint32_t w) {
    return {static_cast<uint8_t>(w), static_cast<uint8_t>(w >> 8), static_cast<uint8_t>(w >> 16),
            static_cast<uint8_t>(w >> 24)};
}

}  // namespace rv_test

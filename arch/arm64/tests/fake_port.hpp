// SPDX-License-Identifier: MIT
// MemPorts for the A64 executor tests: a recording fake (sparse guest
// memory, a log of every access in order with the ESR syndrome the
// executor handed over, one answer for every access), and the model MMU
// (the Arm64 stage-2 walker, as the core's MMU port uses it) that turns a
// faulting access into the hardware's fault record.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <vector>

#include "hvcore/arm64/stage2.hpp"
#include "hvcore/core/isa.hpp"

namespace arm64_test {

using namespace hvcore;

enum class Kind : uint8_t { read, write, pio };

struct Access {
    Kind kind = Kind::read;
    uint64_t addr = 0;
    unsigned size = 0;
    uint64_t value = 0;     // written value (writes); 0 for reads
    uint64_t syndrome = 0;  // AccessInfo::isa_syndrome (ESR ISS[24:14], CM)
    bool no_data = false;   // AccessInfo::no_data: a probe, nothing moved
    bool rewrites = false;  // AccessInfo::rewrites_read_value
    bool rmw = false;       // AccessInfo::rmw_read
    bool operator==(const Access&) const = default;
};

class FakePort final : public MemPort {
public:
    std::map<uint64_t, uint8_t> ram;  // bytes never written read as 0
    std::vector<Access> log;
    MemStatus answer = MemStatus::ok;

    void put(uint64_t addr, uint64_t value, unsigned size) {
        for (unsigned i = 0; i < size; ++i) ram[addr + i] = static_cast<uint8_t>(value >> (8 * i));
    }
    [[nodiscard]] uint64_t get(uint64_t addr, unsigned size) const {
        uint64_t v = 0;
        for (unsigned i = size; i-- > 0;) {
            auto it = ram.find(addr + i);
            v = (v << 8) | (it == ram.end() ? 0 : it->second);
        }
        return v;
    }

    MemStatus read(uint64_t addr, unsigned size, void* out, const AccessInfo& info) override {
        log.push_back({Kind::read, addr, size, 0, info.isa_syndrome, info.no_data, false, info.rmw_read});
        if (answer != MemStatus::ok) return answer;
        if (info.no_data) return MemStatus::ok;
        // Little-endian guest memory, byte by byte: independent of the host.
        auto* b = static_cast<uint8_t*>(out);
        for (unsigned i = 0; i < size; ++i) b[i] = static_cast<uint8_t>(get(addr + i, 1));
        return MemStatus::ok;
    }
    MemStatus write(uint64_t addr, unsigned size, const void* in, const AccessInfo& info) override {
        // The log keeps the low 8 bytes of wider writes (the tests of wider
        // ones read the memory back).
        const auto* b = static_cast<const uint8_t*>(in);
        uint64_t v = 0;
        if (!info.no_data)
            for (unsigned i = std::min(size, 8U); i-- > 0;) v = (v << 8) | b[i];
        log.push_back({Kind::write, addr, size, v, info.isa_syndrome, info.no_data, info.rewrites_read_value});
        if (answer != MemStatus::ok) return answer;
        if (!info.no_data)
            for (unsigned i = 0; i < size; ++i) ram[addr + i] = b[i];
        return MemStatus::ok;
    }
    MemStatus pio(uint16_t port, unsigned size, bool, uint64_t*) override {
        log.push_back({Kind::pio, port, size, 0, 0});  // A64 has no port I/O: must never happen
        return MemStatus::guest_fault;
    }
};

// The hardware: each access is translated by the stage-2 walker page by
// page (as the core's MmuPort does, with gla = the access's first byte in
// each page, or AccessInfo::fault_va); the
// first fault ends the instruction with the walker's record. Successful
// accesses touch no memory (the tests only need the faults).
class ModelMmu final : public MemPort {
public:
    explicit ModelMmu(Stage2& s2) : s2_(s2) {}
    std::optional<FaultRecord> fault;

    MemStatus read(uint64_t addr, unsigned size, void* out, const AccessInfo& info) override {
        std::memset(out, 0, size);
        return access(addr, size, AccessType::read, info);
    }
    MemStatus write(uint64_t addr, unsigned size, const void*, const AccessInfo& info) override {
        return access(addr, size, AccessType::write, info);
    }
    MemStatus pio(uint16_t, unsigned, bool, uint64_t*) override { return MemStatus::exit; }

private:
    MemStatus access(uint64_t addr, unsigned size, AccessType type, const AccessInfo& info) {
        for (uint64_t a = addr, left = size; left > 0;) {
            const uint64_t chunk = std::min<uint64_t>(left, page_size - (a & page_mask));
            const AccessContext ctx{.gla = info.fault_va.value_or(a), .gla_valid = true, .size = size, .insn = {},
                                    .isa_syndrome = info.isa_syndrome, .rmw = info.rmw_read};
            const Translation t = s2_.translate(Gpa{a}, type, ctx);
            if (!t.ok) {
                fault = t.record;
                return MemStatus::exit;
            }
            a += chunk;
            left -= chunk;
        }
        return MemStatus::ok;
    }
    Stage2& s2_;
};

}  // namespace arm64_test

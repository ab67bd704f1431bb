// SPDX-License-Identifier: MIT
// A MemPort for tests: sparse guest memory, I/O ports with preset values,
// a log of every access the executor attempts (in order), and one answer
// that every access gets (ok, or the status under test), optionally only
// from the n-th access on. rep() is MemPort's default (element by element,
// the hardware's way) unless rep_limit asks it to stop short like the
// emulation port at a page boundary.
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <vector>

#include "hvcore/core/isa.hpp"

namespace hvcore::x86::test {

enum class Kind : uint8_t { read, write, port_in, port_out };

struct Access {
    Kind kind = Kind::read;
    uint64_t where = 0;  // guest-physical address, or port number
    unsigned size = 0;
    uint64_t value = 0;  // written value (write, port_out), its bytes 0-7; 0 for reads
    uint64_t high = 0;   // bytes 8-15 of a 16-byte write
    bool rewrite = false;  // AccessInfo::rewrites_read_value
    bool rmw = false;      // AccessInfo::rmw_read: the read of a read-modify-write
    bool operator==(const Access&) const = default;
};

class FakePort final : public MemPort {
public:
    std::map<uint64_t, uint8_t> ram;       // bytes never written read as 0
    std::map<uint16_t, uint64_t> io_in;    // what IN returns per port; unset: all ones
    std::vector<Access> log;
    MemStatus answer = MemStatus::ok;
    size_t answer_from = 0;   // accesses before this index are answered ok
    uint64_t rep_limit = 0;   // rep(): at most this many elements, then ok (0: no limit)
    std::vector<RepAccess> reps;  // every rep() call

    void put(uint64_t addr, uint64_t value, unsigned size) {
        for (unsigned i = 0; i < size; ++i)
            ram[addr + i] = static_cast<uint8_t>(value >> (8 * i));
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
        log.push_back({Kind::read, addr, size, 0, 0, false, info.rmw_read});
        if (const MemStatus a = current(); a != MemStatus::ok)
            return a;
        auto* bytes = static_cast<uint8_t*>(out);
        for (unsigned i = 0; i < size; ++i)
            bytes[i] = static_cast<uint8_t>(get(addr + i, 1));
        return MemStatus::ok;
    }
    MemStatus write(uint64_t addr, unsigned size, const void* in, const AccessInfo& info) override {
        // Byte by byte: a memcpy of the upper half, though guarded by
        // size > 8, trips GCC 12's -Warray-bounds at -O2 once inlined into a
        // caller whose buffer is 8 bytes.
        uint64_t v = 0;
        uint64_t high = 0;
        const auto* src = static_cast<const uint8_t*>(in);
        for (unsigned i = 0; i < size && i < 16; ++i) {
            if (i < 8)
                v |= uint64_t{src[i]} << (8 * i);
            else
                high |= uint64_t{src[i]} << (8 * (i - 8));
        }
        log.push_back({Kind::write, addr, size, v, high, info.rewrites_read_value});
        if (const MemStatus a = current(); a != MemStatus::ok)
            return a;
        const auto* bytes = static_cast<const uint8_t*>(in);
        for (unsigned i = 0; i < size; ++i)
            ram[addr + i] = bytes[i];
        return MemStatus::ok;
    }
    RepResult rep(const RepAccess& a, const AccessInfo& info) override {
        reps.push_back(a);
        RepAccess limited = a;
        if (rep_limit != 0 && limited.count > rep_limit)
            limited.count = rep_limit;
        return MemPort::rep(limited, info);
    }
    MemStatus pio(uint16_t port, unsigned size, bool is_write, uint64_t* value) override {
        log.push_back({is_write ? Kind::port_out : Kind::port_in, port, size, is_write ? *value : 0});
        if (const MemStatus a = current(); a != MemStatus::ok)
            return a;
        if (!is_write) {
            auto it = io_in.find(port);
            *value = it == io_in.end() ? ~uint64_t{0} : it->second;
        }
        return MemStatus::ok;
    }

private:
    // The answer for the access just logged.
    [[nodiscard]] MemStatus current() const { return log.size() > answer_from ? answer : MemStatus::ok; }
};

}  // namespace hvcore::x86::test

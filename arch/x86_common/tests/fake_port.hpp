// A MemPort for tests: sparse guest memory, I/O ports with preset values,
// a log of every access the executor attempts (in order), and one answer
// that every access gets (ok, or the status under test).
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
    uint64_t value = 0;  // written value (write, port_out); 0 for reads
    bool operator==(const Access&) const = default;
};

class FakePort final : public MemPort {
public:
    std::map<uint64_t, uint8_t> ram;       // bytes never written read as 0
    std::map<uint16_t, uint64_t> io_in;    // what IN returns per port; unset: all ones
    std::vector<Access> log;
    MemStatus answer = MemStatus::ok;

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

    MemStatus read(uint64_t addr, unsigned size, void* out, const AccessInfo&) override {
        log.push_back({Kind::read, addr, size, 0});
        if (answer != MemStatus::ok)
            return answer;
        const uint64_t v = get(addr, size);
        std::memcpy(out, &v, size);  // the host is little-endian (x86-64 test hosts)
        return MemStatus::ok;
    }
    MemStatus write(uint64_t addr, unsigned size, const void* in, const AccessInfo&) override {
        uint64_t v = 0;
        std::memcpy(&v, in, size);
        log.push_back({Kind::write, addr, size, v});
        if (answer != MemStatus::ok)
            return answer;
        put(addr, v, size);
        return MemStatus::ok;
    }
    MemStatus pio(uint16_t port, unsigned size, bool is_write, uint64_t* value) override {
        log.push_back({is_write ? Kind::port_out : Kind::port_in, port, size, is_write ? *value : 0});
        if (answer != MemStatus::ok)
            return answer;
        if (!is_write) {
            auto it = io_in.find(port);
            *value = it == io_in.end() ? ~uint64_t{0} : it->second;
        }
        return MemStatus::ok;
    }
};

}  // namespace hvcore::x86::test

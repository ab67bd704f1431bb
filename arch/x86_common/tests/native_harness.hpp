// SPDX-License-Identifier: MIT
// Running one instruction natively on the host CPU (x86-64 only), for the
// differential tests: the instruction is copied to an executable page
// followed by RET and called from a small assembly routine
// (native_harness.cpp) that loads all general-purpose registers (except
// RSP), XMM0-15 and RFLAGS from a NativeState, calls it, and stores them
// back. The data pages follow the code page, so a RIP-relative
// displacement reaches them and the executor's RIP can be the page's real
// address; the mapping lies below 2 GiB (MAP_32BIT) so that 67h (32-bit
// address) forms reach the buffer too.
#pragma once

#include <doctest/doctest.h>
#include <sys/mman.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "hvcore/core/isa.hpp"
#include "hvcore/x86/isa_x86.hpp"

extern "C" {
struct NativeState {
    uint64_t gpr[16];  // RAX..R15; RSP is neither loaded nor stored
    uint64_t rflags;
    uint64_t pad;
    uint8_t xmm[16][16];  // XMM0-15, little-endian
};
void hvcore_x86_test_native_run(NativeState* state, const void* code);
}

static_assert(offsetof(NativeState, rflags) == 128, "native_harness.cpp hard-codes the layout");
static_assert(offsetof(NativeState, xmm) == 144, "native_harness.cpp hard-codes the layout");

namespace hvcore::x86::test {

// The host processor's vendor, from CPUID leaf 0 (SDM Vol. 2A "CPUID":
// "GenuineIntel"; APM Vol. 3 "CPUID Fn0000_0000": "AuthenticAMD"): the
// differential tests run the executor as the processor they compare with.
// Any other vendor is not one the tests know how to compare: they fail.
[[nodiscard]] Vendor host_vendor();

using Bytes = std::vector<uint8_t>;

inline constexpr size_t page = 4096;
inline constexpr size_t data_size = 2 * page;  // the buffer memory operands point into
inline constexpr uint8_t ret = 0xc3;

// One mapping: an executable code page, then the data pages.
class Sandbox {
public:
    Sandbox() {
        void* p = mmap(nullptr, page + data_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT,
                       -1, 0);
        REQUIRE(p != MAP_FAILED);
        base_ = static_cast<uint8_t*>(p);
    }
    ~Sandbox() { munmap(base_, page + data_size); }
    Sandbox(const Sandbox&) = delete;
    Sandbox& operator=(const Sandbox&) = delete;

    [[nodiscard]] uint64_t code_addr() const { return reinterpret_cast<uint64_t>(base_); }
    [[nodiscard]] uint64_t data_addr() const { return code_addr() + page; }
    [[nodiscard]] uint8_t* data() const { return base_ + page; }

    // W^X: writable while the instruction is copied in, executable after.
    void load_code(const Bytes& insn) {
        REQUIRE(mprotect(base_, page, PROT_READ | PROT_WRITE) == 0);
        std::memcpy(base_, insn.data(), insn.size());
        base_[insn.size()] = ret;
        REQUIRE(mprotect(base_, page, PROT_READ | PROT_EXEC) == 0);
    }

private:
    uint8_t* base_ = nullptr;
};

// The executor's view of the same buffer: a copy, at the same addresses.
// rep() is MemPort's default (element by element, as the hardware).
class BufferPort final : public MemPort {
public:
    BufferPort(uint64_t base, std::vector<uint8_t> bytes) : mem(std::move(bytes)), base_(base) {}
    MemStatus read(uint64_t addr, unsigned size, void* out, const AccessInfo&) override {
        ++reads;
        if (!inside(addr, size))
            return MemStatus::guest_fault;
        std::memcpy(out, &mem[addr - base_], size);
        return MemStatus::ok;
    }
    MemStatus write(uint64_t addr, unsigned size, const void* in, const AccessInfo&) override {
        ++writes;
        if (!inside(addr, size))
            return MemStatus::guest_fault;
        std::memcpy(&mem[addr - base_], in, size);
        return MemStatus::ok;
    }
    MemStatus pio(uint16_t, unsigned, bool, uint64_t*) override { return MemStatus::guest_fault; }

    std::vector<uint8_t> mem;
    unsigned reads = 0;
    unsigned writes = 0;

private:
    [[nodiscard]] bool inside(uint64_t addr, unsigned size) const {
        return addr >= base_ && addr - base_ + size <= mem.size();
    }
    uint64_t base_;
};

// RegFile <-> NativeState.
inline NativeState to_native(const RegFile& r, unsigned nr_gprs) {
    NativeState n{};
    for (unsigned i = 0; i < nr_gprs; ++i)
        n.gpr[i] = r.r[i];
    n.rflags = r.r[17];
    for (unsigned i = 0; i < 16; ++i) {
        std::memcpy(n.xmm[i], &r.v[i].lo, 8);
        std::memcpy(n.xmm[i] + 8, &r.v[i].hi, 8);
    }
    return n;
}

inline Vec128 native_xmm(const NativeState& n, unsigned i) {
    Vec128 v;
    std::memcpy(&v.lo, n.xmm[i], 8);
    std::memcpy(&v.hi, n.xmm[i] + 8, 8);
    return v;
}

}  // namespace hvcore::x86::test

// SPDX-License-Identifier: MIT
#include "model_trace.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

#include "guest_abi.h"

namespace hvcore::tools {

namespace {

// A guest polls LSR until THR is empty; a UART answering "busy" this many
// times in a row is broken (the real guest would spin forever).
constexpr int max_lsr_polls = 1000000;

using Dev = AccessCpu::Device;

int putc(AccessCpu& cpu, char c, std::string* why) {
    for (int i = 0;; ++i) {
        uint64_t lsr = 0;
        if (int rc = cpu.dev_read(Dev::uart, HVG_UART_LSR, 1, &lsr); rc != 0) {
            *why = "reading the UART's LSR";
            return rc;
        }
        if ((lsr & HVG_UART_LSR_THRE) != 0) break;
        if (i == max_lsr_polls) {
            *why = fmt::format("the UART's LSR said 'busy' {} times in a row", max_lsr_polls);
            return -ETIMEDOUT;
        }
    }
    if (int rc = cpu.dev_write(Dev::uart, HVG_UART_THR, 1, static_cast<uint8_t>(c)); rc != 0) {
        *why = "writing the UART's THR";
        return rc;
    }
    return 0;
}

int puts(AccessCpu& cpu, const char* s, std::string* why) {
    for (; *s != '\0'; ++s)
        if (int rc = putc(cpu, *s, why); rc != 0) return rc;
    return 0;
}

int console(AccessCpu& cpu, std::string* why) {
    for (const char* line : {HVG_CONSOLE_LINE1, HVG_CONSOLE_LINE2, HVG_CONSOLE_LINE3}) {
        if (int rc = puts(cpu, line, why); rc != 0) return rc;
        if (int rc = putc(cpu, '\n', why); rc != 0) return rc;
    }
    return 0;
}

int pagetable(AccessCpu& cpu, std::string* why) {
    const auto store = [&](uint64_t gpa, uint64_t v) {
        const int rc = cpu.store(gpa, 8, v);
        if (rc != 0) *why = fmt::format("8-byte store to {:#x}", gpa);
        return rc;
    };
    const uint64_t link = HVG_PTE_P | HVG_PTE_RW;
    if (int rc = store(HVG_PT_PML4, HVG_PT_PDPT | link); rc != 0) return rc;
    if (int rc = store(HVG_PT_PDPT, HVG_PT_PD | link); rc != 0) return rc;
    if (int rc = store(HVG_PT_PD, HVG_PT_PT | link); rc != 0) return rc;
    for (uint64_t r = 0; r <= HVG_PT_ROUNDS; ++r)
        for (uint64_t j = 0; j < HVG_PT_ENTRIES; ++j)
            if (int rc = store(HVG_PT_PT + 8 * j, pagetable_pte(r, j)); rc != 0) return rc;
    uint64_t c = HVG_FNV_BASIS;
    for (uint64_t i = 0; i < HVG_PT_PAGES * 512; ++i) {
        uint64_t q = 0;
        if (int rc = cpu.load(HVG_PT_BASE + 8 * i, 8, &q); rc != 0) {
            *why = fmt::format("8-byte load from {:#x}", HVG_PT_BASE + 8 * i);
            return rc;
        }
        c = (c ^ q) * HVG_FNV_PRIME;
    }
    if (int rc = cpu.dev_write(Dev::report, 0, 4, c & 0xffffffff); rc != 0) {
        *why = "reporting the checksum's low half";
        return rc;
    }
    if (int rc = cpu.dev_write(Dev::report, 4, 4, c >> 32); rc != 0) {
        *why = "reporting the checksum's high half";
        return rc;
    }
    if (int rc = puts(cpu, HVG_PT_LINE_PREFIX, why); rc != 0) return rc;
    if (int rc = puts(cpu, fmt::format("{:016x}\n", c).c_str(), why); rc != 0) return rc;
    return 0;
}

}  // namespace

std::optional<BundledGuest> bundled_guest(std::string_view name) {
    if (name == "console") return BundledGuest::console;
    if (name == "pagetable") return BundledGuest::pagetable;
    return std::nullopt;
}

const char* to_string(BundledGuest g) noexcept {
    switch (g) {
    case BundledGuest::console: return "console";
    case BundledGuest::pagetable: return "pagetable";
    }
    return "?";
}

uint64_t pagetable_pte(uint64_t round, uint64_t entry) noexcept {
    const uint64_t frame = HVG_PT_FRAME0 + ((entry * 7 + round * 13) & 0xff);
    return (frame << 12) | HVG_PTE_P | HVG_PTE_RW | ((round & 1) != 0 ? HVG_PTE_US : 0);
}

int run_trace(BundledGuest g, AccessCpu& cpu, std::string* why) {
    switch (g) {
    case BundledGuest::console: return console(cpu, why);
    case BundledGuest::pagetable: return pagetable(cpu, why);
    }
    return -EINVAL;
}

}  // namespace hvcore::tools

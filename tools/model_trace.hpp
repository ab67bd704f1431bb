// SPDX-License-Identifier: MIT
// The bundled guests (examples/guests/*.S) as the sequence of accesses they
// make, for the model vCPUs that cannot run their code: stores and loads of
// guest RAM, and device-register accesses (port I/O on x86, the MMIO
// windows of guest_abi.h on Arm64). Same constants as the assembly
// (guest_abi.h), so both send the device models the same requests; the KVM
// test `same_trace_on_kvm_and_model` checks that they do.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hvcore::tools {

enum class BundledGuest : uint8_t { console, pagetable };
[[nodiscard]] std::optional<BundledGuest> bundled_guest(std::string_view name);
[[nodiscard]] const char* to_string(BundledGuest g) noexcept;

// What a guest's trace runs on. Each call returns 0 or a negative errno
// (and the run stops there).
class AccessCpu {
public:
    enum class Device : uint8_t { uart, report };
    virtual int store(uint64_t gpa, unsigned size, uint64_t value) = 0;
    virtual int load(uint64_t gpa, unsigned size, uint64_t* value) = 0;
    virtual int dev_write(Device d, unsigned offset, unsigned size, uint64_t value) = 0;
    virtual int dev_read(Device d, unsigned offset, unsigned size, uint64_t* value) = 0;

protected:
    ~AccessCpu() = default;
};

// Runs the guest's accesses in program order; *why says what failed.
[[nodiscard]] int run_trace(BundledGuest g, AccessCpu& cpu, std::string* why);

// The page-table guest's PTE for entry j in round r, and its checksum of
// the table (guest_abi.h), for tests that check guest RAM.
[[nodiscard]] uint64_t pagetable_pte(uint64_t round, uint64_t entry) noexcept;

}  // namespace hvcore::tools

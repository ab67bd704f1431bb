// SPDX-License-Identifier: MIT
// Inclusive [start, end] ranges of one kind (ports, MMIO bytes or PCI
// SBDFs) claimed by one ioreq server: Xen's rangeset as the ioreq code uses
// it (xen/common/rangeset.c, limit MAX_NR_IO_RANGES = 256). Adjacent ranges
// merge, so the limit counts disjoint runs.
#pragma once

#include <cstdint>
#include <map>

#include "hvcore/core/status.hpp"

namespace hvcore {

class RangeSet {
public:
    static constexpr size_t max_ranges = 256;

    // -EINVAL start > end; -EEXIST overlap; -ENOMEM beyond max_ranges.
    // Nothing changes on failure.
    [[nodiscard]] Status add(uint64_t start, uint64_t end);
    // -EINVAL start > end; -ENOENT unless [start, end] lies inside one held
    // range; -ENOMEM if punching the hole would exceed max_ranges.
    [[nodiscard]] Status remove(uint64_t start, uint64_t end);
    [[nodiscard]] bool contains(uint64_t start, uint64_t end) const noexcept;
    [[nodiscard]] bool overlaps(uint64_t start, uint64_t end) const noexcept;
    [[nodiscard]] size_t size() const noexcept { return runs_.size(); }

private:
    std::map<uint64_t, uint64_t> runs_;  // start -> end, disjoint, not adjacent
};

}  // namespace hvcore

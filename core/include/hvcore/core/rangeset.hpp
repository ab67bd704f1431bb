// SPDX-License-Identifier: MIT
// Inclusive [start, end] ranges of one kind (ports, MMIO bytes or PCI
// SBDFs) claimed by one ioreq server: Xen's rangeset as the ioreq code uses
// it (xen/common/rangeset.c, limit MAX_NR_IO_RANGES = 256). Adjacent ranges
// merge, so the limit counts disjoint runs, and a span is contained iff one
// run holds it. Xen keeps a sorted linked list and walks it; hvcore keeps a
// sorted array (at most 256 runs) searched by bisection. Routing does not
// search these sets on its fast path: IoreqServerRegistry merges them into
// one segment array per range type (ioreq_server.hpp).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "hvcore/core/status.hpp"

namespace hvcore {

class RangeSet {
public:
    static constexpr size_t max_ranges = 256;

    struct Run {
        uint64_t start;
        uint64_t end;  // inclusive
        friend bool operator==(const Run&, const Run&) = default;
    };

    // -EINVAL start > end; -EEXIST overlap; -ENOMEM beyond max_ranges.
    // Nothing changes on failure.
    [[nodiscard]] Status add(uint64_t start, uint64_t end);
    // -EINVAL start > end; -ENOENT unless [start, end] lies inside one held
    // range; -ENOMEM if punching the hole would exceed max_ranges.
    [[nodiscard]] Status remove(uint64_t start, uint64_t end);
    [[nodiscard]] bool contains(uint64_t start, uint64_t end) const noexcept;
    [[nodiscard]] bool overlaps(uint64_t start, uint64_t end) const noexcept;
    [[nodiscard]] size_t size() const noexcept { return runs_.size(); }
    // The runs in ascending order: disjoint and never adjacent.
    [[nodiscard]] std::span<const Run> runs() const noexcept { return runs_; }

private:
    // The first run starting after x (runs_.end() if none).
    [[nodiscard]] std::vector<Run>::const_iterator after(uint64_t x) const noexcept;
    std::vector<Run> runs_;  // sorted by start, disjoint, not adjacent
};

}  // namespace hvcore

// SPDX-License-Identifier: MIT
#include "hvcore/core/rangeset.hpp"

#include <algorithm>
#include <limits>

namespace hvcore {

std::vector<RangeSet::Run>::const_iterator RangeSet::after(uint64_t x) const noexcept {
    return std::upper_bound(runs_.begin(), runs_.end(), x, [](uint64_t v, const Run& r) { return v < r.start; });
}

bool RangeSet::overlaps(uint64_t start, uint64_t end) const noexcept {
    auto it = after(end);  // first run starting after end
    if (it == runs_.begin()) return false;
    --it;  // last run starting at or before end
    return it->end >= start;
}

bool RangeSet::contains(uint64_t start, uint64_t end) const noexcept {
    auto it = after(start);
    if (it == runs_.begin()) return false;
    --it;
    return it->start <= start && it->end >= end;
}

Status RangeSet::add(uint64_t start, uint64_t end) {
    if (start > end) return Status::err(-EINVAL);
    if (overlaps(start, end)) return Status::err(-EEXIST);
    // Neighbours that touch the new range merge with it.
    const auto next = after(start);
    const auto index = static_cast<size_t>(next - runs_.begin());
    const bool merge_next = next != runs_.end() && end != std::numeric_limits<uint64_t>::max() &&
                            next->start == end + 1;
    const bool merge_prev = index > 0 && start != 0 && runs_[index - 1].end == start - 1;
    const size_t after_add = runs_.size() + 1 - (merge_next ? 1 : 0) - (merge_prev ? 1 : 0);
    if (after_add > max_ranges) return Status::err(-ENOMEM);
    if (merge_prev && merge_next) {
        runs_[index - 1].end = runs_[index].end;
        runs_.erase(runs_.begin() + static_cast<std::ptrdiff_t>(index));
    } else if (merge_prev) {
        runs_[index - 1].end = end;
    } else if (merge_next) {
        runs_[index].start = start;
    } else {
        runs_.insert(runs_.begin() + static_cast<std::ptrdiff_t>(index), Run{start, end});
    }
    return Status::ok();
}

Status RangeSet::remove(uint64_t start, uint64_t end) {
    if (start > end) return Status::err(-EINVAL);
    auto it = after(start);
    if (it == runs_.begin()) return Status::err(-ENOENT);
    --it;
    if (!(it->start <= start && it->end >= end)) return Status::err(-ENOENT);
    const auto index = static_cast<size_t>(it - runs_.begin());
    const Run held = *it;
    const bool left = held.start < start;
    const bool right = held.end > end;
    if (left && right && runs_.size() + 1 > max_ranges) return Status::err(-ENOMEM);
    const auto at = runs_.begin() + static_cast<std::ptrdiff_t>(index);
    if (left && right) {
        runs_[index].end = start - 1;
        runs_.insert(at + 1, Run{end + 1, held.end});
    } else if (left) {
        runs_[index].end = start - 1;
    } else if (right) {
        runs_[index].start = end + 1;
    } else {
        runs_.erase(at);
    }
    return Status::ok();
}

}  // namespace hvcore

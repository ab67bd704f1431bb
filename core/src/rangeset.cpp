// SPDX-License-Identifier: MIT
#include "hvcore/core/rangeset.hpp"

#include <iterator>
#include <limits>

namespace hvcore {

bool RangeSet::overlaps(uint64_t start, uint64_t end) const noexcept {
    auto it = runs_.upper_bound(end);  // first run starting after end
    if (it == runs_.begin()) return false;
    --it;  // last run starting at or before end
    return it->second >= start;
}

bool RangeSet::contains(uint64_t start, uint64_t end) const noexcept {
    auto it = runs_.upper_bound(start);
    if (it == runs_.begin()) return false;
    --it;
    return it->first <= start && it->second >= end;
}

Status RangeSet::add(uint64_t start, uint64_t end) {
    if (start > end) return Status::err(-EINVAL);
    if (overlaps(start, end)) return Status::err(-EEXIST);
    // Neighbours that touch the new range merge with it.
    auto next = runs_.lower_bound(start);
    const bool merge_next = next != runs_.end() && end != std::numeric_limits<uint64_t>::max() &&
                            next->first == end + 1;
    auto prev = next == runs_.begin() ? runs_.end() : std::prev(next);
    const bool merge_prev = prev != runs_.end() && start != 0 && prev->second == start - 1;
    const size_t after = runs_.size() + 1 - (merge_next ? 1 : 0) - (merge_prev ? 1 : 0);
    if (after > max_ranges) return Status::err(-ENOMEM);
    uint64_t s = start;
    uint64_t e = end;
    if (merge_next) {
        e = next->second;
        runs_.erase(next);
    }
    if (merge_prev) {
        s = prev->first;
        runs_.erase(prev);
    }
    runs_.emplace(s, e);
    return Status::ok();
}

Status RangeSet::remove(uint64_t start, uint64_t end) {
    if (start > end) return Status::err(-EINVAL);
    auto it = runs_.upper_bound(start);
    if (it == runs_.begin()) return Status::err(-ENOENT);
    --it;
    if (!(it->first <= start && it->second >= end)) return Status::err(-ENOENT);
    const uint64_t s = it->first;
    const uint64_t e = it->second;
    const bool left = s < start;
    const bool right = e > end;
    if (left && right && runs_.size() + 1 > max_ranges) return Status::err(-ENOMEM);
    runs_.erase(it);
    if (left) runs_.emplace(s, start - 1);
    if (right) runs_.emplace(end + 1, e);
    return Status::ok();
}

}  // namespace hvcore

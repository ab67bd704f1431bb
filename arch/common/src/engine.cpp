// SPDX-License-Identifier: MIT
#include "hvcore/s2/engine.hpp"

#include <algorithm>
#include <bit>
#include <vector>

#include <gsl/assert>

namespace hvcore::s2 {

Result<Mfn> alloc_contiguous(MachineMemory& mem, unsigned n) {
    Expects(n >= 1 && n <= max_root_frames && std::has_single_bit(n));
    std::vector<Mfn> got;
    for (;;) {
        auto m = mem.alloc_table();
        if (!m) {
            for (Mfn f : got) mem.free_table(f);
            return m.status();
        }
        got.push_back(*m);
        // The aligned run the new frame belongs to: complete?
        const uint64_t base = m->raw() & ~uint64_t{n - 1};
        bool complete = true;
        for (uint64_t f = base; f < base + n && complete; ++f)
            complete = std::find(got.begin(), got.end(), Mfn{f}) != got.end();
        if (!complete) continue;
        for (Mfn f : got)
            if (f.raw() < base || f.raw() >= base + n) mem.free_table(f);
        return Mfn{base};
    }
}

// --- OwnerSide -------------------------------------------------------------------

size_t OwnerSide::home(uint64_t key) const noexcept {
    const unsigned bits = static_cast<unsigned>(std::countr_zero(slots_.size()));
    return static_cast<size_t>((key * 0x9E3779B97F4A7C15ULL) >> (64 - bits));
}

size_t OwnerSide::find(uint64_t key) const noexcept {
    if (slots_.empty()) return npos;
    const size_t mask = slots_.size() - 1;
    for (size_t i = home(key);; i = (i + 1) & mask) {
        if (slots_[i] == 0) return npos;
        if ((slots_[i] & key_mask) == key + 1) return i;
    }
}

uint8_t OwnerSide::single(uint64_t key) const noexcept {
    const size_t i = find(key);
    return i == npos ? 0 : static_cast<uint8_t>(slots_[i] >> 40);
}

uint8_t OwnerSide::get(uint64_t key, unsigned leaf) const noexcept {
    const size_t i = find(key);
    if (i == npos) return 0;
    const auto owner = static_cast<uint8_t>(slots_[i] >> 40);
    if (owner != mixed) return owner;
    const Packed& p = pool_[slots_[i] >> 48];
    const unsigned bit = leaf * 3;
    const unsigned v = p[bit / 8] | (bit / 8 + 1 < packed_bytes ? p[bit / 8 + 1] << 8 : 0U);
    return static_cast<uint8_t>((v >> (bit % 8)) & 7U);
}

void OwnerSide::load(uint64_t key, Owners& out) const noexcept {
    const size_t i = find(key);
    const uint8_t owner = i == npos ? 0 : static_cast<uint8_t>(slots_[i] >> 40);
    if (owner != mixed) {
        out.fill(owner);
        return;
    }
    for (unsigned k = 0; k < leaves; ++k) out[k] = get(key, k);
}

uint16_t OwnerSide::take_packed() {
    if (free_head_ != no_packed) {
        const uint16_t k = free_head_;
        free_head_ = static_cast<uint16_t>(pool_[k][0] | (pool_[k][1] << 8));
        return k;
    }
    Expects(pool_.size() < no_packed);
    if (pool_.size() == pool_.capacity()) pool_.reserve(std::max<size_t>(pool_.size() + 1, grow_to_));
    pool_.emplace_back();
    return static_cast<uint16_t>(pool_.size() - 1);
}

void OwnerSide::free_packed(uint16_t k) noexcept {
    pool_[k][0] = static_cast<uint8_t>(free_head_);
    pool_[k][1] = static_cast<uint8_t>(free_head_ >> 8);
    free_head_ = k;
    if (--mixed_used_ == 0) {
        std::vector<Packed>().swap(pool_);
        free_head_ = no_packed;
    }
}

void OwnerSide::put(uint64_t key, uint8_t owner, uint16_t index) {
    Expects(key < key_mask);
    if ((used_ + 1) * 8 > slots_.size() * 7) {
        std::vector<uint64_t> old = std::move(slots_);
        slots_.assign(old.empty() ? min_slots : old.size() * 2, 0);
        slots_.shrink_to_fit();
        const size_t mask = slots_.size() - 1;
        for (const uint64_t v : old) {
            if (v == 0) continue;
            size_t i = home((v & key_mask) - 1);
            while (slots_[i] != 0) i = (i + 1) & mask;
            slots_[i] = v;
        }
    }
    const size_t mask = slots_.size() - 1;
    size_t i = home(key);
    while (slots_[i] != 0) i = (i + 1) & mask;
    slots_[i] = (key + 1) | (uint64_t{owner} << 40) | (uint64_t{index} << 48);
    ++used_;
}

void OwnerSide::erase_at(size_t i) noexcept {
    if (static_cast<uint8_t>(slots_[i] >> 40) == mixed) free_packed(static_cast<uint16_t>(slots_[i] >> 48));
    // Backward-shift deletion, as LeafTableCounts does.
    const size_t mask = slots_.size() - 1;
    size_t hole = i;
    for (size_t j = (i + 1) & mask; slots_[j] != 0; j = (j + 1) & mask) {
        const size_t h = home((slots_[j] & key_mask) - 1);
        const bool stays = hole <= j ? (hole < h && h <= j) : (hole < h || h <= j);
        if (stays) continue;
        slots_[hole] = slots_[j];
        hole = j;
    }
    slots_[hole] = 0;
    if (--used_ == 0) std::vector<uint64_t>().swap(slots_);
}

void OwnerSide::erase(uint64_t key) noexcept {
    if (const size_t i = find(key); i != npos) erase_at(i);
}

void OwnerSide::store(uint64_t key, const Owners& own) {
    uint8_t seen = 0;  // bit k: an ioreq_server leaf of owner k
    for (const uint8_t o : own) {
        Expects(o < 8 || o == none);
        if (o != none) seen = static_cast<uint8_t>(seen | (1U << o));
    }
    const size_t i = find(key);
    const uint8_t before = i == npos ? 0 : static_cast<uint8_t>(slots_[i] >> 40);
    if ((seen & ~1U) == 0) {  // owner 0 only (or no ioreq_server leaf): what no record says
        if (i != npos) erase_at(i);
        return;
    }
    if (std::has_single_bit(seen)) {
        const auto one = static_cast<uint8_t>(std::countr_zero(seen));
        if (i == npos) {
            put(key, one, 0);
            return;
        }
        if (before == mixed) free_packed(static_cast<uint16_t>(slots_[i] >> 48));
        slots_[i] = (key + 1) | (uint64_t{one} << 40);
        return;
    }
    uint16_t k = 0;
    if (before == mixed) {
        k = static_cast<uint16_t>(slots_[i] >> 48);
    } else {
        k = take_packed();
        ++mixed_used_;
        if (i != npos)
            slots_[i] = (key + 1) | (uint64_t{mixed} << 40) | (uint64_t{k} << 48);
        else
            put(key, mixed, k);
    }
    Packed& p = pool_[k];
    p.fill(0);
    for (unsigned l = 0; l < leaves; ++l) {
        if (own[l] == none) continue;
        const unsigned bit = l * 3;
        const unsigned v = unsigned{own[l]} << (bit % 8);
        p[bit / 8] = static_cast<uint8_t>(p[bit / 8] | v);
        if (bit / 8 + 1 < packed_bytes) p[bit / 8 + 1] = static_cast<uint8_t>(p[bit / 8 + 1] | (v >> 8));
    }
}

bool OwnerSide::fits(uint64_t more_records, uint64_t more_mixed, uint64_t table_frames) noexcept {
    if (more_records == 0 && more_mixed == 0) return true;
    const uint64_t budget = table_frames * page_size / 100;
    // The slots after the new records, grown as put() grows them.
    uint64_t cap = slots_.size();
    while ((used_ + more_records) * 8 > cap * 7) cap = cap == 0 ? min_slots : cap * 2;
    // The packed arrays: a new one beyond the pool's capacity grows it.
    const uint64_t arrays = mixed_used_ + more_mixed;
    if (arrays >= no_packed) return false;
    const uint64_t pool = std::max<uint64_t>(arrays, pool_.capacity());
    if (cap * sizeof(uint64_t) + pool * packed_bytes > budget) return false;
    // The pool grows to what the bound leaves room for, at most double.
    grow_to_ = static_cast<size_t>(
        std::max<uint64_t>(pool, std::min<uint64_t>(2 * pool, (budget - cap * sizeof(uint64_t)) / packed_bytes)));
    return true;
}

}  // namespace hvcore::s2

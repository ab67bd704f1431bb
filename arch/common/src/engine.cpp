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

}  // namespace hvcore::s2

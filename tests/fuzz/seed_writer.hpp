// SPDX-License-Identifier: MIT
// The main of a seed generator (seed_dm_op.cpp, seed_wire.cpp): writes
// each seed as DIR/NAME. One copy for both generators.
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace hvcore::fuzz {

// Seed: anything with `name` (std::string) and `bytes` (a contiguous
// container of one-byte elements). Returns main's exit status.
template <class Seed>
int write_seeds(int argc, char** argv, const char* program, const char* target, const std::vector<Seed>& seeds) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s DIR (writes %s's seed corpus into DIR)\n", argv[0], target);
        return 2;
    }
    for (const Seed& seed : seeds) {
        const std::string path = std::string(argv[1]) + "/" + seed.name;
        std::FILE* f = std::fopen(path.c_str(), "wb");
        if (f == nullptr || std::fwrite(seed.bytes.data(), 1, seed.bytes.size(), f) != seed.bytes.size() ||
            std::fclose(f) != 0) {
            std::fprintf(stderr, "%s: %s: %s\n", program, path.c_str(), std::strerror(errno));
            return 1;
        }
    }
    return 0;
}

}  // namespace hvcore::fuzz

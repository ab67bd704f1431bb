// SPDX-License-Identifier: MIT
// The backend descriptor (hvcore/core/backend.hpp) of every linked backend:
// what the tools and tests read from it instead of their own tables, and
// the table budget Domain::create sizes a domain's table pool with.
#include <doctest/doctest.h>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "hvcore/core/backend.hpp"
#include "hvcore/core/machine_memory.hpp"
#include "hvcore/core/p2m.hpp"
#include "hvcore_test_backends.h"

using namespace hvcore;

TEST_CASE("every_linked_backend_names_itself_once_and_its_port_io_is_its_isa_s") {
    std::set<std::string> cli, keys, tests, display;
    for (const Backend& b : linked_backends()) {
        CAPTURE(b.name);
        REQUIRE(b.cli_name != nullptr);
        REQUIRE(b.display_name != nullptr);
        REQUIRE(b.key != nullptr);
        REQUIRE(b.test_name != nullptr);
        REQUIRE((b.table_frames != nullptr));
        CHECK(cli.insert(b.cli_name).second);
        CHECK(keys.insert(b.key).second);
        CHECK(tests.insert(b.test_name).second);
        CHECK(display.insert(b.display_name).second);
        CHECK(std::string(b.cli_name) != "all");  // `hvcore run --arch all`
        const auto isa = b.make_isa();
        CHECK(isa->has_port_io() == b.has_port_io);
    }
}

// The C ABI tests and the conformance suite know the backends through
// libhvcore.so only, from the table each arch/<b>/CMakeLists.txt declares
// (hvcore_backend_facts, generated hvcore_test_backends.h): it lists the
// linked backends, each once, with the descriptor's test name, enum hv_arch
// value and port I/O, so the two cannot drift apart.
namespace {
struct TestRow {
    std::string name;
    uint32_t arch;
    bool has_pio;
};
#define HVCORE_TEST_ROW(name, arch, has_pio) TestRow{name, arch, (has_pio) != 0},
const std::vector<TestRow> test_rows{HVCORE_TEST_BACKENDS(HVCORE_TEST_ROW)};
#undef HVCORE_TEST_ROW
}  // namespace

TEST_CASE("the_test_table_the_arch_folders_declare_is_every_linked_backend_s_descriptor") {
    REQUIRE(test_rows.size() == linked_backends().size());
    for (const Backend& b : linked_backends()) {
        CAPTURE(b.name);
        int found = 0;
        for (const TestRow& r : test_rows) {
            if (r.arch != static_cast<uint32_t>(b.arch)) continue;
            ++found;
            CHECK(r.name == b.test_name);
            CHECK(r.has_pio == b.has_port_io);
        }
        CHECK(found == 1);
    }
}

// Mapping gfns [0, N) with a 4 KiB leaf for every page (the worst a domain
// reaches: types set page by page split every superpage) takes exactly
// table_frames(N) frames: what build_ram used plus what tables_needed_4k
// says the rest needs, and the reservation of that rest succeeds.
TEST_CASE("the_table_budget_is_exactly_the_frames_of_every_ram_page_in_a_4k_leaf") {
    constexpr uint64_t level = 512;
    for (const Backend& b : linked_backends()) {
        CAPTURE(b.name);
        for (const uint64_t frames : {uint64_t{1}, level - 1, level, level + 1, level * level - 1, level * level,
                                      level * level + level + 1, 3 * level * level}) {
            CAPTURE(frames);
            const uint64_t budget = b.table_frames(frames);
            auto mem = MachineMemory::create(frames << page_shift, budget);
            REQUIRE(mem.is_ok());
            auto s2 = b.make_stage2(**mem);
            REQUIRE(s2.is_ok());
            P2m p2m(**s2, **mem);
            REQUIRE(p2m.build_ram().is_ok());
            const uint64_t rest = (*s2)->tables_needed_4k(Gfn{0}, frames);
            CHECK((*mem)->tables_in_use() + rest == budget);
            CHECK((*mem)->reserve_tables(rest).is_ok());
        }
    }
}

// SPDX-License-Identifier: MIT
// The core's p2m over a real backend table: legal changes, all-or-nothing
// commits, entry accounting and the lazy + synchronous reset. Runs on every
// backend linked into this build.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "hvcore/core/backend.hpp"
#include "hvcore/core/p2m.hpp"

using namespace hvcore;

namespace {

constexpr uint64_t mib = 1024 * 1024;
constexpr uint32_t claim_write = 2;  // HVDM_IOREQ_MEM_ACCESS_WRITE

struct Fixture {
    std::unique_ptr<MachineMemory> mem;
    std::unique_ptr<Stage2> s2;
    std::unique_ptr<P2m> p2m;

    Fixture(const Backend& b, uint64_t ram_bytes, uint64_t table_limit) {
        auto m = MachineMemory::create(ram_bytes, table_limit);
        REQUIRE(m.is_ok());
        mem = std::move(m).value();
        auto s = b.make_stage2(*mem);
        REQUIRE(s.is_ok());
        s2 = std::move(s).value();
        p2m = std::make_unique<P2m>(*s2, *mem);
        REQUIRE(p2m->build_ram().is_ok());
    }

    // entry_count, counted the slow way: every leaf of the table.
    [[nodiscard]] uint64_t leaves_of_type_ioreq_server() const {
        uint64_t n = 0;
        s2->for_each_leaf([&](Gfn, const Stage2Leaf& l) {
            if (l.type == P2mType::ioreq_server) n += uint64_t{1} << l.order;
        });
        return n;
    }
};

}  // namespace

TEST_CASE("p2m behaviours on every linked backend") {
    for (const Backend& b : linked_backends()) {
        CAPTURE(b.name);

        SUBCASE("ram_is_built_with_superpages_and_reads_as_ram_rw") {
            Fixture f(b, 64 * mib, 64);
            const Stage2Leaf l = f.p2m->lookup(Gfn{0x1234});
            CHECK(l.type == P2mType::ram_rw);
            CHECK(l.order == 9);  // 64 MiB at GPA 0 is 2 MiB-aligned: 2 MiB leaves
            CHECK(l.mfn == f.mem->ram_mfn(Gfn{0x1234}));
        }

        SUBCASE("setting_one_page_of_a_superpage_splits_it_and_counts_one_entry") {
            Fixture f(b, 64 * mib, 64);
            f.p2m->set_claim(IoservId{0}, claim_write);
            REQUIRE(f.p2m->set_type_range(Gfn{0x201}, 1, P2mType::ioreq_server).is_ok());
            CHECK(f.p2m->lookup(Gfn{0x201}).type == P2mType::ioreq_server);
            CHECK(f.p2m->lookup(Gfn{0x201}).order == 0);
            CHECK(f.p2m->lookup(Gfn{0x200}).type == P2mType::ram_rw);  // its neighbours keep RAM
            CHECK(f.p2m->lookup(Gfn{0x200}).mfn == f.mem->ram_mfn(Gfn{0x200}));
            CHECK(f.p2m->ioreq_entry_count() == 1);
            CHECK(f.leaves_of_type_ioreq_server() == 1);
        }

        SUBCASE("a_range_with_one_refused_page_changes_nothing") {
            Fixture f(b, 64 * mib, 64);
            f.p2m->set_claim(IoservId{0}, claim_write);
            REQUIRE(f.p2m->set_type_range(Gfn{0x305}, 1, P2mType::ram_ro).is_ok());
            // 0x300..0x30f: page 0x305 is ram_ro, which cannot become ioreq_server.
            CHECK(f.p2m->set_type_range(Gfn{0x300}, 16, P2mType::ioreq_server).code() == -EINVAL);
            for (uint64_t g = 0x300; g < 0x310; ++g)
                CHECK(f.p2m->lookup(Gfn{g}).type == (g == 0x305 ? P2mType::ram_ro : P2mType::ram_rw));
            CHECK(f.p2m->ioreq_entry_count() == 0);
        }

        SUBCASE("running_out_of_tables_is_enomem_and_changes_nothing") {
            // 16 MiB = 8 superpages of 2 MiB; the build itself needs the
            // root tables. Measure them, then leave exactly one spare frame.
            Fixture probe(b, 16 * mib, 64);
            const uint64_t build_tables = probe.mem->tables_in_use();
            Fixture f(b, 16 * mib, build_tables + 1);
            f.p2m->set_claim(IoservId{0}, claim_write);
            // Pages in two different superpages need two split tables.
            const uint64_t first = 0x1ff;  // last page of the first 2 MiB, then first of the second
            CHECK(f.p2m->set_type_range(Gfn{first}, 2, P2mType::ioreq_server).code() == -ENOMEM);
            CHECK(f.p2m->lookup(Gfn{first}).type == P2mType::ram_rw);
            CHECK(f.p2m->lookup(Gfn{first + 1}).type == P2mType::ram_rw);
            CHECK(f.p2m->ioreq_entry_count() == 0);
            CHECK(f.mem->tables_in_use() == build_tables);
            // One superpage needs one table: that fits.
            CHECK(f.p2m->set_type_range(Gfn{first}, 1, P2mType::ioreq_server).is_ok());
        }

        SUBCASE("disclaim_marks_lazily_and_a_lookup_resolves_to_ram_rw") {
            Fixture f(b, 64 * mib, 64);
            f.p2m->set_claim(IoservId{0}, claim_write);
            REQUIRE(f.p2m->set_type_range(Gfn{0x400}, 8, P2mType::ioreq_server).is_ok());
            f.p2m->set_claim(IoservId{0}, 0);
            f.p2m->mark_recalc_all();
            // Nothing written yet: the table still holds the old type, but
            // the type as seen through the mark is already ram_rw.
            CHECK(f.leaves_of_type_ioreq_server() == 8);
            CHECK(f.p2m->peek_type(Gfn{0x403}) == P2mType::ram_rw);
            CHECK(f.p2m->lookup(Gfn{0x403}).type == P2mType::ram_rw);
            // The lookup recalculated the whole leaf table it reached.
            CHECK(f.p2m->ioreq_entry_count() == 0);
            CHECK(f.leaves_of_type_ioreq_server() == 0);
        }

        SUBCASE("the_sweep_resolves_outstanding_entries_in_bounded_chunks") {
            Fixture f(b, 64 * mib, 64);
            f.p2m->set_claim(IoservId{0}, claim_write);
            // Outstanding pages spread over 20 different leaf tables.
            for (uint64_t i = 0; i < 20; ++i)
                REQUIRE(f.p2m->set_type_range(Gfn{i * 512 + 7}, 3, P2mType::ioreq_server).is_ok());
            REQUIRE(f.p2m->ioreq_entry_count() == 60);
            f.p2m->set_claim(IoservId{0}, 0);
            f.p2m->mark_recalc_all();
            // A budget of 5 resolutions: each resolves one leaf table (3 entries).
            CHECK(f.p2m->sweep(5) == 45);
            CHECK(f.p2m->sweep(1000) == 0);
            CHECK(f.leaves_of_type_ioreq_server() == 0);
        }

        SUBCASE("while_claimed_a_pending_mark_keeps_ioreq_server") {
            Fixture f(b, 64 * mib, 64);
            f.p2m->set_claim(IoservId{0}, claim_write);
            REQUIRE(f.p2m->set_type_range(Gfn{0x10}, 1, P2mType::ioreq_server).is_ok());
            f.p2m->mark_recalc_all();
            CHECK(f.p2m->lookup(Gfn{0x10}).type == P2mType::ioreq_server);
            CHECK(f.p2m->ioreq_entry_count() == 1);
        }

        SUBCASE("a_range_change_refused_in_a_later_leaf_table_changes_nothing_and_names_the_first_refused_gfn") {
            Fixture f(b, 64 * mib, 64);
            // ram_ro at 0x7ff and 0x905: a change to ioreq_server over
            // [0x300, 0xa00) is refused at 0x7ff, in the third leaf table
            // the range crosses.
            REQUIRE(f.p2m->set_type_range(Gfn{0x905}, 1, P2mType::ram_ro).is_ok());
            REQUIRE(f.p2m->set_type_range(Gfn{0x7ff}, 1, P2mType::ram_ro).is_ok());
            const uint64_t tables = f.mem->tables_in_use();
            std::vector<uint64_t> before;
            for (uint64_t g = 0; g < 0xc00; ++g) before.push_back(f.s2->raw_entry(Gfn{g}));
            f.p2m->set_claim(IoservId{0}, claim_write);
            CHECK(f.p2m->first_refused(Gfn{0x300}, 0x700, P2mType::ioreq_server) == Gfn{0x7ff});
            CHECK(f.p2m->set_type_range(Gfn{0x300}, 0x700, P2mType::ioreq_server).code() == -EINVAL);
            for (uint64_t g = 0; g < 0xc00; ++g) CHECK(f.s2->raw_entry(Gfn{g}) == before[g]);
            CHECK(f.mem->tables_in_use() == tables);
            CHECK(f.p2m->ioreq_entry_count() == 0);
            // Below the refused page the range goes through, over two leaf
            // tables and into a superpage it splits.
            REQUIRE(f.p2m->set_type_range(Gfn{0x300}, 0x4ff, P2mType::ioreq_server).is_ok());
            CHECK(f.p2m->ioreq_entry_count() == 0x4ff);
            CHECK(f.leaves_of_type_ioreq_server() == 0x4ff);
            CHECK(f.p2m->ioreq_tables() == 3);
            for (uint64_t g : {uint64_t{0x300}, uint64_t{0x5ab}, uint64_t{0x7fe}}) {
                const Stage2Leaf l = f.p2m->lookup(Gfn{g});
                CHECK(l.type == P2mType::ioreq_server);
                CHECK(l.order == 0);
                CHECK(l.mfn == f.mem->ram_mfn(Gfn{g}));  // the frame is kept
            }
            CHECK(f.p2m->lookup(Gfn{0x2ff}).type == P2mType::ram_rw);
            CHECK(f.p2m->lookup(Gfn{0x7ff}).type == P2mType::ram_ro);
            // Back to ram_rw over the whole range, ram_ro page included.
            REQUIRE(f.p2m->set_type_range(Gfn{0x300}, 0x700, P2mType::ram_rw).is_ok());
            CHECK(f.p2m->ioreq_entry_count() == 0);
            CHECK(f.p2m->ioreq_tables() == 0);
            CHECK(f.p2m->side_bytes() == 0);
            CHECK(f.leaves_of_type_ioreq_server() == 0);
        }

        SUBCASE("a_list_refused_in_a_later_leaf_table_changes_nothing_and_names_the_first_refused_gfn") {
            Fixture f(b, 64 * mib, 64);
            // ram_ro at 0x7ff and 0x905: a list over five leaf tables is
            // refused at 0x7ff (its fourth gfn, in the third table), after
            // gfns whose change alone would be accepted.
            REQUIRE(f.p2m->set_type_range(Gfn{0x905}, 1, P2mType::ram_ro).is_ok());
            REQUIRE(f.p2m->set_type_range(Gfn{0x7ff}, 1, P2mType::ram_ro).is_ok());
            const uint64_t tables = f.mem->tables_in_use();
            std::vector<uint64_t> before;
            for (uint64_t g = 0; g < 0xc00; ++g) before.push_back(f.s2->raw_entry(Gfn{g}));
            f.p2m->set_claim(IoservId{0}, claim_write);
            const std::vector<uint64_t> list = {0x301, 0x303, 0x5ab, 0x7ff, 0x905, 0xa10};
            CHECK(f.p2m->first_refused_list(list, P2mType::ioreq_server) == Gfn{0x7ff});
            CHECK(f.p2m->set_type_list(list, P2mType::ioreq_server).code() == -EINVAL);
            for (uint64_t g = 0; g < 0xc00; ++g) CHECK(f.s2->raw_entry(Gfn{g}) == before[g]);
            CHECK(f.mem->tables_in_use() == tables);
            CHECK(f.p2m->ioreq_entry_count() == 0);
            // Without the refused gfns the list goes through: only the
            // listed pages change, counted per leaf table (five); the
            // superpages at 0x200, 0x400 and 0xa00 are split for their
            // listed pages, the one at 0xc00 is not reached.
            const std::vector<uint64_t> ok = {0x301, 0x303, 0x5ab, 0x7fe, 0x904, 0xa10};
            CHECK(!f.p2m->first_refused_list(ok, P2mType::ioreq_server));
            REQUIRE(f.p2m->set_type_list(ok, P2mType::ioreq_server).is_ok());
            CHECK(f.p2m->ioreq_entry_count() == ok.size());
            CHECK(f.leaves_of_type_ioreq_server() == ok.size());
            CHECK(f.p2m->ioreq_tables() == 5);
            CHECK(f.mem->tables_in_use() == tables + 3);
            CHECK(f.p2m->lookup(Gfn{0xc00}).order == 9);
            for (uint64_t g = 0x300; g < 0xc00; ++g) {
                const bool listed = std::find(ok.begin(), ok.end(), g) != ok.end();
                const P2mType want = listed                     ? P2mType::ioreq_server
                                     : (g == 0x7ff || g == 0x905) ? P2mType::ram_ro
                                                                  : P2mType::ram_rw;
                if (f.p2m->lookup(Gfn{g}).type != want) FAIL_CHECK("gfn " << g);
                if (f.p2m->lookup(Gfn{g}).mfn != f.mem->ram_mfn(Gfn{g})) FAIL_CHECK("frame of gfn " << g);
            }
            // And back.
            REQUIRE(f.p2m->set_type_list(ok, P2mType::ram_rw).is_ok());
            CHECK(f.p2m->ioreq_entry_count() == 0);
            CHECK(f.p2m->side_bytes() == 0);
        }

        SUBCASE("a_list_out_of_order_or_beyond_the_table_is_refused_at_that_gfn") {
            Fixture f(b, 64 * mib, 64);
            const uint64_t limit = f.p2m->gfn_limit();
            using L = std::vector<uint64_t>;
            CHECK(f.p2m->first_refused_list(L{1, 5, 5}, P2mType::ram_ro) == Gfn{5});
            CHECK(f.p2m->first_refused_list(L{1, 3, 2, 0}, P2mType::ram_ro) == Gfn{2});
            CHECK(f.p2m->first_refused_list(L{1, limit}, P2mType::ram_ro) == Gfn{limit});
            CHECK(f.p2m->set_type_list(L{1, 3, 2}, P2mType::ram_ro).code() == -EINVAL);
            CHECK(f.p2m->set_type_list(L{}, P2mType::ram_ro).code() == -EINVAL);
            CHECK(!f.p2m->first_refused_list(L{}, P2mType::ram_ro));
            CHECK(f.p2m->lookup(Gfn{1}).type == P2mType::ram_rw);
            CHECK(f.p2m->lookup(Gfn{3}).type == P2mType::ram_rw);
        }

        SUBCASE("a_list_writes_what_a_change_page_by_page_writes_pending_marks_included") {
            // Two p2ms through the same history; one changes a scattered
            // list (runs, single pages, under pending marks), the other each
            // listed page on its own. Every entry must then be the same.
            Fixture a(b, 64 * mib, 64);
            Fixture p(b, 64 * mib, 64);
            std::vector<uint64_t> list;
            uint64_t seed = 7;
            for (uint64_t g = 0x100; g < 0x3000; g += 1 + (seed % 9)) {
                seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
                list.push_back(g);
                if ((seed >> 60) == 0)  // now and then a run of 20
                    for (uint64_t k = 1; k <= 20; ++k) list.push_back(g + k);
                if ((seed >> 60) == 0) g += 20;
            }
            for (Fixture* f : {&a, &p}) {
                f->p2m->set_claim(IoservId{0}, claim_write);
                REQUIRE(f->p2m->set_type_range(Gfn{0x400}, 0x300, P2mType::ioreq_server).is_ok());
                f->p2m->set_claim(IoservId{0}, 0);
                f->p2m->mark_recalc_all();  // the claimed pages read as ram_rw now
            }
            REQUIRE(a.p2m->set_type_list(list, P2mType::ram_ro).is_ok());
            for (const uint64_t g : list) REQUIRE(p.p2m->set_type_range(Gfn{g}, 1, P2mType::ram_ro).is_ok());
            CHECK(a.p2m->ioreq_entry_count() == p.p2m->ioreq_entry_count());
            CHECK(a.mem->tables_in_use() == p.mem->tables_in_use());
            for (uint64_t g = 0; g < 0x3200; ++g)
                if (a.s2->raw_entry(Gfn{g}) != p.s2->raw_entry(Gfn{g})) FAIL_CHECK("gfn " << g);
            for (Fixture* f : {&a, &p}) CHECK(f->p2m->sweep(UINT64_MAX) == 0);
            for (uint64_t g = 0; g < 0x3200; ++g)
                if (a.p2m->lookup(Gfn{g}).type != p.p2m->lookup(Gfn{g}).type) FAIL_CHECK("gfn " << g);
        }

        SUBCASE("a_range_under_pending_marks_is_checked_and_written_as_the_marks_resolve") {
            Fixture f(b, 64 * mib, 64);
            f.p2m->set_claim(IoservId{0}, claim_write);
            REQUIRE(f.p2m->set_type_range(Gfn{0x400}, 16, P2mType::ioreq_server).is_ok());
            f.p2m->set_claim(IoservId{0}, 0);
            f.p2m->mark_recalc_all();
            // Under the mark the pages are ram_rw already: ram_ro may
            // replace them (from ioreq_server it could not), and the
            // entries are accounted as they resolve.
            CHECK(!f.p2m->first_refused(Gfn{0x3f0}, 64, P2mType::ram_ro));
            REQUIRE(f.p2m->set_type_range(Gfn{0x3f0}, 64, P2mType::ram_ro).is_ok());
            CHECK(f.p2m->ioreq_entry_count() == 0);
            CHECK(f.leaves_of_type_ioreq_server() == 0);
            CHECK(f.p2m->lookup(Gfn{0x405}).type == P2mType::ram_ro);
            CHECK(f.p2m->lookup(Gfn{0x3f0}).type == P2mType::ram_ro);
            // Pages of the table outside the range stay pending, then
            // resolve to ram_rw.
            CHECK(f.s2->lookup(Gfn{0x500}).recalc_pending);
            CHECK(f.p2m->lookup(Gfn{0x500}).type == P2mType::ram_rw);
        }

        SUBCASE("the_side_structure_stays_under_one_percent_of_the_tables_for_contiguous_and_scattered_entries") {
            for (const bool contiguous : {true, false}) {
                CAPTURE(contiguous);
                Fixture f(b, 64 * mib, 64);
                f.p2m->set_claim(IoservId{0}, claim_write);
                if (contiguous) {
                    REQUIRE(f.p2m->set_type_range(Gfn{0x1000}, 4096, P2mType::ioreq_server).is_ok());
                } else {
                    for (uint64_t i = 0; i < 32; ++i)
                        REQUIRE(f.p2m->set_type_range(Gfn{i * 512 + 9}, 1, P2mType::ioreq_server).is_ok());
                }
                CHECK(f.p2m->ioreq_entry_count() == (contiguous ? 4096 : 32));
                CHECK(f.p2m->side_bytes() * 100 <= f.mem->tables_in_use() * page_size);
            }
        }

        SUBCASE("the_sweep_rewrites_only_the_counted_leaves_and_merges_a_uniform_table_back") {
            Fixture f(b, 64 * mib, 64);
            const uint64_t tables = f.mem->tables_in_use();
            f.p2m->set_claim(IoservId{0}, claim_write);
            // A whole 2 MiB leaf claimed (gfns 0x200..0x3ff), and a table
            // with a ram_ro page too (0x600..0x7ff).
            REQUIRE(f.p2m->set_type_range(Gfn{0x200}, 512, P2mType::ioreq_server).is_ok());
            REQUIRE(f.p2m->set_type_range(Gfn{0x610}, 4, P2mType::ioreq_server).is_ok());
            REQUIRE(f.p2m->set_type_range(Gfn{0x620}, 1, P2mType::ram_ro).is_ok());
            CHECK(f.mem->tables_in_use() == tables + 2);
            f.p2m->set_claim(IoservId{0}, 0);
            f.p2m->mark_recalc_all();
            CHECK(f.p2m->sweep(UINT64_MAX) == 0);
            CHECK(f.leaves_of_type_ioreq_server() == 0);
            // The uniform table is one 2 MiB leaf again, as build_ram wrote it.
            const Stage2Leaf merged = f.p2m->lookup(Gfn{0x234});
            CHECK(merged.type == P2mType::ram_rw);
            CHECK(merged.order == 9);
            CHECK(merged.mfn == f.mem->ram_mfn(Gfn{0x234}));
            CHECK(f.mem->tables_in_use() == tables + 1);
            // The other keeps its ram_ro page and its 4 KiB leaves.
            CHECK(f.p2m->lookup(Gfn{0x620}).type == P2mType::ram_ro);
            CHECK(f.p2m->lookup(Gfn{0x611}).type == P2mType::ram_rw);
            CHECK(f.p2m->lookup(Gfn{0x611}).order == 0);
            // Its leaves that were never ioreq_server were not rewritten
            // by the sweep: no mark on the walk to them was pushed into them
            // (the walk's entries were unmarked on the way, the leaf kept).
            CHECK(!f.s2->lookup(Gfn{0x6ff}).recalc_pending);
        }

        SUBCASE("without_a_mark_an_ownerless_ioreq_server_leaf_reads_as_ram_rw_and_a_lookup_resets_it_in_place") {
            Fixture f(b, 64 * mib, 64);
            f.p2m->set_claim(IoservId{0}, claim_write);
            REQUIRE(f.p2m->set_type_range(Gfn{0x400}, 3, P2mType::ioreq_server).is_ok());
            // A disclaim's first step, before its sweep: the owner is gone and
            // nothing is marked.
            f.p2m->set_claim(IoservId{0}, 0);
            CHECK(f.leaves_of_type_ioreq_server() == 3);
            CHECK(f.p2m->peek_type(Gfn{0x401}) == P2mType::ram_rw);
            CHECK(!f.s2->lookup(Gfn{0x401}).recalc_pending);
            // ram_ro may replace it as it may replace ram_rw.
            CHECK(!f.p2m->first_refused(Gfn{0x402}, 1, P2mType::ram_ro));
            // A lookup rewrites exactly that leaf, counted.
            const Stage2Leaf l = f.p2m->lookup(Gfn{0x401});
            CHECK(l.type == P2mType::ram_rw);
            CHECK(l.mfn == f.mem->ram_mfn(Gfn{0x401}));
            CHECK(f.s2->lookup(Gfn{0x401}).type == P2mType::ram_rw);
            CHECK(f.p2m->ioreq_entry_count() == 2);
            CHECK(f.leaves_of_type_ioreq_server() == 2);
            // reset_stale does the same for a fault, and only once.
            CHECK(f.p2m->reset_stale(Gfn{0x400}));
            CHECK(!f.p2m->reset_stale(Gfn{0x400}));
            CHECK(!f.p2m->reset_stale(Gfn{0x500}));  // never ioreq_server
            CHECK(f.p2m->ioreq_entry_count() == 1);
            // Claimed again, nothing is stale.
            f.p2m->set_claim(IoservId{0}, claim_write);
            CHECK(!f.p2m->reset_stale(Gfn{0x402}));
            CHECK(f.p2m->peek_type(Gfn{0x402}) == P2mType::ioreq_server);
        }

        SUBCASE("the_sweep_without_a_mark_leaves_no_mark_and_merges_fresh_splits_in_address_order_chunks") {
            Fixture f(b, 64 * mib, 64);
            const uint64_t tables = f.mem->tables_in_use();
            f.p2m->set_claim(IoservId{0}, claim_write);
            // One page in each of 12 2 MiB leaves (each split by the claim).
            for (uint64_t t = 0; t < 12; ++t)
                REQUIRE(f.p2m->set_type_range(Gfn{t * 512 + 5 + t}, 1, P2mType::ioreq_server).is_ok());
            CHECK(f.mem->tables_in_use() == tables + 12);
            f.p2m->set_claim(IoservId{0}, 0);
            CHECK(f.p2m->sweep(5) == 7);
            // Address order: the first five tables are done, the others not.
            for (uint64_t t = 0; t < 12; ++t)
                CHECK(f.s2->lookup(Gfn{t * 512 + 5 + t}).type ==
                      (t < 5 ? P2mType::ram_rw : P2mType::ioreq_server));
            CHECK(f.p2m->sweep(UINT64_MAX) == 0);
            CHECK(f.mem->tables_in_use() == tables);
            CHECK(f.p2m->side_bytes() == 0);
            f.s2->for_each_leaf([&](Gfn g, const Stage2Leaf& l) {
                CAPTURE(g.raw());
                CHECK(!l.recalc_pending);
                CHECK(l.type == P2mType::ram_rw);
                CHECK(l.mfn == f.mem->ram_mfn(g));
            });
        }

        SUBCASE("a_split_table_that_got_another_type_after_its_claim_is_reset_but_not_merged") {
            Fixture f(b, 64 * mib, 64);
            const uint64_t tables = f.mem->tables_in_use();
            f.p2m->set_claim(IoservId{0}, claim_write);
            // Table 1: split by the claim, then a ram_ro page written in it;
            // table 2: split by the claim, then its page set back to ram_rw
            // and another one claimed (still the split of one ram_rw leaf
            // once reset); table 3: a ram_logdirty page, back to ram_rw.
            REQUIRE(f.p2m->set_type_range(Gfn{0x200}, 1, P2mType::ioreq_server).is_ok());
            REQUIRE(f.p2m->set_type_range(Gfn{0x3ff}, 1, P2mType::ram_ro).is_ok());
            REQUIRE(f.p2m->set_type_range(Gfn{0x400}, 1, P2mType::ioreq_server).is_ok());
            REQUIRE(f.p2m->set_type_range(Gfn{0x410}, 2, P2mType::ioreq_server).is_ok());
            REQUIRE(f.p2m->set_type_range(Gfn{0x400}, 1, P2mType::ram_rw).is_ok());
            REQUIRE(f.p2m->set_type_range(Gfn{0x600}, 1, P2mType::ioreq_server).is_ok());
            REQUIRE(f.p2m->set_type_range(Gfn{0x601}, 1, P2mType::ram_logdirty).is_ok());
            REQUIRE(f.p2m->set_type_range(Gfn{0x601}, 1, P2mType::ram_rw).is_ok());
            f.p2m->set_claim(IoservId{0}, 0);
            CHECK(f.p2m->sweep(UINT64_MAX) == 0);
            CHECK(f.leaves_of_type_ioreq_server() == 0);
            // Table 1 keeps its ram_ro page in 4 KiB leaves; table 2 is one
            // 2 MiB leaf again; table 3 too, read whole to merge it (the
            // p2m no longer vouches for it).
            CHECK(f.p2m->lookup(Gfn{0x3ff}).type == P2mType::ram_ro);
            CHECK(f.p2m->lookup(Gfn{0x200}).type == P2mType::ram_rw);
            CHECK(f.p2m->lookup(Gfn{0x200}).order == 0);
            CHECK(f.p2m->lookup(Gfn{0x410}).order == 9);
            CHECK(f.p2m->lookup(Gfn{0x601}).order == 9);
            CHECK(f.mem->tables_in_use() == tables + 1);
        }

        SUBCASE("a_ram_page_made_a_hole_cannot_become_ram_again") {
            Fixture f(b, 64 * mib, 64);
            REQUIRE(f.p2m->set_type_range(Gfn{0x20}, 1, P2mType::mmio_dm).is_ok());
            CHECK(f.p2m->lookup(Gfn{0x20}).type == P2mType::mmio_dm);
            CHECK(f.p2m->set_type_range(Gfn{0x20}, 1, P2mType::ram_rw).code() == -EINVAL);
            CHECK(f.p2m->set_type_range(Gfn{0x20}, 1, P2mType::mmio_dm).is_ok());
        }
    }
}

TEST_CASE("leaf_table_counts_know_a_table_uniform_only_from_the_change_that_split_it_until_another_type_is_written") {
    LeafTableCounts c;
    c.add_ioreq(7, 1, 3, 3, true);  // enters the map with the split
    REQUIRE(c.find(7) != nullptr);
    CHECK(c.find(7)->uniform);
    c.add_ioreq(7, 2, 9, 10, false);  // more entries in the same table: still uniform
    CHECK(c.find(7)->uniform);
    CHECK(c.find(7)->lo == 3);
    CHECK(c.find(7)->hi == 10);
    c.spoil(7);
    CHECK(!c.find(7)->uniform);
    c.spoil(8);  // not counted: nothing happens
    CHECK(c.find(8) == nullptr);
    c.add_ioreq(7, -3, 0, 0);
    CHECK(c.find(7) == nullptr);
    c.add_ioreq(7, 1, 0, 0, false);  // an existing table: not known uniform
    CHECK(!c.find(7)->uniform);
    c.add_ioreq(7, 1, 1, 1, true);  // a split is only believed when the table enters the map
    CHECK(!c.find(7)->uniform);
    // keys(): every counted table, ascending.
    for (uint64_t k : {uint64_t{900}, uint64_t{3}, uint64_t{1} << 30, uint64_t{42}}) c.add_ioreq(k, 1, 0, 0);
    std::vector<uint64_t> keys;
    c.keys(keys);
    CHECK(keys == std::vector<uint64_t>{3, 7, 42, 900, uint64_t{1} << 30});
}

// --- several owners ---------------------------------------------------------------------
//
// Each ioreq server may hold a claim of the ioreq_server type; the pages
// it sets are its own (Stage2Leaf::owner), their rights follow its claim,
// they are counted per owner, and when its claim ends only its pages are
// reset, at the cost of its own entries.

TEST_CASE("p2m owners on every linked backend") {
    constexpr uint32_t claim_read = 1;  // HVDM_IOREQ_MEM_ACCESS_READ
    const AccessContext ctx{};
    for (const Backend& b : linked_backends()) {
        CAPTURE(std::string(b.name));

        SUBCASE("claims_rights_counts_and_refusals_follow_each_pages_owner") {
            Fixture f(b, 64 * mib, 64);
            CHECK_FALSE(f.p2m->any_claimant().has_value());
            f.p2m->set_claim(IoservId{4}, claim_read | claim_write);
            f.p2m->set_claim(IoservId{1}, claim_write);
            CHECK(f.p2m->any_claimant() == IoservId{1});
            CHECK(f.p2m->claim_flags(IoservId{4}) == (claim_read | claim_write));
            CHECK(f.p2m->claim_flags(IoservId{0}) == 0);
            CHECK(f.p2m->claim_flags(IoservId{9}) == 0);
            // One leaf table shared by owners 1 and 4, and owner 1 alone in another.
            REQUIRE(f.p2m->set_type_range(Gfn{0x200}, 3, P2mType::ioreq_server, IoservId{1}).is_ok());
            REQUIRE(f.p2m->set_type_range(Gfn{0x210}, 2, P2mType::ioreq_server, IoservId{4}).is_ok());
            const std::vector<uint64_t> list = {0x600, 0x602};
            REQUIRE(f.p2m->set_type_list(list, P2mType::ioreq_server, IoservId{1}).is_ok());
            CHECK(f.p2m->ioreq_entry_count() == 7);
            CHECK(f.p2m->ioreq_entry_count(IoservId{1}) == 5);
            CHECK(f.p2m->ioreq_entry_count(IoservId{4}) == 2);
            CHECK(f.p2m->ioreq_entry_count(IoservId{0}) == 0);
            CHECK(f.p2m->ioreq_tables() == 2);
            CHECK(f.p2m->lookup(Gfn{0x201}).owner == 1);
            CHECK(f.p2m->peek(Gfn{0x211}).owner == 4);
            CHECK(f.p2m->lookup(Gfn{0x602}).owner == 1);
            // Owner 1 claims writes: reads run, writes fault. Owner 4 claims
            // reads: every access faults, the type and owner stay.
            const Gpa one = to_gpa(Gfn{0x201}), four = to_gpa(Gfn{0x211});
            CHECK(f.s2->translate(one, AccessType::read, ctx).ok);
            CHECK_FALSE(f.s2->translate(one, AccessType::write, ctx).ok);
            CHECK_FALSE(f.s2->translate(one, AccessType::fetch, ctx).ok);
            for (AccessType a : {AccessType::read, AccessType::write, AccessType::fetch}) {
                const Translation t = f.s2->translate(four, a, ctx);
                REQUIRE_FALSE(t.ok);
                const Fault flt = f.s2->decode_fault(t.record);
                CHECK(flt.access == a);
                CHECK(flt.gpa == four);
            }
            // A change may name the owners whose pages it may take.
            CHECK(f.p2m->first_refused(Gfn{0x200}, 0x20, P2mType::ram_rw, 1U << 1) == Gfn{0x210});
            CHECK_FALSE(f.p2m->first_refused(Gfn{0x200}, 0x20, P2mType::ram_rw).has_value());
            CHECK(f.p2m->first_refused_list(list, P2mType::ram_rw, 1U << 4) == Gfn{0x600});
            // A page moves from owner 4 to owner 1, through ram_rw (as in Xen,
            // ioreq_server becomes nothing but ram_rw): counted as such.
            CHECK(f.p2m->set_type_range(Gfn{0x211}, 1, P2mType::ioreq_server, IoservId{1}).code() == -EINVAL);
            REQUIRE(f.p2m->set_type_range(Gfn{0x211}, 1, P2mType::ram_rw).is_ok());
            REQUIRE(f.p2m->set_type_range(Gfn{0x211}, 1, P2mType::ioreq_server, IoservId{1}).is_ok());
            CHECK(f.p2m->ioreq_entry_count(IoservId{1}) == 6);
            CHECK(f.p2m->ioreq_entry_count(IoservId{4}) == 1);
            CHECK(f.s2->translate(to_gpa(Gfn{0x211}), AccessType::read, ctx).ok);
            CHECK(f.p2m->set_type_range(Gfn{0x20}, 1, P2mType::ioreq_server, IoservId{8}).code() == -EINVAL);
            CHECK(f.leaves_of_type_ioreq_server() == 7);
        }

        SUBCASE("the_sweep_resets_only_the_stale_owners_pages_at_the_cost_of_their_tables") {
            Fixture f(b, 64 * mib, 128);
            f.p2m->set_claim(IoservId{2}, claim_write);
            f.p2m->set_claim(IoservId{6}, claim_write);
            // Owner 2 over 24 leaf tables; owner 6 in 2 of them.
            for (uint64_t i = 0; i < 24; ++i)
                REQUIRE(f.p2m->set_type_range(Gfn{i * 512 + 7}, 3, P2mType::ioreq_server, IoservId{2}).is_ok());
            REQUIRE(f.p2m->set_type_range(Gfn{0x20}, 4, P2mType::ioreq_server, IoservId{6}).is_ok());
            REQUIRE(f.p2m->set_type_range(Gfn{5 * 512 + 100}, 1, P2mType::ioreq_server, IoservId{6}).is_ok());
            REQUIRE(f.p2m->ioreq_entry_count(IoservId{2}) == 72);
            REQUIRE(f.p2m->ioreq_entry_count(IoservId{6}) == 5);
            CHECK(f.p2m->sweep(100) == 0);  // nobody's claim ended: nothing to do
            CHECK(f.p2m->ioreq_entry_count() == 77);
            f.p2m->set_claim(IoservId{6}, 0);
            // Stale: ram_rw to everyone before the sweep reaches them.
            CHECK(f.p2m->peek_type(Gfn{0x21}) == P2mType::ram_rw);
            CHECK(f.p2m->peek_type(Gfn{8}) == P2mType::ioreq_server);
            // Owner 6's two tables: two chunks of one table each, whatever
            // owner 2 holds elsewhere.
            CHECK(f.p2m->sweep(1) != 0);
            CHECK(f.p2m->sweep(1) == 0);
            CHECK(f.p2m->ioreq_entry_count(IoservId{6}) == 0);
            CHECK(f.p2m->ioreq_entry_count(IoservId{2}) == 72);
            CHECK(f.leaves_of_type_ioreq_server() == 72);
            CHECK(f.p2m->lookup(Gfn{0x21}).type == P2mType::ram_rw);
            CHECK(f.s2->translate(to_gpa(Gfn{0x21}), AccessType::write, ctx).ok);
            CHECK(f.p2m->lookup(Gfn{8}).owner == 2);
            CHECK_FALSE(f.s2->translate(to_gpa(Gfn{8}), AccessType::write, ctx).ok);
            // Owner 2's claim ends: its 24 tables, then nothing.
            f.p2m->set_claim(IoservId{2}, 0);
            CHECK(f.p2m->sweep(20) == 12);
            CHECK(f.p2m->sweep(20) == 0);
            CHECK(f.p2m->ioreq_entry_count() == 0);
            CHECK(f.leaves_of_type_ioreq_server() == 0);
            CHECK(f.p2m->side_bytes() == 0);
            // Merged back into 2 MiB leaves.
            CHECK(f.p2m->lookup(Gfn{8}).order == 9);
        }

        SUBCASE("reset_stale_and_lookup_reset_a_page_only_when_its_own_owners_claim_ended") {
            Fixture f(b, 64 * mib, 64);
            f.p2m->set_claim(IoservId{0}, claim_write);
            f.p2m->set_claim(IoservId{3}, claim_write);
            REQUIRE(f.p2m->set_type_range(Gfn{0x300}, 2, P2mType::ioreq_server, IoservId{0}).is_ok());
            REQUIRE(f.p2m->set_type_range(Gfn{0x302}, 2, P2mType::ioreq_server, IoservId{3}).is_ok());
            f.p2m->set_claim(IoservId{3}, 0);
            CHECK_FALSE(f.p2m->reset_stale(Gfn{0x300}));  // owner 0 still claims
            CHECK_FALSE(f.p2m->reset_stale(Gfn{0x310}));  // ram_rw
            CHECK(f.p2m->reset_stale(Gfn{0x302}));
            CHECK_FALSE(f.p2m->reset_stale(Gfn{0x302}));  // done already
            CHECK(f.p2m->ioreq_entry_count(IoservId{3}) == 1);
            const Stage2Leaf l = f.p2m->lookup(Gfn{0x303});  // a lookup resets it too
            CHECK(l.type == P2mType::ram_rw);
            CHECK(l.owner == 0);
            CHECK(f.p2m->ioreq_entry_count(IoservId{3}) == 0);
            CHECK(f.p2m->ioreq_entry_count(IoservId{0}) == 2);
            CHECK(f.p2m->lookup(Gfn{0x301}).type == P2mType::ioreq_server);
            // A stale page may change as ram_rw; a live one only to ram_rw.
            f.p2m->set_claim(IoservId{0}, 0);
            CHECK(f.p2m->set_type_range(Gfn{0x300}, 1, P2mType::ram_ro).is_ok());
            CHECK(f.p2m->ioreq_entry_count(IoservId{0}) == 1);
        }

        SUBCASE("the_side_structures_stay_bounded_and_a_change_past_the_bound_is_enospc_and_changes_nothing") {
            // 24 superpages, each split by a page of owner 1 and, in the
            // worst case for the owners beside a RISC-V table, a page of
            // owner 2 next to it.
            Fixture f(b, 64 * mib, 128);
            f.p2m->set_claim(IoservId{1}, claim_write);
            f.p2m->set_claim(IoservId{2}, claim_write);
            uint64_t refused = 0;
            uint64_t last_refused = 0;
            for (uint64_t t = 0; t < 24; ++t) {
                const Status one = f.p2m->set_type_range(Gfn{t * 512}, 1, P2mType::ioreq_server, IoservId{1});
                REQUIRE((one.is_ok() || one.code() == -ENOSPC));
                const uint64_t count = f.p2m->ioreq_entry_count();
                const uint64_t raw = f.s2->raw_entry(Gfn{t * 512 + 1});
                const Status s = f.p2m->set_type_range(Gfn{t * 512 + 1}, 1, P2mType::ioreq_server, IoservId{2});
                if (!s) {
                    CHECK(s.code() == -ENOSPC);
                    CHECK(f.p2m->ioreq_entry_count() == count);
                    CHECK(f.s2->raw_entry(Gfn{t * 512 + 1}) == raw);
                    ++refused;
                    last_refused = t;
                }
                // The owners beside the table: within 1% of the table frames.
                CHECK(f.s2->side_bytes() <= f.mem->tables_in_use() * page_size / 100);
                // The counts: at most ~37 bytes per counted table (16-byte
                // slots, at most 7/8 full, doubling).
                CHECK(f.p2m->side_bytes() - f.s2->side_bytes() <= 37 * std::max<uint64_t>(f.p2m->ioreq_tables(), 16));
            }
            // Only a table without room in its entries refuses (RISC-V G-stage).
            CHECK((refused != 0) == (b.arch == Arch::riscv64));
            if (b.arch == Arch::riscv64) {
                const std::vector<uint64_t> list = {last_refused * 512 + 2};
                CHECK(f.p2m->set_type_list(list, P2mType::ioreq_server, IoservId{2}).code() == -ENOSPC);
            }
            // Owner 2's pages undone, the arrays are freed and a table of one
            // owner fits again.
            for (uint64_t t = 0; t < 24; ++t) REQUIRE(f.p2m->set_type_range(Gfn{t * 512 + 1}, 1, P2mType::ram_rw).is_ok());
            REQUIRE(f.p2m->set_type_range(Gfn{28 * 512}, 8, P2mType::ioreq_server, IoservId{2}).is_ok());
            CHECK(f.p2m->lookup(Gfn{28 * 512 + 7}).owner == 2);
            CHECK(f.s2->side_bytes() <= f.mem->tables_in_use() * page_size / 100);
        }
    }
}

TEST_CASE("one_owners_pages_over_every_superpage_fit_the_owners_bound_on_every_linked_backend") {
    // A single-claim domain whose server is not 0 (its pages need a record
    // per leaf table where the entry has no room) sets all of its RAM at once:
    // the 32 leaf tables the change adds count in the bound.
    for (const Backend& b : linked_backends()) {
        CAPTURE(std::string(b.name));
        Fixture f(b, 64 * mib, 128);
        f.p2m->set_claim(IoservId{3}, claim_write);
        REQUIRE(f.p2m->set_type_range(Gfn{0}, 16384, P2mType::ioreq_server, IoservId{3}).is_ok());
        CHECK(f.p2m->ioreq_entry_count(IoservId{3}) == 16384);
        CHECK(f.p2m->lookup(Gfn{16383}).owner == 3);
        CHECK(f.s2->side_bytes() <= f.mem->tables_in_use() * page_size / 100);
    }
}

TEST_CASE("leaf_table_counts_keep_an_owner_mask_per_table_in_16_byte_slots") {
    static_assert(sizeof(LeafTableCounts::Slot) == 16);
    LeafTableCounts c;
    c.add_ioreq(7, 2, 3, 4, false, 1);
    c.add_ioreq(7, 1, 9, 9, false, 5);
    c.add_ioreq(9, 1, 0, 0, false, 5);
    c.add_ioreq(11, 1, 0, 0, false, 0);
    CHECK(c.find(7)->owners == ((1U << 1) | (1U << 5)));
    std::vector<uint64_t> keys;
    c.keys(keys, 1U << 5);
    CHECK(keys == std::vector<uint64_t>{7, 9});
    c.keys(keys, 1U << 1);
    CHECK(keys == std::vector<uint64_t>{7});
    c.clear_owners(7, 1U << 5);
    CHECK(c.find(7)->owners == (1U << 1));
    c.keys(keys, 1U << 5);
    CHECK(keys == std::vector<uint64_t>{9});
    c.keys(keys);
    CHECK(keys == std::vector<uint64_t>{7, 9, 11});
}

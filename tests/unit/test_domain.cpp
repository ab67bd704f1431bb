// SPDX-License-Identifier: MIT
// Domain-level behaviours that need the core's view below the C ABI: the
// entry count checked against the table itself at every step.
#include <doctest/doctest.h>

#include <utility>

#include "hvcore/core/host.hpp"

using namespace hvcore;

namespace {

constexpr uint64_t mib = 1024 * 1024;
constexpr uint32_t claim_write = 2;  // HVDM_IOREQ_MEM_ACCESS_WRITE
constexpr int done = 0, pending = 1, retry = 2;  // hv_vcpu_status

void check_count(Domain& d, uint64_t expect) {
    CHECK(d.ioreq_entry_count() == expect);
    CHECK(d.ioreq_leaves_in_table() == expect);
}

}  // namespace

TEST_CASE("domain behaviours on every linked backend") {
    for (const Backend& b : linked_backends()) {
        CAPTURE(b.name);
        Host host;
        auto dr = host.create_domain({.arch = b.arch, .ram_bytes = 1024 * mib, .nr_vcpus = 2, .hap = true});
        REQUIRE(dr.is_ok());
        Domain& d = **dr;
        const EmulatorId dm = host.new_emulator();
        IoservId id{};
        REQUIRE(d.create_ioreq_server(dm, 0, &id).is_ok());
        REQUIRE(d.set_ioreq_server_state(dm, id, true).is_ok());

        // The claim with one outstanding page in each of 2.5 x sweep_chunk
        // leaf tables of the 1 GiB (a leaf table maps 2 MiB): more than one
        // lock hold resets them, so a sweep over them releases the lock at
        // least once.
        constexpr uint64_t tables = sweep_chunk * 5 / 2;
        static_assert(tables > sweep_chunk && tables * 512 < 1024 * mib / 4096);
        auto claim_one_page_per_leaf_table = [&] {
            REQUIRE(d.map_mem_type_to_ioreq_server(dm, id, hvmmem::ioreq_server, claim_write).is_ok());
            for (uint64_t t = 0; t < tables; ++t)
                REQUIRE(d.set_mem_type(hvmmem::ioreq_server, t * 512 + 1, 1).is_ok());
        };
        // Runs `sweep` (a destroy or a disclaim of the claim above) while, at
        // the first release of the lock, `meanwhile` runs and then another
        // device model creates a server (it may get the id being freed: the
        // lowest free slot). The sweep succeeds, released the lock and left
        // no entry; returns the other device model and its server.
        auto sweep_while = [&](auto sweep, auto meanwhile) {
            claim_one_page_per_leaf_table();
            const EmulatorId other = host.new_emulator();
            IoservId theirs{};
            int pauses = 0;
            d.set_sweep_pause([&] {
                if (pauses++ != 0) return;
                meanwhile();
                CHECK(d.create_ioreq_server(other, 0, &theirs).is_ok());
            });
            CHECK(sweep().is_ok());
            d.set_sweep_pause({});
            CHECK(pauses > 0);
            check_count(d, 0);
            return std::pair{other, theirs};
        };

        SUBCASE("entry_count_agrees_with_the_table_through_claim_set_disclaim_reclaim") {
            check_count(d, 0);
            REQUIRE(d.map_mem_type_to_ioreq_server(dm, id, hvmmem::ioreq_server, claim_write).is_ok());
            REQUIRE(d.set_mem_type(hvmmem::ioreq_server, 0x800, 600).is_ok());  // spans two leaf tables
            check_count(d, 600);
            REQUIRE(d.set_mem_type(hvmmem::ram_rw, 0x900, 10).is_ok());
            check_count(d, 590);
            // Disclaim: everything is reset before the call returns.
            REQUIRE(d.map_mem_type_to_ioreq_server(dm, id, hvmmem::ioreq_server, 0).is_ok());
            check_count(d, 0);
            CHECK(d.get_mem_type(0x850).value() == hvmmem::ram_rw);
            // Reclaim works on the clean table.
            REQUIRE(d.map_mem_type_to_ioreq_server(dm, id, hvmmem::ioreq_server, claim_write).is_ok());
            REQUIRE(d.set_mem_type(hvmmem::ioreq_server, 0x850, 1).is_ok());
            check_count(d, 1);
        }

        SUBCASE("destroying_the_owner_resets_its_entries_and_frees_the_type") {
            REQUIRE(d.map_mem_type_to_ioreq_server(dm, id, hvmmem::ioreq_server, claim_write).is_ok());
            REQUIRE(d.set_mem_type(hvmmem::ioreq_server, 0x100, 4).is_ok());
            REQUIRE(d.destroy_ioreq_server(dm, id).is_ok());
            check_count(d, 0);
            IoservId id2{};
            REQUIRE(d.create_ioreq_server(dm, 0, &id2).is_ok());
            CHECK(d.map_mem_type_to_ioreq_server(dm, id2, hvmmem::ioreq_server, claim_write).is_ok());
        }

        SUBCASE("after_a_disclaim_no_recalculation_mark_is_left_so_an_access_elsewhere_does_not_fault") {
            REQUIRE(d.map_mem_type_to_ioreq_server(dm, id, hvmmem::ioreq_server, claim_write).is_ok());
            REQUIRE(d.set_mem_type(hvmmem::ioreq_server, 0x100, 1).is_ok());
            REQUIRE(d.map_mem_type_to_ioreq_server(dm, id, hvmmem::ioreq_server, 0).is_ok());
            // gfn 0x3000 was never touched. Xen's disclaim would have marked
            // it (p2m_change_entry_type_global); hvcore's resets the counted
            // entry in place and marks nothing.
            CHECK(d.vcpu_store(0, 0x3000000, 4, 0xfeedf00d) == done);
            FaultRecord r;
            CHECK(d.vcpu_last_fault(0, &r) == -ENOENT);
            // Nor does the page that was claimed: it is plain RAM again.
            CHECK(d.vcpu_store(0, 0x100000, 4, 0x1234) == done);
            CHECK(d.vcpu_last_fault(0, &r) == -ENOENT);
            uint64_t v = 0;
            CHECK(d.vcpu_load(0, 0x3000000, 4, &v) == done);
            CHECK(v == 0xfeedf00d);
        }

        SUBCASE("during_a_disclaims_sweep_a_page_not_reset_yet_is_ram_rw_to_lookups_stores_and_fetches") {
            claim_one_page_per_leaf_table();
            // The last table's page is reset by the last chunk: at the first
            // release of the lock it is still an ioreq_server leaf without
            // an owner.
            const uint64_t gfn = (tables - 1) * 512 + 1;
            int pauses = 0;
            d.set_sweep_pause([&] {
                if (pauses++ != 0) return;
                CHECK(d.ioreq_entry_count() > 0);
                CHECK(d.get_mem_type(gfn).value() == hvmmem::ram_rw);
                // A store goes to RAM at once (the fault resets the leaf and
                // the store is made again), not to the device model nor held.
                CHECK(d.vcpu_store(0, gfn << 12, 4, 0xabcd) == done);
                uint64_t v = 0;
                CHECK(d.vcpu_load(0, gfn << 12, 4, &v) == done);
                CHECK(v == 0xabcd);
                // A fetch from another such page (ioreq_server leaves are
                // not executable) runs too.
                const uint64_t other = (tables - 2) * 512 + 1;
                CHECK(d.vcpu_fetch(0, other << 12) == done);
                CHECK(d.ioreq_entry_count() > 0);
            });
            REQUIRE(d.map_mem_type_to_ioreq_server(dm, id, hvmmem::ioreq_server, 0).is_ok());
            d.set_sweep_pause({});
            CHECK(pauses > 0);
            check_count(d, 0);
        }

        SUBCASE("a_long_sweep_releases_the_lock_between_bounded_chunks_so_vcpus_run") {
            // 32 resolutions, two chunks.
            claim_one_page_per_leaf_table();
            int pauses = 0;
            int stores = 0;
            d.set_sweep_pause([&] {
                // The lock is free here: a vCPU's store to plain RAM completes.
                ++pauses;
                stores += d.vcpu_store(1, 0x3f00000 + 8 * static_cast<uint64_t>(pauses), 8, 1) == done;
            });
            REQUIRE(d.map_mem_type_to_ioreq_server(dm, id, hvmmem::ioreq_server, 0).is_ok());
            check_count(d, 0);
            // sweep_chunk resolutions per lock hold: ceil(tables / sweep_chunk)
            // holds, with a pause after each but the last.
            CHECK(pauses == static_cast<int>((tables + sweep_chunk - 1) / sweep_chunk) - 1);
            CHECK(stores == pauses);
        }

        SUBCASE("destroying_the_owner_again_during_its_sweep_is_enoent_and_spares_a_server_created_meanwhile") {
            const auto [other, theirs] = sweep_while([&] { return d.destroy_ioreq_server(dm, id); },
                                                     [&] {
                                                         // The same device model's second thread destroys the
                                                         // same server: it is already going, so there is
                                                         // nothing to destroy.
                                                         CHECK(d.destroy_ioreq_server(dm, id).code() == -ENOENT);
                                                     });
            // The other device model's server survived the first destroy.
            CHECK(d.set_ioreq_server_state(other, theirs, true).is_ok());
            // It holds the freed id, and the first device model cannot touch it.
            CHECK(theirs == id);
            CHECK(d.destroy_ioreq_server(dm, id).code() == -EPERM);
        }

        SUBCASE("closing_the_handle_during_the_owners_destroy_sweep_spares_a_server_created_meanwhile") {
            const auto [other, theirs] = sweep_while([&] { return d.destroy_ioreq_server(dm, id); },
                                                     // hvdm_close of the same handle on another thread
                                                     [&] { d.destroy_servers_of(dm); });
            CHECK(d.set_ioreq_server_state(other, theirs, true).is_ok());
        }

        SUBCASE("destroying_the_owner_during_its_disclaim_sweep_spares_a_server_created_meanwhile") {
            // The other place that releases the lock mid-operation: the
            // disclaim's own sweep. The destroy finds the server no longer
            // the owner: no sweep of its own.
            const auto [other, theirs] =
                sweep_while([&] { return d.map_mem_type_to_ioreq_server(dm, id, hvmmem::ioreq_server, 0); },
                            [&] { CHECK(d.destroy_ioreq_server(dm, id).is_ok()); });
            CHECK(d.set_ioreq_server_state(other, theirs, true).is_ok());
            // The type is free again: the new server can claim it.
            CHECK(d.map_mem_type_to_ioreq_server(other, theirs, hvmmem::ioreq_server, claim_write).is_ok());
        }

        SUBCASE("a_write_to_a_claimed_page_is_held_while_the_owner_is_disabled") {
            REQUIRE(d.map_mem_type_to_ioreq_server(dm, id, hvmmem::ioreq_server, claim_write).is_ok());
            REQUIRE(d.set_mem_type(hvmmem::ioreq_server, 0x100, 1).is_ok());
            REQUIRE(d.set_ioreq_server_state(dm, id, false).is_ok());
            CHECK(d.vcpu_store(0, 0x100000, 4, 1) == retry);
            REQUIRE(d.set_ioreq_server_state(dm, id, true).is_ok());
            CHECK(d.vcpu_store(0, 0x100000, 4, 1) == pending);
        }
    }
}

// The platform's posted window (Backend::posted_mmio): on x86 a single
// write to VGA memory held by range is posted to the server's buffered ring
// and the vCPU goes on (Xen's stdvga.c, x86-only); on Arm64 and RISC-V the
// same write is a synchronous request the vCPU waits for.
TEST_CASE("a_single_write_to_vga_memory_is_posted_on_x86_and_synchronous_on_arm64_and_riscv64") {
    constexpr uint64_t vga_gfn = 0xa0;  // 0xa0000, VGA memory's first page
    constexpr uint32_t range_memory = 1;  // HVDM_IO_RANGE_MEMORY
    for (const Backend& b : linked_backends()) {
        CAPTURE(b.name);
        const bool x86 = b.arch == Arch::x86_vmx || b.arch == Arch::x86_svm;
        Host host;
        auto dr = host.create_domain({.arch = b.arch, .ram_bytes = 16 * mib, .nr_vcpus = 1, .hap = true});
        REQUIRE(dr.is_ok());
        Domain& d = **dr;
        const EmulatorId dm = host.new_emulator();
        IoservId id{};
        REQUIRE(d.create_ioreq_server(dm, bufioreq::legacy, &id).is_ok());
        REQUIRE(d.set_ioreq_server_state(dm, id, true).is_ok());
        REQUIRE(d.set_mem_type(hvmmem::mmio_dm, vga_gfn, 1).is_ok());
        REQUIRE(d.map_io_range(dm, id, range_memory, vga_gfn * page_size, vga_gfn * page_size + page_size - 1).is_ok());
        IoreqSlot* slots = nullptr;
        BufferedPage* ring = nullptr;
        REQUIRE(d.map_ioreq_pages(dm, id, &slots, &ring).is_ok());
        REQUIRE(ring != nullptr);
        const int rc = d.vcpu_store(0, vga_gfn * page_size + 4, 1, 0xab);
        if (x86) {
            CHECK(rc == done);
            CHECK(ring->write_pointer == 1);
            CHECK(ring->slots[0].data == 0xab);
            CHECK(slot_state(slots[0]) == ioreq::state_none);
        } else {
            CHECK(rc == pending);
            CHECK(ring->write_pointer == 0);
            REQUIRE(slot_state(slots[0]) == ioreq::state_ready);
            CHECK(slots[0].addr == vga_gfn * page_size + 4);
            CHECK(slots[0].data == 0xab);
        }
    }
}

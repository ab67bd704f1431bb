// SPDX-License-Identifier: MIT
#include <doctest/doctest.h>

#include "hvcore/core/p2m_type.hpp"

using namespace hvcore;

TEST_CASE("ioreq_server_is_entered_only_from_ram_rw") {
    for (P2mType from : all_p2m_types)
        CHECK(allow_p2m_type_change(from, P2mType::ioreq_server) == (from == P2mType::ram_rw));
}

TEST_CASE("ioreq_server_is_left_only_to_ram_rw") {
    for (P2mType to : all_p2m_types)
        CHECK(allow_p2m_type_change(P2mType::ioreq_server, to) == (to == P2mType::ram_rw));
}

TEST_CASE("holes_become_only_mmio_dm_and_ram_changes_freely") {
    CHECK(allow_p2m_type_change(P2mType::invalid, P2mType::mmio_dm));
    CHECK(allow_p2m_type_change(P2mType::mmio_dm, P2mType::mmio_dm));
    CHECK_FALSE(allow_p2m_type_change(P2mType::mmio_dm, P2mType::ram_rw));
    CHECK_FALSE(allow_p2m_type_change(P2mType::invalid, P2mType::ram_ro));
    CHECK(allow_p2m_type_change(P2mType::ram_rw, P2mType::ram_ro));
    CHECK(allow_p2m_type_change(P2mType::ram_ro, P2mType::ram_rw));
    CHECK(allow_p2m_type_change(P2mType::ram_rw, P2mType::mmio_dm));
    CHECK_FALSE(allow_p2m_type_change(P2mType::mmio_direct, P2mType::ram_rw));
}

TEST_CASE("claimed_ioreq_server_pages_are_read_only_and_not_executable") {
    const Perm p = p2m_entry_perm(P2mType::ioreq_server, ioreq_claim_write);
    CHECK(p == Perm{.r = true, .w = false, .x = false});
}

TEST_CASE("an_owners_claim_only_removes_rights_and_only_from_ioreq_server") {
    const uint32_t claims[] = {0, ioreq_claim_write, ioreq_claim_write | ioreq_claim_write_posted, ioreq_claim_read,
                               ioreq_claim_read | ioreq_claim_write};
    for (P2mType t : all_p2m_types) {
        const Perm base = p2m_type_perm(t);
        for (uint32_t flags : claims) {
            const Perm restricted = p2m_entry_perm(t, flags);
            CHECK((base.r || !restricted.r));
            CHECK((base.w || !restricted.w));
            CHECK((base.x || !restricted.x));
            if (t != P2mType::ioreq_server) CHECK(restricted == base);
        }
    }
    // ioreq_server: a read claim takes every right, a write claim W, and
    // no claim (the claim ended) leaves what the type allows.
    CHECK(p2m_entry_perm(P2mType::ioreq_server, ioreq_claim_read) == Perm{});
    CHECK(p2m_entry_perm(P2mType::ioreq_server, ioreq_claim_read | ioreq_claim_write) == Perm{});
    CHECK(p2m_entry_perm(P2mType::ioreq_server, ioreq_claim_write | ioreq_claim_write_posted) == Perm{.r = true});
    CHECK(p2m_entry_perm(P2mType::ioreq_server, 0) == Perm{.r = true, .w = true});
}

TEST_CASE("recalc_turns_unclaimed_ioreq_server_into_ram_rw_and_keeps_claimed") {
    CHECK(p2m_recalc_type(true, P2mType::ioreq_server, false) == P2mType::ram_rw);
    CHECK(p2m_recalc_type(true, P2mType::ioreq_server, true) == P2mType::ioreq_server);
    CHECK(p2m_recalc_type(false, P2mType::ioreq_server, false) == P2mType::ioreq_server);
    CHECK(p2m_recalc_type(true, P2mType::ram_ro, false) == P2mType::ram_ro);
    CHECK(p2m_recalc_type(true, P2mType::ram_logdirty, false) == P2mType::ram_rw);
}

TEST_CASE("every_type_round_trips_through_its_raw_value") {
    for (P2mType t : all_p2m_types) CHECK(p2m_type_from_raw(static_cast<uint8_t>(t)) == t);
    CHECK_FALSE(p2m_type_from_raw(6).has_value());
}

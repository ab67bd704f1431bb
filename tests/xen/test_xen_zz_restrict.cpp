// SPDX-License-Identifier: MIT
// xendevicemodel_restrict restricts the process's one hvdm handle: in a
// file of its own, named to sort last, so that a run of every case in one
// process (doctest orders by file) restricts nothing the others use.
#include "xen_fixture.hpp"

namespace {

using xt::Dom;
using xt::world;

}  // namespace

TEST_CASE("devicemodel/restrict_applies_to_every_handle_of_the_process") {
    Dom d(1);
    Dom e(1);
    world();
    xendevicemodel_handle* dmh = xendevicemodel_open(nullptr, 0);
    xendevicemodel_handle* otherh = xendevicemodel_open(nullptr, 0);
    REQUIRE(dmh != nullptr);
    REQUIRE(otherh != nullptr);
    unsigned int n = 0;
    REQUIRE(xendevicemodel_restrict(dmh, d.id) == 0);
    CHECK(xendevicemodel_nr_vcpus(dmh, d.id, &n) == 0);
    XT_FAILS_WITH(EPERM, xendevicemodel_nr_vcpus(dmh, e.id, &n));
    XT_FAILS_WITH(EPERM, xendevicemodel_nr_vcpus(otherh, e.id, &n));  // process-wide
    XT_FAILS_WITH(EPERM, xendevicemodel_inject_event(otherh, e.id, 0, 14, 3, 0, 0, 0));  // before the op's check
    CHECK(xendevicemodel_restrict(otherh, d.id) == 0);  // the same domid again
    XT_FAILS_WITH(EINVAL, xendevicemodel_restrict(dmh, e.id));  // privcmd: another domid is EINVAL
    CHECK(xendevicemodel_close(otherh) == 0);
    CHECK(xendevicemodel_close(dmh) == 0);
}

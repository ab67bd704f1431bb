// SPDX-License-Identifier: MIT
#include "xen_fixture.hpp"

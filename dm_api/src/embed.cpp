// SPDX-License-Identifier: MIT
#include "hvcore/embed.hpp"

#include "abi_objects.hpp"

namespace hvcore::embed {

std::shared_ptr<Domain> domain_of(hv_domain* d) noexcept { return d != nullptr ? d->d : nullptr; }

}  // namespace hvcore::embed

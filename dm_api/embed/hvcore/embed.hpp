// SPDX-License-Identifier: MIT
// For C++ programs that link the C ABI statically (hvcore_embed: the
// `hvcore` command line and its runner, the KVM tests) and drive a domain
// both through the C ABI - device-model plug-ins get its hv_host and
// domid - and through the core: host/kvm runs real vCPUs on the
// hvcore::Domain behind an hv_domain. Not part of the C ABI and not
// installed: libhvcore.so exports no C++ (libhvcore.map).
#pragma once

#include <memory>

#include "hvcore/core/domain.hpp"
#include "hvcore/hv.h"

namespace hvcore::embed {

// The core domain behind `d` (created by hv_domain_create), sharing its
// ownership: it stays valid after hv_domain_destroy for as long as the
// pointer is held. nullptr for a null `d`.
[[nodiscard]] std::shared_ptr<Domain> domain_of(hv_domain* d) noexcept;

}  // namespace hvcore::embed

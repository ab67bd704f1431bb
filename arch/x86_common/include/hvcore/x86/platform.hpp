// SPDX-License-Identifier: MIT
// What an x86 HVM platform has that the core must not know of itself
// (hvcore/core/backend.hpp, Backend): the x86 backends' descriptors name it.
#pragma once

#include "hvcore/core/backend.hpp"

namespace hvcore::x86 {

// Legacy VGA memory, the only MMIO Xen posts to the buffered ring: its
// stdvga handler (xen/arch/x86/hvm/stdvga.c, VGA_MEM_BASE 0xa0000 and
// VGA_MEM_SIZE 0x20000; stdvga_mem_accept takes a single direct write
// wholly inside it, stdvga_mem_write posts it with ioreq_send(...,
// buffered = true) to the server ioreq_server_select finds, and falls back
// to the synchronous path when that fails). Xen tries this internal handler
// (hvm_io_intercept) before any ioreq routing, so it applies to claimed
// (ioreq_server) pages too.
inline constexpr GpaWindow vga_memory{.first = 0xa0000, .last = 0xa0000 + 0x20000 - 1};

}  // namespace hvcore::x86

// SPDX-License-Identifier: MIT
// The input format of fuzz_dm_op, shared with its seed generator
// (seed_dm_op.cpp), which writes tests/fuzz/corpus/dm_op/. An input is a
// short program of raw DMOP calls against one host with one domain per
// backend kind:
//
//   input  := prelude record*            (at most max_records records)
//   prelude:= u8  bits 0-2: handle A's restriction (hvdm_restrict):
//                 0 or 7 none, 1..5 the domain in slot v-1, 6 absent_domid
//   record := u8 ctl, [u16 domid, little-endian, if slot >= nr_slots],
//             then for each of the nr_bufs buffers: u8 size, size bytes
//   ctl    := bits 0-2 slot (0 x86_vmx, 1 x86_svm, 2 arm64, 3 riscv64,
//                            4 x86_vmx without HAP; 5-7: the raw domid follows)
//             bit 3 the call is made on handle B (a second emulator), not A
//             bits 4-5 nr_bufs (0..3: 0 is -ENODATA, 3 is -E2BIG)
//             bit 6 bufs itself is NULL
//             bit 7 bufs[0].ptr is NULL (its size kept)
//
// A buffer cut short by the end of the input is zero-filled and ends the
// program. Each buffer is a heap block of exactly its size, so that ASan
// sees any read or write past it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hvcore::fuzz {

inline constexpr unsigned nr_slots = 5;
inline constexpr unsigned max_records = 32;
inline constexpr uint16_t absent_domid = 0xfff0;  // never a live domain's id here (ids are allocated from 1 up)

// Domain slots: what each is created as (hv.h enum hv_arch, flags).
struct SlotKind {
    const char* name;
    uint32_t arch;
    uint32_t flags;
};

inline constexpr uint32_t ctl_slot_mask = 0x07;
inline constexpr uint32_t ctl_handle_b = 0x08;
inline constexpr uint32_t ctl_nr_bufs_shift = 4;
inline constexpr uint32_t ctl_bufs_null = 0x40;
inline constexpr uint32_t ctl_buf0_null = 0x80;

// Guest RAM of every domain: small, so that a whole-domain snapshot
// (types of every page) is cheap.
inline constexpr uint64_t ram_pages = 16;
inline constexpr uint32_t nr_vcpus = 2;

}  // namespace hvcore::fuzz

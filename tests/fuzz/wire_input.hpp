// SPDX-License-Identifier: MIT
// The input format of fuzz_wire, shared with its seed generator
// (seed_wire.cpp), which writes tests/fuzz/corpus/wire/:
//
//   input := u8 ctl, then the datagram's bytes (the whole rest)
//   ctl   := bits 0-2 the number of descriptors that came with it (0..7)
//            bit 3 decode it as a reply (decode_reply), else as a request
//            bits 4-7 ignored
#pragma once

#include <cstdint>

namespace hvcore::fuzz::wire_input {

inline constexpr uint8_t nfds_mask = 0x07;
inline constexpr uint8_t as_reply = 0x08;

}  // namespace hvcore::fuzz::wire_input

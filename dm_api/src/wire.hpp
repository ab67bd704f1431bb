// SPDX-License-Identifier: MIT
// The device-model wire protocol, version 1: what an hvdm_handle made by
// hvdm_connect and the host's listener (hv_dm_listen) say to each other
// over a SOCK_SEQPACKET socket. One datagram is one message; native byte
// order (both ends are on the same host); descriptors travel as SCM_RIGHTS.
//
// Every message starts with a 16-byte header:
//   u32 magic 'HVDM' (0x4d445648), u16 version (1), u16 kind, u32 seq, u32 flags (0)
// A reply has kind | 0x8000, the request's seq, then i32 rc, u32 pad (0),
// then the kind's out payload (present only when rc >= 0, except that
// MAP_GUEST and MEMORY_MAP always carry theirs: bad_gfn, the needed count).
//
// Kinds (request payload -> reply payload, descriptors in the reply):
//   1 HELLO         {u32 client_abi, u32 pad}           -> {u32 server_abi, u32 max_msg, u32 emulator, u32 pad}
//   2 RESTRICT      {u16 domid, u16 pad[3]}             -> {}
//   3 DM_OP         {u16 domid, u16 nulls, u32 nr_bufs, u64 size[2]; size[0]+size[1] bytes}
//                                                       -> {u64 size[2]; the same bytes after the call}
//                   (nulls: bit 0 the hvdm_buf array was NULL, bit 1/2 buffer 0/1's pointer was
//                    NULL; a buffer with its bit set, or at or beyond nr_bufs, has size 0)
//   4 GET_MEM_TYPE  {u16 domid, u16 pad[3], u64 pfn}    -> {u16 type, u16 pad[3]}
//   5 MAP_IOREQ     {u16 domid, u16 id, u32 pad}        -> {u32 nr_vcpus, u8 buffered, u8 pad[3], u64 serial,
//                                                           u64 map_bytes} + [pages memfd, eventfd]
//   6 NOTIFY        {u16 domid, u16 id, u32 vcpu}       -> {}
//   7 SERVER_SERIAL {u16 domid, u16 id, u32 pad}        -> {u64 serial}
//   8 MAP_GUEST     {u16 domid, u16 pad, i32 prot, u64 first_gfn, u32 nr, u32 pad}
//                                                       -> {u64 offset, u64 bad_gfn} + [RAM memfd] on success
//   9 MEMORY_MAP    {u16 domid, u16 pad, u32 max}       -> {u32 n, u32 pad; min(n, max) ranges of 24 bytes}
//  10 BYE           {}                                  -> {}
//  11 READY         {}                                  -> {}  (setup complete; a second READY: -EALREADY)
//
// Validation never trusts a length: the payload of every kind has one exact
// size (DM_OP: 24 + size[0] + size[1], computed without overflow), and each
// reject has its own errno (reject_* below). The decoders are pure
// functions of the bytes and of the number of descriptors that came with
// them: nothing is allocated, nothing outside the span is read.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "hvcore/core/status.hpp"

namespace hvcore::wire {

inline constexpr uint32_t magic = 0x4d445648;  // "HVDM" in memory order on little-endian hosts
inline constexpr uint16_t version = 1;
inline constexpr uint16_t reply_bit = 0x8000;
inline constexpr size_t header_size = 16;
inline constexpr size_t reply_status_size = 8;  // i32 rc, u32 pad
// The largest payload either side sends; a receiver reads into a buffer one
// byte larger and rejects a longer (truncated) datagram.
inline constexpr size_t max_payload = 64 * 1024;
inline constexpr size_t max_message = header_size + reply_status_size + max_payload;
inline constexpr size_t dm_op_fixed = 24;
inline constexpr size_t mem_range_size = 24;  // hvdm_mem_range: u64 first_gfn, u64 nr, u32 kind, u32 pad
// The most ranges one MEMORY_MAP reply carries.
inline constexpr uint32_t max_mem_ranges = (max_payload - 8) / mem_range_size;

// DM_OP's nulls bits.
inline constexpr uint16_t null_bufs = 1u << 0;
inline constexpr uint16_t null_buf0 = 1u << 1;
inline constexpr uint16_t null_buf1 = 1u << 2;

enum class Kind : uint16_t {
    hello = 1,
    restrict_to = 2,
    dm_op = 3,
    get_mem_type = 4,
    map_ioreq = 5,
    notify = 6,
    server_serial = 7,
    map_guest = 8,
    memory_map = 9,
    bye = 10,
    ready = 11,
};
inline constexpr uint16_t max_kind = 11;

// What each reject returns (negative). Distinct, so a test or a log line
// names the rule that was broken.
inline constexpr int reject_truncated_header = -EPROTO;      // fewer than 16 bytes: no seq to answer
inline constexpr int reject_bad_magic = -ENOMSG;             // not this protocol at all
inline constexpr int reject_version = -EPROTONOSUPPORT;      // a version other than 1
inline constexpr int reject_reply_bit = -EBADRQC;            // a reply where a request belongs (or the reverse)
inline constexpr int reject_unknown_kind = -EOPNOTSUPP;      // a kind this version does not have
inline constexpr int reject_nonzero = -EINVAL;               // flags, a pad or an unknown nulls bit not 0
inline constexpr int reject_long = -EMSGSIZE;                // payload longer than its kind's size
inline constexpr int reject_short = -EBADMSG;                // payload shorter than its kind's size
inline constexpr int reject_extra_fds = -ETOOMANYREFS;       // more descriptors than the message carries
inline constexpr int reject_missing_fds = -EBADFD;           // fewer descriptors than the message carries

struct Header {
    uint32_t magic;
    uint16_t version;
    uint16_t kind;
    uint32_t seq;
    uint32_t flags;
};
static_assert(sizeof(Header) == header_size);

// A decoded request. Only the fields of its kind are meaningful; the
// buffers of a DM_OP are views into the decoded message.
struct Request {
    Kind kind = Kind::hello;
    uint32_t seq = 0;
    uint32_t client_abi = 0;  // hello
    uint16_t domid = 0;
    uint16_t id = 0;          // map_ioreq, notify, server_serial
    uint32_t vcpu = 0;        // notify
    uint64_t pfn = 0;         // get_mem_type
    uint16_t nulls = 0;       // dm_op
    uint32_t nr_bufs = 0;     // dm_op
    std::span<const std::byte> buf[2];  // dm_op
    int32_t prot = 0;         // map_guest
    uint64_t first_gfn = 0;   // map_guest
    uint32_t nr = 0;          // map_guest
    uint32_t max = 0;         // memory_map
};

// A decoded reply (kind without the reply bit).
struct Reply {
    Kind kind = Kind::hello;
    uint32_t seq = 0;
    int32_t rc = 0;
    uint32_t server_abi = 0, max_msg = 0, emulator = 0;  // hello
    uint16_t mem_type = 0;                               // get_mem_type
    uint32_t nr_vcpus = 0;                               // map_ioreq
    bool buffered = false;                               // map_ioreq
    uint64_t serial = 0;                                 // map_ioreq, server_serial
    uint64_t map_bytes = 0;                              // map_ioreq
    std::span<const std::byte> buf[2];                   // dm_op: the buffers after the call
    uint64_t offset = 0, bad_gfn = 0;                    // map_guest
    uint32_t n = 0;                                      // memory_map: ranges the domain has
    std::span<const std::byte> ranges;                   // memory_map: min(n, max) ranges
    unsigned nfds = 0;                                   // descriptors it carries
};

// The number of descriptors a reply of this kind and rc carries.
[[nodiscard]] unsigned reply_fds(Kind kind, int32_t rc) noexcept;

// The header alone: magic, version, flags and the reply bit as `reply`
// asks. Used by the server to decide whether a bad message can be
// answered (it has a seq) or the stream is not to be trusted (hang up).
[[nodiscard]] Result<Header> decode_header(std::span<const std::byte> msg, bool reply) noexcept;

// A request as received with nfds descriptors (SCM_RIGHTS): a request
// carries none. The entry point of the wire fuzzer.
[[nodiscard]] Result<Request> decode_request(std::span<const std::byte> msg, unsigned nfds) noexcept;

// A reply as received with nfds descriptors. The caller checks that kind
// and seq are its request's.
[[nodiscard]] Result<Reply> decode_reply(std::span<const std::byte> msg, unsigned nfds) noexcept;

// The message for r, replacing out's contents; -EMSGSIZE if it exceeds
// max_message. Encoding then decoding gives r back.
[[nodiscard]] Status encode_request(const Request& r, std::vector<std::byte>& out);
[[nodiscard]] Status encode_reply(const Reply& r, std::vector<std::byte>& out);
// An error reply (rc < 0, status only) to a request whose kind may be one
// this version does not know (raw_kind is echoed with the reply bit).
void encode_error(uint16_t raw_kind, uint32_t seq, int32_t rc, std::vector<std::byte>& out);

}  // namespace hvcore::wire

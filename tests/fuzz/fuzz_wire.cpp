// SPDX-License-Identifier: MIT
// libFuzzer target: the device-model wire decoder (dm_api/src/wire.hpp,
// hvcore::wire::decode_request / decode_reply), a pure function of one
// datagram's bytes and the number of descriptors that came with it. The
// input (wire_input.hpp) is a control byte and the datagram, copied into a
// heap block of exactly its size, so ASan sees any read past it.
//
// Checked for every input (a failed check aborts: libFuzzer keeps it):
// - a reject is one of wire.hpp's reject_* errnos; a message whose header
//   alone is bad (decode_header) is rejected with the header's errno;
// - decoding allocates nothing (counted with the sanitizer's malloc hook);
// - an accepted request came with no descriptor, an accepted reply with
//   exactly reply_fds(kind, rc) of them;
// - an accepted message is canonical: encoding what was decoded gives the
//   same bytes back (so no field, pad or length escaped the checks), and a
//   DM_OP's buffers are views inside the datagram.
// HVCORE_FUZZ_TRACE=1 in the environment prints each decode's result.
#include <sanitizer/allocator_interface.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "wire.hpp"
#include "wire_input.hpp"

namespace {

namespace wire = hvcore::wire;

[[noreturn]] __attribute__((format(printf, 1, 2))) void fail(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    std::fputs("fuzz_wire: invariant broken: ", stderr);
    std::vfprintf(stderr, fmt, ap);
    std::fputc('\n', stderr);
    va_end(ap);
    std::abort();
}

bool trace = false;
unsigned long long allocations = 0;
void on_malloc(const volatile void*, size_t) { ++allocations; }
void on_free(const volatile void*) {}

bool is_reject(int rc) {
    switch (rc) {
    case wire::reject_truncated_header:
    case wire::reject_bad_magic:
    case wire::reject_version:
    case wire::reject_reply_bit:
    case wire::reject_unknown_kind:
    case wire::reject_nonzero:
    case wire::reject_long:
    case wire::reject_short:
    case wire::reject_extra_fds:
    case wire::reject_missing_fds: return true;
    default: return false;
    }
}

bool inside(std::span<const std::byte> part, std::span<const std::byte> msg) {
    return part.empty() || (part.data() >= msg.data() && part.data() + part.size() <= msg.data() + msg.size());
}

void same_bytes(const std::vector<std::byte>& again, std::span<const std::byte> msg, const char* what, unsigned kind) {
    if (again.size() != msg.size() || std::memcmp(again.data(), msg.data(), msg.size()) != 0)
        fail("%s of kind %u: accepted %zu bytes, re-encoded as %zu different ones", what, kind, msg.size(),
             again.size());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
    trace = std::getenv("HVCORE_FUZZ_TRACE") != nullptr;
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const unsigned nfds = data[0] & hvcore::fuzz::wire_input::nfds_mask;
    const bool reply = (data[0] & hvcore::fuzz::wire_input::as_reply) != 0;
    const size_t n = size - 1;
    std::unique_ptr<std::byte[]> block(new std::byte[n == 0 ? 1 : n]);
    std::memcpy(block.get(), data + 1, n);
    const std::span<const std::byte> msg(block.get(), n);

    const unsigned long long before = allocations;
    const auto h = wire::decode_header(msg, reply);
    if (reply) {
        auto r = wire::decode_reply(msg, nfds);
        if (allocations != before) fail("decode_reply allocated");
        if (trace)
            std::fprintf(stderr, "fuzz_wire: reply of %zu bytes, %u descriptors -> %d\n", n, nfds,
                         r ? 0 : r.status().code());
        if (!h && (r || r.status().code() != h.status().code()))
            fail("header rejected with %d, reply decoded with %d", h.status().code(), r ? 0 : r.status().code());
        if (!r) {
            if (!is_reject(r.status().code())) fail("decode_reply: %d is not a reject errno", r.status().code());
            return 0;
        }
        if (!h) fail("header rejected, reply accepted");
        if (r->nfds != nfds || nfds != wire::reply_fds(r->kind, r->rc))
            fail("reply of kind %u rc %d accepted with %u descriptors (wants %u)", static_cast<unsigned>(r->kind),
                 r->rc, nfds, wire::reply_fds(r->kind, r->rc));
        if (r->seq != h->seq) fail("reply seq %u, header seq %u", r->seq, h->seq);
        if (!inside(r->buf[0], msg) || !inside(r->buf[1], msg) || !inside(r->ranges, msg))
            fail("a reply's view points outside the datagram");
        std::vector<std::byte> again;
        if (!wire::encode_reply(*r, again)) fail("encode_reply refused a decoded reply");
        same_bytes(again, msg, "reply", static_cast<unsigned>(r->kind));
    } else {
        auto r = wire::decode_request(msg, nfds);
        if (allocations != before) fail("decode_request allocated");
        if (trace)
            std::fprintf(stderr, "fuzz_wire: request of %zu bytes, %u descriptors -> %d\n", n, nfds,
                         r ? 0 : r.status().code());
        if (!h && (r || r.status().code() != h.status().code()))
            fail("header rejected with %d, request decoded with %d", h.status().code(), r ? 0 : r.status().code());
        if (!r) {
            if (!is_reject(r.status().code())) fail("decode_request: %d is not a reject errno", r.status().code());
            return 0;
        }
        if (!h) fail("header rejected, request accepted");
        if (nfds != 0) fail("request of kind %u accepted with %u descriptors", static_cast<unsigned>(r->kind), nfds);
        if (r->seq != h->seq) fail("request seq %u, header seq %u", r->seq, h->seq);
        if (!inside(r->buf[0], msg) || !inside(r->buf[1], msg)) fail("a DM_OP buffer points outside the datagram");
        std::vector<std::byte> again;
        if (!wire::encode_request(*r, again)) fail("encode_request refused a decoded request");
        same_bytes(again, msg, "request", static_cast<unsigned>(r->kind));
    }
    return 0;
}

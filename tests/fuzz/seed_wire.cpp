// SPDX-License-Identifier: MIT
// Writes fuzz_wire's seed corpus: `fuzz_wire_seeds DIR` creates one file
// per seed in DIR (tests/fuzz/corpus/wire/ is its output, committed; the
// test fuzz/wire/seeds checks that it still is). The format is
// wire_input.hpp's: a control byte (descriptor count, request or reply),
// then the datagram, built with the codec's own encoders
// (dm_api/src/wire.hpp): one valid request and one valid reply of every
// kind 1..11, an error reply, then one message per reject.
//
// To regenerate: cmake --build --preset fuzz --target fuzz_wire_seeds &&
//   build/fuzz/tests/fuzz/fuzz_wire_seeds tests/fuzz/corpus/wire
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "seed_writer.hpp"
#include "wire.hpp"
#include "wire_input.hpp"

namespace {

namespace wire = hvcore::wire;
using Bytes = std::vector<std::byte>;
using wire::Kind;

struct Seed {
    std::string name;
    Bytes bytes;
};

const char* const kind_names[] = {"",         "hello",         "restrict",  "dm_op",      "get_mem_type", "map_ioreq",
                                  "notify",   "server_serial", "map_guest", "memory_map", "bye",
                                  "ready"};

// A struct xen_dm_op for DM_OP's buffer 0: nr_vcpus (op 20), and a spare buffer 1.
const std::byte dmop_nr_vcpus[12] = {std::byte{20}};
const std::byte dmop_spare[8] = {};
// One hvdm_mem_range (first_gfn 0, nr 16, kind RAM) for MEMORY_MAP's reply.
const std::byte one_range[wire::mem_range_size] = {std::byte{0}, std::byte{0}, std::byte{0}, std::byte{0},
                                                   std::byte{0}, std::byte{0}, std::byte{0}, std::byte{0},
                                                   std::byte{16}, std::byte{0}, std::byte{0}, std::byte{0},
                                                   std::byte{0}, std::byte{0}, std::byte{0}, std::byte{0},
                                                   std::byte{1}};

wire::Request request(Kind k) {
    wire::Request r;
    r.kind = k;
    r.seq = 7;
    r.domid = 1;
    switch (k) {
    case Kind::hello: r.client_abi = 1u << 16 | 3; break;
    case Kind::dm_op:
        r.nr_bufs = 2;
        r.buf[0] = dmop_nr_vcpus;
        r.buf[1] = dmop_spare;
        break;
    case Kind::get_mem_type: r.pfn = 4; break;
    case Kind::notify: r.vcpu = 1; break;
    case Kind::map_guest:
        r.prot = 3;  // PROT_READ | PROT_WRITE
        r.first_gfn = 2;
        r.nr = 4;
        break;
    case Kind::memory_map: r.max = 8; break;
    default: break;
    }
    return r;
}

wire::Reply reply(Kind k) {
    wire::Reply r;
    r.kind = k;
    r.seq = 7;
    switch (k) {
    case Kind::hello:
        r.server_abi = 1u << 16 | 3;
        r.max_msg = wire::max_message;
        r.emulator = 2;
        break;
    case Kind::dm_op:
        r.buf[0] = dmop_nr_vcpus;
        r.buf[1] = dmop_spare;
        break;
    case Kind::get_mem_type: r.mem_type = 4; break;
    case Kind::map_ioreq:
        r.nr_vcpus = 2;
        r.buffered = true;
        r.serial = 1;
        r.map_bytes = 3 * 4096;
        break;
    case Kind::server_serial: r.serial = 1; break;
    case Kind::map_guest: r.offset = 2 * 4096; break;
    case Kind::memory_map:
        r.n = 1;
        r.ranges = one_range;
        break;
    default: break;
    }
    r.nfds = wire::reply_fds(k, 0);
    return r;
}

Bytes with_ctl(unsigned nfds, bool as_reply, const Bytes& msg) {
    Bytes b{std::byte(nfds | (as_reply ? hvcore::fuzz::wire_input::as_reply : 0))};
    b.insert(b.end(), msg.begin(), msg.end());
    return b;
}

std::vector<Seed> seeds() {
    std::vector<Seed> s;
    Bytes m;
    for (uint16_t k = 1; k <= wire::max_kind; ++k) {
        const Kind kind = static_cast<Kind>(k);
        char name[64];
        if (!wire::encode_request(request(kind), m)) throw std::runtime_error("encode_request");
        const char* kname = k < std::size(kind_names) ? kind_names[k] : "new";  // a kind added later: name it here
        std::snprintf(name, sizeof name, "request%02u-%s", k, kname);
        s.push_back({name, with_ctl(0, false, m)});
        if (!wire::encode_reply(reply(kind), m)) throw std::runtime_error("encode_reply");
        std::snprintf(name, sizeof name, "reply%02u-%s", k, kname);
        s.push_back({name, with_ctl(wire::reply_fds(kind, 0), true, m)});
    }
    wire::encode_error(3, 7, -ESRCH, m);
    s.push_back({"reply-error", with_ctl(0, true, m)});
    wire::Reply bad_gfn = reply(Kind::map_guest);
    bad_gfn.rc = -EFAULT;
    bad_gfn.bad_gfn = 9;
    bad_gfn.offset = 0;
    bad_gfn.nfds = 0;
    if (!wire::encode_reply(bad_gfn, m)) throw std::runtime_error("encode_reply");
    s.push_back({"reply-map_guest-efault", with_ctl(0, true, m)});

    // The rejects, each from a valid message with one thing wrong.
    if (!wire::encode_request(request(Kind::get_mem_type), m)) throw std::runtime_error("encode_request");
    const Bytes good = m;
    auto changed = [&](size_t at, std::byte v) {
        Bytes b = good;
        b[at] = v;
        return b;
    };
    s.push_back({"reject-truncated-header", with_ctl(0, false, Bytes(good.begin(), good.begin() + 8))});
    s.push_back({"reject-bad-magic", with_ctl(0, false, changed(0, std::byte{'X'}))});
    s.push_back({"reject-version-2", with_ctl(0, false, changed(4, std::byte{2}))});
    s.push_back({"reject-reply-bit", with_ctl(0, false, changed(7, std::byte{0x80}))});
    s.push_back({"reject-unknown-kind", with_ctl(0, false, changed(7, std::byte{0x7f}))});  // kind 0x7f04
    s.push_back({"reject-flags", with_ctl(0, false, changed(12, std::byte{1}))});
    s.push_back({"reject-pad", with_ctl(0, false, changed(18, std::byte{1}))});
    Bytes longer = good;
    longer.push_back(std::byte{0});
    s.push_back({"reject-long", with_ctl(0, false, longer)});
    s.push_back({"reject-short", with_ctl(0, false, Bytes(good.begin(), good.end() - 1))});
    s.push_back({"reject-request-with-fd", with_ctl(1, false, good)});
    if (!wire::encode_reply(reply(Kind::map_ioreq), m)) throw std::runtime_error("encode_reply");
    s.push_back({"reject-reply-missing-fd", with_ctl(1, true, m)});
    s.push_back({"reject-reply-extra-fd", with_ctl(3, true, m)});
    if (!wire::encode_request(request(Kind::dm_op), m)) throw std::runtime_error("encode_request");
    Bytes dm = m;
    dm[wire::header_size + 8] = std::byte{13};  // size[0] one more than the bytes that follow
    s.push_back({"reject-dm_op-sizes", with_ctl(0, false, dm)});
    return s;
}

}  // namespace

int main(int argc, char** argv) {
    return hvcore::fuzz::write_seeds(argc, argv, "fuzz_wire_seeds", "fuzz_wire", seeds());
}

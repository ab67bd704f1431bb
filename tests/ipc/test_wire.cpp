// SPDX-License-Identifier: MIT
// The wire codec (dm_api/src/wire.hpp): what it accepts round-trips, and
// every reject has its own errno.
#include <doctest/doctest.h>

#include <cstring>
#include <vector>

#include "wire.hpp"

namespace w = hvcore::wire;

namespace {

std::vector<std::byte> enc(const w::Request& r) {
    std::vector<std::byte> m;
    REQUIRE(w::encode_request(r, m).is_ok());
    return m;
}

std::vector<std::byte> enc(const w::Reply& r) {
    std::vector<std::byte> m;
    REQUIRE(w::encode_reply(r, m).is_ok());
    return m;
}

int req_rc(const std::vector<std::byte>& m, unsigned nfds = 0) {
    return w::decode_request(m, nfds).status().code();
}

int rep_rc(const std::vector<std::byte>& m, unsigned nfds = 0) { return w::decode_reply(m, nfds).status().code(); }

template <class T>
void poke(std::vector<std::byte>& m, size_t off, T v) {
    REQUIRE(off + sizeof v <= m.size());
    std::memcpy(m.data() + off, &v, sizeof v);
}

w::Request notify_req() {
    w::Request r;
    r.kind = w::Kind::notify;
    r.seq = 7;
    r.domid = 3;
    r.id = 2;
    r.vcpu = 1;
    return r;
}

}  // namespace

TEST_CASE("every request kind round-trips through encode and decode") {
    const std::byte data[40] = {std::byte{1}, std::byte{2}, std::byte{3}};
    for (uint16_t k = 1; k <= w::max_kind; ++k) {
        w::Request r;
        r.kind = static_cast<w::Kind>(k);
        r.seq = 100u + k;
        r.client_abi = k == 1 ? 0x10300u : 0;
        r.domid = k == 1 || k == 10 || k == 11 ? 0 : 5;
        r.id = (k == 5 || k == 6 || k == 7) ? 9 : 0;
        r.vcpu = k == 6 ? 4 : 0;
        r.pfn = k == 4 ? 0x1234 : 0;
        if (k == 3) {
            r.nr_bufs = 2;
            r.buf[0] = std::span(data, 32);
            r.buf[1] = std::span(data, 8);
        }
        if (k == 8) {
            r.prot = 3;
            r.first_gfn = 0x10;
            r.nr = 4;
        }
        r.max = k == 9 ? 8 : 0;
        const auto m = enc(r);
        auto d = w::decode_request(m, 0);
        REQUIRE(d.is_ok());
        CHECK(static_cast<uint16_t>(d->kind) == k);
        CHECK(d->seq == r.seq);
        CHECK(d->client_abi == r.client_abi);
        CHECK(d->domid == r.domid);
        CHECK(d->id == r.id);
        CHECK(d->vcpu == r.vcpu);
        CHECK(d->pfn == r.pfn);
        CHECK(d->nr_bufs == r.nr_bufs);
        CHECK(d->buf[0].size() == r.buf[0].size());
        CHECK(d->buf[1].size() == r.buf[1].size());
        if (k == 3) CHECK(std::memcmp(d->buf[0].data(), data, 32) == 0);
        CHECK(d->prot == r.prot);
        CHECK(d->first_gfn == r.first_gfn);
        CHECK(d->nr == r.nr);
        CHECK(d->max == r.max);
    }
}

TEST_CASE("READY (kind 11) is a bare header both ways") {
    w::Request r;
    r.kind = w::Kind::ready;
    r.seq = 42;
    const auto m = enc(r);
    CHECK(m.size() == w::header_size);
    auto d = w::decode_request(m, 0);
    REQUIRE(d.is_ok());
    CHECK(d->kind == w::Kind::ready);
    CHECK(d->seq == 42);
    auto longer = m;
    longer.push_back(std::byte{0});
    CHECK(w::decode_request(longer, 0).status().code() == -EMSGSIZE);
    CHECK(w::decode_request(m, 1).status().code() == -ETOOMANYREFS);
    w::Reply rep;
    rep.kind = w::Kind::ready;
    rep.seq = 42;
    rep.rc = -EALREADY;
    std::vector<std::byte> rm;
    REQUIRE(w::encode_reply(rep, rm).is_ok());
    CHECK(rm.size() == w::header_size + w::reply_status_size);
    auto dr = w::decode_reply(rm, 0);
    REQUIRE(dr.is_ok());
    CHECK(dr->kind == w::Kind::ready);
    CHECK(dr->rc == -EALREADY);
}

TEST_CASE("a truncated header is -EPROTO") {
    const auto m = enc(notify_req());
    for (size_t n = 0; n < w::header_size; ++n)
        CHECK(w::decode_request(std::span(m.data(), n), 0).status().code() == -EPROTO);
}

TEST_CASE("a bad magic is -ENOMSG") {
    auto m = enc(notify_req());
    poke(m, 0, uint32_t{0x4d445649});
    CHECK(req_rc(m) == -ENOMSG);
}

TEST_CASE("a version other than 1 is -EPROTONOSUPPORT") {
    auto m = enc(notify_req());
    poke(m, 4, uint16_t{2});
    CHECK(req_rc(m) == -EPROTONOSUPPORT);
    poke(m, 4, uint16_t{0});
    CHECK(req_rc(m) == -EPROTONOSUPPORT);
}

TEST_CASE("the reply bit in a request is -EBADRQC, and its absence in a reply too") {
    auto m = enc(notify_req());
    poke(m, 6, uint16_t{6 | w::reply_bit});
    CHECK(req_rc(m) == -EBADRQC);
    w::Reply rep;
    rep.kind = w::Kind::notify;
    auto r = enc(rep);
    CHECK(rep_rc(r) == 0);
    poke(r, 6, uint16_t{6});
    CHECK(rep_rc(r) == -EBADRQC);
}

TEST_CASE("an unknown kind is -EOPNOTSUPP") {
    auto m = enc(notify_req());
    for (uint16_t k : {uint16_t{0}, uint16_t{w::max_kind + 1}, uint16_t{0x7fff}}) {
        poke(m, 6, k);
        CHECK(req_rc(m) == -EOPNOTSUPP);
    }
}

TEST_CASE("flags != 0 is -EINVAL") {
    auto m = enc(notify_req());
    poke(m, 12, uint32_t{1});
    CHECK(req_rc(m) == -EINVAL);
}

TEST_CASE("a pad != 0 is -EINVAL, in every kind that has one") {
    w::Request r;
    r.kind = w::Kind::hello;
    auto m = enc(r);
    poke(m, 20, uint32_t{1});
    CHECK(req_rc(m) == -EINVAL);
    r.kind = w::Kind::restrict_to;
    for (size_t off : {18u, 20u, 22u}) {
        m = enc(r);
        poke(m, off, uint16_t{1});
        CHECK(req_rc(m) == -EINVAL);
    }
    r.kind = w::Kind::get_mem_type;
    m = enc(r);
    poke(m, 18, uint16_t{1});
    CHECK(req_rc(m) == -EINVAL);
    for (auto k : {w::Kind::map_ioreq, w::Kind::server_serial}) {
        r.kind = k;
        m = enc(r);
        poke(m, 20, uint32_t{1});
        CHECK(req_rc(m) == -EINVAL);
    }
    r.kind = w::Kind::map_guest;
    m = enc(r);
    poke(m, 18, uint16_t{1});
    CHECK(req_rc(m) == -EINVAL);
    m = enc(r);
    poke(m, 36, uint32_t{1});
    CHECK(req_rc(m) == -EINVAL);
    r.kind = w::Kind::memory_map;
    m = enc(r);
    poke(m, 18, uint16_t{1});
    CHECK(req_rc(m) == -EINVAL);
    // a reply's pad after rc, and a reply payload's pad
    w::Reply rep;
    rep.kind = w::Kind::get_mem_type;
    auto rm = enc(rep);
    poke(rm, 20, uint32_t{1});
    CHECK(rep_rc(rm) == -EINVAL);
    rm = enc(rep);
    poke(rm, 26, uint16_t{1});
    CHECK(rep_rc(rm) == -EINVAL);
}

TEST_CASE("a payload longer than its kind is -EMSGSIZE, shorter is -EBADMSG") {
    for (uint16_t k = 1; k <= w::max_kind; ++k) {
        w::Request r;
        r.kind = static_cast<w::Kind>(k);
        auto m = enc(r);
        auto longer = m;
        longer.push_back(std::byte{0});
        CHECK(req_rc(longer) == -EMSGSIZE);
        if (m.size() > w::header_size) {
            m.pop_back();
            CHECK(req_rc(m) == -EBADMSG);
        }
    }
}

TEST_CASE("DM_OP sizes are checked against the bytes that came, without overflow") {
    const std::byte data[32] = {};
    w::Request r;
    r.kind = w::Kind::dm_op;
    r.nr_bufs = 1;
    r.buf[0] = std::span(data, 32);
    auto m = enc(r);
    CHECK(req_rc(m) == 0);
    auto s = m;
    s.pop_back();  // one byte missing
    CHECK(req_rc(s) == -EBADMSG);
    auto l = m;
    l.push_back(std::byte{0});
    CHECK(req_rc(l) == -EMSGSIZE);
    // size0 claims more than came; size0 + size1 wrapping to the true length
    auto o = m;
    poke(o, 24, uint64_t{33});
    CHECK(req_rc(o) == -EBADMSG);
    r.nr_bufs = 2;
    m = enc(r);
    poke(m, 24, uint64_t{~0ull});
    poke(m, 32, uint64_t{33});  // ~0 + 33 == 32 (mod 2^64)
    CHECK(req_rc(m) == -EBADMSG);
    // a buffer that is not there carries nothing; unknown nulls bits
    r.nr_bufs = 1;
    m = enc(r);
    poke(m, 18, w::null_buf0);
    CHECK(req_rc(m) == -EINVAL);
    poke(m, 18, uint16_t{8});
    CHECK(req_rc(m) == -EINVAL);
    r.nr_bufs = 0;
    r.buf[0] = {};
    r.nulls = w::null_bufs;
    m = enc(r);
    auto d = w::decode_request(m, 0);
    REQUIRE(d.is_ok());
    CHECK(d->nulls == w::null_bufs);
    CHECK(d->nr_bufs == 0);
}

TEST_CASE("descriptors on a request are -ETOOMANYREFS") {
    const auto m = enc(notify_req());
    CHECK(req_rc(m, 0) == 0);
    CHECK(req_rc(m, 1) == -ETOOMANYREFS);
    CHECK(req_rc(m, 253) == -ETOOMANYREFS);
}

TEST_CASE("a reply with extra descriptors is -ETOOMANYREFS, with missing ones -EBADFD") {
    w::Reply r;
    r.kind = w::Kind::map_ioreq;
    r.nr_vcpus = 2;
    r.buffered = true;
    r.serial = 5;
    r.map_bytes = 8192;
    const auto m = enc(r);
    auto d = w::decode_reply(m, 2);
    REQUIRE(d.is_ok());
    CHECK(d->nr_vcpus == 2);
    CHECK(d->buffered);
    CHECK(d->serial == 5);
    CHECK(d->map_bytes == 8192);
    CHECK(rep_rc(m, 3) == -ETOOMANYREFS);
    CHECK(rep_rc(m, 1) == -EBADFD);
    CHECK(rep_rc(m, 0) == -EBADFD);
    // an error reply carries none
    r.rc = -ENOENT;
    const auto e = enc(r);
    CHECK(e.size() == w::header_size + w::reply_status_size);
    CHECK(rep_rc(e, 0) == 0);
    CHECK(rep_rc(e, 2) == -ETOOMANYREFS);
    // MAP_GUEST: one on success, and bad_gfn even on error
    w::Reply g;
    g.kind = w::Kind::map_guest;
    g.rc = -EFAULT;
    g.bad_gfn = 0x77;
    const auto ge = enc(g);
    auto gd = w::decode_reply(ge, 0);
    REQUIRE(gd.is_ok());
    CHECK(gd->bad_gfn == 0x77);
    g.rc = 0;
    CHECK(rep_rc(enc(g), 0) == -EBADFD);
    CHECK(rep_rc(enc(g), 1) == 0);
}

TEST_CASE("MEMORY_MAP replies carry whole ranges, at most n, none on error") {
    const std::byte ranges[3 * w::mem_range_size] = {};
    w::Reply r;
    r.kind = w::Kind::memory_map;
    r.n = 3;
    r.ranges = std::span(ranges, sizeof ranges);
    auto m = enc(r);
    auto d = w::decode_reply(m, 0);
    REQUIRE(d.is_ok());
    CHECK(d->n == 3);
    CHECK(d->ranges.size() == sizeof ranges);
    m.pop_back();
    CHECK(rep_rc(m) == -EBADMSG);
    r.n = 2;
    CHECK(rep_rc(enc(r)) == -EMSGSIZE);
    r.rc = -ENOSPC;
    r.n = 9;
    m = enc(r);
    d = w::decode_reply(m, 0);
    REQUIRE(d.is_ok());
    CHECK(d->n == 9);
    CHECK(d->ranges.empty());
}

TEST_CASE("DM_OP replies carry the buffers back") {
    std::byte data[32];
    for (size_t i = 0; i < sizeof data; ++i) data[i] = std::byte(i);
    w::Reply r;
    r.kind = w::Kind::dm_op;
    r.buf[0] = std::span(data, 32);
    auto m = enc(r);
    auto d = w::decode_reply(m, 0);
    REQUIRE(d.is_ok());
    REQUIRE(d->buf[0].size() == 32);
    CHECK(std::memcmp(d->buf[0].data(), data, 32) == 0);
    m.push_back(std::byte{0});
    CHECK(rep_rc(m) == -EMSGSIZE);
}

TEST_CASE("an error reply to an unknown kind echoes it, which a client's decoder refuses") {
    std::vector<std::byte> m;
    w::encode_error(0x7777, 9, -EOPNOTSUPP, m);
    CHECK(m.size() == w::header_size + w::reply_status_size);
    w::Header h;
    std::memcpy(&h, m.data(), sizeof h);
    CHECK(h.kind == (0x7777 | w::reply_bit));
    CHECK(h.seq == 9);
    CHECK(rep_rc(m) == -EOPNOTSUPP);
}

TEST_CASE("an oversized DM_OP cannot be encoded (-EMSGSIZE)") {
    std::vector<std::byte> big(w::max_payload + 1);
    w::Request r;
    r.kind = w::Kind::dm_op;
    r.nr_bufs = 1;
    r.buf[0] = big;
    std::vector<std::byte> m;
    CHECK(w::encode_request(r, m).code() == -EMSGSIZE);
}

// SPDX-License-Identifier: MIT
// The device-model wire protocol's codec (wire.hpp): pure functions.
#include "wire.hpp"

#include <cstring>
#include <type_traits>

namespace hvcore::wire {

namespace {

// Reads fixed-size fields in order from a span; never past its end.
class Reader {
public:
    explicit Reader(std::span<const std::byte> s) noexcept : s_(s) {}
    template <class T>
    [[nodiscard]] T get() noexcept {
        static_assert(std::is_trivially_copyable_v<T>);
        T v{};
        if (pos_ + sizeof(T) <= s_.size()) std::memcpy(&v, s_.data() + pos_, sizeof(T));
        pos_ += sizeof(T);
        return v;
    }
    [[nodiscard]] std::span<const std::byte> bytes(size_t n) noexcept {
        auto r = s_.subspan(pos_, n);  // the caller has checked the length
        pos_ += n;
        return r;
    }

private:
    std::span<const std::byte> s_;
    size_t pos_ = 0;
};

class Writer {
public:
    explicit Writer(std::vector<std::byte>& out) : out_(out) { out_.clear(); }
    template <class T>
    void put(T v) {
        static_assert(std::is_trivially_copyable_v<T>);
        append(&v, sizeof(T));
    }
    void bytes(std::span<const std::byte> b) { append(b.data(), b.size()); }

private:
    // resize + memcpy rather than vector::insert of a byte range: GCC 12 at
    // -O3 reports a false -Wstringop-overflow / -Warray-bounds inside
    // insert's inlined memmove.
    void append(const void* p, size_t n) {
        if (n == 0) return;
        const size_t at = out_.size();
        out_.resize(at + n);
        std::memcpy(out_.data() + at, p, n);
    }

    std::vector<std::byte>& out_;
};

[[nodiscard]] bool known(uint16_t kind) noexcept { return kind >= 1 && kind <= max_kind; }

// The payload size of a request of this kind (DM_OP: its fixed part).
[[nodiscard]] size_t request_size(Kind k) noexcept {
    switch (k) {
    case Kind::hello: return 8;
    case Kind::restrict_to: return 8;
    case Kind::dm_op: return dm_op_fixed;
    case Kind::get_mem_type: return 16;
    case Kind::map_ioreq: return 8;
    case Kind::notify: return 8;
    case Kind::server_serial: return 8;
    case Kind::map_guest: return 24;
    case Kind::memory_map: return 8;
    case Kind::bye: return 0;
    case Kind::ready: return 0;
    }
    return 0;
}

// The out payload of a successful reply (DM_OP, MEMORY_MAP: the fixed part).
[[nodiscard]] size_t reply_size(Kind k) noexcept {
    switch (k) {
    case Kind::hello: return 16;
    case Kind::restrict_to: return 0;
    case Kind::dm_op: return 16;
    case Kind::get_mem_type: return 8;
    case Kind::map_ioreq: return 24;
    case Kind::notify: return 0;
    case Kind::server_serial: return 8;
    case Kind::map_guest: return 16;
    case Kind::memory_map: return 8;
    case Kind::bye: return 0;
    case Kind::ready: return 0;
    }
    return 0;
}

// Whether an error reply of this kind still carries its fixed out payload.
[[nodiscard]] bool payload_on_error(Kind k) noexcept { return k == Kind::map_guest || k == Kind::memory_map; }

// have against want: exact, else the errno of a long or short payload.
[[nodiscard]] Status exact(size_t have, size_t want) noexcept {
    if (have > want) return Status::err(reject_long);
    if (have < want) return Status::err(reject_short);
    return Status::ok();
}

void put_header(Writer& w, uint16_t kind, uint32_t seq) {
    w.put(Header{.magic = magic, .version = version, .kind = kind, .seq = seq, .flags = 0});
}

}  // namespace

unsigned reply_fds(Kind kind, int32_t rc) noexcept {
    if (rc < 0) return 0;
    if (kind == Kind::map_ioreq) return 2;
    if (kind == Kind::map_guest) return 1;
    return 0;
}

Result<Header> decode_header(std::span<const std::byte> msg, bool reply) noexcept {
    if (msg.size() < header_size) return Status::err(reject_truncated_header);
    Header h;
    std::memcpy(&h, msg.data(), sizeof h);
    if (h.magic != magic) return Status::err(reject_bad_magic);
    if (h.version != version) return Status::err(reject_version);
    if (((h.kind & reply_bit) != 0) != reply) return Status::err(reject_reply_bit);
    if (!known(static_cast<uint16_t>(h.kind & ~reply_bit))) return Status::err(reject_unknown_kind);
    if (h.flags != 0) return Status::err(reject_nonzero);
    return h;
}

Result<Request> decode_request(std::span<const std::byte> msg, unsigned nfds) noexcept {
    auto h = decode_header(msg, false);
    if (!h) return h.status();
    if (nfds != 0) return Status::err(reject_extra_fds);
    Request r;
    r.kind = static_cast<Kind>(h->kind);
    r.seq = h->seq;
    const std::span<const std::byte> p = msg.subspan(header_size);
    const size_t fixed = request_size(r.kind);
    if (r.kind != Kind::dm_op) {
        if (Status s = exact(p.size(), fixed); !s) return s;
    } else if (p.size() < fixed) {
        return Status::err(reject_short);
    }
    Reader rd(p);
    uint32_t pad32 = 0;
    uint16_t pad16a = 0, pad16b = 0, pad16c = 0;
    switch (r.kind) {
    case Kind::hello:
        r.client_abi = rd.get<uint32_t>();
        pad32 = rd.get<uint32_t>();
        break;
    case Kind::restrict_to:
        r.domid = rd.get<uint16_t>();
        pad16a = rd.get<uint16_t>();
        pad16b = rd.get<uint16_t>();
        pad16c = rd.get<uint16_t>();
        break;
    case Kind::dm_op: {
        r.domid = rd.get<uint16_t>();
        r.nulls = rd.get<uint16_t>();
        r.nr_bufs = rd.get<uint32_t>();
        const auto s0 = rd.get<uint64_t>();
        const auto s1 = rd.get<uint64_t>();
        if ((r.nulls & ~(null_bufs | null_buf0 | null_buf1)) != 0) return Status::err(reject_nonzero);
        // A buffer that is not there (NULL, or not among nr_bufs) carries nothing.
        const bool has0 = (r.nulls & (null_bufs | null_buf0)) == 0 && r.nr_bufs >= 1;
        const bool has1 = (r.nulls & (null_bufs | null_buf1)) == 0 && r.nr_bufs >= 2;
        if ((!has0 && s0 != 0) || (!has1 && s1 != 0)) return Status::err(reject_nonzero);
        const size_t rest = p.size() - fixed;
        // s0 + s1 == rest, without trusting either (each may be any u64).
        if (s0 > rest || s1 > rest - s0) return Status::err(reject_short);
        if (s0 + s1 < rest) return Status::err(reject_long);
        r.buf[0] = rd.bytes(static_cast<size_t>(s0));
        r.buf[1] = rd.bytes(static_cast<size_t>(s1));
        break;
    }
    case Kind::get_mem_type:
        r.domid = rd.get<uint16_t>();
        pad16a = rd.get<uint16_t>();
        pad16b = rd.get<uint16_t>();
        pad16c = rd.get<uint16_t>();
        r.pfn = rd.get<uint64_t>();
        break;
    case Kind::map_ioreq:
    case Kind::server_serial:
        r.domid = rd.get<uint16_t>();
        r.id = rd.get<uint16_t>();
        pad32 = rd.get<uint32_t>();
        break;
    case Kind::notify:
        r.domid = rd.get<uint16_t>();
        r.id = rd.get<uint16_t>();
        r.vcpu = rd.get<uint32_t>();
        break;
    case Kind::map_guest: {
        r.domid = rd.get<uint16_t>();
        pad16a = rd.get<uint16_t>();
        r.prot = rd.get<int32_t>();
        r.first_gfn = rd.get<uint64_t>();
        r.nr = rd.get<uint32_t>();
        pad32 = rd.get<uint32_t>();
        break;
    }
    case Kind::memory_map:
        r.domid = rd.get<uint16_t>();
        pad16a = rd.get<uint16_t>();
        r.max = rd.get<uint32_t>();
        break;
    case Kind::bye:
    case Kind::ready:
        break;
    }
    if (pad32 != 0 || pad16a != 0 || pad16b != 0 || pad16c != 0) return Status::err(reject_nonzero);
    return r;
}

Result<Reply> decode_reply(std::span<const std::byte> msg, unsigned nfds) noexcept {
    auto h = decode_header(msg, true);
    if (!h) return h.status();
    Reply r;
    r.kind = static_cast<Kind>(h->kind & ~reply_bit);
    r.seq = h->seq;
    std::span<const std::byte> p = msg.subspan(header_size);
    if (p.size() < reply_status_size) return Status::err(reject_short);
    Reader st(p);
    r.rc = st.get<int32_t>();
    if (st.get<uint32_t>() != 0) return Status::err(reject_nonzero);
    p = p.subspan(reply_status_size);
    const unsigned want_fds = reply_fds(r.kind, r.rc);
    if (nfds > want_fds) return Status::err(reject_extra_fds);
    if (nfds < want_fds) return Status::err(reject_missing_fds);
    r.nfds = nfds;
    if (r.rc < 0 && !payload_on_error(r.kind)) {
        if (Status s = exact(p.size(), 0); !s) return s;
        return r;
    }
    const size_t fixed = reply_size(r.kind);
    if (r.kind != Kind::dm_op && r.kind != Kind::memory_map) {
        if (Status s = exact(p.size(), fixed); !s) return s;
    } else if (p.size() < fixed) {
        return Status::err(reject_short);
    }
    Reader rd(p);
    uint32_t pad32 = 0;
    uint16_t pad16a = 0, pad16b = 0, pad16c = 0;
    uint8_t pad8[3] = {0, 0, 0};
    switch (r.kind) {
    case Kind::hello:
        r.server_abi = rd.get<uint32_t>();
        r.max_msg = rd.get<uint32_t>();
        r.emulator = rd.get<uint32_t>();
        pad32 = rd.get<uint32_t>();
        break;
    case Kind::restrict_to:
    case Kind::notify:
    case Kind::bye:
    case Kind::ready:
        break;
    case Kind::dm_op: {
        const auto s0 = rd.get<uint64_t>();
        const auto s1 = rd.get<uint64_t>();
        const size_t rest = p.size() - fixed;
        if (s0 > rest || s1 > rest - s0) return Status::err(reject_short);
        if (s0 + s1 < rest) return Status::err(reject_long);
        r.buf[0] = rd.bytes(static_cast<size_t>(s0));
        r.buf[1] = rd.bytes(static_cast<size_t>(s1));
        break;
    }
    case Kind::get_mem_type:
        r.mem_type = rd.get<uint16_t>();
        pad16a = rd.get<uint16_t>();
        pad16b = rd.get<uint16_t>();
        pad16c = rd.get<uint16_t>();
        break;
    case Kind::map_ioreq: {
        r.nr_vcpus = rd.get<uint32_t>();
        const auto b = rd.get<uint8_t>();
        pad8[0] = rd.get<uint8_t>();
        pad8[1] = rd.get<uint8_t>();
        pad8[2] = rd.get<uint8_t>();
        if (b > 1) return Status::err(reject_nonzero);
        r.buffered = b == 1;
        r.serial = rd.get<uint64_t>();
        r.map_bytes = rd.get<uint64_t>();
        break;
    }
    case Kind::server_serial:
        r.serial = rd.get<uint64_t>();
        break;
    case Kind::map_guest:
        r.offset = rd.get<uint64_t>();
        r.bad_gfn = rd.get<uint64_t>();
        break;
    case Kind::memory_map: {
        r.n = rd.get<uint32_t>();
        pad32 = rd.get<uint32_t>();
        // Whole ranges, at most n of them (the request's max may ask for
        // fewer; the client checks that); an error reply (-ENOSPC: n is the
        // count needed) carries none.
        const size_t rest = p.size() - fixed;
        if (rest % mem_range_size != 0) return Status::err(reject_short);
        if (rest / mem_range_size > (r.rc < 0 ? 0 : r.n)) return Status::err(reject_long);
        r.ranges = rd.bytes(rest);
        break;
    }
    }
    if (pad32 != 0 || pad16a != 0 || pad16b != 0 || pad16c != 0 || pad8[0] != 0 || pad8[1] != 0 || pad8[2] != 0)
        return Status::err(reject_nonzero);
    return r;
}

Status encode_request(const Request& r, std::vector<std::byte>& out) {
    Writer w(out);
    put_header(w, static_cast<uint16_t>(r.kind), r.seq);
    switch (r.kind) {
    case Kind::hello:
        w.put(r.client_abi);
        w.put(uint32_t{0});
        break;
    case Kind::restrict_to:
        w.put(r.domid);
        w.put(uint16_t{0});
        w.put(uint32_t{0});
        break;
    case Kind::dm_op:
        w.put(r.domid);
        w.put(r.nulls);
        w.put(r.nr_bufs);
        w.put(uint64_t{r.buf[0].size()});
        w.put(uint64_t{r.buf[1].size()});
        if (r.buf[0].size() > max_payload || r.buf[1].size() > max_payload - r.buf[0].size())
            return Status::err(-EMSGSIZE);
        w.bytes(r.buf[0]);
        w.bytes(r.buf[1]);
        break;
    case Kind::get_mem_type:
        w.put(r.domid);
        w.put(uint16_t{0});
        w.put(uint32_t{0});
        w.put(r.pfn);
        break;
    case Kind::map_ioreq:
    case Kind::server_serial:
        w.put(r.domid);
        w.put(r.id);
        w.put(uint32_t{0});
        break;
    case Kind::notify:
        w.put(r.domid);
        w.put(r.id);
        w.put(r.vcpu);
        break;
    case Kind::map_guest:
        w.put(r.domid);
        w.put(uint16_t{0});
        w.put(r.prot);
        w.put(r.first_gfn);
        w.put(r.nr);
        w.put(uint32_t{0});
        break;
    case Kind::memory_map:
        w.put(r.domid);
        w.put(uint16_t{0});
        w.put(r.max);
        break;
    case Kind::bye:
    case Kind::ready:
        break;
    }
    if (out.size() > max_message) return Status::err(-EMSGSIZE);
    return Status::ok();
}

Status encode_reply(const Reply& r, std::vector<std::byte>& out) {
    Writer w(out);
    put_header(w, static_cast<uint16_t>(static_cast<uint16_t>(r.kind) | reply_bit), r.seq);
    w.put(r.rc);
    w.put(uint32_t{0});
    if (r.rc < 0 && !payload_on_error(r.kind)) return Status::ok();
    switch (r.kind) {
    case Kind::hello:
        w.put(r.server_abi);
        w.put(r.max_msg);
        w.put(r.emulator);
        w.put(uint32_t{0});
        break;
    case Kind::restrict_to:
    case Kind::notify:
    case Kind::bye:
    case Kind::ready:
        break;
    case Kind::dm_op:
        w.put(uint64_t{r.buf[0].size()});
        w.put(uint64_t{r.buf[1].size()});
        if (r.buf[0].size() > max_payload || r.buf[1].size() > max_payload - r.buf[0].size())
            return Status::err(-EMSGSIZE);
        w.bytes(r.buf[0]);
        w.bytes(r.buf[1]);
        break;
    case Kind::get_mem_type:
        w.put(r.mem_type);
        w.put(uint16_t{0});
        w.put(uint32_t{0});
        break;
    case Kind::map_ioreq:
        w.put(r.nr_vcpus);
        w.put(uint8_t{r.buffered ? uint8_t{1} : uint8_t{0}});
        w.put(uint8_t{0});
        w.put(uint16_t{0});
        w.put(r.serial);
        w.put(r.map_bytes);
        break;
    case Kind::server_serial:
        w.put(r.serial);
        break;
    case Kind::map_guest:
        w.put(r.offset);
        w.put(r.bad_gfn);
        break;
    case Kind::memory_map:
        w.put(r.n);
        w.put(uint32_t{0});
        if (r.rc >= 0) {
            if (r.ranges.size() % mem_range_size != 0 || r.ranges.size() > max_payload - 8)
                return Status::err(-EMSGSIZE);
            w.bytes(r.ranges);
        }
        break;
    }
    if (out.size() > max_message) return Status::err(-EMSGSIZE);
    return Status::ok();
}

void encode_error(uint16_t raw_kind, uint32_t seq, int32_t rc, std::vector<std::byte>& out) {
    Writer w(out);
    put_header(w, static_cast<uint16_t>(raw_kind | reply_bit), seq);
    w.put(rc);
    w.put(uint32_t{0});
}

}  // namespace hvcore::wire

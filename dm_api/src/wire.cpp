// SPDX-License-Identifier: MIT
// The device-model wire protocol's codec (wire.hpp): pure functions.
//
// Each message's fixed layout is written once, as layout(io, message)
// below, against three kinds of io with the same members: a Writer
// appends the fields (encode), a Reader takes them from the bytes (decode;
// a pad that is not zero is remembered as reject_nonzero) and a Sizer
// counts them (the size a kind's payload must have). What varies in length
// (DM_OP's buffers, MEMORY_MAP's ranges) follows the fixed part and is
// checked by the decoders themselves.
#include "wire.hpp"

#include <concepts>
#include <cstring>
#include <type_traits>
#include <utility>

namespace hvcore::wire {

namespace {

using Bufs = std::span<const std::byte>[2];  // DM_OP's two buffers

class Writer {
public:
    explicit Writer(std::vector<std::byte>& out) : out_(out) { out_.clear(); }
    void u16(uint16_t v) { put(v); }
    void u32(uint32_t v) { put(v); }
    void i32(int32_t v) { put(v); }
    void u64(uint64_t v) { put(v); }
    void flag8(bool v) { put(uint8_t{v ? uint8_t{1} : uint8_t{0}}); }
    void pad(size_t n) {
        const size_t at = out_.size();
        out_.resize(at + n);  // value-initialised: zeros
    }
    // DM_OP's two u64 sizes in the fixed part.
    void sizes(const Bufs& b) {
        u64(b[0].size());
        u64(b[1].size());
    }
    // DM_OP's buffers after the fixed part; -EMSGSIZE beyond max_payload.
    [[nodiscard]] Status buffers(const Bufs& b) {
        if (b[0].size() > max_payload || b[1].size() > max_payload - b[0].size()) return Status::err(-EMSGSIZE);
        bytes(b[0]);
        bytes(b[1]);
        return Status::ok();
    }
    void bytes(std::span<const std::byte> b) { append(b.data(), b.size()); }
    template <class T>
    void put(T v) {
        static_assert(std::is_trivially_copyable_v<T>);
        append(&v, sizeof(T));
    }
    // The message as written: -EMSGSIZE beyond max_message.
    [[nodiscard]] Status fits() const noexcept {
        return out_.size() > max_message ? Status::err(-EMSGSIZE) : Status::ok();
    }

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

// Reads the fields in order from a span whose length the caller has
// checked against the layout's (never past its end in any case).
class Reader {
public:
    explicit Reader(std::span<const std::byte> s) noexcept : s_(s) {}
    void u16(uint16_t& v) noexcept { v = get<uint16_t>(); }
    void u32(uint32_t& v) noexcept { v = get<uint32_t>(); }
    void i32(int32_t& v) noexcept { v = get<int32_t>(); }
    void u64(uint64_t& v) noexcept { v = get<uint64_t>(); }
    void flag8(bool& v) noexcept {
        const auto b = get<uint8_t>();
        if (b > 1) nonzero_ = true;
        v = b == 1;
    }
    void pad(size_t n) noexcept {
        for (size_t i = 0; i < n; ++i)
            if (get<uint8_t>() != 0) nonzero_ = true;
    }
    void sizes(const Bufs&) noexcept {
        size_[0] = get<uint64_t>();
        size_[1] = get<uint64_t>();
    }
    [[nodiscard]] uint64_t size(unsigned i) const noexcept { return size_[i]; }
    // DM_OP's buffers: the two sizes read by sizes() are the rest of the
    // bytes, exactly, checked without trusting either (each may be any u64).
    [[nodiscard]] Status buffers(Bufs& b) noexcept {
        const size_t rest = left();
        if (size_[0] > rest || size_[1] > rest - size_[0]) return Status::err(reject_short);
        if (size_[0] + size_[1] < rest) return Status::err(reject_long);
        b[0] = bytes(static_cast<size_t>(size_[0]));
        b[1] = bytes(static_cast<size_t>(size_[1]));
        return Status::ok();
    }
    [[nodiscard]] size_t left() const noexcept { return s_.size() - pos_; }
    [[nodiscard]] std::span<const std::byte> bytes(size_t n) noexcept {
        auto r = s_.subspan(pos_, n);  // the caller has checked the length
        pos_ += n;
        return r;
    }
    // reject_nonzero if a pad read so far was not 0 (or a flag8 not 0 or 1).
    [[nodiscard]] Status status() const noexcept { return nonzero_ ? Status::err(reject_nonzero) : Status::ok(); }

private:
    template <class T>
    [[nodiscard]] T get() noexcept {
        static_assert(std::is_trivially_copyable_v<T>);
        T v{};
        if (pos_ + sizeof(T) <= s_.size()) std::memcpy(&v, s_.data() + pos_, sizeof(T));
        pos_ += sizeof(T);
        return v;
    }

    std::span<const std::byte> s_;
    size_t pos_ = 0;
    uint64_t size_[2] = {0, 0};
    bool nonzero_ = false;
};

// Counts the bytes of a fixed layout.
class Sizer {
public:
    constexpr void u16(uint16_t) noexcept { n_ += sizeof(uint16_t); }
    constexpr void u32(uint32_t) noexcept { n_ += sizeof(uint32_t); }
    constexpr void i32(int32_t) noexcept { n_ += sizeof(int32_t); }
    constexpr void u64(uint64_t) noexcept { n_ += sizeof(uint64_t); }
    constexpr void flag8(bool) noexcept { n_ += sizeof(uint8_t); }
    constexpr void pad(size_t n) noexcept { n_ += n; }
    constexpr void sizes(const Bufs&) noexcept { n_ += 2 * sizeof(uint64_t); }
    [[nodiscard]] constexpr size_t bytes() const noexcept { return n_; }

private:
    size_t n_ = 0;
};

template <class M, class T>
concept message_of = std::same_as<std::remove_const_t<M>, T>;

// A request's payload (DM_OP: its fixed part), as wire.hpp lists them,
// one kind a line. R is Request (decoding) or const Request (encoding,
// sizing).
template <class Io, message_of<Request> R>
constexpr void layout(Io& io, R& r) {
    switch (r.kind) {
    case Kind::hello: io.u32(r.client_abi); io.pad(4); break;
    case Kind::restrict_to: io.u16(r.domid); io.pad(6); break;
    case Kind::dm_op: io.u16(r.domid); io.u16(r.nulls); io.u32(r.nr_bufs); io.sizes(r.buf); break;
    case Kind::get_mem_type: io.u16(r.domid); io.pad(6); io.u64(r.pfn); break;
    case Kind::map_ioreq:
    case Kind::server_serial: io.u16(r.domid); io.u16(r.id); io.pad(4); break;
    case Kind::notify: io.u16(r.domid); io.u16(r.id); io.u32(r.vcpu); break;
    case Kind::map_guest:
        io.u16(r.domid); io.pad(2); io.i32(r.prot); io.u64(r.first_gfn); io.u32(r.nr); io.pad(4); break;
    case Kind::memory_map: io.u16(r.domid); io.pad(2); io.u32(r.max); break;
    case Kind::bye:
    case Kind::ready: break;
    }
}

// A successful reply's payload after its status (DM_OP, MEMORY_MAP: the
// fixed part).
template <class Io, message_of<Reply> R>
constexpr void layout(Io& io, R& r) {
    switch (r.kind) {
    case Kind::hello: io.u32(r.server_abi); io.u32(r.max_msg); io.u32(r.emulator); io.pad(4); break;
    case Kind::restrict_to:
    case Kind::notify:
    case Kind::bye:
    case Kind::ready: break;
    case Kind::dm_op: io.sizes(r.buf); break;
    case Kind::get_mem_type: io.u16(r.mem_type); io.pad(6); break;
    case Kind::map_ioreq:
        io.u32(r.nr_vcpus); io.flag8(r.buffered); io.pad(3); io.u64(r.serial); io.u64(r.map_bytes); break;
    case Kind::server_serial: io.u64(r.serial); break;
    case Kind::map_guest: io.u64(r.offset); io.u64(r.bad_gfn); break;
    case Kind::memory_map: io.u32(r.n); io.pad(4); break;
    }
}

// A reply's status, before any payload: i32 rc, u32 pad.
template <class Io, class Rc>
constexpr void status_layout(Io& io, Rc& rc) {
    io.i32(rc);
    io.pad(4);
}

// The size of a message's fixed layout of kind k.
template <class M>
[[nodiscard]] constexpr size_t fixed_size(Kind k) noexcept {
    M m;
    m.kind = k;
    Sizer s;
    layout(s, std::as_const(m));
    return s.bytes();
}
static_assert(fixed_size<Request>(Kind::dm_op) == dm_op_fixed);

[[nodiscard]] bool known(uint16_t kind) noexcept { return kind >= 1 && kind <= max_kind; }

// Whether an error reply of this kind still carries its fixed out payload.
[[nodiscard]] bool payload_on_error(Kind k) noexcept { return k == Kind::map_guest || k == Kind::memory_map; }

// have against want: exact (or at least want when `more` bytes may follow),
// else the errno of a long or short payload.
[[nodiscard]] Status check_size(size_t have, size_t want, bool more = false) noexcept {
    if (have > want && !more) return Status::err(reject_long);
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
    if (Status s = check_size(p.size(), fixed_size<Request>(r.kind), r.kind == Kind::dm_op); !s) return s;
    Reader rd(p);
    layout(rd, r);
    if (r.kind == Kind::dm_op) {
        if ((r.nulls & ~(null_bufs | null_buf0 | null_buf1)) != 0) return Status::err(reject_nonzero);
        // A buffer that is not there (NULL, or not among nr_bufs) carries nothing.
        const bool has0 = (r.nulls & (null_bufs | null_buf0)) == 0 && r.nr_bufs >= 1;
        const bool has1 = (r.nulls & (null_bufs | null_buf1)) == 0 && r.nr_bufs >= 2;
        if ((!has0 && rd.size(0) != 0) || (!has1 && rd.size(1) != 0)) return Status::err(reject_nonzero);
        if (Status s = rd.buffers(r.buf); !s) return s;
    }
    if (Status s = rd.status(); !s) return s;
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
    Reader st(p.first(reply_status_size));
    status_layout(st, r.rc);
    if (Status s = st.status(); !s) return s;
    p = p.subspan(reply_status_size);
    const unsigned want_fds = reply_fds(r.kind, r.rc);
    if (nfds > want_fds) return Status::err(reject_extra_fds);
    if (nfds < want_fds) return Status::err(reject_missing_fds);
    r.nfds = nfds;
    if (r.rc < 0 && !payload_on_error(r.kind)) {
        if (Status s = check_size(p.size(), 0); !s) return s;
        return r;
    }
    const bool more = r.kind == Kind::dm_op || r.kind == Kind::memory_map;
    if (Status s = check_size(p.size(), fixed_size<Reply>(r.kind), more); !s) return s;
    Reader rd(p);
    layout(rd, r);
    if (r.kind == Kind::dm_op) {
        if (Status s = rd.buffers(r.buf); !s) return s;
    } else if (r.kind == Kind::memory_map) {
        // Whole ranges, at most n of them (the request's max may ask for
        // fewer; the client checks that); an error reply (-ENOSPC: n is the
        // count needed) carries none.
        const size_t rest = rd.left();
        if (rest % mem_range_size != 0) return Status::err(reject_short);
        if (rest / mem_range_size > (r.rc < 0 ? 0 : r.n)) return Status::err(reject_long);
        r.ranges = rd.bytes(rest);
    }
    if (Status s = rd.status(); !s) return s;
    return r;
}

Status encode_request(const Request& r, std::vector<std::byte>& out) {
    Writer w(out);
    put_header(w, static_cast<uint16_t>(r.kind), r.seq);
    layout(w, r);
    if (r.kind == Kind::dm_op) {
        if (Status s = w.buffers(r.buf); !s) return s;
    }
    return w.fits();
}

Status encode_reply(const Reply& r, std::vector<std::byte>& out) {
    Writer w(out);
    put_header(w, static_cast<uint16_t>(static_cast<uint16_t>(r.kind) | reply_bit), r.seq);
    status_layout(w, r.rc);
    if (r.rc < 0 && !payload_on_error(r.kind)) return Status::ok();
    layout(w, r);
    if (r.kind == Kind::dm_op) {
        if (Status s = w.buffers(r.buf); !s) return s;
    } else if (r.kind == Kind::memory_map && r.rc >= 0) {
        if (r.ranges.size() % mem_range_size != 0 || r.ranges.size() > max_payload - 8)
            return Status::err(-EMSGSIZE);
        w.bytes(r.ranges);
    }
    return w.fits();
}

void encode_error(uint16_t raw_kind, uint32_t seq, int32_t rc, std::vector<std::byte>& out) {
    Writer w(out);
    put_header(w, static_cast<uint16_t>(raw_kind | reply_bit), seq);
    status_layout(w, rc);
}

}  // namespace hvcore::wire

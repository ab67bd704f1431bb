// SPDX-License-Identifier: MIT
// Routing: where each emulated access goes (RAM, the claimed type's owner,
// a server by range, nobody), its replay after an answer, and the taking
// of the answer (Xen: xen/arch/x86/hvm/emulate.c hvmemul_do_io,
// xen/common/ioreq.c ioreq_server_select / ioreq_send).
#include <fmt/format.h>

#include "domain_ports.hpp"

namespace hvcore {

namespace {

// A single direct write wholly inside the platform's posted window
// (Backend::posted_mmio; x86: VGA memory, Xen's stdvga_mem_accept). Xen
// tries its internal handler (hvm_io_intercept) before any ioreq routing,
// so this applies to claimed pages too; the write is posted to the server
// holding it by range (stdvga_mem_write: ioreq_server_select, then
// ioreq_send(..., buffered = true)), with the synchronous path as the
// fall-back when that fails.
[[nodiscard]] bool platform_posts(const std::optional<GpaWindow>& window, const IoreqBody& r) noexcept {
    if (!window) return false;
    if (r.type != ioreq::type_copy || r.dir != ioreq::dir_write || r.data_is_ptr || r.count != 1) return false;
    const auto [first, last] = mmio_span(r);
    return window->contains(first, last);
}

// Elements of `size` bytes from addr to the end of its page, walking up
// (or down when df); 0 when the first element itself straddles the page.
[[nodiscard]] uint64_t elements_in_page(uint64_t addr, unsigned size, bool df) noexcept {
    const uint64_t off = addr & page_mask;
    if (off + size > page_size) return 0;
    return df ? off / size + 1 : (page_size - off) / size;
}

// The one ioreq for n elements of a rep access at its device side (Xen's
// hvmemul_rep_movs / hvmemul_rep_stos). MOVS between RAM and a device:
// data_is_ptr = 1 and data = the guest-physical address of the RAM side,
// dir = write when RAM is the source (hvmemul_do_mmio_addr). STOS: data =
// the value, count = n (hvmemul_do_mmio_buffer).
[[nodiscard]] IoreqBody rep_ioreq(const RepAccess& a, uint64_t n, bool to_device) noexcept {
    const bool copy = a.kind == RepAccess::Kind::copy;
    IoreqBody req{.addr = to_device ? a.dst : a.src, .data = 0, .count = static_cast<uint32_t>(n),
                  .size = a.size, .type = ioreq::type_copy, .dir = to_device ? ioreq::dir_write : ioreq::dir_read,
                  .df = a.df, .data_is_ptr = copy};
    req.data = copy ? (to_device ? a.src : a.dst) : (a.value & ones(a.size));
    return req;
}

}  // namespace

std::optional<MemStatus> Domain::replay(const Locked& lk, VcpuState& v, const IoreqBody& req, uint64_t* data) {
    IoreqBody expect;
    switch (v.io.replay(req, data, &expect)) {
    case VcpuIo::Replay::not_logged: return std::nullopt;
    case VcpuIo::Replay::replayed: return MemStatus::ok;
    case VcpuIo::Replay::mismatch: break;
    }
    stop(lk, fmt::format("vCPU {} re-executed its instruction differently after a response "
                         "(expected a {}-byte access at {:#x}, got {:#x})",
                         v.id, expect.size, expect.addr, req.addr));
    return MemStatus::stopped;
}

Domain::Landing Domain::landing(const Locked&, uint64_t gpa) {
    const Gfn gfn = Gpa{gpa}.gfn();
    // Beyond what the table format can map there is no entry: a hole.
    const Stage2Leaf leaf = gfn.raw() < p2m_->gfn_limit() ? p2m_->lookup(gfn) : Stage2Leaf{};
    std::byte* frame = p2m_has_frame(leaf.type) ? mem_->frame(leaf.mfn) : nullptr;
    Landing to{leaf.type, frame == nullptr ? nullptr : frame + (gpa & page_mask)};
    // An ioreq_server page goes by its own owner's claim (a leaf whose
    // owner has no claim reads as ram_rw: P2m::lookup resets it).
    if (leaf.type == P2mType::ioreq_server) {
        to.owner = IoservId{leaf.owner};
        to.claim = p2m_->claim_flags(to.owner);
    }
    return to;
}

bool Domain::Landing::ram_readable() const noexcept {
    // Reads of an ioreq_server page are served from RAM (Xen 4b602cced9)
    // unless its owner claims them (multi-owner mode, read trapping).
    if (type == P2mType::ioreq_server && (claim & ioreq_claim_read) != 0) return false;
    return p2m_is_ram(type) && at != nullptr;
}

bool Domain::Landing::ram_writable() const noexcept {
    // An owner claiming reads only (multi-owner mode) leaves the writes to
    // its pages to RAM (and so does a page whose claim ended: it is ram_rw
    // until the sweep reaches it).
    if (type == P2mType::ioreq_server) return (claim & ioreq_claim_write) == 0 && at != nullptr;
    return (type == P2mType::ram_rw || type == P2mType::ram_logdirty || type == P2mType::mmio_direct) &&
           at != nullptr;
}

// Xen's p2m_is_discard_write: a write to ram_ro completes and changes
// nothing; it is never routed to a device model, whatever ranges cover the
// page (xen/arch/x86/hvm/hvm.c __hvm_copy skips the copy and reports
// success, so hvmemul_write never reaches hvmemul_linear_mmio_write).
bool Domain::Landing::discards_writes() const noexcept { return type == P2mType::ram_ro && at != nullptr; }

MemStatus Domain::emul_mem(const Locked& lk, VcpuState& v, uint64_t gpa, unsigned size, bool write,
                           uint64_t* data) {
    IoreqBody req{.addr = gpa, .data = write ? (*data & ones(size)) : 0, .count = 1, .size = size,
                  .type = ioreq::type_copy, .dir = write ? ioreq::dir_write : ioreq::dir_read};
    // Re-executed after a response: every piece the first execution
    // completed is in the log, wherever it went (RAM, a device model,
    // nobody), and is replayed from it, never made again, whatever its page
    // has become meanwhile (Xen's MMIO cache, hvmemul_phys_mmio_access).
    if (auto r = replay(lk, v, req, data)) return *r;
    const Landing to = landing(lk, gpa);
    // Reads of RAM, including ioreq_server pages, are served from RAM and
    // never reach a device model (Xen 4b602cced9), except the pages of an
    // owner claiming reads (multi-owner mode), routed below. Logged, they
    // replay what was read the first time: a read-modify-write's flags and
    // registers (XADD, CMPXCHG) then agree with the one write the device
    // model saw, even if the model changed the RAM before answering. A
    // trapped read is logged with the owner's answer the same way, so the
    // read of a read-modify-write is sent once and its write follows it.
    if (!write && to.ram_readable()) {
        *data = 0;
        std::memcpy(data, to.at, size);
        v.io.log(req, *data);
        return MemStatus::ok;
    }
    if (write && (to.ram_writable() || to.discards_writes())) {
        // Written once (or discarded, ram_ro) and logged: a device model
        // that changed these bytes before answering a later piece keeps
        // its change.
        if (to.ram_writable()) {
            std::memcpy(to.at, data, size);
            mark_dirty(lk, Gpa{gpa}.gfn());  // Xen's __hvm_copy: paging_mark_dirty
        }
        v.io.log(req, 0);
        return MemStatus::ok;
    }
    return route(lk, v, to, req, data);
}

MemStatus Domain::route(const Locked& lk, VcpuState& v, const Landing& to, IoreqBody req, uint64_t* data) {
    if (platform_posts(backend_->posted_mmio, req)) {
        // Not to a server with a direct handler: it takes every request,
        // in order, on the vCPU's thread (send).
        if (const auto sel = servers_.select(req); sel && !servers_.get(sel->server)->direct &&
                                                   servers_.get(sel->server)->channel.post_buffered(req)) {
            // The vCPU goes on; logged so that re-execution does not post twice.
            v.io.log(req, 0);
            return MemStatus::ok;
        }
    }
    if (to.type == P2mType::ioreq_server) {
        // Only what the page's owner claims comes here: writes, and reads
        // when it claims them (emul_mem, emul_rep serve the rest from RAM).
        Expects(req.dir == ioreq::dir_write ? (to.claim & ioreq_claim_write) != 0
                                            : (to.claim & ioreq_claim_read) != 0);
        // The page's own owner (Stage2Leaf::owner): in Xen's mode the one
        // claimant, in multi-owner mode the server whose device model set it.
        IoreqServer* s = servers_.get(to.owner);
        // Unclaimed (a race with the disclaim) or owner disabled: the guest
        // re-executes; the access is held, never lost or sent to nobody.
        if (s == nullptr || !s->enabled()) return MemStatus::retry;
        if (req.dir == ioreq::dir_write) {
            mark_dirty(lk, Gpa{req.addr}.gfn());  // forwarded and dirty (Xen: no log-dirty with the type in use)
            if (posts_writes(to.claim) && !req.data_is_ptr && req.count == 1) return post_write(lk, v, *s, req, to);
        }
        return send(lk, v, *s, req, req, false);
    }
    const auto sel = servers_.select(req);
    if (!sel) {
        // Nobody: reads all ones, writes dropped. A rep read into RAM
        // (data_is_ptr) fills its elements with ones (Xen's null_read
        // through hvm_process_io_intercept); the caller checked that they
        // lie in one writable RAM page.
        if (req.dir == ioreq::dir_read) {
            if (!req.data_is_ptr) {
                *data = ones(req.size);
            } else {
                const Landing ram = landing(lk, req.data);
                Expects(ram.ram_writable());
                for (uint64_t i = 0; i < req.count; ++i) {
                    const uint64_t step = i * req.size;
                    std::memset(req.df ? ram.at - step : ram.at + step, 0xff, req.size);
                }
            }
        }
        // Logged like an answer: a later piece of the same instruction may
        // go to a device model, and the re-execution after its answer must
        // meet this one as done.
        v.io.log(req, req.dir == ioreq::dir_read && !req.data_is_ptr ? *data : 0);
        return MemStatus::ok;
    }
    // Anything else Xen sends synchronously; wide posting (opt-in) posts
    // the rest of what the ring can carry.
    IoreqServer& s = *servers_.get(sel->server);
    return send(lk, v, s, sel->req, req, s.post_wide);
}

std::optional<RepResult> Domain::emul_rep(const Locked& lk, VcpuState& v, const RepAccess& a) {
    const bool copy = a.kind == RepAccess::Kind::copy;
    // One element is a plain read and write, as in Xen (x86_emulate calls
    // the rep_movs / rep_stos hooks only when nr_reps > 1).
    if (a.count == 1) return std::nullopt;
    // Truncated at the page boundary on both sides (Xen truncates the MMIO
    // side in hvmemul_do_io and the RAM side in hvmemul_do_io_addr); the
    // instruction reports the elements done and the guest re-executes.
    uint64_t n = std::min(a.count, elements_in_page(a.dst, a.size, a.df));
    if (copy) n = std::min(n, elements_in_page(a.src, a.size, a.df));
    if (n == 0) return std::nullopt;  // the first element straddles a page
    // Re-executed after a response: if the first execution sent this rep
    // (to a device model or to nobody), the log says so and the elements
    // are done, whatever the pages have become meanwhile. A REP a device
    // model answered is never made again in RAM, over the model's own data.
    // Any other log entry was made by the element path (both sides
    // devices), which replays its pieces one by one, and stops the domain
    // if they differ.
    if (const IoreqBody* first = v.io.next_logged()) {
        const IoreqBody req = rep_ioreq(a, n, first->dir == ioreq::dir_write);
        if (*first != req) return std::nullopt;
        uint64_t unused = 0;
        const std::optional<MemStatus> st = replay(lk, v, req, &unused);
        Ensures(st == MemStatus::ok);
        return RepResult{MemStatus::ok, n};
    }
    const Landing dst = landing(lk, a.dst);
    const Landing src = copy ? landing(lk, a.src) : Landing{};
    const bool dst_ram = dst.ram_writable();
    const bool src_ram = copy && src.ram_readable();
    // The n elements lie in one page of dst: written below by hvcore (RAM
    // only), by nobody's fill, or by the device model answering a rep
    // read into RAM (data_is_ptr).
    if (dst_ram) mark_dirty(lk, Gpa{a.dst}.gfn());
    if (dst.discards_writes() && (!copy || src_ram)) {
        // Into ram_ro from RAM (or a fill): every element is discarded, as
        // Xen's hvmemul_rep_movs / hvmemul_rep_stos copy with __hvm_copy,
        // which drops writes to the type. Nothing was sent: nothing to log.
        return RepResult{MemStatus::ok, n};
    }
    if (dst_ram && (!copy || src_ram)) {
        // RAM only. Element by element, REP's own order: an overlapping copy
        // repeats a pattern as the hardware does, which memmove would not.
        // Nothing is left to wait for in this execution (one rep access per
        // execution), so there is nothing to log.
        std::array<std::byte, 8> value{};
        for (unsigned b = 0; b < a.size; ++b) value[b] = static_cast<std::byte>(a.value >> (8 * b));
        for (uint64_t i = 0; i < n; ++i) {
            const uint64_t step = i * a.size;
            std::byte* d = a.df ? dst.at - step : dst.at + step;
            std::memmove(d, copy ? (a.df ? src.at - step : src.at + step) : value.data(), a.size);
        }
        return RepResult{MemStatus::ok, n};
    }
    // Device to device goes element by element, as in Xen.
    if (copy && !dst_ram && !src_ram) return std::nullopt;
    // One ioreq for the n elements at the device side. hvcore differs from
    // Xen for a claimed (ioreq_server) destination: Xen cannot copy into the
    // type and falls back to one write per element, one round trip each;
    // hvcore sends the owner the same single rep ioreq any device gets.
    const bool to_device = !dst_ram;
    // Into a page whose owner has writes posted: element by element, so
    // that each element is made to RAM and posted as one single write.
    if (to_device && dst.type == P2mType::ioreq_server && posts_writes(dst.claim)) return std::nullopt;
    // Any alignment: Xen's hvmemul_do_io truncates a rep ioreq at the page
    // and checks nothing else.
    const IoreqBody req = rep_ioreq(a, n, to_device);
    uint64_t unused = 0;
    const MemStatus st = route(lk, v, to_device ? dst : src, req, &unused);
    return RepResult{st, st == MemStatus::ok ? n : 0};
}

MemStatus Domain::emul_pio(const Locked& lk, VcpuState& v, uint16_t port, unsigned size, bool write,
                           uint64_t* data) {
    IoreqBody req{.addr = port, .data = write ? (*data & ones(size)) : 0, .count = 1, .size = size,
                  .type = ioreq::type_pio, .dir = write ? ioreq::dir_write : ioreq::dir_read};
    if (auto r = replay(lk, v, req, data)) return *r;
    // CONFIG_ADDRESS is latched on a 4-byte write and still forwarded
    // (Xen's hvm_access_cf8 returns X86EMUL_UNHANDLEABLE).
    if (write && port == 0xcf8 && size == 4) servers_.latch_cf8(static_cast<uint32_t>(*data));
    const auto sel = servers_.select(req);
    if (!sel) {
        if (!write) *data = ones(size);
        v.io.log(req, write ? 0 : *data);
        return MemStatus::ok;
    }
    // Xen never posts a port write (no internal port handler posts);
    // wide posting (opt-in) does.
    IoreqServer& s = *servers_.get(sel->server);
    return send(lk, v, s, sel->req, req, s.post_wide);
}

MemStatus Domain::send(const Locked& lk, VcpuState& v, IoreqServer& s, const IoreqBody& req,
                       const IoreqBody& orig, bool bufferable) {
    if (s.direct) {
        // The device model's direct handler takes it on this thread
        // (direct_call, right after this hold's routing returns): no slot,
        // no eventfd. What the ring would carry goes there too, so that
        // the handler sees the server's requests in the order they were
        // made (a posted write must not be overtaken by a later request).
        v.io.sent(s.id, s.serial, req, orig);
        v.direct = s.direct;
        ++s.direct->active;
        return MemStatus::pending;
    }
    if (bufferable && s.channel.post_buffered(req)) {
        // The vCPU goes on; logged so that re-execution does not post twice.
        v.io.log(orig, 0);
        return MemStatus::ok;
    }
    if (const std::optional<uint8_t> st = s.channel.post(v.id, req)) {
        const std::string what = fmt::format("left vCPU {}'s slot in state {} when a new request was due "
                                             "(it must return it to NONE)",
                                             v.id, *st);
        const IoservId id = s.id;
        const uint64_t serial = s.serial;
        if (!fault_emulator(lk, s.emulator, fmt::format("ioreq server {} {}", id.raw(), what))) {
            stop(lk, fmt::format("device model of ioreq server {} {}", id.raw(), what));
            return MemStatus::stopped;
        }
        // An isolated device model lost its servers (s is gone): the access
        // waits on a destroyed server, so it completes as Xen completes one
        // (complete_request: a read gets all ones), on its next look.
        v.io.sent(id, serial, req, orig);
        return MemStatus::pending;
    }
    v.io.sent(s.id, s.serial, req, orig);
    return MemStatus::pending;
}

void Domain::mark_answered(const Locked& lk, const IoreqBody& r) {
    if (!p2m_->tracking() || r.type != ioreq::type_copy) return;
    // The RAM a device model may have written for it: a write to a claimed
    // page, the RAM side of a REP read (one page: rep_ioreq truncates).
    if (r.dir != (r.data_is_ptr ? ioreq::dir_read : ioreq::dir_write)) return;
    const Gfn g = Gpa{r.data_is_ptr ? r.data : r.addr}.gfn();
    if (g.raw() <= p2m_->max_gfn() && p2m_is_ram(p2m_->peek_type(g))) mark_dirty(lk, g);
}

MemStatus Domain::post_write(const Locked& lk, VcpuState& v, IoreqServer& s, const IoreqBody& req,
                             const Landing& to) {
    // The write is made to RAM first, whatever happens to its ioreq next
    // (posted, synchronous because the ring is full, or handed to a direct
    // handler): the device model reads the page and finds the value of
    // every write it is told of. Made once: a re-execution after a later
    // piece's answer meets this piece in the replay log (the log entry of
    // the post, or of the synchronous request) and neither writes nor
    // posts it again.
    // `to` is route's landing of req.addr: no second walk of the table.
    Expects(to.at != nullptr && (req.addr & page_mask) + req.size <= page_size);
    const uint64_t value = req.data;
    std::memcpy(to.at, &value, req.size);  // little-endian hosts only (x86-64, AArch64): the guest's byte order
    // Marked dirty by route before it came here (log-dirty).
    // A direct handler takes every request of its server on the vCPU's
    // thread, in the order they are made (send); otherwise the ring, and
    // a full ring (or a record it cannot carry) the synchronous slot: the
    // device model drains the ring before it takes a synchronous request,
    // so the vCPU's posted writes are seen before it.
    if (!s.direct && s.channel.post_write(req)) {
        v.io.log(req, 0);  // the vCPU goes on; a re-execution does not post twice
        return MemStatus::ok;
    }
    return send(lk, v, s, req, req, false);
}

Domain::Completion Domain::complete_request(const Locked& lk, VcpuState& v) {
    const InFlight& f = *v.io.in_flight();
    IoreqServer* s = servers_.get(f.server, f.serial);
    if (s == nullptr) {
        // Destroyed (its id perhaps reused): a read completes with all ones.
        v.io.complete(ones(f.sent.size));
        return Completion::completed;
    }
    const IoreqAnswer a = s->channel.take_answer(v.id, v.io.seen_state());
    // Answered: a device model that writes guest RAM to serve the request
    // (a shadowing model applying a trapped write, a REP read into RAM) has
    // done so now, after the mark made when it was sent; a bitmap cleaned
    // in between must see the page again.
    if (a.kind == IoreqAnswer::Kind::data || a.kind == IoreqAnswer::Kind::no_response) mark_answered(lk, f.sent);
    switch (a.kind) {
    case IoreqAnswer::Kind::pending: return Completion::pending;
    case IoreqAnswer::Kind::data: v.io.complete(a.data); return Completion::completed;
    case IoreqAnswer::Kind::no_response: v.io.complete(ones(f.sent.size)); return Completion::completed;
    case IoreqAnswer::Kind::violation: break;
    }
    const IoservId id = s->id;
    if (fault_emulator(lk, s->emulator, fmt::format("ioreq server {} {}", id.raw(), a.reason))) {
        // An isolated device model lost its servers (s is gone): completed
        // as for a destroyed server.
        v.io.complete(ones(f.sent.size));
        return Completion::completed;
    }
    stop(lk, fmt::format("device model of ioreq server {} {}", id.raw(), a.reason));
    return Completion::violation;
}

}  // namespace hvcore

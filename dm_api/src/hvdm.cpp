// SPDX-License-Identifier: MIT
// <hvcore/hvdm.h>: the device-model API. The typed calls are thin wrappers
// that build a struct xen_dm_op and go through hvdm_dm_op, exactly as
// libxendevicemodel does over the dm_op hypercall.
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstring>
#include <functional>
#include <vector>

#include "abi_objects.hpp"
#include "dm_pages.hpp"
#include "guest_memory.hpp"
#include "hvcore/core/dmop_abi.hpp"
#include "hvcore/core/ioreq.hpp"

using hvcore::abi::guard;
namespace dmop = hvcore::dmop;

// The C layouts are the core's layouts.
static_assert(sizeof(hvdm_ioreq_t) == sizeof(hvcore::IoreqSlot));
static_assert(offsetof(hvdm_ioreq_t, data) == 8 && offsetof(hvdm_ioreq_t, count) == 16 &&
              offsetof(hvdm_ioreq_t, size) == 20 && offsetof(hvdm_ioreq_t, vp_eport) == 24 &&
              offsetof(hvdm_ioreq_t, _pad0) == 28 && offsetof(hvdm_ioreq_t, type) == 31);
static_assert(sizeof(hvdm_buf_ioreq_t) == 8 && offsetof(hvdm_buf_ioreq_t, data) == 4);
static_assert(sizeof(hvdm_buffered_iopage) == 4096 && offsetof(hvdm_buffered_iopage, buf_ioreq) == 8);
static_assert(HVDM_STATE_IORESP_READY == hvcore::ioreq::state_resp_ready &&
              HVDM_IOREQ_TYPE_PCI_CONFIG == hvcore::ioreq::type_pci_config &&
              HVDM_IOREQ_BUFFER_SLOT_NUM == hvcore::ioreq::buffer_slots);
static_assert(HVDM_DMOP_MAP_MEM_TYPE_TO_IOREQ_SERVER == dmop::map_mem_type_to_ioreq_server &&
              HVDM_DMOP_SET_MEM_TYPE == dmop::set_mem_type && HVDM_DMOP_NR_VCPUS == dmop::nr_vcpus);
static_assert(sizeof(hvdm_buf) == sizeof(hvcore::DmBuf) && offsetof(hvdm_buf, size) == offsetof(hvcore::DmBuf, size));

static_assert(noexcept(hvdm_dm_op(nullptr, 0, 0, nullptr)) && noexcept(hvdm_open(nullptr)) &&
              noexcept(hvdm_map_mem_type_to_ioreq_server(nullptr, 0, 0, 0, 0)) &&
              noexcept(hvdm_serve_pending(nullptr, 0, 0, nullptr, nullptr)) &&
              noexcept(hvdm_serve(nullptr, 0, nullptr, 0, -1, nullptr, nullptr)) &&
              noexcept(hvdm_set_direct_handler(nullptr, 0, 0, nullptr, nullptr)));
static_assert(HVDM_STATE_IOREQ_INPROCESS == hvcore::ioreq::state_inprocess &&
              HVDM_STATE_IOREQ_READY == hvcore::ioreq::state_ready && HVDM_IOREQ_READ == hvcore::ioreq::dir_read);

namespace {

// One struct xen_dm_op: header and the largest payload (24 bytes).
struct XenDmOp {
    dmop::Header h;
    union {
        dmop::CreateIoreqServer create;
        dmop::IoRange range;
        dmop::SetIoreqServerState state;
        dmop::DestroyIoreqServer destroy;
        dmop::SetMemType set_mem_type;
        dmop::MapMemTypeToIoreqServer map_mem_type;
        dmop::NrVcpus nr_vcpus;
        uint8_t raw[24];
    } u;
};
static_assert(sizeof(XenDmOp) == 32 && offsetof(XenDmOp, u) == 8);  // sizeof(struct xen_dm_op)

[[nodiscard]] int issue(hvdm_handle* h, hvdm_domid_t domid, XenDmOp& op) {
    hvdm_buf b{&op, sizeof op};
    return hvdm_dm_op(h, domid, 1, &b);
}

[[nodiscard]] XenDmOp make_op(uint32_t code) {
    XenDmOp op;
    std::memset(&op, 0, sizeof op);  // pads and opaque are zero
    op.h.op = code;
    return op;
}

// The first checks of every call on a handle, before anything about its
// arguments: a null handle, a destroyed host (-ENODEV: the handle is only
// good for hvdm_close), then the restriction. Linux's privcmd checks the
// restriction first, before the buffer count, sizes and addresses
// (drivers/xen/privcmd.c privcmd_ioctl_dm_op and privcmd_ioctl_mmap_resource:
// "If restriction is in place, check the domid matches" right after copying
// the ioctl argument), so a restricted handle learns nothing about another
// domain, not even that its request was malformed.
[[nodiscard]] int handle_check(const hvdm_handle* h) {
    if (h == nullptr) return -EINVAL;
    return h->t->check();
}

[[nodiscard]] int access_check(const hvdm_handle* h, hvdm_domid_t domid) {
    if (int rc = handle_check(h); rc != 0) return rc;
    if (!h->t->may_access(domid)) return h->t->confirm(domid, -EPERM);
    return 0;
}

// A verdict on the call's arguments, after access_check: over a socket,
// the host is asked whether it still exists (-ENODEV comes first).
[[nodiscard]] int refuse(const hvdm_handle* h, hvdm_domid_t domid, int rc) { return h->t->confirm(domid, rc); }

// The transport of a handle in this process: the host's core and one
// emulator identity on it. Each call finds the domain (-ESRCH if there is
// none: destroyed, or never created) and keeps it alive while it runs.
class LocalTransport final : public hvcore::abi::Transport {
public:
    explicit LocalTransport(std::shared_ptr<hvcore::abi::HostCore> core) : core_(std::move(core)) {
        caller_.emulator = core_->host.new_emulator();
    }
    int check() noexcept override {
        return core_->destroyed.load(std::memory_order_acquire) ? -ENODEV : 0;
    }
    bool may_access(hvdm_domid_t domid) const noexcept override { return caller_.may_access(domid); }
    int restrict_to(hvdm_domid_t domid) override {
        // As privcmd's IOCTL_PRIVCMD_RESTRICT: once restricted, only the same domid.
        // One compare-and-swap: of threads racing to restrict to different
        // domids exactly one wins, the others get -EINVAL.
        return caller_.restrict_to(domid) ? 0 : -EINVAL;
    }
    int confirm(hvdm_domid_t, int rc) noexcept override { return rc; }  // check() came first
    int dm_op(hvdm_domid_t domid, unsigned nr_bufs, hvdm_buf* bufs) override {
        return hvcore::dm_op(core_->host, caller_, domid, nr_bufs, reinterpret_cast<const hvcore::DmBuf*>(bufs));
    }
    int get_mem_type(hvdm_domid_t domid, uint64_t pfn, uint16_t* type) override {
        auto d = core_->host.find(hvcore::DomId{domid});
        if (!d) return -ESRCH;
        auto t = d->get_mem_type(pfn);
        if (!t) return t.status().code();
        *type = *t;
        return 0;
    }
    int ioreq_fds(hvdm_domid_t domid, hvdm_ioservid_t id, hvcore::abi::IoreqFds* out) override {
        auto d = core_->host.find(hvcore::DomId{domid});
        if (!d) return -ESRCH;
        hvcore::abi::IoreqFds f;
        if (hvcore::Status s = d->dup_ioreq_fds(caller_.emulator, hvcore::IoservId{id}, &f.pages_fd, &f.event_fd,
                                                &f.buffered, &f.serial);
            !s)
            return s.code();
        f.nr_vcpus = d->nr_vcpus();
        *out = f;
        return 0;
    }
    int server_serial(hvdm_domid_t domid, hvdm_ioservid_t id, uint64_t* serial) override {
        auto d = core_->host.find(hvcore::DomId{domid});
        if (!d) return -ESRCH;
        return d->ioreq_server_serial(caller_.emulator, hvcore::IoservId{id}, serial).code();
    }
    int notify(hvdm_domid_t domid, hvdm_ioservid_t id, uint32_t vcpu) override {
        auto d = core_->host.find(hvcore::DomId{domid});
        if (!d) return -ESRCH;
        return d->ioreq_notify(caller_.emulator, hvcore::IoservId{id}, vcpu).code();
    }
    int guest_memory_fd(hvdm_domid_t domid, uint64_t first_gfn, uint32_t nr, int prot, int* fd, uint64_t* offset,
                        uint64_t* bad_gfn) override {
        auto d = core_->host.find(hvcore::DomId{domid});
        if (!d) return -ESRCH;
        return hvcore::abi::domain_guest_memory_fd(*d, first_gfn, nr, prot, fd, offset, bad_gfn);
    }
    int memory_map(hvdm_domid_t domid, hvdm_mem_range* ranges, unsigned* n) override {
        auto d = core_->host.find(hvcore::DomId{domid});
        if (!d) return -ESRCH;
        return hvcore::abi::domain_memory_map(*d, ranges, n);
    }
    int set_direct(hvdm_domid_t domid, hvdm_ioservid_t id, hvdm_serve_fn fn, void* opaque) override {
        auto d = core_->host.find(hvcore::DomId{domid});
        if (!d) return -ESRCH;
        std::function<int(hvcore::IoreqSlot&)> call;
        if (fn != nullptr) {
            // The slot's layout is hvdm_ioreq_t's (static_asserts above):
            // fn gets a copy, and a read's answer is copied back, as
            // serve_slot does.
            call = [fn, opaque, id](hvcore::IoreqSlot& slot) {
                hvdm_ioreq_t req;
                std::memcpy(&req, &slot, sizeof req);
                const int rc = fn(opaque, id, &req);
                if (rc == 0 && req.dir == HVDM_IOREQ_READ) slot.data = req.data;
                return rc;
            };
        }
        return d->set_direct_handler(caller_.emulator, hvcore::IoservId{id}, std::move(call)).code();
    }
    void close() noexcept override {
        // After hv_host_destroy the host has no domains left: nothing to do.
        core_->host.emulator_gone(caller_.emulator);
    }
    // hvdm_ready: a plug-in in this process says so through its
    // environment (hvdm_plugin_env.ready); there is no listener to tell.
    int ready() override { return -EOPNOTSUPP; }
    // hvcore::dm_op copies buffer 1 (set_mem_type_list) and never writes it.
    [[nodiscard]] bool writes_buffers_back() const noexcept override { return false; }
    uint32_t emulator() const noexcept override { return caller_.emulator; }

private:
    std::shared_ptr<hvcore::abi::HostCore> core_;  // keeps the host's core alive, not its domains
    hvcore::Caller caller_;
};

// The handle's own view of a server's pages (DmPages): created on first use
// from new descriptors of the server's memfd and eventfd, then the same for
// every later call while that server lives. A new server behind the same id
// is a different memfd, so it gets a view of its own.
[[nodiscard]] int dm_pages(hvdm_handle* h, hvdm_domid_t domid, hvdm_ioservid_t id, hvcore::abi::DmPages* out) {
    hvcore::abi::IoreqFds f;
    if (int rc = h->t->ioreq_fds(domid, id, &f); rc != 0) return rc;
    const int pages_fd = f.pages_fd;
    const int event_fd = f.event_fd;
    struct stat st {};
    if (fstat(pages_fd, &st) != 0) {
        const int err = -errno;
        close(pages_fd);
        close(event_fd);
        return err;
    }
    std::lock_guard lk(h->mu);
    for (const auto& p : h->pages) {
        if (p.dev == st.st_dev && p.ino == st.st_ino) {
            close(pages_fd);
            close(event_fd);
            *out = p;
            return 0;
        }
    }
    try {
        h->pages.reserve(h->pages.size() + 1);  // the only step that can throw, before the mapping exists
    } catch (...) {
        close(pages_fd);
        close(event_fd);
        throw;
    }
    void* m = mmap(nullptr, hvcore::ioreq_map_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, pages_fd, 0);
    if (m == MAP_FAILED) {
        const int map_err = -errno;
        close(pages_fd);
        close(event_fd);
        return map_err;
    }
    hvcore::abi::DmPages p;
    p.domid = domid;
    p.id = id;
    p.dev = st.st_dev;
    p.ino = st.st_ino;
    p.serial = f.serial;
    p.map = static_cast<std::byte*>(m);
    p.pages_fd = pages_fd;  // kept for hvdm_map_resource's mappings
    p.event_fd = event_fd;
    p.buffered = f.buffered;
    p.nr_vcpus = f.nr_vcpus;
    // A new view: whoever was awake on these pages before (a device model
    // that died between two looks) no longer suppresses the signal
    // (ioreq.hpp, event suppression).
    hvcore::dm_set_awake(*hvcore::IoreqPages::layout(p.map, p.buffered).events, false);
    h->pages.push_back(p);
    *out = p;
    return 0;
}

// The handle's view of the server that has this id now (hvdm_serve_pending):
// -EINVAL if the handle has not mapped it (dm_pages), the server's own
// errors (-ESHUTDOWN, -ENOENT, -EPERM) first.
[[nodiscard]] int mapped_pages(hvdm_handle* h, hvdm_domid_t domid, hvdm_ioservid_t id, hvcore::abi::DmPages* out) {
    uint64_t serial = 0;
    if (int rc = h->t->server_serial(domid, id, &serial); rc != 0) return rc;
    std::lock_guard lk(h->mu);
    for (const auto& p : h->pages) {
        if (p.domid == domid && p.id == id && p.serial == serial) {
            *out = p;
            return 0;
        }
    }
    return -EINVAL;
}

// fn's verdict: 0 goes on, a negative errno is returned, a positive value
// (not an errno) becomes -ECANCELED.
[[nodiscard]] int fn_error(int rc) noexcept { return rc < 0 ? rc : -ECANCELED; }

// One record of the buffered ring (Xen's buf_ioreq_t, decoded with the
// core's shifts: byte 0 type, bit 9 dir, bits 11:10 size code, bits 31:12
// addr) as a request: a single write, state READY (nobody waits).
[[nodiscard]] hvdm_ioreq_t expand_buffered(const hvcore::BufIoreq& b) noexcept {
    hvdm_ioreq_t r;
    std::memset(&r, 0, sizeof r);
    r.addr = b.word0 >> 12;
    r.data = b.data;
    r.count = 1;
    r.size = 1u << ((b.word0 >> 10) & 3u);
    r.state = HVDM_STATE_IOREQ_READY;
    r.dir = (b.word0 >> 9) & 1u;
    r.type = static_cast<uint8_t>(b.word0 & 0xffu);
    return r;
}

// Drains the ring, oldest record first, as QEMU's handle_buffered_iopage
// (hw/xen/xen-hvm-common.c) reads it: read_pointer, then write_pointer,
// then read_pointer again (HVDM_BUFIOREQ_ATOMIC lets the hypervisor
// canonicalise both at any time: a change means read again); an 8-byte
// write is two records, low half first; read_pointer advances with an
// atomic add once the request is served.
[[nodiscard]] int drain_ring(hvcore::BufferedPage& bp, hvdm_ioservid_t id, hvdm_serve_fn fn, void* opaque,
                             int* served) {
    std::atomic_ref<uint32_t> rp(bp.read_pointer);
    std::atomic_ref<uint32_t> wp(bp.write_pointer);
    for (;;) {
        const uint32_t r = rp.load(std::memory_order_acquire);
        const uint32_t w = wp.load(std::memory_order_acquire);
        if (rp.load(std::memory_order_acquire) != r) continue;
        if (r == w) return 0;
        const hvcore::BufIoreq first = bp.slots[r % hvcore::ioreq::buffer_slots];
        hvdm_ioreq_t req = expand_buffered(first);
        uint32_t used = 1;
        if ((first.word0 & 0xffu) == hvcore::ioreq::buffer_posted_marker) {
            // hvcore's posted-write record (hvdm.h, HVDM_BUF_IOREQ_POSTED):
            // the gpa in the first slot, the value in the second.
            if (r + 1 == w) return -EPROTO;  // hvcore publishes both slots at once
            const hvcore::BufIoreq second = bp.slots[(r + 1) % hvcore::ioreq::buffer_slots];
            req.type = HVDM_IOREQ_TYPE_COPY;
            req.addr = uint64_t{first.word0 >> 12} << 32 | first.data;
            req.data = (uint64_t{second.data} << 32 | second.word0) & hvcore::ones(req.size);
            used = hvcore::ioreq::buffer_posted_slots;
        } else if (req.size == 8) {
            if (r + 1 == w) return -EPROTO;  // the hypervisor publishes both halves at once
            req.data |= uint64_t{bp.slots[(r + 1) % hvcore::ioreq::buffer_slots].data} << 32;
            used = 2;
        }
        if (int rc = fn(opaque, id, &req); rc != 0) return fn_error(rc);
        rp.fetch_add(used, std::memory_order_acq_rel);
        ++*served;
    }
}

// One synchronous slot, if READY (Xen's cpu_get_ioreq / cpu_handle_ioreq in
// QEMU): READY -> INPROCESS -> fn -> answer -> IORESP_READY -> notify,
// which wakes that vCPU only.
[[nodiscard]] int serve_slot(hvdm_handle* h, const hvcore::abi::DmPages& p, hvcore::IoreqSlot& slot, uint32_t v,
                             hvdm_serve_fn fn, void* opaque, int* served) {
    // Acquire: the request's fields are read after its READY.
    if (hvcore::slot_state(slot) != hvcore::ioreq::state_ready) return 0;
    // The ring first, again: what this vCPU posted before this request
    // (published before its READY, so visible after the acquire above) is
    // served before it, even when it was posted after the ring was last
    // drained (hvdm.h, HVDM_IOREQ_MEM_ACCESS_WRITE_POSTED: the ordering
    // contract; QEMU's cpu_handle_ioreq drains handle_buffered_iopage
    // first too). An empty ring costs two loads.
    const hvcore::IoreqMapping m = hvcore::IoreqPages::layout(p.map, p.buffered);
    if (m.buffered != nullptr) {
        if (int rc = drain_ring(*m.buffered, p.id, fn, opaque, served); rc != 0) return rc;
    }
    hvcore::slot_set_state(slot, hvcore::ioreq::state_inprocess);
    hvdm_ioreq_t req;
    std::memcpy(&req, &slot, sizeof req);
    if (int rc = fn(opaque, p.id, &req); rc != 0) return fn_error(rc);
    if (req.dir == HVDM_IOREQ_READ) slot.data = req.data;
    // Release: the answer is visible before IORESP_READY.
    hvcore::slot_set_state(slot, hvcore::ioreq::state_resp_ready);
    // Notified only if a thread of hvcore sleeps on this slot (ioreq.hpp,
    // EventPage vcpu_waiting): a model vCPU looks at its slot when it is
    // resumed, and a notification it does not need is a lock (in-process)
    // or a message (over a socket).
    if (hvcore::dm_vcpu_sleeps(*m.events, v)) {
        if (int rc = h->t->notify(p.domid, p.id, v); rc != 0) return rc;
    }
    ++*served;
    return 0;
}

// hvdm_serve_pending once the call is checked and the pages found.
[[nodiscard]] int serve_pages(hvdm_handle* h, const hvcore::abi::DmPages& p, hvdm_serve_fn fn, void* opaque) {
    // The count first, then the ports: hvcore sets a port's bit before it
    // signals, so a request posted after this read signals again.
    uint64_t count = 0;
    if (read(p.event_fd, &count, sizeof count) < 0 && errno != EAGAIN && errno != EINTR) return -errno;
    uint32_t ports[hvcore::ioreq_max_ports];
    bool more = false;
    const unsigned fired = hvcore::abi::take_pending(p, ports, hvcore::ioreq_max_ports, &more);
    int served = 0;
    const hvcore::IoreqMapping m = hvcore::IoreqPages::layout(p.map, p.buffered);
    if (m.buffered != nullptr) {
        // Whether or not its port fired: an empty ring costs two loads, and
        // a port taken by hvdm_ioreq_pending leaves records behind.
        if (int rc = drain_ring(*m.buffered, p.id, fn, opaque, &served); rc != 0) {
            hvcore::abi::restore_pending(p, ports, fired);
            return rc;
        }
    }
    if (count != 0) {
        // Signalled: the fired ports name the vCPUs with a request, no scan.
        for (unsigned i = 0; i < fired; ++i) {
            const uint32_t v = ports[i];
            if (v >= p.nr_vcpus) continue;  // the ring's port: drained above
            if (int rc = serve_slot(h, p, m.slots[v], v, fn, opaque, &served); rc != 0) {
                // From this one: its slot may still be READY (the ring
                // drained before it failed); a taken slot is not served twice.
                hvcore::abi::restore_pending(p, ports + i, fired - i);
                return rc;
            }
        }
        return served;
    }
    // Not signalled (hvdm_serve's first look, a caller that polls on its
    // own schedule, or one whose hvdm_ioreq_pending took the signal and the
    // ports): a READY slot may have no bit, because hvdm_ioreq_pending
    // reported its port to the caller, or the device model wrote over its
    // event page. Every slot is looked at, as before the event page.
    for (uint32_t v = 0; v < p.nr_vcpus; ++v) {
        if (int rc = serve_slot(h, p, m.slots[v], v, fn, opaque, &served); rc != 0) return rc;
    }
    return served;
}

}  // namespace

namespace hvcore::abi {

int handle_access(const hvdm_handle* h, hvdm_domid_t domid) { return access_check(h, domid); }

int handle_refuse(const hvdm_handle* h, hvdm_domid_t domid, int rc) { return refuse(h, domid, rc); }

int handle_pages(hvdm_handle* h, hvdm_domid_t domid, hvdm_ioservid_t id, DmPages* out) {
    // The view already made (one lookup of the server's serial), else a new one.
    const int rc = mapped_pages(h, domid, id, out);
    if (rc != -EINVAL) return rc;
    return dm_pages(h, domid, id, out);
}

std::unique_ptr<Transport> local_transport(std::shared_ptr<HostCore> core) {
    return std::make_unique<LocalTransport>(std::move(core));
}

int handle_ioreq_fds(hvdm_handle* h, hvdm_domid_t domid, hvdm_ioservid_t id, IoreqFds* out) noexcept {
    return guard([&] {
        if (int rc = access_check(h, domid); rc != 0) return rc;
        return h->t->ioreq_fds(domid, id, out);
    });
}

int handle_server_serial(hvdm_handle* h, hvdm_domid_t domid, hvdm_ioservid_t id, uint64_t* serial) noexcept {
    return guard([&] {
        if (int rc = access_check(h, domid); rc != 0) return rc;
        return h->t->server_serial(domid, id, serial);
    });
}

hvdm_handle* open_local(const std::shared_ptr<HostCore>& core) noexcept {
    try {
        auto h = std::make_unique<hvdm_handle>();
        h->t = local_transport(core);
        return h.release();
    } catch (...) {
        return nullptr;
    }
}

}  // namespace hvcore::abi

extern "C" {

hvdm_handle* hvdm_open(hv_host* host) noexcept {
    if (host == nullptr) return nullptr;
    return hvcore::abi::open_local(host->core);
}

int hvdm_close(hvdm_handle* h) noexcept {
    return guard([&] {
        if (h == nullptr) return -EINVAL;
        // Its servers go first (their waiters wake), then its views of them
        // and every mapping it made (ioreq pages, resources, guest RAM).
        // After hv_host_destroy the host has no domains left: nothing to do
        // but free what the handle holds.
        h->t->close();
        for (const auto& p : h->pages) {
            munmap(p.map, hvcore::ioreq_map_bytes);
            close(p.pages_fd);
            close(p.event_fd);
        }
        for (const auto& g : h->guest_maps) munmap(g.addr, size_t{g.nr} * hvcore::page_size);
        for (const auto& r : h->resources) munmap(r.addr, size_t{r.nr_frames} * hvcore::page_size);
        delete h;  // the last handle of a destroyed host frees its core
        return 0;
    });
}

int hvdm_restrict(hvdm_handle* h, hvdm_domid_t domid) noexcept {
    return guard([&] {
        if (int rc = handle_check(h); rc != 0) return rc;
        return h->t->restrict_to(domid);
    });
}

int hvdm_dm_op(hvdm_handle* h, hvdm_domid_t domid, unsigned int nr_bufs, hvdm_buf* bufs) noexcept {
    return guard([&] {
        if (int rc = access_check(h, domid); rc != 0) return rc;
        return h->t->dm_op(domid, nr_bufs, bufs);
    });
}

int hvdm_create_ioreq_server(hvdm_handle* h, hvdm_domid_t domid, int handle_bufioreq, hvdm_ioservid_t* id) noexcept {
    return guard([&] {
        if (int rc = access_check(h, domid); rc != 0) return rc;
        if (id == nullptr) return refuse(h, domid, -EINVAL);
        if (handle_bufioreq < 0 || handle_bufioreq > 0xff) return refuse(h, domid, -EINVAL);
        XenDmOp op = make_op(HVDM_DMOP_CREATE_IOREQ_SERVER);
        op.u.create.handle_bufioreq = static_cast<uint8_t>(handle_bufioreq);
        const int rc = issue(h, domid, op);
        if (rc == 0) *id = op.u.create.id;
        return rc;
    });
}

int hvdm_destroy_ioreq_server(hvdm_handle* h, hvdm_domid_t domid, hvdm_ioservid_t id) noexcept {
    return guard([&] {
        if (int rc = access_check(h, domid); rc != 0) return rc;
        XenDmOp op = make_op(HVDM_DMOP_DESTROY_IOREQ_SERVER);
        op.u.destroy.id = id;
        return issue(h, domid, op);
    });
}

int hvdm_set_ioreq_server_state(hvdm_handle* h, hvdm_domid_t domid, hvdm_ioservid_t id, int enabled) noexcept {
    return guard([&] {
        if (int rc = access_check(h, domid); rc != 0) return rc;
        XenDmOp op = make_op(HVDM_DMOP_SET_IOREQ_SERVER_STATE);
        op.u.state.id = id;
        op.u.state.enabled = enabled != 0;
        return issue(h, domid, op);
    });
}

static int io_range_op(hvdm_handle* h, uint32_t code, hvdm_domid_t domid, hvdm_ioservid_t id, uint32_t type,
                       uint64_t start, uint64_t end) {
    return guard([&] {
        if (int rc = access_check(h, domid); rc != 0) return rc;
        XenDmOp op = make_op(code);
        op.u.range.id = id;
        op.u.range.type = type;
        op.u.range.start = start;
        op.u.range.end = end;
        return issue(h, domid, op);
    });
}

int hvdm_map_io_range_to_ioreq_server(hvdm_handle* h, hvdm_domid_t domid, hvdm_ioservid_t id, int is_mmio,
                                      uint64_t start, uint64_t end) noexcept {
    return io_range_op(h, HVDM_DMOP_MAP_IO_RANGE_TO_IOREQ_SERVER, domid, id,
                       is_mmio ? HVDM_IO_RANGE_MEMORY : HVDM_IO_RANGE_PORT, start, end);
}

int hvdm_unmap_io_range_from_ioreq_server(hvdm_handle* h, hvdm_domid_t domid, hvdm_ioservid_t id,
                                          int is_mmio, uint64_t start, uint64_t end) noexcept {
    return io_range_op(h, HVDM_DMOP_UNMAP_IO_RANGE_FROM_IOREQ_SERVER, domid, id,
                       is_mmio ? HVDM_IO_RANGE_MEMORY : HVDM_IO_RANGE_PORT, start, end);
}

int hvdm_map_pcidev_to_ioreq_server(hvdm_handle* h, hvdm_domid_t domid, hvdm_ioservid_t id, uint16_t segment,
                                    uint8_t bus, uint8_t device, uint8_t function) noexcept {
    if (int rc = access_check(h, domid); rc != 0) return rc;
    if (device > 0x1f || function > 7) return refuse(h, domid, -EINVAL);  // as libxendevicemodel
    const uint64_t sbdf = HVDM_PCI_SBDF(segment, bus, device, function);
    return io_range_op(h, HVDM_DMOP_MAP_IO_RANGE_TO_IOREQ_SERVER, domid, id, HVDM_IO_RANGE_PCI, sbdf, sbdf);
}

int hvdm_unmap_pcidev_from_ioreq_server(hvdm_handle* h, hvdm_domid_t domid, hvdm_ioservid_t id,
                                        uint16_t segment, uint8_t bus, uint8_t device, uint8_t function) noexcept {
    if (int rc = access_check(h, domid); rc != 0) return rc;
    if (device > 0x1f || function > 7) return refuse(h, domid, -EINVAL);  // as libxendevicemodel
    const uint64_t sbdf = HVDM_PCI_SBDF(segment, bus, device, function);
    return io_range_op(h, HVDM_DMOP_UNMAP_IO_RANGE_FROM_IOREQ_SERVER, domid, id, HVDM_IO_RANGE_PCI, sbdf, sbdf);
}

int hvdm_map_mem_type_to_ioreq_server(hvdm_handle* h, hvdm_domid_t domid, hvdm_ioservid_t id, uint16_t type,
                                      uint32_t flags) noexcept {
    return guard([&] {
        if (int rc = access_check(h, domid); rc != 0) return rc;
        XenDmOp op = make_op(HVDM_DMOP_MAP_MEM_TYPE_TO_IOREQ_SERVER);
        op.u.map_mem_type.id = id;
        op.u.map_mem_type.type = type;
        op.u.map_mem_type.flags = flags;
        return issue(h, domid, op);
    });
}

int hvdm_set_mem_type(hvdm_handle* h, hvdm_domid_t domid, uint16_t mem_type, uint64_t first_pfn, uint32_t nr) noexcept {
    return guard([&] {
        if (int rc = access_check(h, domid); rc != 0) return rc;
        XenDmOp op = make_op(HVDM_DMOP_SET_MEM_TYPE);
        op.u.set_mem_type.mem_type = mem_type;
        op.u.set_mem_type.first_pfn = first_pfn;
        op.u.set_mem_type.nr = nr;
        return issue(h, domid, op);
    });
}

int hvdm_get_mem_type(hvdm_handle* h, hvdm_domid_t domid, uint64_t pfn, uint16_t* mem_type) noexcept {
    return guard([&] {
        if (int rc = access_check(h, domid); rc != 0) return rc;
        if (mem_type == nullptr) return refuse(h, domid, -EINVAL);
        return h->t->get_mem_type(domid, pfn, mem_type);
    });
}

int hvdm_nr_vcpus(hvdm_handle* h, hvdm_domid_t domid, unsigned int* vcpus) noexcept {
    return guard([&] {
        if (int rc = access_check(h, domid); rc != 0) return rc;
        if (vcpus == nullptr) return refuse(h, domid, -EINVAL);
        XenDmOp op = make_op(HVDM_DMOP_NR_VCPUS);
        const int rc = issue(h, domid, op);
        if (rc == 0) *vcpus = op.u.nr_vcpus.vcpus;
        return rc;
    });
}

int hvdm_map_ioreq_pages(hvdm_handle* h, hvdm_domid_t domid, hvdm_ioservid_t id, hvdm_shared_iopage** ioreq,
                         hvdm_buffered_iopage** bufioreq) noexcept {
    return guard([&] {
        if (int rc = access_check(h, domid); rc != 0) return rc;
        if (ioreq == nullptr) return refuse(h, domid, -EINVAL);
        hvcore::abi::DmPages p;
        if (int rc = dm_pages(h, domid, id, &p); rc != 0) return rc;
        // Wherever the layout puts them (Xen's resource order: ring, slots).
        const hvcore::IoreqMapping m = hvcore::IoreqPages::layout(p.map, p.buffered);
        *ioreq = reinterpret_cast<hvdm_shared_iopage*>(m.slots);
        if (bufioreq != nullptr) *bufioreq = reinterpret_cast<hvdm_buffered_iopage*>(m.buffered);
        return 0;
    });
}

int hvdm_ioreq_fd(hvdm_handle* h, hvdm_domid_t domid, hvdm_ioservid_t id) noexcept {
    return guard([&] {
        if (int rc = access_check(h, domid); rc != 0) return rc;
        hvcore::abi::DmPages p;
        if (int rc = dm_pages(h, domid, id, &p); rc != 0) return rc;
        return p.event_fd;
    });
}

int hvdm_ioreq_notify(hvdm_handle* h, hvdm_domid_t domid, hvdm_ioservid_t id, uint32_t vcpu) noexcept {
    return guard([&] {
        if (int rc = access_check(h, domid); rc != 0) return rc;
        return h->t->notify(domid, id, vcpu);
    });
}


// --- HVCORE_1.1 ---

int hvdm_serve_pending(hvdm_handle* h, hvdm_domid_t domid, hvdm_ioservid_t id, hvdm_serve_fn fn,
                       void* opaque) noexcept {
    return guard([&] {
        if (int rc = access_check(h, domid); rc != 0) return rc;
        if (fn == nullptr) return refuse(h, domid, -EINVAL);
        hvcore::abi::DmPages p;
        if (int rc = mapped_pages(h, domid, id, &p); rc != 0) return rc;
        return serve_pages(h, p, fn, opaque);
    });
}

int hvdm_serve(hvdm_handle* h, hvdm_domid_t domid, const hvdm_ioservid_t* ids, unsigned int n, int stop_fd,
               hvdm_serve_fn fn, void* opaque) noexcept {
    // Each server's descriptor, found as hvdm_serve_pending finds it (and
    // with its errors). Only this setup is one guarded call: the loop below
    // holds no domain across the wait (its destruction goes ahead and
    // wakes the wait), and each hvdm_serve_pending is a C call of its own,
    // so the log messages it makes are delivered when it returns, not when
    // this loop ends.
    std::vector<pollfd> pf;
    std::vector<hvcore::EventPage*> ev;  // each server's event page, in the handle's view
    const int setup = guard([&] {
        if (int rc = access_check(h, domid); rc != 0) return rc;
        if (fn == nullptr || (ids == nullptr && n != 0) || n > HVDM_SERVE_MAX_SERVERS || stop_fd < -1 ||
            (n == 0 && stop_fd == -1))
            return refuse(h, domid, -EINVAL);
        pf.resize(n + 1);
        ev.resize(n);
        for (unsigned int i = 0; i < n; ++i) {
            hvcore::abi::DmPages p;
            if (int rc = mapped_pages(h, domid, ids[i], &p); rc != 0) return rc;
            pf[i].fd = p.event_fd;
            pf[i].events = POLLIN;
            ev[i] = hvcore::IoreqPages::layout(p.map, p.buffered).events;
        }
        pf[n].fd = stop_fd;  // poll ignores -1
        pf[n].events = POLLIN;
        return 0;
    });
    if (setup != 0) return setup;
    // Event suppression (ioreq.hpp, EventPage dm_awake): while this loop
    // is awake, hvcore posts without signalling; before it sleeps, it says
    // so and looks at the pending bits once more. On the way out, every
    // post signals again (a caller that polls on its own gets its wake-ups).
    struct Asleep {
        std::vector<hvcore::EventPage*>& ev;
        ~Asleep() {
            for (hvcore::EventPage* e : ev) hvcore::dm_set_awake(*e, false);
        }
    } asleep{ev};
    for (hvcore::EventPage* e : ev) hvcore::dm_mark_awake(*e);
    bool first = true;
    for (;;) {
        for (unsigned int i = 0; i < n; ++i) {
            if (!first && pf[i].revents == 0) continue;
            if ((pf[i].revents & POLLNVAL) != 0) return -EBADF;
            const int rc = hvdm_serve_pending(h, domid, ids[i], fn, opaque);
            if (rc < 0) return rc;
        }
        first = false;
        if ((pf[n].revents & POLLNVAL) != 0) return -EBADF;
        if ((pf[n].revents & (POLLIN | POLLHUP | POLLERR)) != 0) return 0;
        for (auto& x : pf) x.revents = 0;
        // About to sleep: a port that fired while this loop was awake (and
        // did not signal) is served now instead.
        std::array<bool, HVDM_SERVE_MAX_SERVERS> fired{};
        bool any = false;
        for (unsigned int i = 0; i < n; ++i) {
            fired[i] = hvcore::dm_prepare_sleep(*ev[i]);
            any = any || fired[i];
        }
        // With a port fired, only a look (the stop descriptor, a server
        // gone): no sleep.
        while (poll(pf.data(), pf.size(), any ? 0 : -1) < 0) {
            if (errno != EINTR) return -errno;
        }
        for (unsigned int i = 0; i < n; ++i)
            if (fired[i]) pf[i].revents |= POLLIN;
        for (hvcore::EventPage* e : ev) hvcore::dm_mark_awake(*e);
    }
}

// --- HVCORE_1.4 ---

int hvdm_set_direct_handler(hvdm_handle* h, hvdm_domid_t domid, hvdm_ioservid_t id, hvdm_serve_fn fn,
                            void* opaque) noexcept {
    return guard([&] {
        if (int rc = access_check(h, domid); rc != 0) return rc;
        return h->t->set_direct(domid, id, fn, opaque);
    });
}

}  // extern "C"

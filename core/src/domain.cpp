// SPDX-License-Identifier: MIT
#include "hvcore/core/domain.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <thread>

namespace hvcore {

namespace {

constexpr uint32_t mem_access_write = 2;  // XEN_DMOP_IOREQ_MEM_ACCESS_WRITE
constexpr uint16_t dmop_no_gfns = 1;      // XEN_DMOP_no_gfns
constexpr int max_refaults = 8;           // resolved misconfigurations before giving up
constexpr uint32_t cf8_enable = 1u << 31; // CONFIG_ADDRESS enable bit
// handle_bufioreq: Xen's modes (HVM_IOREQSRV_BUFIOREQ_OFF/LEGACY/ATOMIC),
// and hvcore's opt-in wide posting in a bit Xen does not define
// (HVDM_BUFIOREQ_WIDE).
constexpr uint8_t bufioreq_atomic = 2;  // the largest mode
constexpr uint8_t bufioreq_wide = 0x80;
// VGA memory, the only MMIO Xen posts to the buffered ring
// (xen/arch/x86/hvm/stdvga.c: VGA_MEM_BASE, VGA_MEM_SIZE).
constexpr uint64_t vga_mem_first = 0xa0000;
constexpr uint64_t vga_mem_last = 0xbffff;

[[nodiscard]] uint64_t ones(unsigned size) noexcept {
    return size >= 8 ? ~uint64_t{0} : (uint64_t{1} << (size * 8)) - 1;
}

[[nodiscard]] int to_int(VcpuStatus s) noexcept { return static_cast<int>(s); }

// The byte span [first, last] an MMIO request touches (ioreq_mmio_first_byte
// / ioreq_mmio_last_byte: direction-aware since Xen 60a56dc006).
[[nodiscard]] std::pair<uint64_t, uint64_t> mmio_span(const IoreqBody& r) noexcept {
    const uint64_t len = uint64_t{r.count} * r.size;
    if (r.df) return {r.addr - (len - r.size), r.addr + r.size - 1};
    return {r.addr, r.addr + len - 1};
}

// Xen's stdvga_mem_accept: a single direct write wholly inside VGA memory.
// Xen tries this internal handler (hvm_io_intercept) before any ioreq
// routing, so it applies to claimed pages too; it posts the write to the
// server holding it by range (stdvga_mem_write: ioreq_server_select, then
// ioreq_send(..., buffered = true)) and falls back to the synchronous path
// when that fails.
[[nodiscard]] bool vga_posts(const IoreqBody& r) noexcept {
    if (r.type != ioreq::type_copy || r.dir != ioreq::dir_write || r.data_is_ptr || r.count != 1) return false;
    const auto [first, last] = mmio_span(r);
    return first >= vga_mem_first && last <= vga_mem_last;
}

// Elements of `size` bytes from addr to the end of its page, walking up
// (or down when df); 0 when the first element itself straddles the page.
[[nodiscard]] uint64_t elements_in_page(uint64_t addr, unsigned size, bool df) noexcept {
    const uint64_t off = addr & page_mask;
    if (off + size > page_size) return 0;
    return df ? off / size + 1 : (page_size - off) / size;
}

}  // namespace

// ---------------------------------------------------------------------------
// Memory ports.

// The hardware: every access walks the backend's stage-2 table; a fault
// abandons the instruction and leaves the backend's record in the vCPU.
class MmuPort final : public MemPort {
public:
    MmuPort(Domain& d, VcpuState& v, std::span<const uint8_t> insn) : d_(d), v_(v), insn_(insn) {}

    MemStatus read(uint64_t addr, unsigned size, void* out, const AccessInfo& info) override {
        return access(addr, size, AccessType::read, out, info);
    }
    MemStatus write(uint64_t addr, unsigned size, const void* in, const AccessInfo& info) override {
        return access(addr, size, AccessType::write, const_cast<void*>(in), info);
    }
    MemStatus pio(uint16_t, unsigned, bool, uint64_t*) override {
        // Every port access exits to the hypervisor (the I/O bitmap traps all).
        v_.exit = VcpuState::Exit::io;
        return MemStatus::exit;
    }

private:
    MemStatus access(uint64_t addr, unsigned size, AccessType type, void* buf, const AccessInfo& info) {
        // A split access is checked on both pages before either is touched.
        std::array<std::pair<std::byte*, unsigned>, 2> pieces{};
        unsigned n = 0;
        for (uint64_t a = addr, left = size; left > 0; ++n) {
            const unsigned chunk = static_cast<unsigned>(std::min<uint64_t>(left, page_size - (a & page_mask)));
            // Each page is walked with the linear address that translated
            // to it (stage2.hpp, AccessContext), unless the instruction
            // reports another (AccessInfo::fault_va).
            const AccessContext ctx{.gla = info.fault_va.value_or(a), .gla_valid = true, .size = size,
                                    .insn = insn_, .isa_syndrome = info.isa_syndrome, .rmw = info.rmw_read};
            Translation t = d_.s2_->translate(Gpa{a}, type, ctx);
            if (!t.ok) {
                v_.last_fault = t.record;
                v_.exit = VcpuState::Exit::stage2;
                v_.fault_past_first_page = n > 0;
                return MemStatus::exit;
            }
            std::byte* frame = d_.mem_->frame(t.mfn);
            Ensures(frame != nullptr && n < pieces.size());
            pieces[n] = {frame + (a & page_mask), chunk};
            a += chunk;
            left -= chunk;
        }
        // A probe (cache maintenance, a footprint) was checked; it moves nothing.
        if (info.no_data) return MemStatus::ok;
        auto* p = static_cast<std::byte*>(buf);
        for (unsigned i = 0; i < n; ++i) {
            if (type == AccessType::write)
                std::memcpy(pieces[i].first, p, pieces[i].second);
            else
                std::memcpy(p, pieces[i].first, pieces[i].second);
            p += pieces[i].second;
        }
        return MemStatus::ok;
    }

    Domain& d_;
    VcpuState& v_;
    std::span<const uint8_t> insn_;
};

// The hypervisor after a fault: each access is cut as Xen cuts it, and each
// piece is routed (and logged for replay).
class EmulPort final : public MemPort {
public:
    EmulPort(Domain& d, VcpuState& v) : d_(d), v_(v) {}

    MemStatus read(uint64_t addr, unsigned size, void* out, const AccessInfo& info) override {
        // Cache maintenance on an emulated region is ignored, as Xen does
        // (INSTR_CACHE); a footprint probe has nothing to emulate.
        if (info.no_data) return MemStatus::ok;
        return pieces(addr, size, false, static_cast<std::byte*>(out));
    }
    MemStatus write(uint64_t addr, unsigned size, const void* in, const AccessInfo& info) override {
        // A write-back of the value just read changes nothing; like Xen, the
        // emulator does not make it (no device model sees it).
        if (info.rewrites_read_value || info.no_data) return MemStatus::ok;
        return pieces(addr, size, true, static_cast<std::byte*>(const_cast<void*>(in)));
    }
    MemStatus pio(uint16_t port, unsigned size, bool is_write, uint64_t* value) override {
        return d_.emul_pio_locked(v_, port, size, is_write, value);
    }
    RepResult rep(const RepAccess& a, const AccessInfo&) override {
        if (std::optional<RepResult> r = d_.emul_rep_locked(v_, a)) return *r;
        // One element through the path of single accesses: it is the only
        // one, it straddles a page, or both sides are devices (Xen:
        // x86_emulate does one iteration by read and write when nr_reps is
        // 1 or hvmemul_rep_movs returns X86EMUL_UNHANDLEABLE). The guest
        // re-executes the instruction for the rest.
        std::array<std::byte, 8> buf{};
        MemStatus st = MemStatus::ok;
        if (a.kind == RepAccess::Kind::copy) {
            st = pieces(a.src, a.size, false, buf.data());
        } else {
            for (unsigned b = 0; b < a.size; ++b) buf[b] = static_cast<std::byte>(a.value >> (8 * b));
        }
        if (st == MemStatus::ok) st = pieces(a.dst, a.size, true, buf.data());
        return {st, st == MemStatus::ok ? 1u : 0u};
    }

private:
    // Xen's cut (xen/arch/x86/hvm/emulate.c): linear_read/linear_write split
    // the access at the page boundary only; hvmemul_phys_mmio_access then
    // cuts each page's part into chunks of the largest power of two not
    // above its size, at most 8 (sizeof(long)), halving the chunk while it
    // exceeds what is left. No cut for alignment: 4 bytes at offset 0x7fe
    // are one 4-byte ioreq; 6 bytes are 4 + 2; 16 bytes are 8 + 8; 8 bytes
    // 3 before a page's end are 2 + 1, then 4 + 1. The whole chunk is
    // routed at once, so one that reaches past the end of a device's range
    // goes to nobody (rangeset_contains_range in ioreq_server_select).
    MemStatus pieces(uint64_t addr, unsigned size, bool write, std::byte* buf) {
        uint64_t a = addr;
        unsigned left = size;
        while (left > 0) {
            unsigned part = static_cast<unsigned>(std::min<uint64_t>(left, page_size - (a & page_mask)));
            unsigned chunk = std::bit_floor(std::min(part, 8u));
            while (part > 0) {
                while (chunk > part) chunk >>= 1;
                uint64_t data = 0;
                if (write) std::memcpy(&data, buf, chunk);
                const MemStatus st = d_.emul_mem_locked(v_, a, chunk, write, &data);
                if (st != MemStatus::ok) return st;
                if (!write) std::memcpy(buf, &data, chunk);
                buf += chunk;
                a += chunk;
                part -= chunk;
                left -= chunk;
            }
        }
        return MemStatus::ok;
    }

    Domain& d_;
    VcpuState& v_;
};

// ---------------------------------------------------------------------------
// Construction.

Result<std::shared_ptr<Domain>> Domain::create(DomId id, const DomainConfig& cfg,
                                               const Backend& backend, std::shared_ptr<Log> log) {
    if (cfg.nr_vcpus == 0 || cfg.nr_vcpus > max_vcpus) return Status::err(-EINVAL);
    if (cfg.ram_bytes == 0 || (cfg.ram_bytes & page_mask) != 0 ||
        cfg.ram_bytes > MachineMemory::max_ram_bytes)
        return Status::err(-EINVAL);
    std::shared_ptr<Domain> d{new Domain(id, cfg)};
    d->backend_ = &backend;
    d->log_ = std::move(log);
    const uint64_t frames = cfg.ram_bytes >> page_shift;
    // Enough tables to map every RAM page with 4 KiB leaves (the backend's
    // geometry: roots and upper levels included).
    const uint64_t table_limit = backend.table_frames(frames);
    auto mem = MachineMemory::create(cfg.ram_bytes, table_limit);
    HV_TRY(mem);
    d->mem_ = std::move(mem).value();
    auto s2 = backend.make_stage2(*d->mem_);
    HV_TRY(s2);
    d->s2_ = std::move(s2).value();
    if (cfg.ram_bytes > (d->s2_->gfn_limit() << page_shift)) return Status::err(-EINVAL);
    d->p2m_ = std::make_unique<P2m>(*d->s2_, *d->mem_);
    HV_TRY(d->p2m_->build_ram());
    d->isa_ = backend.make_isa();
    d->vcpus_.resize(cfg.nr_vcpus);
    for (uint32_t i = 0; i < cfg.nr_vcpus; ++i) d->vcpus_[i].id = i;
    return d;
}

Domain::~Domain() = default;

// ---------------------------------------------------------------------------
// Ioreq servers.

Result<IoreqServer*> Domain::owned_server(EmulatorId who, IoservId id) {
    if (id.raw() >= max_ioreq_servers || !servers_[id.raw()]) return Status::err(-ENOENT);
    IoreqServer* s = servers_[id.raw()].get();
    if (s->emulator != who) return Status::err(-EPERM);
    return s;
}

Status Domain::create_ioreq_server(EmulatorId who, uint8_t bufioreq, IoservId* out) {
    Lock lk(mu_);
    if (stopped_locked()) return Status::err(-ESHUTDOWN);
    const auto mode = static_cast<uint8_t>(bufioreq & ~bufioreq_wide);
    const bool wide = (bufioreq & bufioreq_wide) != 0;
    if (mode > bufioreq_atomic) return Status::err(-EINVAL);  // unknown mode or flag bits
    if (wide && mode == 0) return Status::err(-EINVAL);       // wide posting without a ring
    auto slot = std::find_if(servers_.begin(), servers_.end(), [](const auto& p) { return !p; });
    if (slot == servers_.end()) return Status::err(-ENOSPC);
    auto pages = IoreqPages::create(mode != 0);
    HV_TRY(pages);
    auto s = std::make_unique<IoreqServer>();
    s->id = IoservId{static_cast<uint16_t>(slot - servers_.begin())};
    s->serial = next_serial_++;
    s->emulator = who;
    s->bufioreq = mode;
    s->post_wide = wide;
    s->pages = std::move(pages).value();
    for (uint32_t v = 0; v < cfg_.nr_vcpus; ++v) s->pages.slot(v).vp_eport = v;
    *out = s->id;
    if (log_)
        log_->write(LogLevel::debug, fmt::format("domain {}: ioreq server {} created (bufioreq mode {}{})", id_.raw(),
                                                 s->id.raw(), mode, wide ? ", wide posting" : ""));
    *slot = std::move(s);
    return Status::ok();
}

void Domain::destroy_server_locked(Lock& lk, IoservId id) {
    // Out of the table before anything else: the sweep below releases the
    // lock, and whatever runs meanwhile (a second destroy of the same id,
    // hvdm_close, a create that reuses the slot) must find it gone (Xen
    // re-validates a preempted DMOP on re-entry in the same spirit). Nothing
    // refers to the server past this point: a vCPU waiting on it looks it
    // up by id and serial, finds nothing, and completes.
    const bool owner = p2m_->ioreq_owner() == id;
    servers_[id.raw()].reset();
    cv_.notify_all();  // vCPUs waiting on this server complete
    if (log_) log_->write(LogLevel::debug, fmt::format("domain {}: ioreq server {} destroyed", id_.raw(), id.raw()));
    // hvcore differs from Xen here (README.md, "Where hvcore differs from
    // Xen"; Xen: xen/common/ioreq.c ioreq_server_destroy): destroying the owner
    // disclaims and resets its entries, like an unmap.
    if (owner) {
        p2m_->set_ioreq_owner(std::nullopt, 0);
        disclaim_and_sweep(lk);  // releases the lock between chunks; holds nothing across it
    }
}

Status Domain::destroy_ioreq_server(EmulatorId who, IoservId id) {
    Lock lk(mu_);
    if (stopped_locked()) return Status::err(-ESHUTDOWN);
    auto s = owned_server(who, id);
    HV_TRY(s);
    destroy_server_locked(lk, id);
    return Status::ok();
}

void Domain::destroy_servers_of(EmulatorId who) {
    Lock lk(mu_);
    // By slot, re-read after every destroy (a destroy may release the lock).
    for (uint16_t i = 0; i < max_ioreq_servers; ++i)
        if (servers_[i] && servers_[i]->emulator == who) destroy_server_locked(lk, IoservId{i});
}

Status Domain::set_ioreq_server_state(EmulatorId who, IoservId id, bool enabled) {
    Lock lk(mu_);
    if (stopped_locked()) return Status::err(-ESHUTDOWN);
    auto s = owned_server(who, id);
    HV_TRY(s);
    (*s)->enabled = enabled;
    cv_.notify_all();  // held writes may now go through
    return Status::ok();
}

Status Domain::map_io_range(EmulatorId who, IoservId id, uint32_t type, uint64_t start, uint64_t end) {
    Lock lk(mu_);
    if (stopped_locked()) return Status::err(-ESHUTDOWN);
    if (start > end) return Status::err(-EINVAL);  // XSA-238
    auto s = owned_server(who, id);
    HV_TRY(s);
    if (type > static_cast<uint32_t>(RangeType::pci)) return Status::err(-EINVAL);
    return (*s)->ranges[type].add(start, end);
}

Status Domain::unmap_io_range(EmulatorId who, IoservId id, uint32_t type, uint64_t start,
                              uint64_t end) {
    Lock lk(mu_);
    if (stopped_locked()) return Status::err(-ESHUTDOWN);
    if (start > end) return Status::err(-EINVAL);
    auto s = owned_server(who, id);
    HV_TRY(s);
    if (type > static_cast<uint32_t>(RangeType::pci)) return Status::err(-EINVAL);
    return (*s)->ranges[type].remove(start, end);
}

Status Domain::get_ioreq_server_info(EmulatorId who, IoservId id, uint16_t flags,
                                     uint32_t* bufioreq_port) {
    Lock lk(mu_);
    if (stopped_locked()) return Status::err(-ESHUTDOWN);
    if ((flags & ~dmop_no_gfns) != 0) return Status::err(-EINVAL);
    auto s = owned_server(who, id);
    HV_TRY(s);
    // hvcore never places ioreq pages in the guest's physical address space
    // (a guest could otherwise write them); they are reached with
    // hvdm_map_ioreq_pages only.
    if ((flags & dmop_no_gfns) == 0) return Status::err(-EOPNOTSUPP);
    // Ports 0..nr_vcpus-1 name the vCPU slots; nr_vcpus names the ring.
    if ((*s)->bufioreq != 0) *bufioreq_port = cfg_.nr_vcpus;
    return Status::ok();
}

void Domain::disclaim_and_sweep(Lock& lk) {
    cv_.notify_all();  // held writes re-route once the type is reset
    if (p2m_->ioreq_entry_count() == 0) return;
    // Lazy: every entry is marked, so the next access or lookup of any
    // page resolves it (the claim is gone: ioreq_server -> ram_rw).
    p2m_->mark_recalc_all();
    p2m_changed_locked(Gfn{0}, 0);  // a mirroring host sees ram_rw before the sweep even starts
    // Synchronous: resolve exactly the outstanding entries, a chunk per
    // lock hold, so vCPUs waiting for the lock are not starved. A new claim
    // stays -EBUSY until the count reaches 0, so nothing can re-add entries.
    // The caller holds no server across this: the lock is released here,
    // and any server may be destroyed (its slot reused) meanwhile.
    while (p2m_->sweep(sweep_chunk) != 0) {
        lk.unlock();
        if (sweep_pause_) sweep_pause_();
        std::this_thread::yield();
        lk.lock();
    }
}

Status Domain::map_mem_type_to_ioreq_server(EmulatorId who, IoservId id, uint16_t type,
                                            uint32_t flags) {
    Lock lk(mu_);
    if (stopped_locked()) return Status::err(-ESHUTDOWN);
    if (!cfg_.hap) return Status::err(-EOPNOTSUPP);
    if (type != hvmmem::ioreq_server) return Status::err(-EINVAL);
    if ((flags & ~mem_access_write) != 0) return Status::err(-EINVAL);
    auto s = owned_server(who, id);
    HV_TRY(s);
    if (flags != 0) {
        if (p2m_->ioreq_owner()) return Status::err(-EBUSY);           // any owner, itself too
        if (p2m_->ioreq_entry_count() != 0) return Status::err(-EBUSY);  // left-over entries
        p2m_->set_ioreq_owner(id, flags);
        return Status::ok();
    }
    if (p2m_->ioreq_owner() != id) return Status::err(-EINVAL);  // only the owner disclaims
    p2m_->set_ioreq_owner(std::nullopt, 0);
    disclaim_and_sweep(lk);
    return Status::ok();
}

Status Domain::set_mem_type(uint16_t hvmmem_type, uint64_t first_pfn, uint32_t nr) {
    Lock lk(mu_);
    if (stopped_locked()) return Status::err(-ESHUTDOWN);
    const uint64_t last = first_pfn + nr - 1;
    if (nr == 0 || last < first_pfn || last > p2m_->max_gfn()) return Status::err(-EINVAL);
    P2mType to{};
    switch (hvmmem_type) {
    case hvmmem::ram_rw: to = P2mType::ram_rw; break;
    case hvmmem::ram_ro: to = P2mType::ram_ro; break;
    case hvmmem::mmio_dm: to = P2mType::mmio_dm; break;
    case hvmmem::ioreq_server: to = P2mType::ioreq_server; break;
    default: return Status::err(-EINVAL);  // HVMMEM_unused and anything >= 5
    }
    if (to == P2mType::ioreq_server) {
        if (!cfg_.hap) return Status::err(-EOPNOTSUPP);
        if (!p2m_->ioreq_owner()) return Status::err(-EINVAL);  // nobody claimed the type
    }
    const Status st = p2m_->set_type_range(Gfn{first_pfn}, nr, to);
    if (st) p2m_changed_locked(Gfn{first_pfn}, nr);
    return st;
}

Result<uint16_t> Domain::get_mem_type(uint64_t pfn) {
    Lock lk(mu_);
    if (stopped_locked()) return Status::err(-ESHUTDOWN);
    if (pfn >= p2m_->gfn_limit()) return Status::err(-EINVAL);
    const P2mType t = p2m_->lookup(Gfn{pfn}).type;
    // HVMOP_get_mem_type's order (xen/arch/x86/hvm/hvm.c).
    if (p2m_is_mmio(t)) return hvmmem::mmio_dm;
    if (t == P2mType::ioreq_server) return hvmmem::ioreq_server;
    if (t == P2mType::ram_ro) return hvmmem::ram_ro;
    if (p2m_is_ram(t)) return hvmmem::ram_rw;
    return hvmmem::mmio_dm;
}

// ---------------------------------------------------------------------------
// Shared-memory protocol.

Status Domain::map_ioreq_pages(EmulatorId who, IoservId id, IoreqSlot** sync, BufferedPage** buffered) {
    Lock lk(mu_);
    if (stopped_locked()) return Status::err(-ESHUTDOWN);
    auto s = owned_server(who, id);
    HV_TRY(s);
    auto m = (*s)->pages.dm_mapping();
    HV_TRY(m);
    *sync = reinterpret_cast<IoreqSlot*>(*m);
    if (buffered != nullptr)
        *buffered = (*s)->bufioreq != 0 ? reinterpret_cast<BufferedPage*>(*m + page_size) : nullptr;
    return Status::ok();
}

Result<int> Domain::ioreq_fd(EmulatorId who, IoservId id) {
    Lock lk(mu_);
    if (stopped_locked()) return Status::err(-ESHUTDOWN);
    auto s = owned_server(who, id);
    HV_TRY(s);
    return (*s)->pages.event_fd();
}

Status Domain::dup_ioreq_fds(EmulatorId who, IoservId id, int* pages_fd, int* event_fd, bool* buffered,
                             uint64_t* serial) {
    Lock lk(mu_);
    if (stopped_locked()) return Status::err(-ESHUTDOWN);
    auto s = owned_server(who, id);
    HV_TRY(s);
    *buffered = (*s)->bufioreq != 0;
    if (serial != nullptr) *serial = (*s)->serial;
    return (*s)->pages.dup_fds(pages_fd, event_fd);
}

Status Domain::ioreq_server_serial(EmulatorId who, IoservId id, uint64_t* serial) {
    Lock lk(mu_);
    if (stopped_locked()) return Status::err(-ESHUTDOWN);
    auto s = owned_server(who, id);
    HV_TRY(s);
    *serial = (*s)->serial;
    return Status::ok();
}

Status Domain::ioreq_notify(EmulatorId who, IoservId id, uint32_t vcpu) {
    Lock lk(mu_);
    if (stopped_locked()) return Status::err(-ESHUTDOWN);
    auto s = owned_server(who, id);
    HV_TRY(s);
    if (vcpu >= cfg_.nr_vcpus) return Status::err(-EINVAL);
    // The notification is an observation point of the slot's state: an
    // unknown value stops the domain at once (XSA-262).
    const uint8_t st = slot_state((*s)->pages.slot(vcpu));
    if (st > ioreq::state_resp_ready) {
        stop_locked(fmt::format("device model of ioreq server {} wrote unknown state {} into vCPU {}'s slot",
                                id.raw(), st, vcpu));
        return Status::err(-EPROTO);
    }
    cv_.notify_all();  // a host vCPU thread may be waiting for this slot
    return Status::ok();
}

void Domain::stop_locked(std::string reason) {
    if (stop_reason_) return;
    if (log_) log_->write(LogLevel::error, fmt::format("domain {} stopped: {}", id_.raw(), reason));
    stop_reason_ = std::move(reason);
    cv_.notify_all();
}

std::optional<std::string> Domain::stop_reason() {
    Lock lk(mu_);
    return stop_reason_;
}

// ---------------------------------------------------------------------------
// Routing.

IoreqServer* Domain::select_locked(IoreqBody& req) {
    RangeType type = RangeType::memory;
    uint64_t first = 0;
    uint64_t last = 0;
    uint64_t pci_addr = 0;
    if (req.type == ioreq::type_pio) {
        if ((req.addr & ~uint64_t{3}) == 0xcfc && (cf8_ & cf8_enable) != 0) {
            // CONFIG_ADDRESS: bus 23:16, device 15:11, function 10:8, register 7:2.
            const uint64_t sbdf = (cf8_ >> 8) & 0xffff;  // segment 0
            const uint64_t reg = (cf8_ & 0xfc) | (req.addr & 3);
            type = RangeType::pci;
            first = last = sbdf;
            pci_addr = (sbdf << 32) | reg;
        } else {
            type = RangeType::port;
            first = req.addr;
            last = req.addr + req.size - 1;
        }
    } else {
        std::tie(first, last) = mmio_span(req);
    }
    // Highest id first ("more recently created ... favoured"); disabled skipped.
    for (auto it = servers_.rbegin(); it != servers_.rend(); ++it) {
        IoreqServer* s = it->get();
        if (s == nullptr || !s->enabled) continue;
        if (!s->ranges[static_cast<uint32_t>(type)].contains(first, last)) continue;
        if (type == RangeType::pci) {
            req.type = ioreq::type_pci_config;
            req.addr = pci_addr;
        }
        return s;
    }
    return nullptr;
}

std::optional<MemStatus> Domain::replay_locked(VcpuState& v, const IoreqBody& req, uint64_t* data) {
    if (v.io_cursor >= v.io_done.size()) return std::nullopt;
    const CompletedIo& done = v.io_done[v.io_cursor];
    const IoreqBody& expect = done.req;  // as the instruction first issued it
    // Xen's check that the access was "correctly re-issued" (hvmemul_do_io):
    // the written value of a plain write is not compared, a pointer is.
    if (!(expect.addr == req.addr && expect.size == req.size && expect.dir == req.dir &&
          expect.type == req.type && expect.count == req.count && expect.df == req.df &&
          expect.data_is_ptr == req.data_is_ptr && (!req.data_is_ptr || expect.data == req.data))) {
        stop_locked(fmt::format("vCPU {} re-executed its instruction differently after a response "
                                "(expected a {}-byte access at {:#x}, got {:#x})",
                                v.id, expect.size, expect.addr, req.addr));
        return MemStatus::stopped;
    }
    ++v.io_cursor;
    if (req.dir == ioreq::dir_read && !req.data_is_ptr) *data = done.data & ones(req.size);
    return MemStatus::ok;
}

Domain::Landing Domain::landing_locked(uint64_t gpa) {
    const Gfn gfn = Gpa{gpa}.gfn();
    // Beyond what the table format can map there is no entry: a hole.
    const Stage2Leaf leaf = gfn.raw() < p2m_->gfn_limit() ? p2m_->lookup(gfn) : Stage2Leaf{};
    std::byte* frame = p2m_has_frame(leaf.type) ? mem_->frame(leaf.mfn) : nullptr;
    return {leaf.type, frame == nullptr ? nullptr : frame + (gpa & page_mask)};
}

bool Domain::Landing::ram_readable() const noexcept { return p2m_is_ram(type) && at != nullptr; }

bool Domain::Landing::ram_writable() const noexcept {
    return (type == P2mType::ram_rw || type == P2mType::ram_logdirty || type == P2mType::mmio_direct) &&
           at != nullptr;
}

// Xen's p2m_is_discard_write: a write to ram_ro completes and changes
// nothing; it is never routed to a device model, whatever ranges cover the
// page (xen/arch/x86/hvm/hvm.c __hvm_copy skips the copy and reports
// success, so hvmemul_write never reaches hvmemul_linear_mmio_write).
bool Domain::Landing::discards_writes() const noexcept { return type == P2mType::ram_ro && at != nullptr; }

MemStatus Domain::emul_mem_locked(VcpuState& v, uint64_t gpa, unsigned size, bool write, uint64_t* data) {
    IoreqBody req{.addr = gpa, .data = write ? (*data & ones(size)) : 0, .count = 1, .size = size,
                  .type = ioreq::type_copy, .dir = write ? ioreq::dir_write : ioreq::dir_read};
    // Re-executed after a response: every piece the first execution
    // completed is in the log, wherever it went (RAM, a device model,
    // nobody), and is replayed from it, never made again, whatever its page
    // has become meanwhile (Xen's MMIO cache, hvmemul_phys_mmio_access).
    if (auto r = replay_locked(v, req, data)) return *r;
    const Landing to = landing_locked(gpa);
    // Reads of RAM, including ioreq_server pages, are served from RAM and
    // never reach a device model (Xen 4b602cced9). Logged, they replay what
    // was read the first time: a read-modify-write's flags and registers
    // (XADD, CMPXCHG) then agree with the one write the device model saw,
    // even if the model changed the RAM before answering.
    if (!write && to.ram_readable()) {
        *data = 0;
        std::memcpy(data, to.at, size);
        log_done_locked(v, req, *data);
        return MemStatus::ok;
    }
    if (write && (to.ram_writable() || to.discards_writes())) {
        // Written once (or discarded, ram_ro) and logged: a device model
        // that changed these bytes before answering a later piece keeps
        // its change.
        if (to.ram_writable()) std::memcpy(to.at, data, size);
        log_done_locked(v, req, 0);
        return MemStatus::ok;
    }
    return route_locked(v, to.type, req, data);
}

void Domain::log_done_locked(VcpuState& v, const IoreqBody& req, uint64_t data) {
    v.io_done.push_back({req, data});
    ++v.io_cursor;
}

MemStatus Domain::route_locked(VcpuState& v, P2mType t, IoreqBody req, uint64_t* data) {
    if (vga_posts(req)) {
        IoreqBody sel = req;
        if (IoreqServer* s = select_locked(sel); s != nullptr && send_buffered_locked(*s, req)) {
            posted_locked(v, *s, req);
            return MemStatus::ok;
        }
    }
    if (t == P2mType::ioreq_server) {
        Expects(req.dir == ioreq::dir_write);  // reads of the type are served from RAM
        const auto owner = p2m_->ioreq_owner();
        // Unclaimed (a race with the disclaim) or owner disabled: the guest
        // re-executes; the write is held, never lost or sent to nobody.
        if (!owner || !servers_[owner->raw()] || !servers_[owner->raw()]->enabled) return MemStatus::retry;
        return send_locked(v, *servers_[owner->raw()], req, req, false);
    }
    const IoreqBody orig = req;
    IoreqServer* s = select_locked(req);
    if (s == nullptr) {
        // Nobody: reads all ones, writes dropped. A rep read into RAM
        // (data_is_ptr) fills its elements with ones (Xen's null_read
        // through hvm_process_io_intercept); the caller checked that they
        // lie in one writable RAM page.
        if (req.dir == ioreq::dir_read) {
            if (!req.data_is_ptr) {
                *data = ones(req.size);
            } else {
                const Landing ram = landing_locked(req.data);
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
        log_done_locked(v, orig, req.dir == ioreq::dir_read && !req.data_is_ptr ? *data : 0);
        return MemStatus::ok;
    }
    // Anything else Xen sends synchronously; wide posting (opt-in) posts
    // the rest of what the ring can carry.
    return send_locked(v, *s, req, orig, s->post_wide);
}

namespace {
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

std::optional<RepResult> Domain::emul_rep_locked(VcpuState& v, const RepAccess& a) {
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
    if (v.io_cursor < v.io_done.size()) {
        const IoreqBody& first = v.io_done[v.io_cursor].req;
        const IoreqBody req = rep_ioreq(a, n, first.dir == ioreq::dir_write);
        if (first != req) return std::nullopt;
        uint64_t unused = 0;
        const std::optional<MemStatus> st = replay_locked(v, req, &unused);
        Ensures(st == MemStatus::ok);
        return RepResult{MemStatus::ok, n};
    }
    const Landing dst = landing_locked(a.dst);
    const Landing src = copy ? landing_locked(a.src) : Landing{};
    const bool dst_ram = dst.ram_writable();
    const bool src_ram = copy && src.ram_readable();
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
    // Any alignment: Xen's hvmemul_do_io truncates a rep ioreq at the page
    // and checks nothing else.
    const IoreqBody req = rep_ioreq(a, n, to_device);
    uint64_t unused = 0;
    const MemStatus st = route_locked(v, to_device ? dst.type : src.type, req, &unused);
    return RepResult{st, st == MemStatus::ok ? n : 0};
}

MemStatus Domain::emul_pio_locked(VcpuState& v, uint16_t port, unsigned size, bool write, uint64_t* data) {
    IoreqBody req{.addr = port, .data = write ? (*data & ones(size)) : 0, .count = 1, .size = size,
                  .type = ioreq::type_pio, .dir = write ? ioreq::dir_write : ioreq::dir_read};
    if (auto r = replay_locked(v, req, data)) return *r;
    // CONFIG_ADDRESS is latched on a 4-byte write and still forwarded
    // (Xen's hvm_access_cf8 returns X86EMUL_UNHANDLEABLE).
    if (write && port == 0xcf8 && size == 4) cf8_ = static_cast<uint32_t>(*data);
    const IoreqBody orig = req;
    IoreqServer* s = select_locked(req);
    if (s == nullptr) {
        if (!write) *data = ones(size);
        log_done_locked(v, orig, write ? 0 : *data);
        return MemStatus::ok;
    }
    // Xen never posts a port write (no internal port handler posts);
    // wide posting (opt-in) does.
    return send_locked(v, *s, req, orig, s->post_wide);
}

bool Domain::send_buffered_locked(IoreqServer& s, const IoreqBody& req) {
    BufferedPage* bp = s.pages.buffered();
    if (bp == nullptr || req.dir != ioreq::dir_write || req.data_is_ptr || req.count != 1 ||
        req.addr > ioreq::buffer_max_addr || (req.type != ioreq::type_pio && req.type != ioreq::type_copy))
        return false;
    uint32_t size_code = 0;
    switch (req.size) {
    case 1: size_code = 0; break;
    case 2: size_code = 1; break;
    case 4: size_code = 2; break;
    case 8: size_code = 3; break;
    default: return false;
    }
    const uint32_t qw = req.size == 8 ? 1 : 0;
    std::atomic_ref<uint32_t> rp(bp->read_pointer);
    std::atomic_ref<uint32_t> wp(bp->write_pointer);
    const uint32_t w = wp.load(std::memory_order_relaxed);
    const uint32_t r = rp.load(std::memory_order_acquire);
    if (w - r >= ioreq::buffer_slots - qw) return false;  // full: fall back to synchronous
    const uint32_t word0 = req.type | (((req.dir & 1u) << 1 | size_code << 2) << 8) |
                           (static_cast<uint32_t>(req.addr) << 12);
    bp->slots[w % ioreq::buffer_slots] = {word0, static_cast<uint32_t>(req.data)};
    if (qw != 0) bp->slots[(w + 1) % ioreq::buffer_slots] = {word0, static_cast<uint32_t>(req.data >> 32)};
    wp.store(w + 1 + qw, std::memory_order_release);
    if (s.bufioreq == 2) {
        // HVM_IOREQSRV_BUFIOREQ_ATOMIC: canonicalise both pointers with one
        // 64-bit compare-and-swap, as Xen does after each post.
        std::atomic_ref<uint64_t> both(*reinterpret_cast<uint64_t*>(bp));
        uint64_t old = both.load(std::memory_order_acquire);
        for (;;) {
            const auto rd = static_cast<uint32_t>(old);
            const auto wr = static_cast<uint32_t>(old >> 32);
            if (rd < ioreq::buffer_slots) break;
            const uint32_t n = rd / ioreq::buffer_slots * ioreq::buffer_slots;
            const uint64_t nv = uint64_t{rd - n} | (uint64_t{wr - n} << 32);
            if (both.compare_exchange_weak(old, nv, std::memory_order_acq_rel)) break;
        }
    }
    return true;
}

void Domain::posted_locked(VcpuState& v, IoreqServer& s, const IoreqBody& orig) {
    // The vCPU goes on; logged so that re-execution does not post twice.
    log_done_locked(v, orig, 0);
    s.pages.notify();
}

MemStatus Domain::send_locked(VcpuState& v, IoreqServer& s, const IoreqBody& req, const IoreqBody& orig,
                              bool bufferable) {
    if (bufferable && send_buffered_locked(s, req)) {
        posted_locked(v, s, orig);
        return MemStatus::ok;
    }
    IoreqSlot& slot = s.pages.slot(v.id);
    if (const uint8_t st = slot_state(slot); st != ioreq::state_none) {
        stop_locked(fmt::format("device model of ioreq server {} left vCPU {}'s slot in state {} "
                                "when a new request was due (it must return it to NONE)",
                                s.id.raw(), v.id, st));
        return MemStatus::stopped;
    }
    slot_fill(slot, req, v.id);
    slot_set_state(slot, ioreq::state_ready);
    v.waiting = true;
    v.server = s.id;
    v.server_serial = s.serial;
    v.sent = req;
    v.sent_orig = orig;
    v.seen_state = ioreq::state_ready;
    s.pages.notify();
    return MemStatus::pending;
}

// ---------------------------------------------------------------------------
// Execution.

int Domain::run_locked(VcpuState& v, VcpuState::Op op, std::span<const uint8_t> insn, RegFile& regs) {
    v.op = op;
    v.insn.assign(insn.begin(), insn.end());
    v.entry_regs = regs;
    v.io_done.clear();
    v.last_fault.reset();
    v.fault_past_first_page = false;
    v.guest_fault_detail.clear();
    v.undecoded = false;
    for (int attempt = 0; attempt < max_refaults; ++attempt) {
        RegFile tmp = regs;
        v.exit = VcpuState::Exit::none;
        MmuPort mmu(*this, v, v.insn);
        const ExecResult r = isa_->execute(tmp, v.insn, mmu);
        if (r.committed && r.status != MemStatus::ok) {
            // REP iterations the hardware completed before the fault stand
            // whatever happens next; the emulation below starts after them.
            regs = tmp;
            v.entry_regs = tmp;
            if (op == VcpuState::Op::exec) v.regs = tmp;
        }
        switch (r.status) {
        case MemStatus::ok: regs = tmp; return to_int(VcpuStatus::done);
        case MemStatus::guest_fault:
            v.guest_fault_detail = r.detail;
            return to_int(VcpuStatus::guest_fault);
        case MemStatus::exit: break;
        case MemStatus::pending:
        case MemStatus::retry:
        case MemStatus::stopped:
            // The MMU port never answers these.
            stop_locked("model MMU returned a routing status");
            return -EIO;
        }
        if (v.exit == VcpuState::Exit::stage2) {
            const Fault f = s2_->decode_fault(*v.last_fault);
            if (f.cause == FaultCause::recalc) {
                // Lazy type change: resolve and let the guest re-execute.
                (void)p2m_->lookup(f.gpa.gfn());
                continue;
            }
            if (f.access == AccessType::fetch) {
                return fetch_fault_locked(v, f.gpa);
            }
        }
        return emulate_locked(v, regs);
    }
    return persistent_misconfig_locked(v);
}

int Domain::emulate_locked(VcpuState& v, RegFile& regs) {
    RegFile tmp = v.entry_regs;
    v.io_cursor = 0;
    EmulPort port(*this, v);
    // The fault record first (Arm64 ISV=1 describes the access whole), else
    // the instruction itself. A fault on the second page of an access that
    // crosses a page boundary keeps ISV = 1 (Arm ARM DDI 0487 M.a.a,
    // D24.2.46 ESR_EL2, ISV: no exception for it) but names only that page
    // (FAR, HPFAR): replayed from the record, the whole access would land
    // there. The model MMU knows it split the access; decode instead.
    std::optional<ExecResult> from_record;
    if (v.exit == VcpuState::Exit::stage2 && v.last_fault && !v.fault_past_first_page)
        from_record = isa_->execute_from_record(tmp, *v.last_fault, port);
    const ExecResult r = from_record ? *std::move(from_record) : isa_->execute(tmp, v.insn, port);
    if (r.committed && r.status != MemStatus::ok) {
        // EmulPort::rep completes all of a rep access or nothing of it, so
        // re-execution from entry_regs replays exactly; anything else would
        // repeat committed work.
        stop_locked(fmt::format("vCPU {}: emulation committed partial progress without completing", v.id));
        return -EIO;
    }
    switch (r.status) {
    case MemStatus::ok:
        regs = tmp;
        v.io_done.clear();
        return to_int(VcpuStatus::done);
    case MemStatus::pending: return to_int(VcpuStatus::ioreq_pending);
    case MemStatus::retry: v.io_done.clear(); return to_int(VcpuStatus::retry);
    case MemStatus::guest_fault:
        v.guest_fault_detail = r.detail;
        // An instruction the executor does not emulate, reached by a
        // stage-2 abort: the caller asked to see it (KVM's
        // KVM_EXIT_ARM_NISV) rather than have the guest take an abort. It
        // did not happen; the registers are as they were.
        if (r.undecoded && cfg_.report_undecoded && v.exit == VcpuState::Exit::stage2 && v.last_fault) {
            v.undecoded = true;
            v.io_done.clear();
            return to_int(VcpuStatus::undecoded);
        }
        return to_int(VcpuStatus::guest_fault);
    case MemStatus::stopped: return -EPROTO;
    case MemStatus::exit: break;
    }
    stop_locked("emulation port returned a hardware exit");
    return -EIO;
}

int Domain::finish_locked(VcpuState& v, const RegFile& regs, uint64_t* value) {
    switch (v.op) {
    case VcpuState::Op::exec: v.regs = regs; break;
    case VcpuState::Op::load:
    case VcpuState::Op::pio:
        if (value != nullptr) *value = regs.r[v.data_reg] & ones(v.size);
        break;
    case VcpuState::Op::store: break;
    }
    return to_int(VcpuStatus::done);
}

int Domain::synthetic_locked(VcpuState& v, VcpuState::Op op, const SyntheticInsn& si, unsigned size,
                             uint64_t addr, uint64_t data, uint64_t* value) {
    // The typed calls run on a copy of the registers: they do not disturb
    // the vCPU's architectural state.
    RegFile regs = v.regs;
    regs.r[si.addr_reg] = addr;
    regs.r[si.data_reg] = data;
    v.size = size;
    v.data_reg = si.data_reg;
    const int rc = run_locked(v, op, si.bytes, regs);
    if (rc == to_int(VcpuStatus::done)) return finish_locked(v, regs, value);
    return rc;
}

namespace {
[[nodiscard]] bool valid_size(uint32_t size) noexcept { return size == 1 || size == 2 || size == 4 || size == 8; }
}  // namespace

#define HV_VCPU_PROLOGUE(vcpu)                                   \
    Lock lk(mu_);                                                \
    if (stopped_locked()) return -ESHUTDOWN;                     \
    if ((vcpu) >= vcpus_.size()) return -EINVAL;                 \
    VcpuState& v = vcpus_[vcpu];                                 \
    if (v.waiting) return -EBUSY; /* finish with hv_vcpu_resume */

int Domain::vcpu_store(uint32_t vcpu, uint64_t gpa, uint32_t size, uint64_t value) {
    HV_VCPU_PROLOGUE(vcpu);
    if (!valid_size(size)) return -EINVAL;
    const SyntheticInsn si = isa_->make_store(size);
    if (si.bytes.empty()) return -EINVAL;
    return synthetic_locked(v, VcpuState::Op::store, si, size, gpa, value, nullptr);
}

int Domain::vcpu_load(uint32_t vcpu, uint64_t gpa, uint32_t size, uint64_t* value) {
    HV_VCPU_PROLOGUE(vcpu);
    if (!valid_size(size) || value == nullptr) return -EINVAL;
    const SyntheticInsn si = isa_->make_load(size);
    if (si.bytes.empty()) return -EINVAL;
    return synthetic_locked(v, VcpuState::Op::load, si, size, gpa, 0, value);
}

int Domain::vcpu_pio(uint32_t vcpu, uint16_t port, uint32_t size, bool is_write, uint64_t* value) {
    HV_VCPU_PROLOGUE(vcpu);
    if (value == nullptr) return -EINVAL;
    const SyntheticInsn si = isa_->make_pio(size, is_write);
    if (si.bytes.empty()) {
        // An ISA without port I/O vs. a width IN/OUT cannot encode.
        return isa_->has_port_io() ? -EINVAL : -EOPNOTSUPP;
    }
    return synthetic_locked(v, VcpuState::Op::pio, si, size, port, is_write ? *value : 0,
                            is_write ? nullptr : value);
}

int Domain::vcpu_exec(uint32_t vcpu, std::span<const uint8_t> insn) {
    HV_VCPU_PROLOGUE(vcpu);
    if (insn.empty() || insn.size() > isa_->max_insn_bytes()) return -EINVAL;
    RegFile regs = v.regs;
    const int rc = run_locked(v, VcpuState::Op::exec, insn, regs);
    if (rc == to_int(VcpuStatus::done)) return finish_locked(v, regs, nullptr);
    return rc;
}

int Domain::vcpu_fetch(uint32_t vcpu, uint64_t gpa) {
    HV_VCPU_PROLOGUE(vcpu);
    v.last_fault.reset();
    v.guest_fault_detail.clear();
    v.undecoded = false;
    for (int attempt = 0; attempt < max_refaults; ++attempt) {
        v.fault_past_first_page = false;
        const Translation t = s2_->translate(Gpa{gpa}, AccessType::fetch,
                                            AccessContext{.gla = gpa, .gla_valid = true, .size = 1, .insn = {}, .isa_syndrome = 0});
        if (t.ok) return to_int(VcpuStatus::done);
        v.last_fault = t.record;
        const Fault f = s2_->decode_fault(t.record);
        if (f.cause == FaultCause::recalc) {
            (void)p2m_->lookup(f.gpa.gfn());
            continue;
        }
        return fetch_fault_locked(v, f.gpa);
    }
    return persistent_misconfig_locked(v);
}

int Domain::fetch_fault_locked(VcpuState& v, Gpa gpa) {
    v.guest_fault_detail = fmt::format("instruction fetch from gpa {:#x} ({}) is not executable", gpa.raw(),
                                       to_string(p2m_->lookup(gpa.gfn()).type));
    return to_int(VcpuStatus::guest_fault);
}

int Domain::persistent_misconfig_locked(VcpuState& v) {
    // Each resolution makes progress, so this means a backend bug: stop
    // rather than loop.
    stop_locked(fmt::format("vCPU {}: stage-2 misconfiguration persists after {} resolutions", v.id,
                            max_refaults));
    return -EIO;
}

Domain::Response Domain::take_response_locked(VcpuState& v) {
    IoreqServer* s = servers_[v.server.raw()].get();
    if (s != nullptr && s->serial != v.server_serial) s = nullptr;  // destroyed; the id was reused
    if (s == nullptr) return {.answered = true, .data = ones(v.sent.size), .error = 0};  // reads get all ones
    IoreqSlot& slot = s->pages.slot(v.id);
    const uint8_t st = slot_state(slot);
    switch (st) {
    case ioreq::state_ready:
    case ioreq::state_inprocess:
        if (st < v.seen_state) {
            stop_locked(fmt::format("device model of ioreq server {} moved vCPU {}'s slot backwards ({} -> {})",
                                    s->id.raw(), v.id, v.seen_state, st));
            return {.answered = false, .data = 0, .error = -EPROTO};
        }
        v.seen_state = st;
        return {};  // not answered yet
    case ioreq::state_resp_ready: {
        const uint64_t data = std::atomic_ref<uint64_t>(slot.data).load(std::memory_order_acquire);
        slot_set_state(slot, ioreq::state_none);
        return {.answered = true, .data = data, .error = 0};
    }
    case ioreq::state_none:
        // Set to NONE without a response: a read completes with all ones.
        return {.answered = true, .data = ones(v.sent.size), .error = 0};
    default: break;
    }
    stop_locked(fmt::format("device model of ioreq server {} wrote unknown state {} into vCPU {}'s slot",
                            s->id.raw(), st, v.id));
    return {.answered = false, .data = 0, .error = -EPROTO};
}

int Domain::vcpu_resume(uint32_t vcpu, uint64_t* value) {
    Lock lk(mu_);
    if (stopped_locked()) return -ESHUTDOWN;
    if (vcpu >= vcpus_.size()) return -EINVAL;
    VcpuState& v = vcpus_[vcpu];
    if (!v.waiting) return -EINVAL;  // nothing is pending on this vCPU
    const Response r = take_response_locked(v);
    if (r.error != 0) return r.error;
    if (!r.answered) return to_int(VcpuStatus::ioreq_pending);
    v.waiting = false;
    v.io_done.push_back({v.sent_orig, v.sent.dir == ioreq::dir_read ? r.data : 0});
    RegFile regs = v.entry_regs;
    const int rc = emulate_locked(v, regs);
    if (rc == to_int(VcpuStatus::done)) return finish_locked(v, regs, value);
    return rc;
}

int Domain::vcpu_get_reg(uint32_t vcpu, uint32_t reg, uint64_t* value) {
    Lock lk(mu_);
    if (vcpu >= vcpus_.size() || value == nullptr) return -EINVAL;
    const uint64_t* slot = reg_slot(vcpus_[vcpu].regs, *isa_, reg);
    if (slot == nullptr) return -EINVAL;
    *value = *slot;
    return 0;
}

int Domain::vcpu_set_reg(uint32_t vcpu, uint32_t reg, uint64_t value) {
    Lock lk(mu_);
    if (stopped_locked()) return -ESHUTDOWN;
    if (vcpu >= vcpus_.size()) return -EINVAL;
    uint64_t* slot = reg_slot(vcpus_[vcpu].regs, *isa_, reg);
    if (slot == nullptr) return -EINVAL;
    if (vcpus_[vcpu].waiting) return -EBUSY;
    *slot = value;
    return 0;
}

int Domain::vcpu_last_fault(uint32_t vcpu, FaultRecord* out) {
    Lock lk(mu_);
    if (vcpu >= vcpus_.size() || out == nullptr) return -EINVAL;
    if (!vcpus_[vcpu].last_fault) return -ENOENT;
    *out = *vcpus_[vcpu].last_fault;
    return 0;
}

int Domain::vcpu_undecoded(uint32_t vcpu, UndecodedAccess* out) {
    Lock lk(mu_);
    if (vcpu >= vcpus_.size() || out == nullptr) return -EINVAL;
    const VcpuState& v = vcpus_[vcpu];
    if (!v.undecoded || !v.last_fault) return -ENOENT;
    out->record = *v.last_fault;
    out->gpa = s2_->decode_fault(*v.last_fault).gpa.raw();
    out->insn = v.insn;
    out->pc = v.entry_regs.r[isa_->pc_reg()];
    return 0;
}

std::string Domain::vcpu_guest_fault_detail(uint32_t vcpu) {
    Lock lk(mu_);
    return vcpu < vcpus_.size() ? vcpus_[vcpu].guest_fault_detail : std::string{};
}

// ---------------------------------------------------------------------------
// Loader view and introspection.

Status Domain::guest_read(uint64_t gpa, void* buf, size_t len) {
    Lock lk(mu_);
    if (gpa > mem_->ram_bytes() || len > mem_->ram_bytes() - gpa) return Status::err(-EINVAL);
    std::memcpy(buf, mem_->ram_base() + gpa, len);
    return Status::ok();
}

Status Domain::guest_write(uint64_t gpa, const void* buf, size_t len) {
    Lock lk(mu_);
    if (gpa > mem_->ram_bytes() || len > mem_->ram_bytes() - gpa) return Status::err(-EINVAL);
    std::memcpy(mem_->ram_base() + gpa, buf, len);
    return Status::ok();
}

Result<uint64_t> Domain::p2m_raw_entry(uint64_t gfn) {
    Lock lk(mu_);
    if (gfn >= p2m_->gfn_limit()) return Status::err(-EINVAL);
    return s2_->raw_entry(Gfn{gfn});
}

Result<Stage2Walk> Domain::p2m_walk(uint64_t gfn) {
    Lock lk(mu_);
    if (gfn >= p2m_->gfn_limit()) return Status::err(-EINVAL);
    return s2_->walk_entries(Gfn{gfn});
}

uint64_t Domain::ioreq_entry_count() {
    Lock lk(mu_);
    return p2m_->ioreq_entry_count();
}

uint64_t Domain::ioreq_leaves_in_table() {
    Lock lk(mu_);
    uint64_t n = 0;
    s2_->for_each_leaf([&](Gfn, const Stage2Leaf& l) {
        if (l.type == P2mType::ioreq_server) n += uint64_t{1} << l.order;
    });
    return n;
}

Result<P2mType> Domain::p2m_type(uint64_t gfn) {
    Lock lk(mu_);
    if (gfn >= p2m_->gfn_limit()) return Status::err(-EINVAL);
    return p2m_->peek_type(Gfn{gfn});
}

}  // namespace hvcore

namespace hvcore {

// ---------------------------------------------------------------------------
// Hosts that run the guest themselves.

void Domain::p2m_changed_locked(Gfn first, uint64_t nr) {
    if (observer_ == nullptr) return;
    observer_thread_ = std::this_thread::get_id();
    observer_->p2m_changed(first, nr);
    observer_thread_ = {};
}

void Domain::set_p2m_observer(P2mObserver* o) {
    Lock lk(mu_);
    observer_ = o;
}

void Domain::set_sweep_pause(std::function<void()> fn) {
    Lock lk(mu_);
    sweep_pause_ = std::move(fn);
}

void Domain::shutdown_host() {
    Lock lk(mu_);
    host_shutdown_ = true;
    cv_.notify_all();
}

void Domain::for_each_type_run(uint64_t end, const std::function<void(Gfn, uint64_t, P2mType, Mfn)>& fn) {
    Lock lk(mu_);
    type_runs_locked(end, fn);
}

void Domain::for_each_type_run_in_observer(uint64_t end,
                                           const std::function<void(Gfn, uint64_t, P2mType, Mfn)>& fn) {
    Expects(observer_thread_ == std::this_thread::get_id());
    type_runs_locked(end, fn);
}

std::optional<IoservId> Domain::vcpu_pending_server(uint32_t vcpu) {
    Lock lk(mu_);
    if (vcpu >= vcpus_.size() || !vcpus_[vcpu].waiting) return std::nullopt;
    return vcpus_[vcpu].server;
}

void Domain::type_runs_locked(uint64_t end, const std::function<void(Gfn, uint64_t, P2mType, Mfn)>& fn) {
    end = std::min(end, p2m_->gfn_limit());
    uint64_t run_first = 0;
    uint64_t run_len = 0;
    P2mType run_type = P2mType::mmio_dm;
    Mfn run_mfn{};
    for (uint64_t g = 0; g < end;) {
        const Stage2Leaf l = p2m_->peek(Gfn{g});
        const P2mType t = l.type;
        const uint64_t leaf_pages = uint64_t{1} << l.order;
        const uint64_t n = std::min(end, (g & ~(leaf_pages - 1)) + leaf_pages) - g;
        const bool frames = p2m_has_frame(t);
        const bool extends = run_len != 0 && t == run_type &&
                             (!frames || l.mfn == run_mfn + run_len);
        if (!extends) {
            if (run_len != 0) fn(Gfn{run_first}, run_len, run_type, run_mfn);
            run_first = g;
            run_len = 0;
            run_type = t;
            run_mfn = l.mfn;
        }
        run_len += n;
        g += n;
    }
    if (run_len != 0) fn(Gfn{run_first}, run_len, run_type, run_mfn);
}

int Domain::wait_response_locked(Lock& lk, VcpuState& v) {
    for (;;) {
        if (stopped_locked() || host_shutdown_) return -ESHUTDOWN;
        const Response r = take_response_locked(v);
        if (r.error != 0) return r.error;
        if (r.answered) {
            v.waiting = false;
            v.io_done.push_back({v.sent_orig, v.sent.dir == ioreq::dir_read ? r.data : 0});
            return 0;
        }
        // hvdm_ioreq_notify wakes us; the timeout only bounds a missed
        // notification (a device model that answers without notifying).
        cv_.wait_for(lk, std::chrono::milliseconds(50));
    }
}

int Domain::host_access(uint32_t vcpu, const HostAccess& a, uint64_t* value, HostAccessOutcome* outcome) {
    Lock lk(mu_);
    if (vcpu >= vcpus_.size() || value == nullptr || a.size == 0 || a.size > 8) return -EINVAL;
    VcpuState& v = vcpus_[vcpu];
    if (v.waiting) return -EBUSY;
    v.io_done.clear();
    for (;;) {
        if (stopped_locked() || host_shutdown_) return -ESHUTDOWN;
        v.io_cursor = 0;
        EmulPort port(*this, v);
        uint64_t data = a.is_write ? a.data : 0;
        MemStatus st = MemStatus::ok;
        if (a.is_pio)
            st = port.pio(static_cast<uint16_t>(a.addr), a.size, a.is_write, &data);
        else if (a.is_write)
            st = port.write(a.addr, a.size, &data, AccessInfo{});
        else
            st = port.read(a.addr, a.size, &data, AccessInfo{});
        switch (st) {
        case MemStatus::ok:
            v.io_done.clear();
            *value = data;
            return 0;
        case MemStatus::pending:
            if (outcome != nullptr) ++outcome->ioreqs[v.server.raw()];
            if (int rc = wait_response_locked(lk, v); rc != 0) return rc;
            continue;  // replay with the response
        case MemStatus::retry:
            // The hardware has already retired the instruction, so the
            // access cannot be re-executed later: hold it here until the
            // owner is enabled or the type is reset, then route it again.
            if (outcome != nullptr) ++outcome->holds;
            cv_.wait_for(lk, std::chrono::milliseconds(50));
            continue;
        case MemStatus::stopped: return -EPROTO;
        case MemStatus::guest_fault:
        case MemStatus::exit: break;
        }
        stop_locked("host access could not be routed");
        return -EIO;
    }
}

}  // namespace hvcore

// SPDX-License-Identifier: MIT
// host/kvm: the VM, its vCPU threads, the memslot projection. See vm.hpp
// for the threads and the lock order.
#include "hvcore/kvm/vm.hpp"

#include <cpuid.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <system_error>

#include "hvcore/core/machine_memory.hpp"

namespace hvcore::kvm {

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kvm_api_version = 12;  // KVM_GET_API_VERSION, fixed since Linux 2.6.22

// x86 control bits (SDM Vol. 3A 2.5 "Control Registers", 2.2.1 "IA32_EFER").
constexpr uint64_t cr0_pe = 1ull << 0;
constexpr uint64_t cr0_et = 1ull << 4;
constexpr uint64_t cr0_pg = 1ull << 31;
constexpr uint64_t cr4_pae = 1ull << 5;
constexpr uint64_t efer_lme = 1ull << 8;
constexpr uint64_t efer_lma = 1ull << 10;
constexpr uint64_t rflags_fixed = 1ull << 1;  // bit 1 reads as 1

// Paging-structure entry bits (SDM Vol. 3A 4.5, tables 4-14..4-19). A and
// D are preset so the guest's first accesses write nothing into them.
constexpr uint64_t pte_p = 1ull << 0;
constexpr uint64_t pte_rw = 1ull << 1;
constexpr uint64_t pte_a = 1ull << 5;
constexpr uint64_t pte_d = 1ull << 6;
constexpr uint64_t pte_ps = 1ull << 7;  // 2 MiB leaf in a PDE

// Flat 64-bit descriptors (SDM Vol. 3A 3.4.5): base 0, limit 0xfffff, G=1.
constexpr uint64_t gdt_code64 = 0x00af9b000000ffffull;  // P, DPL0, S, type 0xb (code, read, accessed), L
constexpr uint64_t gdt_data = 0x00cf93000000ffffull;    // P, DPL0, S, type 0x3 (data, write, accessed), D/B
constexpr uint16_t sel_code = 0x08;
constexpr uint16_t sel_data = 0x10;
constexpr uint16_t sel_tss = 0x18;
constexpr uint64_t boot_tss = boot_gdt + 0x100;  // 104-byte 64-bit TSS in the GDT's page
constexpr uint32_t tss_limit = 0x67;

// KVM on VMX wants a TSS area for real mode; this is QEMU's choice (3
// pages below 4 GiB, outside any RAM this host gives a guest).
constexpr uint64_t kvm_tss_addr = 0xfffbd000;

// struct kvm_cpuid2 without its entries. Debian 12's <linux/kvm.h> declares
// the entries with __DECLARE_FLEX_ARRAY, which in C++ makes sizeof(struct
// kvm_cpuid2) 12 instead of the kernel's 8 and so corrupts the size field
// of the ioctl numbers built from it (KVM then answers EINVAL). The entries
// follow this header at byte 8.
struct CpuidHeader {
    uint32_t nent;
    uint32_t padding;
};
static_assert(sizeof(CpuidHeader) == 8 && sizeof(kvm_cpuid_entry2) % 8 == 0);
constexpr unsigned long ioctl_get_supported_cpuid = _IOWR(KVMIO, 0x05, CpuidHeader);  // KVM_GET_SUPPORTED_CPUID
constexpr unsigned long ioctl_set_cpuid2 = _IOW(KVMIO, 0x90, CpuidHeader);            // KVM_SET_CPUID2

extern "C" void kick_handler(int) {}

void install_kick_handler() {
    static std::once_flag once;
    std::call_once(once, [] {
        struct sigaction sa {};
        sa.sa_handler = kick_handler;  // no SA_RESTART: KVM_RUN returns EINTR
        sigemptyset(&sa.sa_mask);
        sigaction(kick_signal, &sa, nullptr);
    });
}

[[nodiscard]] const char* exit_name(uint32_t reason) noexcept {
    switch (reason) {
    case KVM_EXIT_UNKNOWN: return "KVM_EXIT_UNKNOWN";
    case KVM_EXIT_EXCEPTION: return "KVM_EXIT_EXCEPTION";
    case KVM_EXIT_IO: return "KVM_EXIT_IO";
    case KVM_EXIT_DEBUG: return "KVM_EXIT_DEBUG";
    case KVM_EXIT_MMIO: return "KVM_EXIT_MMIO";
    case KVM_EXIT_IRQ_WINDOW_OPEN: return "KVM_EXIT_IRQ_WINDOW_OPEN";
    case KVM_EXIT_FAIL_ENTRY: return "KVM_EXIT_FAIL_ENTRY";
    case KVM_EXIT_SYSTEM_EVENT: return "KVM_EXIT_SYSTEM_EVENT";
    default: return "an unexpected exit";
    }
}

[[nodiscard]] kvm_segment flat_segment(uint16_t selector, bool code) {
    kvm_segment s{};
    s.base = 0;
    s.limit = 0xffffffff;
    s.selector = selector;
    s.type = code ? 0xb : 0x3;
    s.present = 1;
    s.dpl = 0;
    s.db = code ? 0 : 1;  // a 64-bit code segment has D = 0 (L = 1)
    s.s = 1;
    s.l = code ? 1 : 0;
    s.g = 1;
    return s;
}

[[nodiscard]] kvm_segment real_segment(uint16_t selector, bool code) {
    kvm_segment s{};
    s.base = uint64_t{selector} << 4;
    s.limit = 0xffff;
    s.selector = selector;
    s.type = code ? 0xb : 0x3;
    s.present = 1;
    s.s = 1;
    return s;
}

}  // namespace

// ---------------------------------------------------------------------------

const char* to_string(RunEnd e) noexcept {
    switch (e) {
    case RunEnd::halted: return "halted";
    case RunEnd::shutdown_port: return "shutdown port";
    case RunEnd::dm_shutdown: return "device model shutdown";
    case RunEnd::stopped: return "stopped";
    case RunEnd::timeout: return "timeout";
    case RunEnd::failed: return "failed";
    }
    return "?";
}

void RunStats::merge(const RunStats& o) {
    exits += o.exits;
    mmio_exits += o.mmio_exits;
    io_exits += o.io_exits;
    kicks += o.kicks;
    accesses += o.accesses;
    holds += o.holds;
    for (size_t i = 0; i < ioreqs.size(); ++i) {
        ioreqs[i] += o.ioreqs[i];
        latency[i].merge(o.latency[i]);
    }
    core_latency.merge(o.core_latency);
    p2m_changes += o.p2m_changes;
    slot_ops += o.slot_ops;
    slot_ns += o.slot_ns;
}

CpuVendor host_cpu_vendor() noexcept {
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (__get_cpuid(0, &a, &b, &c, &d) == 0) return CpuVendor::other;
    char v[13] = {};
    std::memcpy(v, &b, 4);
    std::memcpy(v + 4, &d, 4);
    std::memcpy(v + 8, &c, 4);
    if (std::strcmp(v, "GenuineIntel") == 0) return CpuVendor::intel;
    if (std::strcmp(v, "AuthenticAMD") == 0) return CpuVendor::amd;
    return CpuVendor::other;
}

// ---------------------------------------------------------------------------
// /dev/kvm

Outcome<std::unique_ptr<Device>> Device::open(const char* path) {
    if (path == nullptr) path = std::getenv("HVCORE_KVM_DEVICE");
    if (path == nullptr) path = "/dev/kvm";
    std::unique_ptr<Device> dev{new Device()};
    dev->fd_ = ::open(path, O_RDWR | O_CLOEXEC);
    if (dev->fd_ < 0) return Error::from_errno(fmt::format("open {}", path));
    const int api = ioctl(dev->fd_, KVM_GET_API_VERSION, 0);
    if (api != kvm_api_version)
        return Error(-ENOTSUP, fmt::format("{}: KVM_GET_API_VERSION is {}, host/kvm needs {}", path, api,
                                           kvm_api_version));
    const struct {
        int cap;
        const char* name;
        const char* why;
    } needed[] = {
        {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY", "guest RAM is the core's memfd"},
        {KVM_CAP_READONLY_MEM, "KVM_CAP_READONLY_MEM", "ram_ro and ioreq_server pages are read-only slots"},
        {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT", "vCPUs are stopped for p2m changes and shutdown"},
    };
    for (const auto& n : needed) {
        if (ioctl(dev->fd_, KVM_CHECK_EXTENSION, n.cap) <= 0)
            return Error(-EOPNOTSUPP, fmt::format("{}: KVM lacks {} ({})", path, n.name, n.why));
    }
    const int slots = ioctl(dev->fd_, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS);
    if (slots <= 0) return Error(-EOPNOTSUPP, fmt::format("{}: KVM_CAP_NR_MEMSLOTS is {}", path, slots));
    dev->nr_memslots_ = static_cast<uint32_t>(slots);
    const int mmap_size = ioctl(dev->fd_, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (mmap_size < static_cast<int>(sizeof(kvm_run)))
        return Error::from_errno(fmt::format("{}: KVM_GET_VCPU_MMAP_SIZE", path));
    dev->vcpu_mmap_size_ = static_cast<size_t>(mmap_size);
    return dev;
}

Error Device::probe_create_vm() const {
    const int vm = ioctl(fd_, KVM_CREATE_VM, 0);
    if (vm < 0) return Error::from_errno("/dev/kvm: KVM_CREATE_VM");
    ::close(vm);
    return {};
}

Device::~Device() {
    if (fd_ >= 0) ::close(fd_);
}

// ---------------------------------------------------------------------------
// The VM

struct Vm::Vcpu {
    uint32_t index = 0;
    int fd = -1;
    kvm_run* run = nullptr;
    bool booted = false;
    std::thread thread;
    pthread_t handle{};  // set by the thread itself, under gate_mu_
    bool inside = false; // inside KVM_RUN (gate_mu_)
    RunStats stats;      // the thread's own, merged after join
};

Outcome<std::unique_ptr<Vm>> Vm::create(const Device& dev, std::shared_ptr<Domain> d, const VmOptions& opt) {
    Expects(d != nullptr);
    std::unique_ptr<Vm> vm{new Vm()};
    vm->d_ = std::move(d);
    vm->opt_ = opt;
    vm->run_size_ = dev.vcpu_mmap_size();
    vm->max_slots_ = opt.max_memslots != 0 ? std::min(opt.max_memslots, dev.nr_memslots()) : dev.nr_memslots();
    for (uint32_t id = vm->max_slots_; id > 0; --id) vm->free_ids_.push_back(id - 1);  // slot 0 first

    vm->vm_fd_ = ioctl(dev.fd(), KVM_CREATE_VM, 0);
    if (vm->vm_fd_ < 0) return Error::from_errno("KVM_CREATE_VM");
    if (ioctl(dev.fd(), KVM_CHECK_EXTENSION, KVM_CAP_SET_TSS_ADDR) > 0 &&
        ioctl(vm->vm_fd_, KVM_SET_TSS_ADDR, kvm_tss_addr) < 0)
        return Error::from_errno("KVM_SET_TSS_ADDR");

    // The in-kernel interrupt controller: before the first KVM_CREATE_VCPU,
    // which gives each vCPU its local APIC only if the irqchip exists then
    // (Documentation/virt/kvm/api.rst, KVM_CREATE_IRQCHIP).
    if (opt.irqchip) {
        if (ioctl(dev.fd(), KVM_CHECK_EXTENSION, KVM_CAP_IRQCHIP) <= 0)
            return Error(-EOPNOTSUPP, "KVM lacks KVM_CAP_IRQCHIP (the in-kernel interrupt controller)");
        if (ioctl(dev.fd(), KVM_CHECK_EXTENSION, KVM_CAP_SIGNAL_MSI) <= 0)
            return Error(-EOPNOTSUPP, "KVM lacks KVM_CAP_SIGNAL_MSI (MSIs from device models)");
        if (ioctl(dev.fd(), KVM_CHECK_EXTENSION, KVM_CAP_MP_STATE) <= 0)
            return Error(-EOPNOTSUPP, "KVM lacks KVM_CAP_MP_STATE (starting the vCPUs other than the first)");
        if (ioctl(vm->vm_fd_, KVM_CREATE_IRQCHIP, 0) < 0) return Error::from_errno("KVM_CREATE_IRQCHIP");
    }

    // The first projection, before anyone else can change the p2m.
    if (Error e = vm->apply(vm->project(nullptr)); !e.is_ok()) return e;

    // The CPUID KVM supports, given to every vCPU as is (long mode needs LM).
    constexpr uint32_t max_cpuid = 256;  // KVM_MAX_CPUID_ENTRIES
    std::vector<uint64_t> cpuid_buf((sizeof(CpuidHeader) + max_cpuid * sizeof(kvm_cpuid_entry2)) / 8);
    auto* cpuid = reinterpret_cast<CpuidHeader*>(cpuid_buf.data());
    cpuid->nent = max_cpuid;
    if (ioctl(dev.fd(), ioctl_get_supported_cpuid, cpuid) < 0) return Error::from_errno("KVM_GET_SUPPORTED_CPUID");

    for (uint32_t i = 0; i < vm->d_->nr_vcpus(); ++i) {
        auto c = std::make_unique<Vcpu>();
        c->index = i;
        c->fd = ioctl(vm->vm_fd_, KVM_CREATE_VCPU, i);
        if (c->fd < 0) return Error::from_errno(fmt::format("KVM_CREATE_VCPU {}", i));
        void* run = mmap(nullptr, vm->run_size_, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd, 0);
        if (run == MAP_FAILED) {
            const Error e = Error::from_errno(fmt::format("mmap of vCPU {}'s kvm_run", i));
            ::close(c->fd);
            return e;
        }
        c->run = static_cast<kvm_run*>(run);
        vm->vcpus_.push_back(std::move(c));
        if (ioctl(vm->vcpus_.back()->fd, ioctl_set_cpuid2, cpuid) < 0)
            return Error::from_errno(fmt::format("KVM_SET_CPUID2 on vCPU {}", i));
    }
    // Dirty tracking by KVM's dirty log (Vm, DirtyTracker). KVM has no
    // capability for it (KVM_GET_DIRTY_LOG and KVM_MEM_LOG_DIRTY_PAGES are
    // basic API, Documentation/virt/kvm/api.rst): a KVM that refuses the
    // flag says so when a tracking starts, with the slot it refused.
    if (Status st = vm->d_->set_dirty_tracker(vm.get()); !st)
        return Error(st.code(), "the domain already tracks dirty pages (hv_log_dirty_enable or track_dirty_vram "
                                "before the VM was created): its pages would stay write-protected under KVM");
    vm->dirty_tracker_ = true;
    vm->d_->set_p2m_observer(vm.get());
    vm->d_->set_shutdown_observer(vm.get());
    vm->observing_ = true;
    if (opt.irqchip) {
        vm->d_->set_irq_sink(vm.get());
        vm->irq_sink_ = true;
    }
    return vm;
}

Vm::~Vm() {
    if (irq_sink_) d_->set_irq_sink(nullptr);  // before vm_fd_ closes: a DMOP may be on its way in
    if (observing_) {
        d_->set_shutdown_observer(nullptr);
        d_->set_p2m_observer(nullptr);
    }
    if (dirty_tracker_) (void)d_->set_dirty_tracker(nullptr);
    {
        std::lock_guard g(slots_mu_);
        for (const Slot& s : slots_) {
            if (Error e = set_slot(s.id, nullptr); !e.is_ok())
                if (opt_.log) opt_.log(fmt::format("kvm: deleting memslot {}: {}", s.id, e.what()));
        }
        slots_.clear();
    }
    for (auto& c : vcpus_) {
        if (c->run != nullptr) munmap(c->run, run_size_);
        if (c->fd >= 0) ::close(c->fd);
    }
    if (vm_fd_ >= 0) ::close(vm_fd_);
}

// ---------------------------------------------------------------------------
// The device models' interrupts (VmOptions::irqchip), called by the core
// with the domain's lock held; each is one ioctl on the VM.

void Vm::irq_line(unsigned gsi, bool level) {
    // KVM_IRQ_LINE sets a GSI's level; the default routing sends GSIs 0-15
    // to the 8259s and the IO-APIC, 16-23 to the IO-APIC only (api.rst,
    // KVM_CREATE_IRQCHIP). Lines are level: Xen's counts give the edges.
    kvm_irq_level l{};
    l.irq = gsi;
    l.level = level ? 1 : 0;
    if (ioctl(vm_fd_, KVM_IRQ_LINE, &l) < 0 && opt_.log)
        opt_.log(fmt::format("kvm: KVM_IRQ_LINE gsi {} level {}: {}", gsi, l.level, std::strerror(errno)));
}

void Vm::isa_irq_level(unsigned isa_irq, bool level) {
    // Xen drives 8259 input isa_irq and IO-APIC pin hvm_isa_irq_to_gsi(isa_irq);
    // KVM's GSI isa_irq is both (for irq 0 its IO-APIC pin is 0, not 2).
    irq_line(isa_irq, level);
}

void Vm::gsi_level(unsigned gsi, bool level) {
    // KVM's IO-APIC has 24 pins (KVM_IOAPIC_NUM_PINS); Xen's PCI INTx GSIs
    // run to 47. Those above 23 are counted by the core only (README.md).
    constexpr unsigned kvm_ioapic_pins = 24;
    if (gsi < kvm_ioapic_pins) irq_line(gsi, level);
}

int Vm::msi(uint64_t addr, uint32_t data) {
    kvm_msi m{};
    m.address_lo = static_cast<uint32_t>(addr);
    m.address_hi = static_cast<uint32_t>(addr >> 32);
    m.data = data;
    // > 0 delivered, 0 blocked by the guest (no LAPIC accepted it: Xen's
    // vmsi_deliver returns 0 for a Fixed MSI nobody takes), < 0 an error.
    if (ioctl(vm_fd_, KVM_SIGNAL_MSI, &m) < 0) return -errno;
    return 0;
}

void Vm::spi_level(unsigned, bool) {
    // x86 only: the DMOP dispatcher never offers set_irq_level to an x86
    // domain, the only kind this host runs.
}

// ---------------------------------------------------------------------------
// Memslots

std::vector<SlotSpec> Vm::project(const DomainLocked* lk) {
    const uint64_t frames = d_->memory().ram_frames();
    SlotPlanBuilder b(frames);
    const auto add = [&b](Gfn first, uint64_t nr, P2mType t, Mfn mfn, bool read_trapped) {
        b.add(first, nr, t, mfn, read_trapped);
    };
    if (lk != nullptr)
        d_->for_each_access_run(*lk, frames, add);
    else
        d_->for_each_access_run(frames, add);
    return b.take();
}

Error Vm::set_slot(uint32_t id, const SlotSpec* s) {
    kvm_userspace_memory_region r{};
    r.slot = id;
    if (s != nullptr) {
        r.flags = s->read_only ? KVM_MEM_READONLY : (dirty_logging_ ? KVM_MEM_LOG_DIRTY_PAGES : 0);
        r.guest_phys_addr = s->gpa;
        r.memory_size = s->bytes;  // 0 deletes the slot
        r.userspace_addr = reinterpret_cast<uint64_t>(d_->memory().ram_base()) + s->ram_offset;
    }
    if (ioctl(vm_fd_, KVM_SET_USER_MEMORY_REGION, &r) < 0) {
        if (s == nullptr) return Error::from_errno(fmt::format("KVM_SET_USER_MEMORY_REGION deleting slot {}", id));
        return Error::from_errno(fmt::format("KVM_SET_USER_MEMORY_REGION slot {} gpa {:#x}+{:#x} {}", id, s->gpa,
                                             s->bytes, s->read_only ? "read-only" : "read-write"));
    }
    return {};
}

Error Vm::apply(const std::vector<SlotSpec>& plan) {
    std::lock_guard g(slots_mu_);
    std::vector<SlotSpec> old;
    old.reserve(slots_.size());
    for (const Slot& s : slots_) old.push_back(s.spec);
    const SlotDiff diff = diff_slots(old, plan);
    if (plan.size() > max_slots_)
        return Error(-ENOSPC, fmt::format("the p2m projects onto {} memslots, more than the {} this VM may use "
                                          "(KVM_CAP_NR_MEMSLOTS{}): too many runs of alternating page types: {} "
                                          "(errno {})",
                                          plan.size(), max_slots_,
                                          opt_.max_memslots != 0 ? ", lowered by VmOptions::max_memslots (hvcore run --memslots)" : "",
                                          std::strerror(ENOSPC), ENOSPC));
    for (const SlotSpec& r : diff.remove) {
        auto it = std::find_if(slots_.begin(), slots_.end(), [&](const Slot& s) { return s.spec == r; });
        Ensures(it != slots_.end());
        // Its dirty log goes with it: taken first, reported at the next collect.
        if (dirty_logging_ && !it->spec.read_only)
            if (Error e = slot_dirty_log(*it, harvested_); !e.is_ok()) return e;
        if (Error e = set_slot(it->id, nullptr); !e.is_ok()) return e;
        free_ids_.push_back(it->id);
        slots_.erase(it);
    }
    for (const SlotSpec& a : diff.add) {
        Ensures(!free_ids_.empty());  // plan.size() <= max_slots_
        const uint32_t id = free_ids_.back();
        if (Error e = set_slot(id, &a); !e.is_ok()) return e;
        free_ids_.pop_back();
        slots_.push_back({a, id});
    }
    std::sort(slots_.begin(), slots_.end(), [](const Slot& a, const Slot& b) { return a.spec.gpa < b.spec.gpa; });
    if (observing_) slot_stats_.slot_ops += diff.remove.size() + diff.add.size();
    return {};
}

RunStats Vm::stats() {
    RunStats s = stats_;
    std::lock_guard g(slots_mu_);
    s.merge(slot_stats_);
    return s;
}

std::vector<SlotSpec> Vm::slots() {
    std::lock_guard g(slots_mu_);
    std::vector<SlotSpec> v;
    for (const Slot& s : slots_) v.push_back(s.spec);
    return v;
}

void Vm::p2m_changed(const DomainLocked& lk, Gfn, uint64_t) {
    // The whole projection is recomputed (O(runs)) and diffed, so the
    // observer's range hint is not needed for correctness.
    const auto t0 = Clock::now();
    const std::vector<SlotSpec> plan = project(&lk);
    {
        std::lock_guard g(slots_mu_);
        ++slot_stats_.p2m_changes;
        std::vector<SlotSpec> old;
        for (const Slot& s : slots_) old.push_back(s.spec);
        if (diff_slots(old, plan).empty()) return;
    }
    pause_vcpus();
    const Error e = apply(plan);
    resume_vcpus();
    {
        std::lock_guard g(slots_mu_);
        slot_stats_.slot_ns += static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
    }
    // The DMOP has committed its change in the core; the guest cannot run
    // on a projection that disagrees with it, so the run ends here.
    if (!e.is_ok()) fail(e.code(), fmt::format("memslot projection of a p2m change failed: {}", e.what()));
}

// ---------------------------------------------------------------------------
// Dirty tracking: KVM's dirty log

Error Vm::slot_dirty_log(const Slot& s, std::vector<uint64_t>& out) {
    const uint64_t pages = s.spec.bytes >> page_shift;
    // One bit per page, in longs (api.rst, KVM_GET_DIRTY_LOG).
    std::vector<uint64_t> bits((pages + 63) / 64);
    kvm_dirty_log log{};
    log.slot = s.id;
    log.dirty_bitmap = bits.data();
    if (ioctl(vm_fd_, KVM_GET_DIRTY_LOG, &log) < 0)
        return Error::from_errno(fmt::format("KVM_GET_DIRTY_LOG slot {} gpa {:#x}+{:#x}", s.id, s.spec.gpa, s.spec.bytes));
    const uint64_t first = s.spec.gpa >> page_shift;
    for (uint64_t w = 0; w < bits.size(); ++w)
        for (uint64_t word = bits[w]; word != 0; word &= word - 1)
            out.push_back(first + w * 64 + static_cast<uint64_t>(std::countr_zero(word)));
    return {};
}

Status Vm::start_dirty_log(const DomainLocked&) {
    std::lock_guard g(slots_mu_);
    dirty_logging_ = true;
    // A flags-only change of a live slot (KVM_MR_FLAGS_ONLY): no vCPU pause.
    for (size_t i = 0; i < slots_.size(); ++i) {
        if (slots_[i].spec.read_only) continue;
        if (Error e = set_slot(slots_[i].id, &slots_[i].spec); !e.is_ok()) {
            if (opt_.log)
                opt_.log(fmt::format("kvm: dirty logging (KVM_MEM_LOG_DIRTY_PAGES) refused: {}", e.what()));
            dirty_logging_ = false;
            for (size_t j = 0; j < i; ++j)
                if (!slots_[j].spec.read_only) (void)set_slot(slots_[j].id, &slots_[j].spec);
            return Status::err(e.code());
        }
    }
    return Status::ok();
}

void Vm::stop_dirty_log(const DomainLocked&) {
    std::lock_guard g(slots_mu_);
    dirty_logging_ = false;
    harvested_.clear();
    for (const Slot& s : slots_)
        if (!s.spec.read_only)
            if (Error e = set_slot(s.id, &s.spec); !e.is_ok() && opt_.log)
                opt_.log(fmt::format("kvm: ending dirty logging: {}", e.what()));
}

Status Vm::collect_dirty_log(const DomainLocked&, const std::function<void(Gfn)>& mark) {
    std::lock_guard g(slots_mu_);
    std::vector<uint64_t> gfns;
    for (const Slot& s : slots_) {
        if (s.spec.read_only) continue;
        if (Error e = slot_dirty_log(s, gfns); !e.is_ok()) {
            if (opt_.log) opt_.log(fmt::format("kvm: reading the dirty log: {}", e.what()));
            // What was taken is kept for the next collect, not lost.
            harvested_.insert(harvested_.end(), gfns.begin(), gfns.end());
            return Status::err(e.code());
        }
    }
    for (const uint64_t gfn : harvested_) mark(Gfn{gfn});
    harvested_.clear();
    for (const uint64_t gfn : gfns) mark(Gfn{gfn});
    return Status::ok();
}

// ---------------------------------------------------------------------------
// Stopping vCPUs

void Vm::kick_inside_locked() {
    for (auto& c : vcpus_) {
        if (!c->inside) continue;
        // Checked by KVM at the entry of KVM_RUN: a thread between leaving
        // the gate and entering the ioctl returns at once; the signal gets
        // one that is already inside.
        std::atomic_ref<uint8_t>(c->run->immediate_exit).store(1, std::memory_order_release);
        pthread_kill(c->handle, kick_signal);
    }
}

void Vm::pause_vcpus() {
    std::unique_lock g(gate_mu_);
    ++pausing_;
    for (;;) {
        kick_inside_locked();
        const bool out = gate_cv_.wait_for(g, std::chrono::milliseconds(10), [this] {
            return std::none_of(vcpus_.begin(), vcpus_.end(), [](const auto& c) { return c->inside; });
        });
        if (out) return;  // else kick again: a signal may have landed before the ioctl
    }
}

void Vm::resume_vcpus() {
    {
        std::lock_guard g(gate_mu_);
        --pausing_;
    }
    gate_cv_.notify_all();
}

// ---------------------------------------------------------------------------
// Loading and booting

Error Vm::load(std::span<const uint8_t> image, uint64_t gpa) {
    if (image.empty()) return Error(-EINVAL, "the guest image is empty");
    const uint64_t ram = d_->memory().ram_bytes();
    if (gpa >= ram || image.size() > ram - gpa)
        return Error(-EINVAL, fmt::format("a {}-byte image at {:#x} does not fit in {} KiB of guest RAM",
                                          image.size(), gpa, ram >> 10));
    if (Status s = d_->guest_write(gpa, image.data(), image.size()); !s)
        return Error(s.code(), fmt::format("writing the image into guest RAM at {:#x}", gpa));
    loaded_.emplace_back(gpa, gpa + image.size());
    return {};
}

Error Vm::boot(uint32_t vcpu, const VcpuBoot& b) {
    if (vcpu >= vcpus_.size()) return Error(-EINVAL, fmt::format("no vCPU {}", vcpu));
    Vcpu& c = *vcpus_[vcpu];
    kvm_sregs sregs{};
    if (ioctl(c.fd, KVM_GET_SREGS, &sregs) < 0) return Error::from_errno("KVM_GET_SREGS");
    kvm_regs regs{};
    regs.rflags = rflags_fixed;

    switch (b.mode) {
    case CpuMode::long64: {
        if (d_->memory().ram_bytes() < boot_reserved_end)
            return Error(-EINVAL, "long mode needs at least 32 KiB of guest RAM for the loader's tables");
        for (const auto& [first, end] : loaded_)
            if (first < boot_reserved_end && end > boot_gdt)
                return Error(-EINVAL, fmt::format("the image at {:#x}..{:#x} overlaps the pages long mode takes "
                                                  "for its GDT and page tables ({:#x}..{:#x})",
                                                  first, end - 1, boot_gdt, boot_reserved_end - 1));
        // GDT: null, code64, data, 64-bit TSS (two slots).
        const uint64_t tss_lo = tss_limit | ((boot_tss & 0xffffff) << 16) | (uint64_t{0x8b} << 40) |
                                (((boot_tss >> 24) & 0xff) << 56);  // type 0xb: busy 64-bit TSS, P
        const uint64_t gdt[5] = {0, gdt_code64, gdt_data, tss_lo, boot_tss >> 32};
        // Identity map of 0..4 GiB with 2 MiB leaves: PML4[0] -> PDPT,
        // PDPT[0..3] -> 4 page directories.
        std::vector<uint64_t> tables(4 * 512 + 2 * 512, 0);
        uint64_t* pml4 = tables.data();
        uint64_t* pdpt = pml4 + 512;
        uint64_t* pd = pdpt + 512;
        pml4[0] = boot_pdpt | pte_p | pte_rw | pte_a;
        for (uint64_t i = 0; i < 4; ++i) {
            pdpt[i] = (boot_pd + i * 0x1000) | pte_p | pte_rw | pte_a;
            for (uint64_t j = 0; j < 512; ++j)
                pd[i * 512 + j] = ((i * 512 + j) << 21) | pte_p | pte_rw | pte_ps | pte_a | pte_d;
        }
        static_assert(boot_pdpt == boot_pml4 + 0x1000 && boot_pd == boot_pdpt + 0x1000 &&
                      boot_reserved_end == boot_pd + 4 * 0x1000);
        if (Status s = d_->guest_write(boot_gdt, gdt, sizeof gdt); !s)
            return Error(s.code(), "writing the boot GDT");
        if (Status s = d_->guest_write(boot_pml4, tables.data(), tables.size() * 8); !s)
            return Error(s.code(), "writing the boot page tables");

        sregs.cs = flat_segment(sel_code, true);
        sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = flat_segment(sel_data, false);
        sregs.tr = kvm_segment{};
        sregs.tr.base = boot_tss;
        sregs.tr.limit = tss_limit;
        sregs.tr.selector = sel_tss;
        sregs.tr.type = 0xb;
        sregs.tr.present = 1;
        sregs.ldt = kvm_segment{};
        sregs.ldt.unusable = 1;
        sregs.gdt.base = boot_gdt;
        sregs.gdt.limit = sizeof gdt - 1;
        sregs.idt.base = 0;
        sregs.idt.limit = 0;  // no IDT: this nested KVM cannot deliver exceptions anyway
        sregs.cr0 = cr0_pe | cr0_et | cr0_pg;
        sregs.cr3 = boot_pml4;
        sregs.cr4 = cr4_pae;
        sregs.efer = efer_lme | efer_lma;
        regs.rip = b.entry;
        regs.rsp = b.stack;
        break;
    }
    case CpuMode::real16: {
        if (b.entry >= 0x100000 || b.stack > 0xffff)
            return Error(-EINVAL, fmt::format("real mode: entry {:#x} must lie below 1 MiB and the stack {:#x} "
                                              "below 64 KiB", b.entry, b.stack));
        const auto seg = static_cast<uint16_t>((b.entry >> 4) & 0xf000);
        sregs.cs = real_segment(seg, true);
        sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = real_segment(0, false);
        sregs.cr0 = cr0_et;
        sregs.cr3 = 0;
        sregs.cr4 = 0;
        sregs.efer = 0;
        regs.rip = b.entry - (uint64_t{seg} << 4);
        regs.rsp = b.stack;
        break;
    }
    }
    if (ioctl(c.fd, KVM_SET_SREGS, &sregs) < 0) return Error::from_errno(fmt::format("KVM_SET_SREGS on vCPU {}", vcpu));
    if (ioctl(c.fd, KVM_SET_REGS, &regs) < 0) return Error::from_errno(fmt::format("KVM_SET_REGS on vCPU {}", vcpu));
    if (opt_.irqchip) {
        // With an in-kernel local APIC every vCPU but the boot CPU starts
        // waiting for INIT/SIPI (KVM_MP_STATE_UNINITIALIZED, api.rst
        // KVM_GET_MP_STATE); a vCPU booted here starts running instead.
        kvm_mp_state mp{};
        mp.mp_state = KVM_MP_STATE_RUNNABLE;
        if (ioctl(c.fd, KVM_SET_MP_STATE, &mp) < 0)
            return Error::from_errno(fmt::format("KVM_SET_MP_STATE on vCPU {}", vcpu));
    }
    c.booted = true;
    return {};
}

// ---------------------------------------------------------------------------
// Running

void Vm::finish(RunEnd e, std::string detail) {
    std::lock_guard g(end_mu_);
    if (!end_req_) {
        end_req_ = e;
        end_req_detail_ = std::move(detail);
        if (e == RunEnd::failed && end_code_ == 0) end_code_ = -EIO;
    }
    end_cv_.notify_all();
}

void Vm::request_stop() { finish(RunEnd::stopped, "stop requested"); }

void Vm::remote_shutdown(const DomainLocked&, const std::string& reason) {
    // Only end_mu_ is taken (never held while taking the domain's lock):
    // run() wakes, stops the gate and kicks the vCPUs inside KVM_RUN.
    finish(RunEnd::dm_shutdown, reason);
}

std::string Vm::vcpu_where(const Vcpu& c) {
    kvm_regs regs{};
    if (ioctl(c.fd, KVM_GET_REGS, &regs) < 0) return fmt::format("vCPU {}", c.index);
    return fmt::format("vCPU {} at rip {:#x}", c.index, regs.rip);
}

void Vm::fail(int code, std::string detail) {
    std::lock_guard g(end_mu_);
    if (!end_req_) {
        end_req_ = RunEnd::failed;
        end_req_detail_ = std::move(detail);
        end_code_ = code < 0 ? code : -EIO;
    }
    end_cv_.notify_all();
}

bool Vm::do_access(Vcpu& c, const HostAccess& a, uint64_t* value, Clock::time_point t_start) {
    HostAccessOutcome o;
    ++c.stats.accesses;
    const int rc = d_->host_access(c.index, a, value, &o);
    const auto ns = static_cast<uint64_t>(std::max<int64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t_start).count(), 0));
    if (rc != 0) {
        // -ESHUTDOWN: the run is ending (shutdown_host), a device model
        // shut the domain down (XEN_DMOP_remote_shutdown: a clean end), or
        // one broke the ioreq protocol and the core stopped the domain.
        if (auto request = d_->shutdown_request())
            finish(RunEnd::dm_shutdown, *request);
        else if (auto reason = d_->stop_reason())
            fail(rc, fmt::format("the core stopped the domain: {}", *reason));
        else if (rc != -ESHUTDOWN)
            fail(rc, fmt::format("{}: host_access({} {} {:#x}, {} bytes): {} (errno {})", vcpu_where(c),
                                 a.is_pio ? "port" : "mmio", a.is_write ? "write" : "read", a.addr, a.size,
                                 std::strerror(-rc), -rc));
        return false;
    }
    c.stats.holds += o.holds;
    bool served = false;
    for (size_t s = 0; s < o.ioreqs.size(); ++s) {
        if (o.ioreqs[s] == 0) continue;
        c.stats.ioreqs[s] += o.ioreqs[s];
        c.stats.latency[s].record(ns);
        served = true;
    }
    if (!served) c.stats.core_latency.record(ns);
    return true;
}

bool Vm::handle_exit(Vcpu& c, Clock::time_point t_exit) {
    kvm_run& run = *c.run;
    switch (run.exit_reason) {
    case KVM_EXIT_IO: {
        ++c.stats.io_exits;
        const bool out = run.io.direction == KVM_EXIT_IO_OUT;
        auto* data = reinterpret_cast<uint8_t*>(c.run) + run.io.data_offset;
        if (run.io.size != 1 && run.io.size != 2 && run.io.size != 4) {
            fail(-EIO, fmt::format("{}: KVM_EXIT_IO with size {}", vcpu_where(c), run.io.size));
            return false;
        }
        if (out && opt_.shutdown_port != 0 && run.io.port == opt_.shutdown_port) {
            finish(RunEnd::shutdown_port, fmt::format("the guest wrote the shutdown port {:#x}", run.io.port));
            return false;
        }
        // A string instruction (REP INS/OUTS) comes as count elements.
        auto t_start = t_exit;
        for (uint32_t i = 0; i < run.io.count; ++i) {
            uint8_t* elem = data + size_t{i} * run.io.size;
            uint64_t v = 0;
            if (out) std::memcpy(&v, elem, run.io.size);
            const HostAccess a{.is_pio = true, .is_write = out, .addr = run.io.port, .size = run.io.size, .data = v};
            uint64_t value = 0;
            if (!do_access(c, a, &value, t_start)) return false;
            if (!out) std::memcpy(elem, &value, run.io.size);
            t_start = Clock::now();
        }
        return true;
    }
    case KVM_EXIT_MMIO: {
        ++c.stats.mmio_exits;
        const uint32_t len = run.mmio.len;
        if (len == 0 || len > sizeof run.mmio.data) {
            fail(-EIO, fmt::format("{}: KVM_EXIT_MMIO with length {}", vcpu_where(c), len));
            return false;
        }
        uint64_t v = 0;
        if (run.mmio.is_write != 0) std::memcpy(&v, run.mmio.data, len);
        const HostAccess a{.is_pio = false, .is_write = run.mmio.is_write != 0, .addr = run.mmio.phys_addr,
                           .size = len, .data = v};
        uint64_t value = 0;
        if (!do_access(c, a, &value, t_exit)) return false;
        if (run.mmio.is_write == 0) std::memcpy(run.mmio.data, &value, len);  // completed by the next KVM_RUN
        return true;
    }
    case KVM_EXIT_HLT: return false;  // this vCPU is done
    case KVM_EXIT_INTR: ++c.stats.kicks; return true;
    case KVM_EXIT_SHUTDOWN:
        fail(-EFAULT, fmt::format("{}: the guest shut down (KVM_EXIT_SHUTDOWN: a triple fault; this nested KVM "
                                  "cannot deliver guest exceptions, so any exception ends here)", vcpu_where(c)));
        return false;
    case KVM_EXIT_FAIL_ENTRY:
        fail(-EIO, fmt::format("{}: KVM_EXIT_FAIL_ENTRY, hardware entry failure reason {:#x}", vcpu_where(c),
                               static_cast<uint64_t>(run.fail_entry.hardware_entry_failure_reason)));
        return false;
    case KVM_EXIT_INTERNAL_ERROR: {
        std::string extra;
        for (uint32_t i = 0; i < std::min<uint32_t>(run.internal.ndata, 4); ++i)
            extra += fmt::format(" {:#x}", static_cast<uint64_t>(run.internal.data[i]));
        fail(-EIO, fmt::format("{}: KVM_EXIT_INTERNAL_ERROR suberror {}{}, data:{}", vcpu_where(c),
                               run.internal.suberror,
                               run.internal.suberror == KVM_INTERNAL_ERROR_EMULATION
                                   ? " (KVM could not emulate the instruction)" : "",
                               extra.empty() ? " none" : extra));
        return false;
    }
    default:
        fail(-EIO, fmt::format("{}: unexpected exit reason {} ({})", vcpu_where(c), run.exit_reason,
                               exit_name(run.exit_reason)));
        return false;
    }
}

void Vm::vcpu_loop(Vcpu& c) {
    sigset_t kick;
    sigemptyset(&kick);
    sigaddset(&kick, kick_signal);
    pthread_sigmask(SIG_UNBLOCK, &kick, nullptr);
    {
        std::lock_guard g(gate_mu_);
        c.handle = pthread_self();
    }
    for (;;) {
        {
            std::unique_lock g(gate_mu_);
            gate_cv_.wait(g, [this] { return pausing_ == 0 || stopping_; });
            if (stopping_) break;
            std::atomic_ref<uint8_t>(c.run->immediate_exit).store(0, std::memory_order_relaxed);
            c.inside = true;
        }
        const int rc = ioctl(c.fd, KVM_RUN, 0);
        const int err = errno;
        const auto t_exit = Clock::now();
        {
            std::lock_guard g(gate_mu_);
            c.inside = false;
        }
        gate_cv_.notify_all();
        ++c.stats.exits;
        if (rc < 0) {
            if (err == EINTR || err == EAGAIN) {
                ++c.stats.kicks;
                continue;
            }
            errno = err;
            fail(-err, fmt::format("{}: KVM_RUN: {} (errno {})", vcpu_where(c), std::strerror(err), err));
            break;
        }
        if (!handle_exit(c, t_exit)) break;
    }
    std::lock_guard g(end_mu_);
    if (--running_ == 0 && !end_req_) {
        end_req_ = RunEnd::halted;
        end_req_detail_ = "every vCPU executed HLT";
    }
    end_cv_.notify_all();
}

Error Vm::run() {
    if (ran_) return Error(-EINVAL, "Vm::run: a VM runs once");
    ran_ = true;
    const auto booted = std::count_if(vcpus_.begin(), vcpus_.end(), [](const auto& c) { return c->booted; });
    if (booted == 0) return Error(-EINVAL, "Vm::run: no vCPU was booted");
    install_kick_handler();
    {
        std::lock_guard g(end_mu_);
        running_ = static_cast<unsigned>(booted);
    }
    for (auto& c : vcpus_) {
        if (!c->booted) continue;
        try {
            c->thread = std::thread([this, p = c.get()] { vcpu_loop(*p); });
        } catch (const std::system_error& e) {
            // The threads already started are stopped below.
            fail(-EAGAIN, fmt::format("cannot start the thread of vCPU {}: {}", c->index, e.what()));
            std::lock_guard g(end_mu_);
            running_ -= 1;
        }
    }

    {
        std::unique_lock g(end_mu_);
        const auto ended = [this] { return end_req_.has_value(); };
        if (opt_.timeout.count() > 0) {
            if (!end_cv_.wait_for(g, opt_.timeout, ended)) {
                end_req_ = RunEnd::timeout;
                end_req_detail_ = fmt::format("the guest was still running after {} ms", opt_.timeout.count());
            }
        } else {
            end_cv_.wait(g, ended);
        }
    }
    // Stop: no vCPU re-enters KVM_RUN, those inside are kicked out, those
    // blocked in host_access are woken with -ESHUTDOWN.
    {
        std::lock_guard g(gate_mu_);
        stopping_ = true;
        kick_inside_locked();
    }
    gate_cv_.notify_all();
    d_->shutdown_host();
    for (auto& c : vcpus_) {
        if (!c->thread.joinable()) continue;
        c->thread.join();
        stats_.merge(c->stats);
    }
    std::lock_guard g(end_mu_);
    end_ = *end_req_;
    end_detail_ = end_req_detail_;
    if (end_ == RunEnd::failed) return Error(end_code_ < 0 ? end_code_ : -EIO, end_detail_);
    return {};
}

}  // namespace hvcore::kvm

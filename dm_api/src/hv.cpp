// SPDX-License-Identifier: MIT
// <hvcore/hv.h>: hosts, domains and vCPUs.
#include <cstring>

#include "abi_objects.hpp"

using hvcore::abi::guard;

static_assert(sizeof(hv_domain_config) == 24);
static_assert(offsetof(hv_domain_config, ram_bytes) == 8 && offsetof(hv_domain_config, flags) == 20);
static_assert(sizeof(hv_fault_record) == 56);
static_assert(offsetof(hv_fault_record, syndrome) == 16 && offsetof(hv_fault_record, insn) == 40);
static_assert(HV_ARCH_X86_VMX == static_cast<int>(hvcore::Arch::x86_vmx) &&
              HV_ARCH_X86_SVM == static_cast<int>(hvcore::Arch::x86_svm) &&
              HV_ARCH_ARM64 == static_cast<int>(hvcore::Arch::arm64) &&
              HV_ARCH_RISCV64 == static_cast<int>(hvcore::Arch::riscv64));
static_assert(HV_VCPU_DONE == static_cast<int>(hvcore::VcpuStatus::done) &&
              HV_VCPU_IOREQ_PENDING == static_cast<int>(hvcore::VcpuStatus::ioreq_pending) &&
              HV_VCPU_RETRY == static_cast<int>(hvcore::VcpuStatus::retry) &&
              HV_VCPU_GUEST_FAULT == static_cast<int>(hvcore::VcpuStatus::guest_fault) &&
              HV_VCPU_UNDECODED == static_cast<int>(hvcore::VcpuStatus::undecoded));
static_assert(sizeof(hv_arm64_undecoded) == 48 && offsetof(hv_arm64_undecoded, esr) == 16 &&
              offsetof(hv_arm64_undecoded, ipa) == 40);
static_assert(sizeof(hv_p2m_walk_level) == 24 && sizeof(hv_p2m_walk) == 32 + 5 * 24 &&
              offsetof(hv_p2m_walk, level) == 32);
static_assert(HV_REG_V_BASE == hvcore::RegFile::vec_reg_base && HV_REG_V_BASE == HV_REG_XMM_BASE);
static_assert(HV_LOG_ERROR == static_cast<int>(hvcore::LogLevel::error) &&
              HV_LOG_WARNING == static_cast<int>(hvcore::LogLevel::warning) &&
              HV_LOG_INFO == static_cast<int>(hvcore::LogLevel::info) &&
              HV_LOG_DEBUG == static_cast<int>(hvcore::LogLevel::debug));
static_assert(HV_VERSION_NUMBER == ((HV_VERSION_MAJOR << 16) | (HV_VERSION_MINOR << 8) | HV_VERSION_PATCH));

// No exception crosses the boundary: C++ callers see every entry point as
// noexcept (HV_NOEXCEPT), and the definitions catch everything.
static_assert(noexcept(hv_host_create(nullptr)) && noexcept(hv_vcpu_store(nullptr, 0, 0, 0, 0)) &&
              noexcept(hv_vcpu_resume(nullptr, 0, nullptr)) && noexcept(hv_host_destroy(nullptr)) &&
              noexcept(hv_version()) && noexcept(hv_host_set_log(nullptr, nullptr, nullptr, 0)));

extern "C" {

int hv_host_create(hv_host** out) noexcept {
    return guard([&] {
        if (out == nullptr) return -EINVAL;
        *out = new hv_host();
        return 0;
    });
}

void hv_host_destroy(hv_host* host) noexcept {
    if (host == nullptr) return;
    // Handles still open on this host keep its core (not its domains) alive:
    // from here on their calls are -ENODEV, and hvdm_close frees them.
    host->core->destroyed.store(true, std::memory_order_release);
    // No message after this returns (hv_host_set_log): a device model's
    // call still in flight may stop a domain, but the embedder's sink and
    // its opaque may be gone.
    host->core->host.log().set(nullptr, hvcore::LogLevel::error);
    {
        std::lock_guard lk(host->mu);
        for (auto& [id, dom] : host->domains) (void)host->core->host.destroy_domain(dom->d->id());
        host->domains.clear();
    }
    delete host;
}

int hv_domain_create(hv_host* host, const hv_domain_config* cfg, hv_domain** out) noexcept {
    return guard([&] {
        if (host == nullptr || cfg == nullptr || out == nullptr) return -EINVAL;
        // The struct may grow: the caller's size tells which fields it has.
        if (cfg->size < sizeof(hv_domain_config)) return -EINVAL;
        if ((cfg->flags & ~(HV_DOMAIN_NO_HAP | HV_DOMAIN_ARM64_REPORT_UNDECODED | HV_DOMAIN_MULTI_OWNER)) != 0)
            return -EINVAL;
        if (cfg->arch < HV_ARCH_X86_VMX || cfg->arch > HV_ARCH_RISCV64) return -EINVAL;
        const bool report = (cfg->flags & HV_DOMAIN_ARM64_REPORT_UNDECODED) != 0;
        if (report && cfg->arch != HV_ARCH_ARM64) return -EINVAL;  // an Arm64 policy
        const hvcore::DomainConfig dc{.arch = static_cast<hvcore::Arch>(cfg->arch),
                                      .ram_bytes = cfg->ram_bytes,
                                      .nr_vcpus = cfg->nr_vcpus,
                                      .hap = (cfg->flags & HV_DOMAIN_NO_HAP) == 0,
                                      .report_undecoded = report,
                                      .multi_owner = (cfg->flags & HV_DOMAIN_MULTI_OWNER) != 0};
        auto d = host->core->host.create_domain(dc);
        if (!d) return d.status().code();
        auto w = std::make_unique<hv_domain>();
        w->host = host;
        w->d = *d;
        *out = w.get();
        std::lock_guard lk(host->mu);
        host->domains.emplace(w->d->id().raw(), std::move(w));
        return 0;
    });
}

int hv_domain_destroy(hv_domain* d) noexcept {
    return guard([&] {
        if (d == nullptr) return -EINVAL;
        hv_host* host = d->host;
        const auto id = d->d->id();
        if (hvcore::Status s = host->core->host.destroy_domain(id); !s) return s.code();
        std::lock_guard lk(host->mu);
        host->domains.erase(id.raw());  // frees d
        return 0;
    });
}

hvdm_domid_t hv_domain_id(const hv_domain* d) noexcept { return d == nullptr ? 0 : d->d->id().raw(); }

hv_domain* hv_domain_lookup(hv_host* host, hvdm_domid_t domid) noexcept {
    if (host == nullptr) return nullptr;
    std::lock_guard lk(host->mu);
    auto it = host->domains.find(domid);
    return it == host->domains.end() ? nullptr : it->second.get();
}

int hv_guest_read(hv_domain* d, uint64_t gpa, void* buf, size_t len) noexcept {
    return guard([&] {
        if (d == nullptr || (buf == nullptr && len != 0)) return -EINVAL;
        return d->d->guest_read(gpa, buf, len).code();
    });
}

int hv_guest_write(hv_domain* d, uint64_t gpa, const void* buf, size_t len) noexcept {
    return guard([&] {
        if (d == nullptr || (buf == nullptr && len != 0)) return -EINVAL;
        return d->d->guest_write(gpa, buf, len).code();
    });
}

int hv_p2m_entry(hv_domain* d, uint64_t gfn, uint64_t* raw_pte) noexcept {
    return guard([&] {
        if (d == nullptr || raw_pte == nullptr) return -EINVAL;
        auto r = d->d->p2m_raw_entry(gfn);
        if (!r) return r.status().code();
        *raw_pte = *r;
        return 0;
    });
}

int hv_p2m_read_walk(hv_domain* d, uint64_t gfn, hv_p2m_walk* out) noexcept {
    return guard([&] {
        if (d == nullptr || out == nullptr || out->size < sizeof(hv_p2m_walk)) return -EINVAL;
        auto r = d->d->p2m_walk(gfn);
        if (!r) return r.status().code();
        const hvcore::Stage2Walk& w = *r;
        static_assert(hvcore::Stage2Walk::max_levels == HV_P2M_WALK_MAX_LEVELS);
        hv_p2m_walk o{};
        o.size = sizeof(hv_p2m_walk);
        o.arch = static_cast<uint32_t>(w.arch);
        o.nr_levels = w.count;
        o.root_frames = w.root_frames;
        o.root = w.root.raw() << hvcore::page_shift;
        o.config = w.config;
        for (unsigned i = 0; i < w.count; ++i) {
            const hvcore::Stage2Walk::Level& l = w.level[i];
            o.level[i] = hv_p2m_walk_level{.entry = l.entry,
                                           .table = l.table.raw() << hvcore::page_shift,
                                           .index = l.index,
                                           .level = l.level};
        }
        *out = o;
        return 0;
    });
}

int hv_p2m_ioreq_entry_count(hv_domain* d, uint64_t* count) noexcept {
    return guard([&] {
        if (d == nullptr || count == nullptr) return -EINVAL;
        *count = d->d->ioreq_entry_count();
        return 0;
    });
}

int hv_vcpu_store(hv_domain* d, uint32_t vcpu, uint64_t gpa, uint32_t size, uint64_t value) noexcept {
    return guard([&] { return d == nullptr ? -EINVAL : d->d->vcpu_store(vcpu, gpa, size, value); });
}

int hv_vcpu_load(hv_domain* d, uint32_t vcpu, uint64_t gpa, uint32_t size, uint64_t* value) noexcept {
    return guard([&] { return d == nullptr ? -EINVAL : d->d->vcpu_load(vcpu, gpa, size, value); });
}

int hv_vcpu_pio(hv_domain* d, uint32_t vcpu, uint16_t port, uint32_t size, int is_write, uint64_t* value) noexcept {
    return guard([&] { return d == nullptr ? -EINVAL : d->d->vcpu_pio(vcpu, port, size, is_write != 0, value); });
}

int hv_vcpu_exec(hv_domain* d, uint32_t vcpu, const void* insn, size_t len) noexcept {
    return guard([&] {
        if (d == nullptr || insn == nullptr) return -EINVAL;
        return d->d->vcpu_exec(vcpu, std::span(static_cast<const uint8_t*>(insn), len));
    });
}

int hv_vcpu_fetch(hv_domain* d, uint32_t vcpu, uint64_t gpa) noexcept {
    return guard([&] { return d == nullptr ? -EINVAL : d->d->vcpu_fetch(vcpu, gpa); });
}

int hv_vcpu_get_reg(hv_domain* d, uint32_t vcpu, uint32_t reg, uint64_t* value) noexcept {
    return guard([&] { return d == nullptr ? -EINVAL : d->d->vcpu_get_reg(vcpu, reg, value); });
}

int hv_vcpu_set_reg(hv_domain* d, uint32_t vcpu, uint32_t reg, uint64_t value) noexcept {
    return guard([&] { return d == nullptr ? -EINVAL : d->d->vcpu_set_reg(vcpu, reg, value); });
}

int hv_vcpu_resume(hv_domain* d, uint32_t vcpu, uint64_t* value) noexcept {
    return guard([&] { return d == nullptr ? -EINVAL : d->d->vcpu_resume(vcpu, value); });
}

int hv_vcpu_last_fault(hv_domain* d, uint32_t vcpu, hv_fault_record* out) noexcept {
    return guard([&] {
        if (d == nullptr || out == nullptr || out->size < sizeof(hv_fault_record)) return -EINVAL;
        hvcore::FaultRecord r;
        if (int rc = d->d->vcpu_last_fault(vcpu, &r); rc != 0) return rc;
        out->arch = static_cast<uint32_t>(r.arch);
        out->kind = r.kind;
        out->insn_len = r.insn_len;
        out->syndrome = r.syndrome;
        out->gpa = r.gpa;
        out->gva = r.gva;
        std::memcpy(out->insn, r.insn.data(), sizeof out->insn);
        return 0;
    });
}

int hv_vcpu_arm64_undecoded(hv_domain* d, uint32_t vcpu, hv_arm64_undecoded* out) noexcept {
    return guard([&] {
        if (d == nullptr || out == nullptr || out->size < sizeof(hv_arm64_undecoded)) return -EINVAL;
        if (d->d->config().arch != hvcore::Arch::arm64) return -EINVAL;
        hvcore::UndecodedAccess u;
        if (int rc = d->d->vcpu_undecoded(vcpu, &u); rc != 0) return rc;
        uint32_t word = 0;
        for (size_t i = 0; i < 4 && i < u.insn.size(); ++i) word |= uint32_t{u.insn[i]} << (8 * i);  // little-endian
        out->insn = word;
        out->pc = u.pc;
        out->esr = u.record.syndrome;
        out->far = u.record.gva;
        out->hpfar = u.record.gpa;
        out->ipa = u.gpa;
        return 0;
    });
}

int hv_vcpu_fault_detail(hv_domain* d, uint32_t vcpu, char* buf, size_t len) noexcept {
    return guard([&] {
        if (d == nullptr || (buf == nullptr && len != 0)) return -EINVAL;
        const std::string s = d->d->vcpu_guest_fault_detail(vcpu);
        if (len != 0) {
            const size_t n = std::min(len - 1, s.size());
            std::memcpy(buf, s.data(), n);
            buf[n] = '\0';
        }
        return s.empty() ? -ENOENT : 0;
    });
}

int hv_domain_stop_reason(hv_domain* d, char* buf, size_t len) noexcept {
    return guard([&] {
        if (d == nullptr || (buf == nullptr && len != 0)) return -EINVAL;
        const auto reason = d->d->stop_reason();
        const std::string s = reason.value_or("");
        if (len != 0) {
            const size_t n = std::min(len - 1, s.size());
            std::memcpy(buf, s.data(), n);
            buf[n] = '\0';
        }
        return reason ? 1 : 0;
    });
}


// --- HVCORE_1.1 ---

uint32_t hv_version(void) noexcept { return HV_VERSION_NUMBER; }

const char* hv_version_string(void) noexcept { return HV_VERSION_STRING; }

int hv_host_set_log(hv_host* host, hv_log_fn fn, void* opaque, int max_level) noexcept {
    return guard([&] {
        if (host == nullptr || max_level < HV_LOG_ERROR || max_level > HV_LOG_DEBUG) return -EINVAL;
        hvcore::Log::Sink sink;
        if (fn != nullptr)
            sink = [fn, opaque](hvcore::LogLevel level, const std::string& message) {
                fn(opaque, static_cast<int>(level), message.c_str());
            };
        host->core->host.log().set(std::move(sink), static_cast<hvcore::LogLevel>(max_level));
        return 0;
    });
}

}  // extern "C"

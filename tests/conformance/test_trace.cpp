// SPDX-License-Identifier: MIT
// Property: a seeded random sequence of DMOPs and guest accesses gives the
// same device-model-visible trace on every backend, and that trace is the
// one an independent reference model of hvcore's rules (README.md) predicts.
//
// What a device model can see: return codes, the requests that arrive in
// its slot (type, direction, address, size, data), the values guest loads
// return, get_mem_type and the entry count. Fault records and raw entries
// differ by architecture and are not part of the trace.
#include <array>
#include <cinttypes>
#include <map>
#include <optional>
#include <random>
#include <string>

#include <fmt/format.h>

#include "abi_fixture.hpp"

using namespace conformance;

namespace {

constexpr uint64_t ram_bytes = 8 * mib;
constexpr uint64_t window_first = 0x1f0;  // 32 pages straddling the 2 MiB boundary at gfn 0x200
constexpr uint64_t window_pages = 32;
constexpr uint64_t hole_pages = 4;      // only gfn 0x1f0..0x1f3 may become mmio_dm holes (a hole is forever)
constexpr uint64_t mmio_first = 0x1f2;  // server B claims MMIO over gfn 0x1f2..0x1f5: two holes, two RAM pages
constexpr uint64_t mmio_pages = 4;
constexpr uint64_t mmio_read_answer = 0x1122334455667788;  // what B answers to reads
constexpr int steps = 10000;
constexpr uint64_t seed = 0x5eed2026;

uint64_t mask(unsigned size) { return size == 8 ? ~0ull : (1ull << (size * 8)) - 1; }

// The reference model: hvcore's rules, written without any backend.
struct Model {
    enum class T { rw, ro, hole, ioreq };
    std::array<T, window_pages> type{};
    std::array<uint8_t, window_pages * 4096> ram{};
    std::array<bool, 2> exists{true, true};
    std::array<bool, 2> enabled{true, true};
    std::optional<int> owner;

    static uint16_t hvmmem(T t) {
        switch (t) {
        case T::rw: return HVDM_MEM_RAM_RW;
        case T::ro: return HVDM_MEM_RAM_RO;
        case T::hole: return HVDM_MEM_MMIO_DM;
        case T::ioreq: return HVDM_MEM_IOREQ_SERVER;
        }
        return 0xffff;
    }
    static bool allowed(T from, T to) {
        if (to == T::ioreq) return from == T::rw;
        if (from == T::ioreq) return to == T::rw;
        return from != T::hole || to == T::hole;
    }
    uint64_t count() const {
        uint64_t n = 0;
        for (T t : type) n += t == T::ioreq;
        return n;
    }
    void reset_ioreq() {
        for (T& t : type)
            if (t == T::ioreq) t = T::rw;
    }
    int set_mem_type(uint16_t mt, uint64_t first, uint32_t nr) {
        if (nr == 0 || first + nr - 1 >= ram_bytes / 4096) return -EINVAL;
        T to{};
        switch (mt) {
        case HVDM_MEM_RAM_RW: to = T::rw; break;
        case HVDM_MEM_RAM_RO: to = T::ro; break;
        case HVDM_MEM_MMIO_DM: to = T::hole; break;
        case HVDM_MEM_IOREQ_SERVER: to = T::ioreq; break;
        default: return -EINVAL;
        }
        if (to == T::ioreq && !owner) return -EINVAL;
        for (uint64_t g = first; g < first + nr; ++g)
            if (!allowed(type[g - window_first], to)) return -EINVAL;
        for (uint64_t g = first; g < first + nr; ++g) type[g - window_first] = to;
        return 0;
    }
    int claim(int s) {
        if (!exists[s]) return -ENOENT;
        if (owner) return -EBUSY;
        owner = s;
        return 0;
    }
    int disclaim(int s) {
        if (!exists[s]) return -ENOENT;
        if (owner != s) return -EINVAL;
        owner.reset();
        reset_ioreq();
        return 0;
    }
    int destroy(int s) {
        if (!exists[s]) return -ENOENT;
        if (owner == s) {
            owner.reset();
            reset_ioreq();
        }
        exists[s] = false;
        return 0;
    }
    // Which server a non-ioreq_server access to gfn reaches, if any.
    std::optional<int> mmio_target(uint64_t gfn) const {
        if (gfn >= mmio_first && gfn < mmio_first + mmio_pages && exists[1] && enabled[1]) return 1;
        return std::nullopt;
    }
};

struct Step {
    int op;
    int server;
    uint64_t gfn;
    uint32_t nr;
    uint16_t mem_type;
    unsigned size;
    uint64_t offset;
    uint64_t value;
};

Step random_step(std::mt19937_64& rng) {
    Step s{};
    s.op = static_cast<int>(rng() % 100);
    s.server = static_cast<int>(rng() % 2);
    s.gfn = window_first + rng() % window_pages;
    s.nr = static_cast<uint32_t>(1 + rng() % 6);
    if (s.gfn + s.nr > window_first + window_pages) s.nr = static_cast<uint32_t>(window_first + window_pages - s.gfn);
    // Mostly the ioreq_server cycle; some ram_ro; a few invalid types (3,
    // 5); mmio_dm only on the first pages, because a hole never becomes RAM
    // again and would otherwise swallow the window.
    const uint64_t pick = rng() % 20;
    s.mem_type = pick < 8    ? HVDM_MEM_IOREQ_SERVER
                 : pick < 13 ? HVDM_MEM_RAM_RW
                 : pick < 16 ? HVDM_MEM_RAM_RO
                 : pick < 17 ? HVDM_MEM_MMIO_DM
                 : pick < 19 ? HVDM_MEM_UNUSED
                             : uint16_t{5};
    if (s.mem_type == HVDM_MEM_MMIO_DM) {
        s.gfn = window_first + rng() % hole_pages;
        s.nr = 1;
    }
    s.size = 1u << (rng() % 4);
    s.offset = (rng() % (4096 / s.size)) * s.size;
    s.value = rng() & mask(s.size);
    return s;
}

// The trace line of one step, from the model.
std::string model_step(Model& m, const Step& s) {
    const uint64_t gpa = (s.gfn << 12) + s.offset;
    const size_t idx = s.gfn - window_first;
    if (s.op < 20) return fmt::format("set_mem_type={}", m.set_mem_type(s.mem_type, s.gfn, s.nr));
    if (s.op < 24) return fmt::format("claim={}", m.claim(s.server));
    if (s.op < 26) return fmt::format("disclaim={}", m.disclaim(s.server));
    if (s.op < 28) {
        if (!m.exists[s.server]) return fmt::format("state=-{}", ENOENT);
        m.enabled[s.server] = !m.enabled[s.server];
        return "state=0";
    }
    if (s.op < 29) {
        const int rc = m.destroy(s.server);
        if (rc == 0) {  // recreated at once, with the lowest free id: the same one
            m.exists[s.server] = true;
            m.enabled[s.server] = true;
        }
        return fmt::format("destroy={}", rc);
    }
    if (s.op < 60) {  // store
        switch (m.type[idx]) {
        case Model::T::rw:
            for (unsigned i = 0; i < s.size; ++i) m.ram[idx * 4096 + s.offset + i] = static_cast<uint8_t>(s.value >> (8 * i));
            return "store=done";
        case Model::T::ioreq:
            if (!m.enabled[*m.owner]) return "store=retry";
            return fmt::format("store=ioreq s{} w {:#x}/{} {:#x}", *m.owner, gpa, s.size, s.value);
        case Model::T::ro:  // Xen's discard-write type: dropped, whatever range holds it
            return "store=done";
        case Model::T::hole:
            if (auto t = m.mmio_target(s.gfn)) return fmt::format("store=ioreq s{} w {:#x}/{} {:#x}", *t, gpa, s.size, s.value);
            return "store=done";
        }
    }
    if (s.op < 80) {  // load
        if (m.type[idx] == Model::T::hole) {
            if (auto t = m.mmio_target(s.gfn))
                return fmt::format("load=ioreq s{} r {:#x}/{} -> {:#x}", *t, gpa, s.size, mmio_read_answer & mask(s.size));
            return fmt::format("load={:#x}", mask(s.size));
        }
        uint64_t v = 0;
        for (unsigned i = 0; i < s.size; ++i) v |= uint64_t{m.ram[idx * 4096 + s.offset + i]} << (8 * i);
        return fmt::format("load={:#x}", v);
    }
    if (s.op < 88) return fmt::format("get_mem_type={}", Model::hvmmem(m.type[idx]));
    if (s.op < 94) return fmt::format("count={}", m.count());
    const bool exec = m.type[idx] == Model::T::rw || m.type[idx] == Model::T::ro;
    return fmt::format("fetch={}", exec ? HV_VCPU_DONE : HV_VCPU_GUEST_FAULT);
}

// The same steps against one backend, through the C ABI.
class Runner {
public:
    explicit Runner(uint32_t arch) : env_(arch, ram_bytes, 1) {
        for (int i = 0; i < 2; ++i) create(i);
        REQUIRE(hvdm_map_io_range_to_ioreq_server(env_.dm, env_.domid, 1, 1, mmio_first << 12,
                                                  ((mmio_first + mmio_pages) << 12) - 1) == 0);
    }

    std::string step(const Step& s) {
        const uint64_t gpa = (s.gfn << 12) + s.offset;
        const hvdm_domid_t dom = env_.domid;
        const auto id = static_cast<hvdm_ioservid_t>(s.server);
        if (s.op < 20) return fmt::format("set_mem_type={}", hvdm_set_mem_type(env_.dm, dom, s.mem_type, s.gfn, s.nr));
        if (s.op < 24)
            return fmt::format("claim={}", hvdm_map_mem_type_to_ioreq_server(env_.dm, dom, id, HVDM_MEM_IOREQ_SERVER,
                                                                            HVDM_IOREQ_MEM_ACCESS_WRITE));
        if (s.op < 26)
            return fmt::format("disclaim={}", hvdm_map_mem_type_to_ioreq_server(env_.dm, dom, id, HVDM_MEM_IOREQ_SERVER, 0));
        if (s.op < 28) {
            enabled_[s.server] = !enabled_[s.server];
            const int rc = hvdm_set_ioreq_server_state(env_.dm, dom, id, enabled_[s.server]);
            if (rc != 0) enabled_[s.server] = !enabled_[s.server];
            return fmt::format("state={}", rc);
        }
        if (s.op < 29) {
            const int rc = hvdm_destroy_ioreq_server(env_.dm, dom, id);
            if (rc == 0) {
                create(s.server);
                if (s.server == 1)
                    REQUIRE(hvdm_map_io_range_to_ioreq_server(env_.dm, dom, 1, 1, mmio_first << 12,
                                                              ((mmio_first + mmio_pages) << 12) - 1) == 0);
            }
            return fmt::format("destroy={}", rc);
        }
        if (s.op < 60) {
            const int rc = hv_vcpu_store(env_.dom, 0, gpa, s.size, s.value);
            if (rc == HV_VCPU_DONE) return "store=done";
            if (rc == HV_VCPU_RETRY) return "store=retry";
            if (rc != HV_VCPU_IOREQ_PENDING) return fmt::format("store=rc{}", rc);
            return "store=" + answer(0);
        }
        if (s.op < 80) {
            uint64_t v = 0;
            const int rc = hv_vcpu_load(env_.dom, 0, gpa, s.size, &v);
            if (rc == HV_VCPU_DONE) return fmt::format("load={:#x}", v);
            if (rc != HV_VCPU_IOREQ_PENDING) return fmt::format("load=rc{}", rc);
            const std::string req = answer(mmio_read_answer);
            v = 0;
            const int rc2 = hv_vcpu_resume(env_.dom, 0, &v);
            return fmt::format("load={} -> {:#x}{}", req, v, rc2 == HV_VCPU_DONE ? "" : " resume failed");
        }
        if (s.op < 88) {
            uint16_t t = 0xffff;
            const int rc = hvdm_get_mem_type(env_.dm, dom, s.gfn, &t);
            return rc == 0 ? fmt::format("get_mem_type={}", t) : fmt::format("get_mem_type=rc{}", rc);
        }
        if (s.op < 94) {
            uint64_t n = 0;
            REQUIRE(hv_p2m_ioreq_entry_count(env_.dom, &n) == 0);
            return fmt::format("count={}", n);
        }
        return fmt::format("fetch={}", hv_vcpu_fetch(env_.dom, 0, gpa));
    }

private:
    void create(int i) {
        hvdm_ioservid_t id = 0xffff;
        REQUIRE(hvdm_create_ioreq_server(env_.dm, env_.domid, HVDM_BUFIOREQ_OFF, &id) == 0);
        REQUIRE(id == i);
        REQUIRE(hvdm_set_ioreq_server_state(env_.dm, env_.domid, id, 1) == 0);
        REQUIRE(hvdm_map_ioreq_pages(env_.dm, env_.domid, id, &page_[i], nullptr) == 0);
        enabled_[i] = true;
    }

    // The device model's side: find the request, describe it, answer it.
    // Stores are completed here; loads are completed by the caller.
    std::string answer(uint64_t read_data) {
        for (int i = 0; i < 2; ++i) {
            hvdm_ioreq_t* r = &page_[i]->vcpu_ioreq[0];
            if (r->state != HVDM_STATE_IOREQ_READY) continue;
            const std::string line =
                r->dir == HVDM_IOREQ_WRITE
                    ? fmt::format("ioreq s{} w {:#x}/{} {:#x}", i, r->addr, r->size, r->data)
                    : fmt::format("ioreq s{} r {:#x}/{}", i, r->addr, r->size);
            if (r->dir == HVDM_IOREQ_READ) r->data = read_data;
            __atomic_store_n(reinterpret_cast<uint8_t*>(r) + 30,
                             static_cast<uint8_t>((reinterpret_cast<uint8_t*>(r)[30] & 0xf0) | HVDM_STATE_IORESP_READY),
                             __ATOMIC_RELEASE);
            REQUIRE(hvdm_ioreq_notify(env_.dm, env_.domid, static_cast<hvdm_ioservid_t>(i), 0) == 0);
            if (r->dir == HVDM_IOREQ_WRITE) {
                uint64_t v = 0;
                if (hv_vcpu_resume(env_.dom, 0, &v) != HV_VCPU_DONE) return line + " resume failed";
            }
            return line;
        }
        return "no request in any slot";
    }

    Env env_;
    std::array<hvdm_shared_iopage*, 2> page_{};
    std::array<bool, 2> enabled_{};
};

}  // namespace

TEST_CASE("a_random_sequence_gives_the_model_trace_on_every_backend") {
    const auto arches = linked_arches();
    REQUIRE_FALSE(arches.empty());
    for (const ArchInfo& a : arches) {
        CAPTURE(a.name);
        std::mt19937_64 rng(seed);
        Model model;
        Runner run(a.arch);
        for (int i = 0; i < steps; ++i) {
            const Step s = random_step(rng);
            const std::string want = model_step(model, s);
            const std::string got = run.step(s);
            if (want != got) {
                FAIL_CHECK(fmt::format("{}: seed {:#x} step {} (op {} gfn {:#x} size {}): model says \"{}\", backend says \"{}\"",
                                       a.name, seed, i, s.op, s.gfn, s.size, want, got));
                break;
            }
        }
    }
}

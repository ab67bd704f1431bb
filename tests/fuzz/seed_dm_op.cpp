// SPDX-License-Identifier: MIT
// Writes fuzz_dm_op's seed corpus: `fuzz_dm_op_seeds DIR` creates one file
// per seed in DIR (tests/fuzz/corpus/dm_op/ is its output, committed; the
// test fuzz/dm_op/seeds checks that it still is). The format is
// dm_op_input.hpp's. Each DMOP 1..20 has at least one seed whose buffer is
// valid by Xen's layout (xen/include/public/hvm/dm_op.h) and, where hvcore
// implements the op, succeeds (after the calls it needs: a server first);
// then the rejects hvdm.h documents, one each.
//
// To regenerate: cmake --build --preset fuzz --target fuzz_dm_op_seeds &&
//   build/fuzz/tests/fuzz/fuzz_dm_op_seeds tests/fuzz/corpus/dm_op
// (a seed whose bytes change gets a new name: the old file is left for git
// to show; delete it by hand).
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

#include "seed_writer.hpp"
#include "dm_op_input.hpp"
#include "hvcore/core/dmop_abi.hpp"

namespace {

using namespace hvcore::fuzz;
using Bytes = std::vector<uint8_t>;

enum Slot : unsigned { x86_vmx = 0, x86_svm = 1, arm64 = 2, riscv64 = 3, no_hap = 4, raw_domid = 7 };

void put(Bytes& b, uint64_t v, unsigned n) {
    for (unsigned i = 0; i < n; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// struct xen_dm_op: u32 op, u32 pad, then the payload (little-endian
// fields, as this x86-64 / Arm64 host stores them).
struct Op {
    Bytes b;
    explicit Op(uint32_t op, uint32_t pad = 0) {
        put(b, op, 4);
        put(b, pad, 4);
    }
    Op& u8(uint64_t v) { return put(b, v, 1), *this; }
    Op& u16(uint64_t v) { return put(b, v, 2), *this; }
    Op& u32(uint64_t v) { return put(b, v, 4), *this; }
    Op& u64(uint64_t v) { return put(b, v, 8), *this; }
};

struct Program {
    Bytes b;
    explicit Program(unsigned restrict_sel = 0) { b.push_back(static_cast<uint8_t>(restrict_sel)); }
    // One hvdm_dm_op call: ctl flags beyond slot and nr_bufs in `extra`.
    Program& call(unsigned slot, const std::vector<Bytes>& bufs, unsigned extra = 0, uint16_t domid = 0) {
        b.push_back(static_cast<uint8_t>(slot | bufs.size() << ctl_nr_bufs_shift | extra));
        if (slot >= nr_slots) put(b, domid, 2);
        for (const Bytes& x : bufs) {
            b.push_back(static_cast<uint8_t>(x.size()));
            b.insert(b.end(), x.begin(), x.end());
        }
        return *this;
    }
    Program& op(unsigned slot, const Op& o, unsigned extra = 0) { return call(slot, {o.b}, extra); }
};

// The payloads (Xen's structs, field by field).
Op create(uint8_t bufioreq) { return std::move(Op(1).u8(bufioreq).u8(0).u8(0).u8(0).u16(0)); }
Op info(uint16_t id, uint16_t flags) { return std::move(Op(2).u16(id).u16(flags).u32(0).u64(0).u64(0)); }
Op io_range(uint32_t op, uint16_t id, uint32_t type, uint64_t start, uint64_t end) {
    return std::move(Op(op).u16(id).u16(0).u32(type).u64(start).u64(end));
}
Op state(uint16_t id, uint8_t enabled) { return std::move(Op(5).u16(id).u8(enabled).u8(0)); }
Op destroy(uint16_t id) { return std::move(Op(6).u16(id).u16(0)); }
Op set_mem_type(uint16_t type, uint64_t first, uint32_t nr) {
    return std::move(Op(12).u32(nr).u16(type).u16(0).u64(first));
}
Bytes extent(uint32_t nr, uint64_t first_pfn) {  // xen_dm_op_modified_memory_extent
    Bytes b;
    put(b, nr, 4);
    put(b, 0, 4);
    put(b, first_pfn, 8);
    return b;
}
// hvcore's set_mem_type_list (0x1000): nr, mem_type, flags, first_refused
// (OUT); the gfns are bufs[1].
Op set_mem_type_list(uint32_t nr, uint16_t type, uint16_t flags) {
    return std::move(Op(0x1000).u32(nr).u16(type).u16(flags).u64(0));
}
Bytes gfns(std::initializer_list<uint64_t> l) {
    Bytes b;
    for (uint64_t g : l) put(b, g, 8);
    return b;
}
Op map_mem_type(uint16_t id, uint32_t flags) { return std::move(Op(15).u16(id).u16(4).u32(flags).u64(0)); }

struct Seed {
    std::string name;
    Bytes bytes;
};

std::vector<Seed> seeds() {
    std::vector<Seed> s;
    auto add = [&](std::string name, const Program& p) { s.push_back({std::move(name), p.b}); };
    // One valid buffer per op, on the x86 VT-x domain unless the op is Arm's.
    add("op01-create_ioreq_server", Program().op(x86_vmx, create(2)));
    add("op02-get_ioreq_server_info", Program().op(x86_vmx, create(1)).op(x86_vmx, info(0, 1)));
    add("op03-map_io_range", Program().op(x86_vmx, create(0)).op(x86_vmx, io_range(3, 0, 0, 0x3f8, 0x3ff)));
    add("op04-unmap_io_range", Program()
                                   .op(x86_vmx, create(0))
                                   .op(x86_vmx, io_range(3, 0, 1, 0xe0000000, 0xe0000fff))
                                   .op(x86_vmx, io_range(4, 0, 1, 0xe0000000, 0xe0000fff)));
    add("op05-set_ioreq_server_state", Program().op(x86_vmx, create(0)).op(x86_vmx, state(0, 1)));
    add("op06-destroy_ioreq_server", Program().op(x86_vmx, create(0)).op(x86_vmx, destroy(0)));
    // track_dirty_vram: nr, pad, first_pfn; the bitmap is bufs[1].
    add("op07-track_dirty_vram", Program().call(x86_vmx, {Op(7).u32(8).u32(0).u64(0).b, Bytes(1, 0)}));
    // set_pci_intx_level: domain (segment), bus, device, intx, level.
    add("op08-set_pci_intx_level",
        Program().op(x86_vmx, Op(8).u16(0).u8(0).u8(3).u8(0).u8(1)).op(x86_vmx, Op(8).u16(0).u8(0).u8(3).u8(0).u8(0)));
    add("op09-set_isa_irq_level", Program().op(x86_vmx, Op(9).u8(5).u8(1)).op(x86_vmx, Op(9).u8(5).u8(0)));
    add("op10-set_pci_link_route", Program().op(x86_vmx, Op(10).u8(1).u8(10)));
    // modified_memory: nr_extents, opaque; the extents (nr, pad, first_pfn) are bufs[1].
    add("op11-modified_memory", Program().call(x86_vmx, {Op(11).u32(1).u32(0).b, extent(1, 2)}));
    add("op12-set_mem_type", Program().op(x86_vmx, set_mem_type(1, 4, 2)));  // HVMMEM_ram_ro
    // inject_event: vcpuid, vector, type, insn_len, pad0, error_code, pad1, cr2 (#PF).
    add("op13-inject_event", Program().op(x86_vmx, Op(13).u32(0).u8(14).u8(3).u8(0).u8(0).u32(2).u32(0).u64(0x1000)));
    // inject_msi: data (vector 0x31, fixed), pad, addr (APIC 0).
    add("op14-inject_msi", Program().op(x86_vmx, Op(14).u32(0x31).u32(0).u64(0xfee00000)));
    add("op15-map_mem_type_to_ioreq_server", Program()
                                                 .op(x86_vmx, create(0))
                                                 .op(x86_vmx, map_mem_type(0, 2))
                                                 .op(x86_vmx, set_mem_type(4, 3, 1))
                                                 .op(x86_vmx, map_mem_type(0, 0)));
    add("op16-remote_shutdown", Program().op(x86_vmx, Op(16).u32(1)));  // SHUTDOWN_reboot
    // relocate_memory: size, pad, src_gfn, dst_gfn.
    add("op17-relocate_memory", Program().op(x86_vmx, Op(17).u32(1).u32(0).u64(1).u64(2)));
    // pin_memory_cacheattr: start, end, type (WB), pad.
    add("op18-pin_memory_cacheattr", Program().op(x86_vmx, Op(18).u64(0).u64(15).u32(6).u32(0)));
    // set_irq_level: irq (an SPI), level, pad[3]: Arm's op (RISC-V as Arm).
    add("op19-set_irq_level-arm64",
        Program().op(arm64, Op(19).u32(40).u8(1).u8(0).u16(0)).op(arm64, Op(19).u32(40).u8(0).u8(0).u16(0)));
    add("op19-set_irq_level-riscv64", Program().op(riscv64, Op(19).u32(40).u8(1).u8(0).u16(0)));
    add("op20-nr_vcpus", Program().op(x86_vmx, Op(20).u32(0)));
    // The other backends: the server life cycle on each.
    for (auto [slot, name] : {std::pair{x86_svm, "x86_svm"}, {arm64, "arm64"}, {riscv64, "riscv64"}})
        add(std::string("cycle-") + name, Program()
                                              .op(slot, create(1))
                                              .op(slot, io_range(3, 0, 1, 0x10000000, 0x10000fff))
                                              .op(slot, state(0, 1))
                                              .op(slot, map_mem_type(0, 2))
                                              .op(slot, set_mem_type(4, 1, 2))
                                              .op(slot, destroy(0)));
    // The rejects hvdm.h lists, one each.
    add("reject-nr_bufs-0", Program().call(x86_vmx, {}));
    add("reject-nr_bufs-3", Program().call(x86_vmx, {Op(20).u32(0).b, Bytes(8, 0), Bytes(8, 0)}));
    add("reject-bufs-null", Program().op(x86_vmx, Op(20).u32(0), ctl_bufs_null));
    add("reject-buf0-null", Program().op(x86_vmx, Op(20).u32(0), ctl_buf0_null));
    add("reject-buf0-short", Program().call(x86_vmx, {Bytes{20, 0, 0, 0}}));
    add("reject-payload-short", Program().call(x86_vmx, {Bytes{3, 0, 0, 0, 0, 0, 0, 0, 0, 0}}));
    add("reject-header-pad", Program().op(x86_vmx, Op(20, 1).u32(0)));
    add("op4096-set_mem_type_list", Program().call(x86_vmx, {set_mem_type_list(2, 1, 0).b, gfns({3, 9})}));
    // Validating only: a refused gfn (5 made mmio_dm, which may not become ram_ro)
    // comes back in first_refused with 0.
    add("op4096-set_mem_type_list-check_only", Program()
                                                   .op(x86_vmx, set_mem_type(2, 5, 1))
                                                   .call(x86_vmx, {set_mem_type_list(2, 1, 1).b, gfns({4, 5})}));
    // Refused (not increasing): -EINVAL, and buffer 0 is not written.
    add("reject-set_mem_type_list-order", Program().call(x86_vmx, {set_mem_type_list(2, 1, 0).b, gfns({9, 3})}));
    add("reject-op-0", Program().op(x86_vmx, Op(0).u64(0)));
    add("reject-op-21", Program().op(x86_vmx, Op(21).u64(0).u64(0).u64(0)));
    add("reject-domid-0", Program().call(raw_domid, {Op(20).u32(0).b}, 0, 0));
    add("reject-restricted", Program(1).op(x86_svm, Op(20).u32(0)));  // A restricted to slot 0
    add("reject-other-emulator",
        Program().op(x86_vmx, create(0)).op(x86_vmx, io_range(3, 0, 0, 0x60, 0x64), ctl_handle_b));
    add("reject-no-hap-claim", Program().op(no_hap, create(0)).op(no_hap, map_mem_type(0, 2)));
    add("reject-create-pad", Program().op(x86_vmx, Op(1).u8(0).u8(1).u8(0).u8(0).u16(0)));
    add("reject-range-reversed", Program().op(x86_vmx, create(0)).op(x86_vmx, io_range(3, 0, 0, 0x64, 0x60)));
    add("reject-set_mem_type-past-ram", Program().op(x86_vmx, set_mem_type(1, ram_pages - 1, 2)));
    add("reject-map_mem_type-opaque", Program().op(x86_vmx, create(0)).op(x86_vmx, Op(15).u16(0).u16(4).u32(2).u64(1)));
    return s;
}

}  // namespace

int main(int argc, char** argv) {
    return hvcore::fuzz::write_seeds(argc, argv, "fuzz_dm_op_seeds", "fuzz_dm_op", seeds());
}

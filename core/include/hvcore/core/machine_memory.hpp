// SPDX-License-Identifier: MIT
// Host-physical memory as the model MMU sees it: guest RAM (one memfd, so a
// host such as KVM can map the very same pages) and the frames that hold
// stage-2 tables. Both are addressed by Mfn; a walker reads a table by
// asking for its frame, exactly as hardware reads host-physical memory.
//
// RAM frames start at ram_base_mfn (not 0) so an mfn/gfn mix-up shows.
// The table pool starts above RAM (table_base()): at 64 GiB for RAM up to
// 63 GiB (table_base_mfn), else at the first 64 GiB boundary past RAM's
// end, so neither range can reach into the other at any RAM size.
// RAM is reserved, not populated: a sparse memfd (ftruncate(2) allocates
// no page) mapped MAP_SHARED | MAP_NORESERVE; a page costs memory once it
// is first touched (memfd_create(2): a tmpfs file; tmpfs(5)).
// Not thread-safe: the owning domain's p2m lock serialises every use of
// the table pool; RAM bytes are reached through frame() or ram_base().
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include <gsl/assert>

#include "hvcore/core/status.hpp"
#include "hvcore/core/types.hpp"

namespace hvcore {

class MachineMemory {
public:
    static constexpr Mfn ram_base_mfn{0x40000};       // RAM at host-physical 1 GiB: aligned for 1 GiB leaves, and never equal to the gfn
    static constexpr Mfn table_base_mfn{0x1000000};   // the lowest table base: host-physical 64 GiB
    static constexpr uint64_t table_align_frames = table_base_mfn.raw();  // the pool starts on a 64 GiB boundary
    // The largest RAM the machine layout holds: 2^48 bytes, the widest
    // guest-physical space of any format hvcore builds (EPT and NPT 4-level
    // and Arm64 with T0SZ 16: 48 bits; RISC-V Sv39x4: 41). What a domain
    // may really have is the smaller of this and its format's reach
    // (Domain::create); the host's address space may refuse less (mmap(2)
    // -ENOMEM: 128 TiB of user space on x86-64 with 4-level paging).
    static constexpr uint64_t max_ram_bytes = uint64_t{1} << 48;

    // ram_bytes must be a non-zero multiple of 4 KiB, at most
    // max_ram_bytes; table_frame_limit bounds the table pool (an
    // allocation beyond it is -ENOMEM). map_ram = false: the memfd is
    // made but not mapped until map_ram() (Domain::create checks the
    // format's reach first, so that a size the format refuses is -EINVAL,
    // never the host's -ENOMEM for the mapping).
    [[nodiscard]] static Result<std::unique_ptr<MachineMemory>> create(uint64_t ram_bytes,
                                                                      uint64_t table_frame_limit,
                                                                      bool map_ram = true);
    // Maps the RAM memfd (MAP_SHARED | MAP_NORESERVE): -errno of mmap(2)
    // (ENOMEM: no address space that large). Once only.
    [[nodiscard]] Status map_ram();
    // The first frame of the table pool (the class comment).
    [[nodiscard]] Mfn table_base() const noexcept { return table_base_; }
    ~MachineMemory();
    MachineMemory(const MachineMemory&) = delete;
    MachineMemory& operator=(const MachineMemory&) = delete;

    [[nodiscard]] uint64_t ram_bytes() const noexcept { return ram_bytes_; }
    [[nodiscard]] uint64_t ram_frames() const noexcept { return ram_bytes_ >> page_shift; }
    [[nodiscard]] std::byte* ram_base() const noexcept { return ram_; }
    [[nodiscard]] int ram_fd() const noexcept { return ram_fd_; }
    // A new descriptor of the RAM memfd (offset = (mfn - ram_base_mfn) *
    // 4 KiB, which is gfn * 4 KiB for RAM gfns), close-on-exec, that the
    // caller owns: a duplicate when writable, else the same file reopened
    // read-only through /proc/self/fd, so that the kernel refuses
    // mmap(PROT_WRITE, MAP_SHARED) and mprotect(PROT_WRITE) on it (EACCES;
    // open(2) of a /proc/PID/fd link opens the file anew with the flags
    // given, proc(5)). The pages outlive this object while the descriptor
    // or a mapping of it lives (memfd_create(2)). -errno on failure.
    [[nodiscard]] Result<int> share_ram_fd(bool writable) const;
    // The frame a RAM gfn is backed by at domain build.
    [[nodiscard]] Mfn ram_mfn(Gfn g) const noexcept { return ram_base_mfn + g.raw(); }

    // The 4 KiB frame at mfn (RAM or table), or nullptr if there is none.
    [[nodiscard]] std::byte* frame(Mfn m) const noexcept;
    [[nodiscard]] bool is_table_frame(Mfn m) const noexcept;
    // The table frame at m, which must be one (is_table_frame): frame()
    // without its RAM test and inline, for the table walks.
    [[nodiscard]] std::byte* table_frame(Mfn m) const noexcept {
        const uint64_t idx = m.raw() - table_base_.raw();
        Expects(m.raw() >= table_base_.raw() && idx < next_fresh_);
        return chunks_[idx / chunk_frames] + ((idx % chunk_frames) << page_shift);
    }

    // Table pool. alloc_table returns a zeroed frame or -ENOMEM.
    [[nodiscard]] Result<Mfn> alloc_table();
    void free_table(Mfn m) noexcept;
    [[nodiscard]] uint64_t tables_in_use() const noexcept;
    [[nodiscard]] uint64_t table_frame_limit() const noexcept { return table_limit_; }
    // Prepare/commit (Hafnium's mm.c): reserve n frames so that a later
    // sequence of n take_reserved() calls cannot fail.
    [[nodiscard]] Status reserve_tables(uint64_t n);
    [[nodiscard]] Mfn take_reserved() noexcept;
    void release_reservation() noexcept;  // return unused reserved frames
    [[nodiscard]] uint64_t reserved() const noexcept;

private:
    MachineMemory() = default;
    uint64_t ram_bytes_ = 0;
    Mfn table_base_ = table_base_mfn;
    int ram_fd_ = -1;
    std::byte* ram_ = nullptr;

    static constexpr uint64_t chunk_frames = 512;  // tables are mapped 2 MiB at a time
    uint64_t table_limit_ = 0;
    std::vector<std::byte*> chunks_;
    uint64_t next_fresh_ = 0;  // frames handed out from chunks_, ever
    std::vector<uint64_t> free_;      // table indices free for reuse
    std::vector<uint64_t> reserved_;  // table indices set aside by reserve_tables
    uint64_t in_use_ = 0;
};

}  // namespace hvcore

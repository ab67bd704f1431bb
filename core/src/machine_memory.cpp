// SPDX-License-Identifier: MIT
#include "hvcore/core/machine_memory.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "sealed_memfd.hpp"

namespace hvcore {

Result<std::unique_ptr<MachineMemory>> MachineMemory::create(uint64_t ram_bytes,
                                                             uint64_t table_frame_limit, bool map_ram) {
    if (ram_bytes == 0 || (ram_bytes & page_mask) != 0 || ram_bytes > max_ram_bytes)
        return Status::err(-EINVAL);
    std::unique_ptr<MachineMemory> m{new MachineMemory()};
    m->table_limit_ = table_frame_limit;
    m->ram_bytes_ = ram_bytes;
    // Tables above RAM's last frame, on a 64 GiB boundary (64 GiB itself
    // for RAM up to 63 GiB, as always).
    const uint64_t ram_end = ram_base_mfn.raw() + (ram_bytes >> page_shift);
    m->table_base_ = Mfn{(ram_end + table_align_frames - 1) / table_align_frames * table_align_frames};
    // Sealed against resizing (sealed_memfd.hpp): descriptors of it go to
    // device-model processes (share_ram_fd). Sparse: ftruncate allocates
    // nothing, whatever the size.
    auto fd = detail::sealed_memfd("hvcore-guest-ram", ram_bytes);
    if (!fd) return fd.status();
    m->ram_fd_ = *fd;
    if (map_ram)
        if (Status s = m->map_ram(); !s) return s;
    return m;
}

Status MachineMemory::map_ram() {
    Expects(ram_ == nullptr);
    // Reserved, not populated (no MAP_POPULATE): untouched pages cost
    // neither memory nor commit charge.
    void* p = mmap(nullptr, ram_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, ram_fd_, 0);
    if (p == MAP_FAILED) return Status::err(-errno);
    ram_ = static_cast<std::byte*>(p);
    return Status::ok();
}

MachineMemory::~MachineMemory() {
    for (std::byte* c : chunks_) munmap(c, chunk_frames * page_size);
    if (ram_ != nullptr) munmap(ram_, ram_bytes_);
    if (ram_fd_ >= 0) close(ram_fd_);
}

Result<int> MachineMemory::share_ram_fd(bool writable) const {
    int fd = -1;
    if (writable) {
        fd = fcntl(ram_fd_, F_DUPFD_CLOEXEC, 0);
    } else {
        const std::string path = "/proc/self/fd/" + std::to_string(ram_fd_);
        fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0) return Status::err(-errno);
    return fd;
}

std::byte* MachineMemory::frame(Mfn m) const noexcept {
    const uint64_t v = m.raw();
    if (v >= ram_base_mfn.raw() && v - ram_base_mfn.raw() < ram_frames())
        return ram_ + ((v - ram_base_mfn.raw()) << page_shift);
    if (!is_table_frame(m)) return nullptr;
    const uint64_t idx = v - table_base_.raw();
    return chunks_[idx / chunk_frames] + ((idx % chunk_frames) << page_shift);
}

bool MachineMemory::is_table_frame(Mfn m) const noexcept {
    return m.raw() >= table_base_.raw() && m.raw() - table_base_.raw() < next_fresh_;
}

Result<Mfn> MachineMemory::alloc_table() {
    uint64_t idx = 0;
    if (!free_.empty()) {
        idx = free_.back();
        free_.pop_back();
    } else {
        if (next_fresh_ >= table_limit_) return Status::err(-ENOMEM);
        if (next_fresh_ % chunk_frames == 0) {
            void* p = mmap(nullptr, chunk_frames * page_size, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (p == MAP_FAILED) return Status::err(-ENOMEM);
            chunks_.push_back(static_cast<std::byte*>(p));
        }
        idx = next_fresh_++;
    }
    ++in_use_;
    const Mfn m = table_base_ + idx;
    std::memset(frame(m), 0, page_size);
    return m;
}

void MachineMemory::free_table(Mfn m) noexcept {
    Expects(is_table_frame(m));
    free_.push_back(m.raw() - table_base_.raw());
    --in_use_;
}

uint64_t MachineMemory::tables_in_use() const noexcept { return in_use_; }

Status MachineMemory::reserve_tables(uint64_t n) {
    while (reserved_.size() < n) {
        auto m = alloc_table();
        if (!m) {
            release_reservation();
            return m.status();
        }
        reserved_.push_back(m->raw() - table_base_.raw());
    }
    return Status::ok();
}

Mfn MachineMemory::take_reserved() noexcept {
    Expects(!reserved_.empty());
    const Mfn m = table_base_ + reserved_.back();
    reserved_.pop_back();
    return m;  // already zeroed by alloc_table and counted in use
}

void MachineMemory::release_reservation() noexcept {
    for (uint64_t idx : reserved_) free_table(table_base_ + idx);
    reserved_.clear();
}

uint64_t MachineMemory::reserved() const noexcept { return reserved_.size(); }

}  // namespace hvcore

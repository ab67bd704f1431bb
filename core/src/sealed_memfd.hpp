// SPDX-License-Identifier: MIT
// A memfd of a fixed size that no holder of a descriptor can resize: the
// guest RAM (MachineMemory) and each ioreq server's pages (IoreqPages) are
// handed to device-model processes, which are not trusted. Without seals,
// ftruncate(fd, 0) in such a process would make the hypervisor's next
// access to its own mapping fault with SIGBUS. With F_SEAL_SHRINK and
// F_SEAL_GROW, ftruncate(2) to any other size fails with EPERM for every
// descriptor of the file (seals belong to the inode, so a dup or a reopen
// through /proc/self/fd is sealed too); F_SEAL_SEAL forbids removing or
// adding seals later. F_SEAL_WRITE is not set: the pages are shared
// read-write memory. memfd_create(2) (MFD_ALLOW_SEALING), fcntl(2) "File
// Sealing".
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "hvcore/core/status.hpp"

namespace hvcore::detail {

inline constexpr int memfd_seals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;

// A close-on-exec memfd of `bytes` bytes, sealed with memfd_seals, that
// the caller owns; -errno of memfd_create(2), ftruncate(2) or
// fcntl(F_ADD_SEALS) on failure (nothing is left open).
[[nodiscard]] inline Result<int> sealed_memfd(const char* name, uint64_t bytes) {
    const int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) return Status::err(-errno);
    if (ftruncate(fd, static_cast<off_t>(bytes)) != 0 || fcntl(fd, F_ADD_SEALS, memfd_seals) != 0) {
        const int err = -errno;
        close(fd);
        return Status::err(err);
    }
    return fd;
}

}  // namespace hvcore::detail

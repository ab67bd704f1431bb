// SPDX-License-Identifier: MIT
#include "guest_image.hpp"

#include <elf.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace hvcore::tools {

namespace {

// Closes a file descriptor and ends a libelf descriptor at scope exit.
struct ElfFile {
    int fd = -1;
    Elf* elf = nullptr;
    ~ElfFile() {
        if (elf != nullptr) elf_end(elf);
        if (fd >= 0) close(fd);
    }
};

[[nodiscard]] const char* file_kind(mode_t m) {
    if (S_ISDIR(m)) return "a directory";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISSOCK(m)) return "a socket";
    return "not a regular file";
}

[[nodiscard]] std::string machine_name(unsigned m) {
    switch (m) {
    case EM_386: return "EM_386 (32-bit x86)";
    case EM_X86_64: return "EM_X86_64";
    case EM_AARCH64: return "EM_AARCH64 (Arm64)";
    case EM_ARM: return "EM_ARM (32-bit Arm)";
    case EM_RISCV: return "EM_RISCV";
    case EM_PPC64: return "EM_PPC64";
    case EM_S390: return "EM_S390";
    default: return fmt::format("machine {}", m);
    }
}

[[nodiscard]] const char* type_name(unsigned t) {
    switch (t) {
    case ET_REL: return "ET_REL (a relocatable object, not linked)";
    case ET_DYN: return "ET_DYN (a shared object or position-independent executable; link with -no-pie)";
    case ET_CORE: return "ET_CORE (a core dump)";
    case ET_NONE: return "ET_NONE";
    default: return "an unknown type";
    }
}

[[nodiscard]] bool pread_all(int fd, void* buf, size_t n, uint64_t off) {
    auto* p = static_cast<uint8_t*>(buf);
    while (n > 0) {
        const ssize_t r = pread(fd, p, n, static_cast<off_t>(off));
        if (r < 0 && errno == EINTR) continue;
        if (r == 0) errno = 0;  // the end of the file
        if (r <= 0) return false;
        p += r;
        n -= static_cast<size_t>(r);
        off += static_cast<uint64_t>(r);
    }
    return true;
}

// The ELF checks and segments (contents: also the bytes).
[[nodiscard]] bool read_elf(const std::string& path, ElfFile& f, uint64_t ram_bytes, GuestRead what,
                            GuestImage* out, std::string* why) {
    const auto refuse = [&](const std::string& reason) {
        *why = fmt::format("guest {}: ELF file refused: {}", path, reason);
        return false;
    };
    if (elf_version(EV_CURRENT) == EV_NONE) return refuse(fmt::format("libelf: {}", elf_errmsg(-1)));
    f.elf = elf_begin(f.fd, ELF_C_READ_MMAP, nullptr);
    if (f.elf == nullptr || elf_kind(f.elf) != ELF_K_ELF) return refuse(fmt::format("libelf: {}", elf_errmsg(-1)));
    const int cls = gelf_getclass(f.elf);
    if (cls == ELFCLASS32) return refuse("32-bit (ELFCLASS32); only ELF64 x86-64 executables are loaded");
    if (cls != ELFCLASS64) return refuse("unknown ELF class");
    GElf_Ehdr eh;
    if (gelf_getehdr(f.elf, &eh) == nullptr) return refuse(fmt::format("its ELF header: {}", elf_errmsg(-1)));
    if (eh.e_ident[EI_DATA] != ELFDATA2LSB) return refuse("big-endian (ELFDATA2MSB); x86-64 is little-endian");
    if (eh.e_machine != EM_X86_64)
        return refuse(fmt::format("{}, not an x86-64 (EM_X86_64) executable", machine_name(eh.e_machine)));
    if (eh.e_type != ET_EXEC) return refuse(fmt::format("{}; only ET_EXEC is loaded", type_name(eh.e_type)));
    size_t phnum = 0;
    if (elf_getphdrnum(f.elf, &phnum) != 0) return refuse(fmt::format("its program headers: {}", elf_errmsg(-1)));
    for (size_t i = 0; i < phnum; ++i) {
        GElf_Phdr ph;
        if (gelf_getphdr(f.elf, static_cast<int>(i), &ph) == nullptr)
            return refuse(fmt::format("program header {}: {}", i, elf_errmsg(-1)));
        if (ph.p_type != PT_LOAD || ph.p_memsz == 0) continue;
        if (ph.p_filesz > ph.p_memsz)
            return refuse(fmt::format("segment {}: p_filesz {:#x} > p_memsz {:#x}", i, ph.p_filesz, ph.p_memsz));
        if (ph.p_paddr >= ram_bytes || ph.p_memsz > ram_bytes - ph.p_paddr)
            return refuse(fmt::format("segment {} at p_paddr {:#x}..{:#x} lies outside the {} KiB of guest RAM "
                                      "(0..{:#x})", i, ph.p_paddr, ph.p_paddr + ph.p_memsz, ram_bytes >> 10,
                                      ram_bytes));
        if (ph.p_offset > out->file_size || ph.p_filesz > out->file_size - ph.p_offset)
            return refuse(fmt::format("segment {}: file bytes {:#x}..{:#x} beyond the end of the {}-byte file", i,
                                      ph.p_offset, ph.p_offset + ph.p_filesz, out->file_size));
        for (const GuestSegment& s : out->segments)
            if (ph.p_paddr < s.gpa + s.memory_bytes && s.gpa < ph.p_paddr + ph.p_memsz)
                return refuse(fmt::format("segment {} at {:#x}..{:#x} overlaps the one at {:#x}..{:#x}", i,
                                          ph.p_paddr, ph.p_paddr + ph.p_memsz, s.gpa, s.gpa + s.memory_bytes));
        GuestSegment s;
        s.gpa = ph.p_paddr;
        s.file_offset = ph.p_offset;
        s.file_bytes = ph.p_filesz;
        s.memory_bytes = ph.p_memsz;
        out->segments.push_back(std::move(s));
    }
    if (out->segments.empty()) return refuse("no PT_LOAD segment");
    bool entry_loaded = false;
    for (const GuestSegment& s : out->segments)
        entry_loaded = entry_loaded || (eh.e_entry >= s.gpa && eh.e_entry - s.gpa < s.memory_bytes);
    if (!entry_loaded) return refuse(fmt::format("the entry point e_entry {:#x} is in no PT_LOAD segment", eh.e_entry));
    out->entry = eh.e_entry;
    if (what == GuestRead::contents) {
        for (GuestSegment& s : out->segments) {
            s.bytes.assign(s.memory_bytes, 0);
            if (s.file_bytes != 0 && !pread_all(f.fd, s.bytes.data(), s.file_bytes, s.file_offset)) {
                *why = fmt::format("guest {}: reading segment at {:#x}: {}", path, s.gpa,
                                   errno != 0 ? std::strerror(errno) : "unexpected end of file");
                return false;
            }
        }
    }
    return true;
}

}  // namespace

bool read_guest_image(const std::string& path, uint64_t ram_bytes, uint64_t load, GuestRead what,
                      GuestImage* out, std::string* why) {
    *out = GuestImage{};
    ElfFile f;
    // O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then
    // refuses it. The file is checked on the descriptor that is read.
    f.fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (f.fd < 0) {
        *why = fmt::format("guest {}: {}", path, std::strerror(errno));
        return false;
    }
    struct stat st {};
    if (fstat(f.fd, &st) != 0) {
        *why = fmt::format("guest {}: fstat: {}", path, std::strerror(errno));
        return false;
    }
    if (!S_ISREG(st.st_mode)) {
        *why = fmt::format("guest {}: is {}, not a guest image file", path, file_kind(st.st_mode));
        return false;
    }
    out->file_size = static_cast<uint64_t>(st.st_size);
    if (out->file_size == 0) {
        *why = fmt::format("guest {}: the file is empty", path);
        return false;
    }
    unsigned char ident[SELFMAG] = {};
    if (out->file_size >= SELFMAG && !pread_all(f.fd, ident, SELFMAG, 0)) {
        *why = fmt::format("guest {}: read: {}", path, std::strerror(errno));
        return false;
    }
    if (std::memcmp(ident, ELFMAG, SELFMAG) == 0) {
        out->elf = true;
        return read_elf(path, f, ram_bytes, what, out, why);
    }
    // A flat image: its bytes at `load`.
    if (load >= ram_bytes || out->file_size > ram_bytes - load) {
        *why = fmt::format("guest {}: the {}-byte image does not fit in guest RAM at {:#x} ({} KiB of RAM, {} bytes "
                           "above the load address)", path, out->file_size, load, ram_bytes >> 10,
                           load >= ram_bytes ? 0 : ram_bytes - load);
        return false;
    }
    GuestSegment s;
    s.gpa = load;
    s.file_bytes = s.memory_bytes = out->file_size;
    if (what == GuestRead::contents) {
        s.bytes.resize(out->file_size);
        if (!pread_all(f.fd, s.bytes.data(), s.bytes.size(), 0)) {
            *why = fmt::format("guest {}: read: {}", path, errno != 0 ? std::strerror(errno) : "the file shrank");
            return false;
        }
    }
    out->segments.push_back(std::move(s));
    return true;
}

}  // namespace hvcore::tools

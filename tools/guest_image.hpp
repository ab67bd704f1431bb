// SPDX-License-Identifier: MIT
// A guest file given by path to `hvcore run`: checked before anything is
// read in full (and before KVM is touched), then loaded as a flat binary
// image or as an ELF executable.
//
// ELF (System V gABI, "Program Header"; the x86-64 psABI for EM_X86_64):
// only ELF64, little-endian, EM_X86_64, ET_EXEC files are loaded. Each
// PT_LOAD segment is copied to guest-physical p_paddr (p_filesz bytes from
// the file, then zeros up to p_memsz), and the guest starts at e_entry.
// Everything else (ELFCLASS32, another machine, ET_DYN / ET_REL / ET_CORE,
// a segment outside guest RAM, no PT_LOAD, an entry point outside every
// PT_LOAD segment) is refused with a sentence naming what it is.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hvcore::tools {

struct GuestSegment {
    uint64_t gpa = 0;
    uint64_t file_offset = 0;
    uint64_t file_bytes = 0;    // copied from the file
    uint64_t memory_bytes = 0;  // >= file_bytes; the rest is zeros
    std::vector<uint8_t> bytes;  // memory_bytes long once loaded (empty after a check)
};

struct GuestImage {
    bool elf = false;
    uint64_t file_size = 0;
    std::vector<GuestSegment> segments;  // a flat image: one, at the load address
    std::optional<uint64_t> entry;       // ELF: e_entry
};

enum class GuestRead : uint8_t {
    headers,   // check only: the file's type and size, an ELF's headers
    contents,  // and read every segment's bytes
};

// path: the file; ram_bytes: the guest's RAM (from GPA 0); load: where a
// flat image goes. false and *why (one sentence naming the path and the
// reason, no trailing newline) when the file cannot be a guest.
[[nodiscard]] bool read_guest_image(const std::string& path, uint64_t ram_bytes, uint64_t load, GuestRead what,
                                    GuestImage* out, std::string* why);

}  // namespace hvcore::tools

// SPDX-License-Identifier: MIT
// The guest-file checks and the ELF loader of `hvcore run`
// (tools/guest_image.hpp), on files this test writes (ELF headers built
// from <elf.h>) and on the bundled console guest as the build links it
// (console.elf, and console.bin, its objcopy -O binary image). No KVM.
#include <doctest/doctest.h>
#include <elf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "guest_image.hpp"

namespace {

using namespace hvcore::tools;

constexpr uint64_t ram = 4 << 20;  // the bundled guests' 4 MiB
constexpr uint64_t load = 0x100000;

struct Seg {
    uint64_t paddr;
    std::vector<uint8_t> bytes;
    uint64_t memsz;
    uint32_t type = PT_LOAD;
};

// An ELF64 file: header, program headers, then each segment's bytes.
std::vector<uint8_t> elf64(const std::vector<Seg>& segs, uint64_t entry, uint16_t type = ET_EXEC,
                           uint16_t machine = EM_X86_64) {
    Elf64_Ehdr eh{};
    std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = type;
    eh.e_machine = machine;
    eh.e_version = EV_CURRENT;
    eh.e_entry = entry;
    eh.e_phoff = sizeof eh;
    eh.e_ehsize = sizeof eh;
    eh.e_phentsize = sizeof(Elf64_Phdr);
    eh.e_phnum = static_cast<uint16_t>(segs.size());
    std::vector<uint8_t> out(sizeof eh + segs.size() * sizeof(Elf64_Phdr));
    std::memcpy(out.data(), &eh, sizeof eh);
    for (size_t i = 0; i < segs.size(); ++i) {
        Elf64_Phdr ph{};
        ph.p_type = segs[i].type;
        ph.p_flags = PF_R | PF_X;
        ph.p_offset = out.size();
        ph.p_vaddr = ph.p_paddr = segs[i].paddr;
        ph.p_filesz = segs[i].bytes.size();
        ph.p_memsz = segs[i].memsz;
        ph.p_align = 1;
        std::memcpy(out.data() + sizeof eh + i * sizeof ph, &ph, sizeof ph);
        out.insert(out.end(), segs[i].bytes.begin(), segs[i].bytes.end());
    }
    return out;
}

std::vector<uint8_t> elf32_exec() {
    Elf32_Ehdr eh{};
    std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS32;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_EXEC;
    eh.e_machine = EM_386;
    eh.e_version = EV_CURRENT;
    eh.e_ehsize = sizeof eh;
    std::vector<uint8_t> out(sizeof eh);
    std::memcpy(out.data(), &eh, sizeof eh);
    return out;
}

// This test's directory in the build tree (tests/cli/CMakeLists.txt).
const std::string test_dir = HVCORE_CLI_TEST_DIR;

// A file in the test's directory, removed at scope exit.
struct TempFile {
    std::string path;
    explicit TempFile(const std::vector<uint8_t>& bytes) {
        std::string tmpl = test_dir + "/elf-XXXXXX";
        const int fd = mkstemp(tmpl.data());
        REQUIRE(fd >= 0);
        path = tmpl;
        REQUIRE(write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
        close(fd);
    }
    ~TempFile() { unlink(path.c_str()); }
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;
};

std::string refusal(const std::vector<uint8_t>& bytes) {
    TempFile f(bytes);
    GuestImage img;
    std::string why;
    CHECK_FALSE(read_guest_image(f.path, ram, load, GuestRead::contents, &img, &why));
    CHECK(why.find(f.path) != std::string::npos);  // names the file
    return why;
}

std::vector<uint8_t> read_all(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    REQUIRE(f);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

TEST_CASE("elf_exec_segments_load_at_p_paddr_with_zeros_to_p_memsz_and_enter_at_e_entry") {
    const std::vector<uint8_t> text = {0xf4, 0xeb, 0xfd};  // hlt; jmp .-1
    const std::vector<uint8_t> data = {1, 2, 3, 4};
    TempFile f(elf64({{0x100000, text, text.size()}, {0x180000, data, 0x2000}}, 0x100001));
    GuestImage img;
    std::string why;
    REQUIRE_MESSAGE(read_guest_image(f.path, ram, load, GuestRead::contents, &img, &why), why);
    CHECK(img.elf);
    REQUIRE(img.entry);
    CHECK(*img.entry == 0x100001);
    REQUIRE(img.segments.size() == 2);
    CHECK(img.segments[0].gpa == 0x100000);
    CHECK(img.segments[0].bytes == text);
    CHECK(img.segments[1].gpa == 0x180000);
    REQUIRE(img.segments[1].bytes.size() == 0x2000);
    CHECK(std::equal(data.begin(), data.end(), img.segments[1].bytes.begin()));
    CHECK(std::all_of(img.segments[1].bytes.begin() + 4, img.segments[1].bytes.end(), [](uint8_t b) { return b == 0; }));
}

TEST_CASE("elf_check_reads_headers_only") {
    TempFile f(elf64({{0x100000, {0x90, 0xf4}, 0x10000}}, 0x100000));
    GuestImage img;
    std::string why;
    REQUIRE_MESSAGE(read_guest_image(f.path, ram, load, GuestRead::headers, &img, &why), why);
    REQUIRE(img.segments.size() == 1);
    CHECK(img.segments[0].memory_bytes == 0x10000);
    CHECK(img.segments[0].bytes.empty());
}

TEST_CASE("elf_bundled_console_guest_loads_the_same_bytes_as_its_flat_image") {
    const std::string dir = HVCORE_GUEST_BUILD_DIR;
    GuestImage img;
    std::string why;
    REQUIRE_MESSAGE(read_guest_image(dir + "/console.elf", ram, load, GuestRead::contents, &img, &why), why);
    const std::vector<uint8_t> flat = read_all(dir + "/console.bin");
    REQUIRE(img.entry);
    CHECK(*img.entry == 0x100000);  // guest.ld: ENTRY(_start), .text.entry first at 1 MiB
    // objcopy -O binary lays the segments out from the lowest address.
    std::vector<uint8_t> laid(flat.size(), 0);
    for (const GuestSegment& s : img.segments) {
        REQUIRE(s.gpa >= 0x100000);
        REQUIRE(s.gpa - 0x100000 + s.file_bytes <= laid.size());
        std::copy(s.bytes.begin(), s.bytes.begin() + static_cast<long>(s.file_bytes), laid.begin() + static_cast<long>(s.gpa - 0x100000));
    }
    CHECK(laid == flat);
}

TEST_CASE("elf32_is_refused_by_name") {
    CHECK(refusal(elf32_exec()).find("32-bit (ELFCLASS32)") != std::string::npos);
}

TEST_CASE("elf_of_another_machine_is_refused_by_name") {
    CHECK(refusal(elf64({{0x100000, {0}, 1}}, 0x100000, ET_EXEC, EM_AARCH64)).find("EM_AARCH64") != std::string::npos);
}

TEST_CASE("elf_shared_object_or_pie_is_refused_by_name") {
    CHECK(refusal(elf64({{0x100000, {0}, 1}}, 0x100000, ET_DYN)).find("ET_DYN") != std::string::npos);
    CHECK(refusal(elf64({{0x100000, {0}, 1}}, 0x100000, ET_REL)).find("ET_REL") != std::string::npos);
}

TEST_CASE("elf_segment_outside_guest_ram_is_refused") {
    // Starts beyond RAM; and starts inside but ends beyond (p_memsz).
    CHECK(refusal(elf64({{ram, {0}, 1}}, ram)).find("outside the 4096 KiB of guest RAM") != std::string::npos);
    CHECK(refusal(elf64({{ram - 0x1000, {0}, 0x2000}}, ram - 0x1000)).find("outside") != std::string::npos);
    // An address that wraps around 2^64 does not pass as "inside".
    CHECK(refusal(elf64({{0xfffffffffffff000, {0}, 0x2000}}, 0x100000)).find("outside") != std::string::npos);
}

TEST_CASE("elf_without_pt_load_or_with_the_entry_outside_every_segment_is_refused") {
    CHECK(refusal(elf64({{0x100000, {0}, 1, PT_NOTE}}, 0x100000)).find("no PT_LOAD") != std::string::npos);
    CHECK(refusal(elf64({{0x100000, {0}, 1}}, 0x200000)).find("e_entry 0x200000") != std::string::npos);
}

TEST_CASE("elf_segment_beyond_the_end_of_the_file_is_refused") {
    std::vector<uint8_t> f = elf64({{0x100000, std::vector<uint8_t>(64, 0x90), 64}}, 0x100000);
    f.resize(f.size() - 32);  // truncated
    CHECK(refusal(f).find("beyond the end") != std::string::npos);
}

TEST_CASE("flat_image_loads_at_the_load_address_and_must_fit_above_it") {
    {
        TempFile f(std::vector<uint8_t>(ram - load, 0x90));  // exactly fits
        GuestImage img;
        std::string why;
        REQUIRE_MESSAGE(read_guest_image(f.path, ram, load, GuestRead::contents, &img, &why), why);
        CHECK_FALSE(img.elf);
        REQUIRE(img.segments.size() == 1);
        CHECK(img.segments[0].gpa == load);
        CHECK(img.segments[0].bytes.size() == ram - load);
    }
    CHECK(refusal(std::vector<uint8_t>(ram - load + 1, 0x90)).find("does not fit") != std::string::npos);
    CHECK(refusal({}).find("empty") != std::string::npos);
}

TEST_CASE("a_directory_a_device_and_a_missing_file_are_refused_without_reading") {
    GuestImage img;
    std::string why;
    CHECK_FALSE(read_guest_image(test_dir, ram, load, GuestRead::contents, &img, &why));
    CHECK(why == "guest " + test_dir + ": is a directory, not a guest image file");
    CHECK_FALSE(read_guest_image("/dev/zero", ram, load, GuestRead::contents, &img, &why));
    CHECK(why == "guest /dev/zero: is a character device, not a guest image file");
    const std::string missing = test_dir + "/no-such-guest.bin";
    CHECK_FALSE(read_guest_image(missing, ram, load, GuestRead::contents, &img, &why));
    CHECK(why == "guest " + missing + ": No such file or directory");
}

}  // namespace

// SPDX-License-Identifier: MIT
// a64_oracle OUT.txt: runs every case of cases.S natively (on Arm64, or
// under qemu-aarch64) and writes, one line per case, its word, form, seed
// and fixups, then the registers and window bytes the instruction changed.
//
// Each case's starting state comes from a64_diff_case.hpp (the same code
// test_a64_diff uses). The data window and the code page are mapped at
// their fixed addresses; the instruction is patched into the first word of
// a copy of the trampoline below, which loads X0-X30, SP and V0-V31 from a
// State, executes the word, and stores them back. V31 is the trampoline's
// scratch (it holds X0 while the state pointer comes back from TPIDR_EL0),
// so no case names it. Built statically with aarch64-linux-gnu-g++.
#include <sys/mman.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>

#include "a64_diff_case.hpp"

using namespace a64diff;

extern "C" {
extern const CaseRecord a64d_cases[];
extern const uint64_t a64d_ncases;
extern const uint32_t a64d_blob[];
extern const uint32_t a64d_blob_entry[];
extern const uint32_t a64d_blob_end[];
}

namespace {

// The trampoline's view of the registers (offsets hard-coded in the
// assembly below; checked by the static_asserts).
struct State {
    uint64_t x[31];
    uint64_t sp;
    uint64_t nzcv;
    uint64_t pad;
    uint64_t v[32][2];
    uint64_t host[22];  // x19-x30, sp, d8-d15, tpidr_el0 of the caller
};
static_assert(offsetof(State, sp) == 248 && offsetof(State, nzcv) == 256 && offsetof(State, v) == 272 &&
              offsetof(State, host) == 784);

}  // namespace

// Position-independent, so it runs from its copy in the code page: the
// slot (the case's instruction) is its first word, at code_page.
asm(R"(
	.text
	.balign 16
	.global a64d_blob, a64d_blob_entry, a64d_blob_end
a64d_blob:
	nop
	fmov d31, x0
	mrs x0, tpidr_el0
	stp x1, x2, [x0, #8]
	stp x3, x4, [x0, #24]
	stp x5, x6, [x0, #40]
	stp x7, x8, [x0, #56]
	stp x9, x10, [x0, #72]
	stp x11, x12, [x0, #88]
	stp x13, x14, [x0, #104]
	stp x15, x16, [x0, #120]
	stp x17, x18, [x0, #136]
	stp x19, x20, [x0, #152]
	stp x21, x22, [x0, #168]
	stp x23, x24, [x0, #184]
	stp x25, x26, [x0, #200]
	stp x27, x28, [x0, #216]
	stp x29, x30, [x0, #232]
	mov x1, sp
	str x1, [x0, #248]
	mrs x1, nzcv
	str x1, [x0, #256]
	fmov x1, d31
	str x1, [x0]
	add x1, x0, #272
	stp q0, q1, [x1, #0]
	stp q2, q3, [x1, #32]
	stp q4, q5, [x1, #64]
	stp q6, q7, [x1, #96]
	stp q8, q9, [x1, #128]
	stp q10, q11, [x1, #160]
	stp q12, q13, [x1, #192]
	stp q14, q15, [x1, #224]
	stp q16, q17, [x1, #256]
	stp q18, q19, [x1, #288]
	stp q20, q21, [x1, #320]
	stp q22, q23, [x1, #352]
	stp q24, q25, [x1, #384]
	stp q26, q27, [x1, #416]
	stp q28, q29, [x1, #448]
	str q30, [x1, #480]
	add x9, x0, #784
	ldr x10, [x9, #168]
	msr tpidr_el0, x10
	ldp d8, d9, [x9, #104]
	ldp d10, d11, [x9, #120]
	ldp d12, d13, [x9, #136]
	ldp d14, d15, [x9, #152]
	ldr x10, [x9, #96]
	mov sp, x10
	ldp x19, x20, [x9, #0]
	ldp x21, x22, [x9, #16]
	ldp x23, x24, [x9, #32]
	ldp x25, x26, [x9, #48]
	ldp x27, x28, [x9, #64]
	ldp x29, x30, [x9, #80]
	ret
a64d_blob_entry:
	add x9, x0, #784
	stp x19, x20, [x9, #0]
	stp x21, x22, [x9, #16]
	stp x23, x24, [x9, #32]
	stp x25, x26, [x9, #48]
	stp x27, x28, [x9, #64]
	stp x29, x30, [x9, #80]
	mov x10, sp
	str x10, [x9, #96]
	stp d8, d9, [x9, #104]
	stp d10, d11, [x9, #120]
	stp d12, d13, [x9, #136]
	stp d14, d15, [x9, #152]
	mrs x10, tpidr_el0
	str x10, [x9, #168]
	msr tpidr_el0, x0
	ldr x1, [x0, #256]
	msr nzcv, x1
	ldr x1, [x0, #248]
	mov sp, x1
	add x1, x0, #272
	ldp q0, q1, [x1, #0]
	ldp q2, q3, [x1, #32]
	ldp q4, q5, [x1, #64]
	ldp q6, q7, [x1, #96]
	ldp q8, q9, [x1, #128]
	ldp q10, q11, [x1, #160]
	ldp q12, q13, [x1, #192]
	ldp q14, q15, [x1, #224]
	ldp q16, q17, [x1, #256]
	ldp q18, q19, [x1, #288]
	ldp q20, q21, [x1, #320]
	ldp q22, q23, [x1, #352]
	ldp q24, q25, [x1, #384]
	ldp q26, q27, [x1, #416]
	ldp q28, q29, [x1, #448]
	ldp q30, q31, [x1, #480]
	ldp x1, x2, [x0, #8]
	ldp x3, x4, [x0, #24]
	ldp x5, x6, [x0, #40]
	ldp x7, x8, [x0, #56]
	ldp x9, x10, [x0, #72]
	ldp x11, x12, [x0, #88]
	ldp x13, x14, [x0, #104]
	ldp x15, x16, [x0, #120]
	ldp x17, x18, [x0, #136]
	ldp x19, x20, [x0, #152]
	ldp x21, x22, [x0, #168]
	ldp x23, x24, [x0, #184]
	ldp x25, x26, [x0, #200]
	ldp x27, x28, [x0, #216]
	ldp x29, x30, [x0, #232]
	ldr x0, [x0]
	b a64d_blob
a64d_blob_end:
)");

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s OUT.txt\n", argv[0]);
        return 2;
    }
    // DC ZVA zeroes DCZID_EL0's block; hvcore's model CPU has 64 bytes
    // (BS = 4). A CPU with another size (QEMU's "max" has 512) would make
    // the comparison meaningless: run under -cpu cortex-a76.
    uint64_t dczid = 0;
    asm volatile("mrs %0, dczid_el0" : "=r"(dczid));
    if ((dczid & 0x1f) != 4) {
        std::fprintf(stderr, "a64_oracle: DCZID_EL0 = %#llx, not the 64-byte block hvcore models (run with -cpu cortex-a76)\n",
                     static_cast<unsigned long long>(dczid));
        return 1;
    }
    auto* mem = static_cast<uint8_t*>(mmap(reinterpret_cast<void*>(window), window_bytes, PROT_READ | PROT_WRITE,
                                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0));
    auto* code = static_cast<uint8_t*>(mmap(reinterpret_cast<void*>(code_page), 4096,
                                            PROT_READ | PROT_WRITE | PROT_EXEC,
                                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0));
    if (mem != reinterpret_cast<uint8_t*>(window) || code != reinterpret_cast<uint8_t*>(code_page)) {
        std::fprintf(stderr, "a64_oracle: cannot map the window at %#llx and code at %#llx: %s\n",
                     static_cast<unsigned long long>(window), static_cast<unsigned long long>(code_page),
                     std::strerror(errno));
        return 1;
    }
    const auto blob_bytes = static_cast<size_t>(reinterpret_cast<const uint8_t*>(a64d_blob_end) -
                                                reinterpret_cast<const uint8_t*>(a64d_blob));
    std::memcpy(code, a64d_blob, blob_bytes);
    const auto entry = reinterpret_cast<void (*)(State*)>(
        code + (reinterpret_cast<const uint8_t*>(a64d_blob_entry) - reinterpret_cast<const uint8_t*>(a64d_blob)));

    FILE* out = std::fopen(argv[1], "w");
    if (out == nullptr) {
        std::perror(argv[1]);
        return 1;
    }
    std::fprintf(out, "a64_oracle %llu cases\n", static_cast<unsigned long long>(a64d_ncases));
    static std::array<uint8_t, window_bytes> before{};
    for (uint64_t i = 0; i < a64d_ncases; ++i) {
        const CaseRecord& c = a64d_cases[i];
        Regs r;
        initial_state(c, r, before);
        State s{};
        for (unsigned n = 0; n < 31; ++n) s.x[n] = r.x[n];
        s.sp = r.x[31];
        for (unsigned n = 0; n < 32; ++n) {
            s.v[n][0] = r.v[n][0];
            s.v[n][1] = r.v[n][1];
        }
        std::memcpy(mem, before.data(), window_bytes);
        std::memcpy(code, &c.word, 4);
        __builtin___clear_cache(reinterpret_cast<char*>(code), reinterpret_cast<char*>(code + 4));
        entry(&s);

        std::fprintf(out, "%llu %08x %u %llx %u", static_cast<unsigned long long>(i), c.word, c.form,
                     static_cast<unsigned long long>(c.seed), c.nfix);
        for (unsigned n = 0; n < c.nfix && n < max_fixups; ++n)
            std::fprintf(out, " %u %u %llx %llu", c.fix[n].kind, c.fix[n].reg,
                         static_cast<unsigned long long>(c.fix[n].value), static_cast<unsigned long long>(c.fix[n].size));
        std::fprintf(out, " |");
        for (unsigned n = 0; n < 32; ++n) {
            const uint64_t now = n == 31 ? s.sp : s.x[n];
            if (now != r.x[n]) std::fprintf(out, " x%u=%llx", n, static_cast<unsigned long long>(now));
        }
        for (unsigned n = 0; n < 31; ++n)
            if (s.v[n][0] != r.v[n][0] || s.v[n][1] != r.v[n][1])
                std::fprintf(out, " v%u=%llx:%llx", n, static_cast<unsigned long long>(s.v[n][0]),
                             static_cast<unsigned long long>(s.v[n][1]));
        for (unsigned b = 0; b < window_bytes; ++b)
            if (mem[b] != before[b]) std::fprintf(out, " m%x=%02x", b, mem[b]);
        std::fprintf(out, " | %s\n", c.text);
    }
    return std::fclose(out) == 0 ? 0 : 1;
}

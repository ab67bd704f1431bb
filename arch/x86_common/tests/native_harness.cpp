// SPDX-License-Identifier: MIT
// hvcore_x86_test_native_run(NativeState* state, const void* code), System
// V: RDI = state, RSI = code. Loads XMM0-15, RFLAGS and every GPR but RSP
// from *state, calls code, stores them back, and clears DF again before
// returning to C (the ABI requires DF = 0). Callee-saved registers are
// preserved; XMM registers are all caller-saved.
#include "native_harness.hpp"

asm(R"(
    .text
    .p2align 4
    .globl hvcore_x86_test_native_run
    .type hvcore_x86_test_native_run, @function
hvcore_x86_test_native_run:
    push %rbx
    push %rbp
    push %r12
    push %r13
    push %r14
    push %r15
    push %rdi
    push %rsi
    movdqu 144(%rdi), %xmm0
    movdqu 160(%rdi), %xmm1
    movdqu 176(%rdi), %xmm2
    movdqu 192(%rdi), %xmm3
    movdqu 208(%rdi), %xmm4
    movdqu 224(%rdi), %xmm5
    movdqu 240(%rdi), %xmm6
    movdqu 256(%rdi), %xmm7
    movdqu 272(%rdi), %xmm8
    movdqu 288(%rdi), %xmm9
    movdqu 304(%rdi), %xmm10
    movdqu 320(%rdi), %xmm11
    movdqu 336(%rdi), %xmm12
    movdqu 352(%rdi), %xmm13
    movdqu 368(%rdi), %xmm14
    movdqu 384(%rdi), %xmm15
    pushq 128(%rdi)
    popfq
    mov 0(%rdi), %rax
    mov 8(%rdi), %rcx
    mov 16(%rdi), %rdx
    mov 24(%rdi), %rbx
    mov 40(%rdi), %rbp
    mov 48(%rdi), %rsi
    mov 64(%rdi), %r8
    mov 72(%rdi), %r9
    mov 80(%rdi), %r10
    mov 88(%rdi), %r11
    mov 96(%rdi), %r12
    mov 104(%rdi), %r13
    mov 112(%rdi), %r14
    mov 120(%rdi), %r15
    mov 56(%rdi), %rdi
    call *(%rsp)
    xchg %rdi, 8(%rsp)
    mov %rax, 0(%rdi)
    mov %rcx, 8(%rdi)
    mov %rdx, 16(%rdi)
    mov %rbx, 24(%rdi)
    mov %rbp, 40(%rdi)
    mov %rsi, 48(%rdi)
    mov %r8, 64(%rdi)
    mov %r9, 72(%rdi)
    mov %r10, 80(%rdi)
    mov %r11, 88(%rdi)
    mov %r12, 96(%rdi)
    mov %r13, 104(%rdi)
    mov %r14, 112(%rdi)
    mov %r15, 120(%rdi)
    pushfq
    popq 128(%rdi)
    cld
    mov 8(%rsp), %rax
    mov %rax, 56(%rdi)
    movdqu %xmm0, 144(%rdi)
    movdqu %xmm1, 160(%rdi)
    movdqu %xmm2, 176(%rdi)
    movdqu %xmm3, 192(%rdi)
    movdqu %xmm4, 208(%rdi)
    movdqu %xmm5, 224(%rdi)
    movdqu %xmm6, 240(%rdi)
    movdqu %xmm7, 256(%rdi)
    movdqu %xmm8, 272(%rdi)
    movdqu %xmm9, 288(%rdi)
    movdqu %xmm10, 304(%rdi)
    movdqu %xmm11, 320(%rdi)
    movdqu %xmm12, 336(%rdi)
    movdqu %xmm13, 352(%rdi)
    movdqu %xmm14, 368(%rdi)
    movdqu %xmm15, 384(%rdi)
    add $16, %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbp
    pop %rbx
    ret
    .size hvcore_x86_test_native_run, .-hvcore_x86_test_native_run
)");

#include <cpuid.h>

#include <string_view>

namespace hvcore::x86::test {

Vendor host_vendor() {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    __cpuid(0, eax, ebx, ecx, edx);
    // The vendor string is EBX, EDX, ECX in that order.
    std::array<char, 12> id{};
    std::memcpy(id.data(), &ebx, 4);
    std::memcpy(id.data() + 4, &edx, 4);
    std::memcpy(id.data() + 8, &ecx, 4);
    const std::string_view s(id.data(), id.size());
    if (s == "AuthenticAMD") return Vendor::amd;
    REQUIRE_MESSAGE(s == "GenuineIntel", "the differential tests compare with Intel or AMD processors only; this one is ", s);
    return Vendor::intel;
}

}  // namespace hvcore::x86::test

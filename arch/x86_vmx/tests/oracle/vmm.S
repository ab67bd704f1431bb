/* SPDX-License-Identifier: MIT */
// A minimal VMM for Bochs: enters long mode, VMXON, one VMCS with EPT on
// and a 64-bit guest, then runs the tests the harness put in the data
// image (carried in the ROM, rom.S, and copied to 16 MiB). For each test it loads the test's EPTP
// and guest RIP, VM-enters, and on the VM exit prints one line to port
// 0xe9 (Bochs port_e9_hack):
//
//   R <test> <exit reason> <exit qualification> <guest-physical address> <guest-linear address> <interruption info>
//
// all in hex. The guest code of each test ends in VMCALL (exit 18), so a
// test whose access did not exit still prints one line. After the last
// test it prints "END" and stops Bochs by writing "Shutdown" to port
// 0x8900 (Bochs iodev/unmapped.cc).
//
// The guest's general-purpose registers are not saved: every test sets the
// registers it uses itself (the harness writes that code).
//
// References: Intel SDM Vol. 3C §24.11.5 (VMXON region, IA32_FEATURE_CONTROL),
// §24.2 (VMCS region, revision id), Appendix A.3-A.5 and A.7-A.8 (control
// and CR0/CR4 capability MSRs), §26.2-26.3 (VM-entry checks on control,
// host and guest state), Appendix B (field encodings), Appendix C (exit
// reasons), §30.3 (VMX instructions). Long mode: Vol. 3A §9.8.5.
#include "x86_host.inc" /* arch/x86_common/tests/oracle */
    .set DATA_BASE, 0x1000000

    // Header of the data image (written by the harness, test_ept_oracle.cpp).
    .set HDR_MAGIC, 0
    .set HDR_NR_TESTS, 8
    .set HDR_GUEST_CR3, 16
    .set HDR_NR_FILLS, 24
    .set HDR_FILLS, 32        // offset of {u64 hpa, u64 byte}[nr_fills]
    .set HDR_TESTS, 40        // offset of {u64 eptp, u64 rip}[nr_tests]

    // VMCS field encodings (SDM Vol. 3C Appendix B).
    .set GUEST_ES_SEL, 0x0800
    .set GUEST_CS_SEL, 0x0802
    .set GUEST_SS_SEL, 0x0804
    .set GUEST_DS_SEL, 0x0806
    .set GUEST_FS_SEL, 0x0808
    .set GUEST_GS_SEL, 0x080a
    .set GUEST_LDTR_SEL, 0x080c
    .set GUEST_TR_SEL, 0x080e
    .set HOST_ES_SEL, 0x0c00
    .set HOST_CS_SEL, 0x0c02
    .set HOST_SS_SEL, 0x0c04
    .set HOST_DS_SEL, 0x0c06
    .set HOST_FS_SEL, 0x0c08
    .set HOST_GS_SEL, 0x0c0a
    .set HOST_TR_SEL, 0x0c0c
    .set EPT_POINTER, 0x201a
    .set GUEST_PHYSICAL_ADDRESS, 0x2400
    .set VMCS_LINK_POINTER, 0x2800
    .set GUEST_DEBUGCTL, 0x2802
    .set GUEST_EFER, 0x2806
    .set PIN_CONTROLS, 0x4000
    .set PROC_CONTROLS, 0x4002
    .set EXCEPTION_BITMAP, 0x4004
    .set PF_ERROR_MASK, 0x4006
    .set PF_ERROR_MATCH, 0x4008
    .set CR3_TARGET_COUNT, 0x400a
    .set EXIT_CONTROLS, 0x400c
    .set EXIT_MSR_STORE_COUNT, 0x400e
    .set EXIT_MSR_LOAD_COUNT, 0x4010
    .set ENTRY_CONTROLS, 0x4012
    .set ENTRY_MSR_LOAD_COUNT, 0x4014
    .set ENTRY_INTR_INFO, 0x4016
    .set PROC_CONTROLS2, 0x401e
    .set VM_INSTRUCTION_ERROR, 0x4400
    .set EXIT_REASON, 0x4402
    .set EXIT_INTR_INFO, 0x4404
    .set GUEST_ES_LIMIT, 0x4800
    .set GUEST_CS_LIMIT, 0x4802
    .set GUEST_SS_LIMIT, 0x4804
    .set GUEST_DS_LIMIT, 0x4806
    .set GUEST_FS_LIMIT, 0x4808
    .set GUEST_GS_LIMIT, 0x480a
    .set GUEST_LDTR_LIMIT, 0x480c
    .set GUEST_TR_LIMIT, 0x480e
    .set GUEST_GDTR_LIMIT, 0x4810
    .set GUEST_IDTR_LIMIT, 0x4812
    .set GUEST_ES_AR, 0x4814
    .set GUEST_CS_AR, 0x4816
    .set GUEST_SS_AR, 0x4818
    .set GUEST_DS_AR, 0x481a
    .set GUEST_FS_AR, 0x481c
    .set GUEST_GS_AR, 0x481e
    .set GUEST_LDTR_AR, 0x4820
    .set GUEST_TR_AR, 0x4822
    .set GUEST_INTERRUPTIBILITY, 0x4824
    .set GUEST_ACTIVITY, 0x4826
    .set GUEST_SYSENTER_CS, 0x482a
    .set HOST_SYSENTER_CS, 0x4c00
    .set CR0_MASK, 0x6000
    .set CR4_MASK, 0x6002
    .set CR0_SHADOW, 0x6004
    .set CR4_SHADOW, 0x6006
    .set EXIT_QUALIFICATION, 0x6400
    .set GUEST_LINEAR_ADDRESS, 0x640a
    .set GUEST_CR0, 0x6800
    .set GUEST_CR3, 0x6802
    .set GUEST_CR4, 0x6804
    .set GUEST_ES_BASE, 0x6806
    .set GUEST_CS_BASE, 0x6808
    .set GUEST_SS_BASE, 0x680a
    .set GUEST_DS_BASE, 0x680c
    .set GUEST_FS_BASE, 0x680e
    .set GUEST_GS_BASE, 0x6810
    .set GUEST_LDTR_BASE, 0x6812
    .set GUEST_TR_BASE, 0x6814
    .set GUEST_GDTR_BASE, 0x6816
    .set GUEST_IDTR_BASE, 0x6818
    .set GUEST_DR7, 0x681a
    .set GUEST_RSP, 0x681c
    .set GUEST_RIP, 0x681e
    .set GUEST_RFLAGS, 0x6820
    .set GUEST_PENDING_DBG, 0x6822
    .set GUEST_SYSENTER_ESP, 0x6824
    .set GUEST_SYSENTER_EIP, 0x6826
    .set HOST_CR0, 0x6c00
    .set HOST_CR3, 0x6c02
    .set HOST_CR4, 0x6c04
    .set HOST_FS_BASE, 0x6c06
    .set HOST_GS_BASE, 0x6c08
    .set HOST_TR_BASE, 0x6c0a
    .set HOST_GDTR_BASE, 0x6c0c
    .set HOST_IDTR_BASE, 0x6c0e
    .set HOST_SYSENTER_ESP, 0x6c10
    .set HOST_SYSENTER_EIP, 0x6c12
    .set HOST_RSP, 0x6c14
    .set HOST_RIP, 0x6c16

    // MSRs (SDM Vol. 4 Table 2-2; Vol. 3C Appendix A).
    .set IA32_FEATURE_CONTROL, 0x3a
    .set IA32_VMX_BASIC, 0x480
    .set IA32_VMX_PINBASED_CTLS, 0x481
    .set IA32_VMX_PROCBASED_CTLS, 0x482
    .set IA32_VMX_EXIT_CTLS, 0x483
    .set IA32_VMX_ENTRY_CTLS, 0x484
    .set IA32_VMX_CR0_FIXED0, 0x486
    .set IA32_VMX_CR0_FIXED1, 0x487
    .set IA32_VMX_CR4_FIXED0, 0x488
    .set IA32_VMX_CR4_FIXED1, 0x489
    .set IA32_VMX_PROCBASED_CTLS2, 0x48b
    .set IA32_EFER, 0xc0000080

// vmwrite of an immediate or register value to a field.
.macro VMW field, value
    mov $\field, %rdx
    mov \value, %rax
    call vmwrite_checked
.endm

    .text
    .code32
    .globl _start
_start:
    LOAD_DATA_SEGMENTS 0x10
    mov $stack_top, %esp

    // Identity map of the first 4 GiB with 2 MiB pages (SDM Vol. 3A
    // §4.5): PML4[0] -> PDPT, PDPT[0..3] -> 4 PDs, 2048 PDEs with PS.
    IDENTITY_MAP_4G pml4, pdpt, pd

    mov $pml4, %eax
    mov %eax, %cr3
    mov %cr4, %eax
    or $0x20, %eax               // CR4.PAE
    mov %eax, %cr4
    mov $IA32_EFER, %ecx
    rdmsr
    or $0x100, %eax              // EFER.LME
    wrmsr
    mov %cr0, %eax
    or $0x80000000, %eax         // CR0.PG
    mov %eax, %cr0
    lgdt gdt_ptr
    ljmp $0x08, $long_mode

    .code64
long_mode:
    LOAD_DATA_SEGMENTS 0x10
    mov $stack_top, %rsp

    // The TSS descriptor at 0x18 (SDM Vol. 3A §8.2.3, Figure 8-4): limit
    // 0x67, type 9 (available 64-bit TSS), present.
    mov $tss, %rax
    mov %eax, %ebx
    and $0xffffff, %ebx
    shl $16, %rbx                // base 23:0 at bits 39:16
    mov %rax, %rcx
    shr $24, %rcx
    and $0xff, %rcx
    shl $56, %rcx                // base 31:24 at bits 63:56
    or %rcx, %rbx
    mov $0x0000890000000067, %rcx
    or %rcx, %rbx
    mov %rbx, gdt+0x18
    shr $32, %rax
    mov %rax, gdt+0x20
    mov $0x18, %ax
    ltr %ax

    lea banner(%rip), %rsi
    call puts

    // The data image: the harness put it in the ROM, right below the last
    // 64 KiB (rom.S), with its size at 0xffffff00. Copied to DATA_BASE.
    mov $0xffffff00, %rsi
    mov (%rsi), %rcx
    mov $0xffff0000, %rsi
    sub %rcx, %rsi
    mov $DATA_BASE, %rdi
    cld
    rep movsb

    // VMXON needs IA32_FEATURE_CONTROL locked with "VMX outside SMX" on.
    mov $IA32_FEATURE_CONTROL, %ecx
    rdmsr
    test $1, %eax
    jnz 1f
    or $5, %eax                  // lock (bit 0), VMX outside SMX (bit 2)
    wrmsr
1:
    // CR0 and CR4 as the fixed-bit MSRs require (Appendix A.7, A.8).
    mov %cr0, %rax
    or $0x20, %rax               // CR0.NE
    mov $IA32_VMX_CR0_FIXED0, %ecx
    call or_msr
    mov $IA32_VMX_CR0_FIXED1, %ecx
    call and_msr
    mov %rax, %cr0
    mov %cr4, %rax
    or $0x2000, %rax             // CR4.VMXE
    mov $IA32_VMX_CR4_FIXED0, %ecx
    call or_msr
    mov $IA32_VMX_CR4_FIXED1, %ecx
    call and_msr
    mov %rax, %cr4

    // VMCS revision identifier: IA32_VMX_BASIC bits 30:0.
    mov $IA32_VMX_BASIC, %ecx
    rdmsr
    and $0x7fffffff, %eax
    mov %eax, vmxon_region
    mov %eax, vmcs_region
    vmxon vmxon_ptr
    lea msg_vmxon(%rip), %rsi
    jbe fail
    vmclear vmcs_ptr
    lea msg_vmclear(%rip), %rsi
    jbe fail
    vmptrld vmcs_ptr
    lea msg_vmptrld(%rip), %rsi
    jbe fail

    // --- controls: wanted bits, then the capability MSR's must-be-1
    // (low half) and may-be-1 (high half) applied (Appendix A.3-A.5).
    xor %eax, %eax
    mov $IA32_VMX_PINBASED_CTLS, %ecx
    call adjust_ctls
    VMW PIN_CONTROLS, %rax
    mov $0x80000000, %eax        // activate secondary controls
    mov $IA32_VMX_PROCBASED_CTLS, %ecx
    call adjust_ctls
    VMW PROC_CONTROLS, %rax
    mov $0x2, %eax               // enable EPT
    mov $IA32_VMX_PROCBASED_CTLS2, %ecx
    call adjust_ctls
    VMW PROC_CONTROLS2, %rax
    test $0x2, %eax
    lea msg_noept(%rip), %rsi
    jz fail
    mov $0x200, %eax             // host address-space size (64-bit host)
    mov $IA32_VMX_EXIT_CTLS, %ecx
    call adjust_ctls
    VMW EXIT_CONTROLS, %rax
    mov $0x8200, %eax            // IA-32e mode guest (bit 9), load IA32_EFER (bit 15)
    mov $IA32_VMX_ENTRY_CTLS, %ecx
    call adjust_ctls
    VMW ENTRY_CONTROLS, %rax
    VMW EXCEPTION_BITMAP, $0xffffffff  // every guest exception exits (reason 0)
    VMW PF_ERROR_MASK, $0
    VMW PF_ERROR_MATCH, $0
    VMW CR3_TARGET_COUNT, $0
    VMW EXIT_MSR_STORE_COUNT, $0
    VMW EXIT_MSR_LOAD_COUNT, $0
    VMW ENTRY_MSR_LOAD_COUNT, $0
    VMW ENTRY_INTR_INFO, $0
    VMW CR0_MASK, $0
    VMW CR4_MASK, $0
    VMW CR0_SHADOW, $0
    VMW CR4_SHADOW, $0
    VMW VMCS_LINK_POINTER, $-1

    // --- host state: this stub, in long mode (§26.2.2, §26.2.3).
    mov %cr0, %rax
    VMW HOST_CR0, %rax
    mov %cr3, %rax
    VMW HOST_CR3, %rax
    mov %cr4, %rax
    VMW HOST_CR4, %rax
    VMW HOST_CS_SEL, $0x08
    VMW HOST_SS_SEL, $0x10
    VMW HOST_DS_SEL, $0x10
    VMW HOST_ES_SEL, $0x10
    VMW HOST_FS_SEL, $0x10
    VMW HOST_GS_SEL, $0x10
    VMW HOST_TR_SEL, $0x18
    VMW HOST_FS_BASE, $0
    VMW HOST_GS_BASE, $0
    VMW HOST_TR_BASE, $tss
    VMW HOST_GDTR_BASE, $gdt
    VMW HOST_IDTR_BASE, $0
    VMW HOST_SYSENTER_CS, $0
    VMW HOST_SYSENTER_ESP, $0
    VMW HOST_SYSENTER_EIP, $0
    VMW HOST_RSP, $exit_stack_top
    VMW HOST_RIP, $vm_exit

    // --- guest state: 64-bit, CPL 0, flat segments, paging with the
    // harness's identity tables (§26.3.1).
    mov $0x80000031, %rax        // PG, NE, ET, PE
    mov $IA32_VMX_CR0_FIXED0, %ecx
    call or_msr
    mov $IA32_VMX_CR0_FIXED1, %ecx
    call and_msr
    VMW GUEST_CR0, %rax
    mov $DATA_BASE, %rbx
    VMW GUEST_CR3, HDR_GUEST_CR3(%rbx)
    mov $0x2020, %rax            // VMXE, PAE
    mov $IA32_VMX_CR4_FIXED0, %ecx
    call or_msr
    mov $IA32_VMX_CR4_FIXED1, %ecx
    call and_msr
    VMW GUEST_CR4, %rax
    VMW GUEST_EFER, $0x500       // LME, LMA
    VMW GUEST_DEBUGCTL, $0
    VMW GUEST_DR7, $0x400
    VMW GUEST_RFLAGS, $0x2
    VMW GUEST_RSP, $0
    VMW GUEST_RIP, $0
    VMW GUEST_CS_SEL, $0x08
    VMW GUEST_SS_SEL, $0x10
    VMW GUEST_DS_SEL, $0x10
    VMW GUEST_ES_SEL, $0x10
    VMW GUEST_FS_SEL, $0x10
    VMW GUEST_GS_SEL, $0x10
    VMW GUEST_LDTR_SEL, $0
    VMW GUEST_TR_SEL, $0x18
    VMW GUEST_CS_BASE, $0
    VMW GUEST_SS_BASE, $0
    VMW GUEST_DS_BASE, $0
    VMW GUEST_ES_BASE, $0
    VMW GUEST_FS_BASE, $0
    VMW GUEST_GS_BASE, $0
    VMW GUEST_LDTR_BASE, $0
    VMW GUEST_TR_BASE, $0
    VMW GUEST_GDTR_BASE, $0
    VMW GUEST_IDTR_BASE, $0
    VMW GUEST_CS_LIMIT, $0xffffffff
    VMW GUEST_SS_LIMIT, $0xffffffff
    VMW GUEST_DS_LIMIT, $0xffffffff
    VMW GUEST_ES_LIMIT, $0xffffffff
    VMW GUEST_FS_LIMIT, $0xffffffff
    VMW GUEST_GS_LIMIT, $0xffffffff
    VMW GUEST_LDTR_LIMIT, $0
    VMW GUEST_TR_LIMIT, $0x67
    VMW GUEST_GDTR_LIMIT, $0x27
    VMW GUEST_IDTR_LIMIT, $0
    // Access rights (§24.4.1, Table 24-2): code 0xa09b (type 11, S, P, L,
    // G); data 0xc093 (type 3, S, P, D/B, G); TR 0x8b (busy 64-bit TSS,
    // P); LDTR unusable (bit 16).
    VMW GUEST_CS_AR, $0xa09b
    VMW GUEST_SS_AR, $0xc093
    VMW GUEST_DS_AR, $0xc093
    VMW GUEST_ES_AR, $0xc093
    VMW GUEST_FS_AR, $0xc093
    VMW GUEST_GS_AR, $0xc093
    VMW GUEST_LDTR_AR, $0x10000
    VMW GUEST_TR_AR, $0x8b
    VMW GUEST_INTERRUPTIBILITY, $0
    VMW GUEST_ACTIVITY, $0
    VMW GUEST_PENDING_DBG, $0
    VMW GUEST_SYSENTER_CS, $0
    VMW GUEST_SYSENTER_ESP, $0
    VMW GUEST_SYSENTER_EIP, $0

    // The harness's byte fills (instruction bytes at the fetch targets).
    mov $DATA_BASE, %rbx
    mov $0x314c43524f545045, %rax  // "EPTORCL1"
    cmp %rax, HDR_MAGIC(%rbx)
    lea msg_magic(%rip), %rsi
    jne fail
    mov HDR_NR_FILLS(%rbx), %rcx
    mov HDR_FILLS(%rbx), %rsi
    add %rbx, %rsi
1:  test %rcx, %rcx
    jz 2f
    mov (%rsi), %rdi
    mov 8(%rsi), %al
    mov %al, (%rdi)
    add $16, %rsi
    dec %rcx
    jmp 1b
2:
    lea msg_ready(%rip), %rsi
    call puts
    movq $0, test_index
    cmpq $0, HDR_NR_TESTS(%rbx)
    je done
    call load_test
    vmlaunch
    lea msg_vmlaunch(%rip), %rsi
    jmp fail

// VM exit: one record line for the current test, then the next test.
vm_exit:
    mov $'R', %al
    call putc
    mov test_index, %rax
    call put_hex_sp
    mov $EXIT_REASON, %rdx
    vmread %rdx, %rax
    mov %rax, %r12
    call put_hex_sp
    mov $EXIT_QUALIFICATION, %rdx
    vmread %rdx, %rax
    call put_hex_sp
    mov $GUEST_PHYSICAL_ADDRESS, %rdx
    vmread %rdx, %rax
    call put_hex_sp
    mov $GUEST_LINEAR_ADDRESS, %rdx
    vmread %rdx, %rax
    call put_hex_sp
    mov $EXIT_INTR_INFO, %rdx
    vmread %rdx, %rax
    call put_hex_sp
    mov $'\n', %al
    call putc
    bt $31, %r12                 // VM-entry failure: the guest state is unusable
    lea msg_entryfail(%rip), %rsi
    jc fail
    incq test_index
    mov test_index, %rax
    mov $DATA_BASE, %rbx
    cmp HDR_NR_TESTS(%rbx), %rax
    jae done
    call load_test
    vmresume
    lea msg_vmresume(%rip), %rsi
    jmp fail

done:
    lea msg_end(%rip), %rsi
    call puts
    jmp shutdown

// The EPTP and guest RIP of test test_index; INVEPT all-context drops any
// translation cached under the previous test's tables (§30.3 INVEPT).
load_test:
    mov $DATA_BASE, %rbx
    mov HDR_TESTS(%rbx), %rsi
    add %rbx, %rsi
    mov test_index, %rax
    shl $4, %rax
    add %rax, %rsi
    mov (%rsi), %rax
    mov %rax, invept_desc
    VMW EPT_POINTER, %rax
    VMW GUEST_RIP, 8(%rsi)
    mov $2, %rcx                 // all-context invalidation
    invept invept_desc, %rcx
    lea msg_invept(%rip), %rsi
    jbe fail
    ret

// vmwrite %rax to field %rdx; stops with a message if VMfail.
vmwrite_checked:
    vmwrite %rax, %rdx
    jbe 1f
    ret
1:  mov %rdx, vmwrite_field
    lea msg_vmwrite(%rip), %rsi
    call puts
    mov vmwrite_field, %rax
    call put_hex_sp
    jmp fail

// %eax = (%eax | allowed-0 settings) & allowed-1 settings of MSR %ecx.
adjust_ctls:
    mov %eax, %esi
    rdmsr
    or %eax, %esi
    and %edx, %esi
    mov %esi, %eax
    ret

// %rax |= MSR %ecx; %rax &= MSR %ecx (for the CR0/CR4 fixed bits).
or_msr:
    mov %rax, %rsi
    rdmsr
    shl $32, %rdx
    or %rdx, %rax
    or %rax, %rsi
    mov %rsi, %rax
    ret
and_msr:
    mov %rax, %rsi
    rdmsr
    shl $32, %rdx
    or %rdx, %rax
    and %rax, %rsi
    mov %rsi, %rax
    ret

// Prints the message at %rsi, then VM_INSTRUCTION_ERROR, then stops.
fail:
    call puts
    mov $VM_INSTRUCTION_ERROR, %rdx
    vmread %rdx, %rax
    call put_hex_sp
    mov $'\n', %al
    call putc
    lea msg_failed(%rip), %rsi
    call puts
shutdown:
    mov $0x8900, %dx
    lea msg_shutdown(%rip), %rsi
    mov $8, %rcx
    rep outsb
    hlt
    jmp shutdown

// putc (AL) and puts (the NUL-terminated string at RSI) on port 0xE9.
    E9_OUTPUT_ROUTINES

// " " then %rax in hex, no leading zeros.
put_hex_sp:
    push %rax
    mov $' ', %al
    call putc
    pop %rax
    mov %rax, %rdx
    mov $60, %cl
    xor %r8, %r8                 // a digit was printed
1:  mov %rdx, %rax
    shr %cl, %rax
    and $0xf, %rax
    test %r8, %r8
    jnz 2f
    test %rax, %rax
    jnz 2f
    test %cl, %cl
    jz 2f
    jmp 3f
2:  mov $1, %r8
    lea hexdigits(%rip), %rsi
    mov (%rsi,%rax), %al
    call putc
3:  sub $4, %cl
    jns 1b
    ret

    .data
    .p2align 3
gdt:
    .quad 0
    .quad 0x00af9a000000ffff     // 0x08: 64-bit code (L), DPL 0 (SDM Vol. 3A §5.2.1)
    .quad 0x00cf92000000ffff     // 0x10: data
    .quad 0, 0                   // 0x18: TSS descriptor, filled in at start
gdt_end:
gdt_ptr:
    .word gdt_end - gdt - 1
    .quad gdt
vmxon_ptr:
    .quad vmxon_region
vmcs_ptr:
    .quad vmcs_region
test_index:
    .quad 0
vmwrite_field:
    .quad 0
    .p2align 4
invept_desc:
    .quad 0, 0
hexdigits:
    .ascii "0123456789abcdef"
banner:
    .asciz "ept-oracle vmm\n"
msg_ready:
    .asciz "ready\n"
msg_end:
    .asciz "END\n"
msg_failed:
    .asciz "FAILED\n"
msg_vmxon:
    .asciz "vmxon failed"
msg_vmclear:
    .asciz "vmclear failed"
msg_vmptrld:
    .asciz "vmptrld failed"
msg_vmwrite:
    .asciz "vmwrite failed, field"
msg_noept:
    .asciz "no EPT in the secondary controls"
msg_magic:
    .asciz "bad data image magic"
msg_vmlaunch:
    .asciz "vmlaunch failed, error"
msg_vmresume:
    .asciz "vmresume failed, error"
msg_entryfail:
    .asciz "VM entry failed (exit reason bit 31)"
msg_invept:
    .asciz "invept failed"
msg_shutdown:
    .ascii "Shutdown"

    .bss
    .p2align 12
pml4:
    .skip 4096
pdpt:
    .skip 4096
pd:
    .skip 4 * 4096
vmxon_region:
    .skip 4096
vmcs_region:
    .skip 4096
tss:
    .skip 4096
    .skip 16384
stack_top:
    .skip 16384
exit_stack_top:

/* SPDX-License-Identifier: MIT */
/* The public headers (hv.h, hvdm.h, hvdm_plugin.h) compile as C99 -pedantic -Wall -Wextra -Werror, and
 * the layouts hv.h and hvdm.h pin hold in C too. C99 has no _Static_assert, so each
 * check is a typedef of an array whose size is -1 (a compile error) when the
 * condition is false. The bitfield byte (offset 30 of hvdm_ioreq_t) cannot
 * be checked with offsetof; main() checks it at run time. */
#include <hvcore/hv.h>
#include <hvcore/hvdm.h>
#include <hvcore/hvdm_plugin.h>

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define ABI_ASSERT(name, cond) typedef char abi_assert_##name[(cond) ? 1 : -1]

/* hvdm_ioreq_t: Xen's struct ioreq (xen/include/public/hvm/ioreq.h), 32 bytes */
ABI_ASSERT(ioreq_size_is_32, sizeof(hvdm_ioreq_t) == 32);
ABI_ASSERT(ioreq_addr_at_0, offsetof(hvdm_ioreq_t, addr) == 0);
ABI_ASSERT(ioreq_data_at_8, offsetof(hvdm_ioreq_t, data) == 8);
ABI_ASSERT(ioreq_count_at_16, offsetof(hvdm_ioreq_t, count) == 16);
ABI_ASSERT(ioreq_size_at_20, offsetof(hvdm_ioreq_t, size) == 20);
ABI_ASSERT(ioreq_vp_eport_at_24, offsetof(hvdm_ioreq_t, vp_eport) == 24);
ABI_ASSERT(ioreq_pad0_at_28, offsetof(hvdm_ioreq_t, _pad0) == 28);
ABI_ASSERT(ioreq_type_at_31, offsetof(hvdm_ioreq_t, type) == 31);
/* shared_iopage_t: the slots are consecutive, one per vCPU */
ABI_ASSERT(shared_iopage_is_one_slot, sizeof(hvdm_shared_iopage) == 32);
/* buf_ioreq_t: 8 bytes, data in the second word */
ABI_ASSERT(buf_ioreq_size_is_8, sizeof(hvdm_buf_ioreq_t) == 8);
ABI_ASSERT(buf_ioreq_data_at_4, offsetof(hvdm_buf_ioreq_t, data) == 4);
/* buffered_iopage_t: exactly one 4 KiB page, 511 slots from offset 8 */
ABI_ASSERT(buffered_iopage_is_4096, sizeof(hvdm_buffered_iopage) == 4096);
ABI_ASSERT(buffered_read_pointer_at_0, offsetof(hvdm_buffered_iopage, read_pointer) == 0);
ABI_ASSERT(buffered_write_pointer_at_4, offsetof(hvdm_buffered_iopage, write_pointer) == 4);
ABI_ASSERT(buffered_slots_at_8, offsetof(hvdm_buffered_iopage, buf_ioreq) == 8);
ABI_ASSERT(buffered_slot_count_is_511, HVDM_IOREQ_BUFFER_SLOT_NUM == 511);
/* hv_domain_config: 24 bytes (hv.h field order) */
ABI_ASSERT(domain_config_size_is_24, sizeof(hv_domain_config) == 24);
ABI_ASSERT(domain_config_arch_at_4, offsetof(hv_domain_config, arch) == 4);
ABI_ASSERT(domain_config_ram_at_8, offsetof(hv_domain_config, ram_bytes) == 8);
ABI_ASSERT(domain_config_vcpus_at_16, offsetof(hv_domain_config, nr_vcpus) == 16);
ABI_ASSERT(domain_config_flags_at_20, offsetof(hv_domain_config, flags) == 20);
/* hv_fault_record: 56 bytes */
ABI_ASSERT(fault_record_size_is_56, sizeof(hv_fault_record) == 56);
ABI_ASSERT(fault_record_syndrome_at_16, offsetof(hv_fault_record, syndrome) == 16);
ABI_ASSERT(fault_record_gpa_at_24, offsetof(hv_fault_record, gpa) == 24);
ABI_ASSERT(fault_record_gva_at_32, offsetof(hv_fault_record, gva) == 32);
ABI_ASSERT(fault_record_insn_at_40, offsetof(hv_fault_record, insn) == 40);
/* hvdm_buf: { void *ptr; size_t size; } as xen_dm_op_buf_t */
ABI_ASSERT(buf_ptr_at_0, offsetof(hvdm_buf, ptr) == 0);
ABI_ASSERT(buf_size_after_ptr, offsetof(hvdm_buf, size) == sizeof(void *));
/* hvdm_mem_range (1.3): 24 bytes, no hidden padding */
ABI_ASSERT(mem_range_size_is_24, sizeof(hvdm_mem_range) == 24);
ABI_ASSERT(mem_range_nr_at_8, offsetof(hvdm_mem_range, nr) == 8);
ABI_ASSERT(mem_range_kind_at_16, offsetof(hvdm_mem_range, kind) == 16);
ABI_ASSERT(mem_range_pad_at_20, offsetof(hvdm_mem_range, pad) == 20);
ABI_ASSERT(mem_range_kinds, HVDM_MEM_RAM == 1 && HVDM_MEM_HOLE == 2);
/* Xen's numbers (xen/include/public/hvm/ioreq.h, hvm_op.h, dm_op.h) */
ABI_ASSERT(mem_types_are_xens, HVDM_MEM_RAM_RW == 0 && HVDM_MEM_RAM_RO == 1 && HVDM_MEM_MMIO_DM == 2 &&
                                   HVDM_MEM_UNUSED == 3 && HVDM_MEM_IOREQ_SERVER == 4);
ABI_ASSERT(claim_flags_are_xens, HVDM_IOREQ_MEM_ACCESS_READ == 1 && HVDM_IOREQ_MEM_ACCESS_WRITE == 2);
ABI_ASSERT(write_posted_is_the_next_bit, HVDM_IOREQ_MEM_ACCESS_WRITE_POSTED == 4);
ABI_ASSERT(posted_record_type_is_no_xen_ioreq_type, HVDM_BUF_IOREQ_POSTED == 0x80);
ABI_ASSERT(multi_owner_flag, HV_DOMAIN_MULTI_OWNER == 4);
ABI_ASSERT(range_types_are_xens, HVDM_IO_RANGE_PORT == 0 && HVDM_IO_RANGE_MEMORY == 1 && HVDM_IO_RANGE_PCI == 2);
ABI_ASSERT(bufioreq_modes_are_xens, HVDM_BUFIOREQ_OFF == 0 && HVDM_BUFIOREQ_LEGACY == 1 && HVDM_BUFIOREQ_ATOMIC == 2);
/* hvcore's opt-in flag takes a bit of handle_bufioreq (a uint8_t in the
 * DMOP) that no Xen mode uses */
ABI_ASSERT(bufioreq_wide_is_a_bit_no_mode_uses, HVDM_BUFIOREQ_WIDE == 0x80 && (HVDM_BUFIOREQ_WIDE & 3) == 0);
ABI_ASSERT(states_are_xens, HVDM_STATE_IOREQ_NONE == 0 && HVDM_STATE_IOREQ_READY == 1 &&
                                HVDM_STATE_IOREQ_INPROCESS == 2 && HVDM_STATE_IORESP_READY == 3);
ABI_ASSERT(ioreq_types_are_xens, HVDM_IOREQ_TYPE_PIO == 0 && HVDM_IOREQ_TYPE_COPY == 1 &&
                                     HVDM_IOREQ_TYPE_PCI_CONFIG == 2 && HVDM_IOREQ_TYPE_TIMEOFFSET == 7 &&
                                     HVDM_IOREQ_TYPE_INVALIDATE == 8);
ABI_ASSERT(directions_are_xens, HVDM_IOREQ_WRITE == 0 && HVDM_IOREQ_READ == 1);
ABI_ASSERT(dmop_numbers_are_xens,
           HVDM_DMOP_CREATE_IOREQ_SERVER == 1 && HVDM_DMOP_GET_IOREQ_SERVER_INFO == 2 &&
               HVDM_DMOP_MAP_IO_RANGE_TO_IOREQ_SERVER == 3 && HVDM_DMOP_UNMAP_IO_RANGE_FROM_IOREQ_SERVER == 4 &&
               HVDM_DMOP_SET_IOREQ_SERVER_STATE == 5 && HVDM_DMOP_DESTROY_IOREQ_SERVER == 6 &&
               HVDM_DMOP_TRACK_DIRTY_VRAM == 7 && HVDM_DMOP_MODIFIED_MEMORY == 11 &&
               HVDM_DMOP_SET_MEM_TYPE == 12 && HVDM_DMOP_INJECT_MSI == 14 &&
               HVDM_DMOP_MAP_MEM_TYPE_TO_IOREQ_SERVER == 15 && HVDM_DMOP_SET_IRQ_LEVEL == 19 &&
               HVDM_DMOP_NR_VCPUS == 20);
ABI_ASSERT(vcpu_status_values, HV_VCPU_DONE == 0 && HV_VCPU_IOREQ_PENDING == 1 && HV_VCPU_RETRY == 2 &&
                                   HV_VCPU_GUEST_FAULT == 3);
ABI_ASSERT(arch_values, HV_ARCH_X86_VMX == 1 && HV_ARCH_X86_SVM == 2 && HV_ARCH_ARM64 == 3 && HV_ARCH_RISCV64 == 4);
ABI_ASSERT(reg_values, HV_REG_R15 == 15 && HV_REG_RIP == 16 && HV_REG_RFLAGS == 17 && HV_REG_X30 == 30 &&
                           HV_REG_SP == 31 && HV_REG_PC == 32);
ABI_ASSERT(reg_riscv64_values, HV_REG_RV_X0 == 0 && HV_REG_RV_X10 == 10 && HV_REG_RV_X31 == 31 && HV_REG_RV_PC == 32);
/* hvdm_plugin.h: plug-in ABI 2, and HVDM_PLUGIN_DEFINE() is a C99
 * definition at file scope */
ABI_ASSERT(plugin_abi_is_2, HVDM_PLUGIN_ABI == 2);
ABI_ASSERT(plugin_env_size_first, offsetof(hvdm_plugin_env, size) == 0 && offsetof(hvdm_plugin_env, abi) == 4);
HVDM_PLUGIN_DEFINE();
/* hv_version.h: a preprocessor constant */
#if HV_VERSION_NUMBER < 0x010100
#error "these headers declare HVCORE_1.1 functions"
#endif
/* XEN_DMOP_PCI_SBDF(1, 2, 3, 4) = 1 << 16 | 2 << 8 | 3 << 3 | 4 */
ABI_ASSERT(pci_sbdf_is_xens, HVDM_PCI_SBDF(1, 2, 3, 4) == 0x1021cu);

int main(void) {
    int failures = 0;
    hvdm_ioreq_t r;
    unsigned char bytes[sizeof r];

    /* Byte 30 of struct ioreq: state in bits 3:0, data_is_ptr bit 4, dir
     * bit 5, df bit 6 (little-endian bitfields, as Xen's GCC build). */
    memset(&r, 0, sizeof r);
    r.state = HVDM_STATE_IORESP_READY;
    r.dir = HVDM_IOREQ_READ;
    r.type = HVDM_IOREQ_TYPE_PCI_CONFIG;
    memcpy(bytes, &r, sizeof r);
    if (bytes[30] != (3u | 1u << 5)) {
        printf("byte 30 of hvdm_ioreq_t is 0x%02x, want 0x23 (state 3, dir 1)\n", bytes[30]);
        ++failures;
    }
    if (bytes[31] != 2u) {
        printf("byte 31 of hvdm_ioreq_t is 0x%02x, want 0x02 (type)\n", bytes[31]);
        ++failures;
    }
    memset(&r, 0, sizeof r);
    r.data_is_ptr = 1;
    r.df = 1;
    memcpy(bytes, &r, sizeof r);
    if (bytes[30] != (1u << 4 | 1u << 6)) {
        printf("byte 30 of hvdm_ioreq_t is 0x%02x, want 0x50 (data_is_ptr, df)\n", bytes[30]);
        ++failures;
    }
    /* buf_ioreq_t word 0: type bits 7:0, dir bit 9, size bits 11:10, addr
     * bits 31:12 (xen/include/public/hvm/ioreq.h buf_ioreq_t). */
    {
        hvdm_buf_ioreq_t b;
        uint32_t w0;
        memset(&b, 0, sizeof b);
        b.type = HVDM_IOREQ_TYPE_COPY;
        b.dir = 1;
        b.size = 3;
        b.addr = 0xabcde;
        memcpy(&w0, &b, sizeof w0);
        if (w0 != (1u | 1u << 9 | 3u << 10 | 0xabcdeu << 12)) {
            printf("buf_ioreq_t word 0 is 0x%08x, want 0x%08x\n", (unsigned)w0,
                   (unsigned)(1u | 1u << 9 | 3u << 10 | 0xabcdeu << 12));
            ++failures;
        }
    }
    printf("%s\n", failures == 0 ? "header_c99: layouts as hv.h and hvdm.h document them" : "header_c99: layout mismatch");
    return failures == 0 ? 0 : 1;
}

// SPDX-License-Identifier: MIT
// VMSAv8-64 stage-2 translation table descriptors, 4 KiB granule: the
// format as constexpr masks with pure encode/decode functions between a
// descriptor and the neutral (mfn, P2mType, Perm, MemClass). No table
// walking here: that is stage2.hpp.
//
// References are to the Arm Architecture Reference Manual for A-profile,
// DDI 0487 ("Arm ARM"), chapter D8 "The AArch64 Virtual Memory System
// Architecture": §D8.3 "Translation table descriptor formats" (the
// invalid, table, block and page descriptor figures), §D8.4 "Memory
// access control" (stage-2 S2AP, XN, the Access flag), §D8.5 "Memory
// region attributes" (stage-2 MemAttr and SH). Section and figure numbers
// move between editions (older ones have this as chapter D5, "D5.3
// VMSAv8-64 translation table format descriptors"), so each citation also
// names the field. The bit positions are the ones KVM
// (arch/arm64/include/asm/kvm_pgtable.h, arch/arm64/kvm/hyp/pgtable.c:
// KVM_PTE_LEAF_ATTR_*), Xen (xen/arch/arm/include/asm/lpae.h: lpae_p2m_t)
// and QEMU (target/arm/ptw.c: get_S2prot, get_phys_addr_lpae) use.
//
// The model CPU is a plain Armv8.0 stage 2 (QEMU -cpu cortex-a57): no
// FEAT_XNX (only XN[1], bit 54, counts), no FEAT_HAFDBS (AF = 0 always
// faults, DBM is ignored), no FEAT_LPA2 (output addresses are bits 47:12).
//
// Layout choices of hvcore (bits the hardware ignores):
//   58:55  p2m type, 4 bits, as Xen's lpae_p2m_t.type ("ignored by
//          hardware"; KVM_PTE_LEAF_ATTR_HI_SW is GENMASK(58, 55)), and the
//          owner of an ioreq_server leaf with it. The field is a code:
//            0..5   the type of that value (P2mType), owner 0
//            6, 7   unused
//            8..14  ioreq_server owned by 1..7 (code 7 + owner)
//            15     ioreq_server owned by 0 (P2mType::ioreq_server)
//          so a single-claim domain whose server is 0 writes Xen's layout
//          exactly, and the field still names one type per code;
//   59     lazy-recalculation mark. It is only ever set in an *invalid*
//          descriptor (bit 0 = 0), whose bits 63:1 the hardware ignores
//          entirely (Arm ARM D8.3, "Invalid descriptor": "bits[63:1] are
//          IGNORED"), so no hardware field is touched: marking keeps the
//          whole descriptor and clears only bit 0.
// AF (bit 10) is set in every leaf hvcore writes, so a table hvcore built
// never raises an Access-flag fault.
#pragma once

#include <cstdint>
#include <optional>

#include <gsl/assert>

#include "hvcore/core/p2m_type.hpp"
#include "hvcore/core/types.hpp"

namespace hvcore::arm64 {

// Lookup levels as the Arm ARM numbers them (D8.2 "Translation table
// walk"): level 0 is the top of a 48-bit walk, level 3 holds 4 KiB pages.
// A level-L descriptor covers 2^(9 * (3 - L)) 4 KiB pages.
inline constexpr unsigned level_0 = 0;  // 512 GiB per entry; tables only (no blocks without FEAT_LPA2)
inline constexpr unsigned level_1 = 1;  // 1 GiB block or table
inline constexpr unsigned level_2 = 2;  // 2 MiB block or table
inline constexpr unsigned level_3 = 3;  // 4 KiB page
inline constexpr unsigned bits_per_level = 9;  // 512 8-byte descriptors per 4 KiB table
inline constexpr unsigned entries_per_table = 1U << bits_per_level;

[[nodiscard]] constexpr unsigned level_order(unsigned level) noexcept { return (level_3 - level) * bits_per_level; }
[[nodiscard]] constexpr uint64_t level_pages(unsigned level) noexcept { return uint64_t{1} << level_order(level); }
// The lowest input-address bit a level resolves: 12 + 9 * (3 - L).
[[nodiscard]] constexpr unsigned level_shift(unsigned level) noexcept { return page_shift + level_order(level); }

[[nodiscard]] constexpr uint64_t bit(unsigned n) noexcept { return uint64_t{1} << n; }

// The neutral content of one leaf descriptor.
struct S2LeafFields {
    Mfn mfn{};                        // first frame of the page or block
    P2mType type = P2mType::mmio_dm;
    Perm perm{};                      // rights S2AP/XN encode (restored ones, for a marked leaf)
    std::optional<MemClass> mem;      // nullopt for a MemAttr hvcore never writes
    bool valid = false;               // bit 0: the hardware uses the descriptor
    bool recalc = false;              // bit 59 (only in an invalid descriptor)
    constexpr bool operator==(const S2LeafFields&) const noexcept = default;
};

class S2Desc final {
public:
    S2Desc() = delete;

    // --- hardware bits (Arm ARM D8.3, block/page/table descriptors) ------------
    static constexpr uint64_t valid = bit(0);      // 0 = invalid: translation fault at this level         Arm ARM D8.3, descriptor bit[0]
    static constexpr uint64_t type_bit = bit(1);   // 1 = table (levels 0-2) or page (level 3); 0 = block  Arm ARM D8.3, descriptor bit[1]
    static constexpr unsigned memattr_shift = 2;
    static constexpr uint64_t memattr_mask = uint64_t{0xf} << memattr_shift;  // MemAttr[3:0], stage 2 (HCR_EL2.FWB = 0)  Arm ARM D8.5 "Stage 2 memory type and Cacheability attributes", descriptor bits[5:2]
    static constexpr uint64_t s2ap_r = bit(6);     // S2AP[0]: stage-2 read access      Arm ARM D8.4 "Stage 2 data access permissions" (S2AP, bits[7:6])
    static constexpr uint64_t s2ap_w = bit(7);     // S2AP[1]: stage-2 write access
    static constexpr unsigned sh_shift = 8;
    static constexpr uint64_t sh_mask = uint64_t{3} << sh_shift;  // SH[1:0] shareability   Arm ARM D8.5 "Shareability attributes", descriptor bits[9:8]
    static constexpr uint64_t af = bit(10);        // Access flag: 0 faults (no FEAT_HAFDBS)   Arm ARM D8.4 "The Access flag", descriptor bit[10]
    // bit 11 is RES0 in stage-2 block/page descriptors (nG exists at stage 1 only).
    static constexpr uint64_t oa_mask = 0x0000'FFFF'FFFF'F000;  // output / next-level table address bits[47:12]  Arm ARM D8.3; 51:48 RES0 without FEAT_LPA
    static constexpr uint64_t contiguous = bit(52);  // Contiguous hint (16 entries); hvcore writes 0  Arm ARM D8.3, bit[52]
    static constexpr unsigned xn_shift = 53;
    static constexpr uint64_t xn_mask = uint64_t{3} << xn_shift;  // XN[1:0], stage-2 execute-never  Arm ARM D8.4 "Stage 2 instruction access permissions" (bits[54:53])
    static constexpr uint64_t xn1 = bit(54);       // XN[1]: without FEAT_XNX the only XN bit, 1 = no execution at EL1 or EL0

    // MemAttr encodings, stage 2 with HCR_EL2.FWB = 0 (Arm ARM D8.5, "Stage 2
    // memory type and Cacheability attributes when FEAT_S2FWB is disabled").
    static constexpr uint64_t memattr_device_ngnrne = 0b0000;  // Device-nGnRnE: the strongest type, combining with stage 1 can only keep it Device
    static constexpr uint64_t memattr_normal_wb = 0b1111;      // Normal, Outer and Inner Write-Back Cacheable (KVM MT_S2_NORMAL)
    // SH encodings (Arm ARM D8.5, "Shareability attributes"): 0b01 is reserved.
    static constexpr uint64_t sh_outer = 0b10;
    static constexpr uint64_t sh_inner = 0b11;
    // XN[1:0] = 0b10: not executable at EL1 nor EL0, with or without FEAT_XNX
    // (Arm ARM D8.4, Table "Stage 2 control of execution permission").
    static constexpr uint64_t xn_el1_el0 = 0b10;

    // --- software bits ----------------------------------------------------------
    static constexpr unsigned p2mt_shift = 55;
    static constexpr uint64_t p2mt_mask = uint64_t{0xf} << p2mt_shift;  // p2m type, bits 58:55 (Xen: lpae_p2m_t.type; "ignored" in block/page descriptors, Arm ARM D8.3)
    static constexpr uint64_t recalc = bit(59);  // lazy recalculation mark; only with bit 0 = 0 (IGNORED bits of an invalid descriptor)

    // --- encode -------------------------------------------------------------------

    // A leaf at `level` (1 = 1 GiB block, 2 = 2 MiB block, 3 = 4 KiB page)
    // mapping mfn. Perm{} gives an invalid descriptor that still carries
    // the type, the frame and bit 1 as a valid leaf would have it (so a
    // table walk in software still tells block from table); the hardware
    // ignores all of it and raises a translation fault at this level.
    // Except for ioreq_server: a page whose reads its owner claims is a
    // valid descriptor with S2AP = 00 and XN, so every access to it is a
    // stage-2 permission fault (Arm ARM D8.4 "Stage 2 data access
    // permissions": S2AP 00 is "no data access"; "Stage 2 control of
    // execution permission"), and the descriptor keeps the frame and
    // attributes a grant of rights restores.
    [[nodiscard]] static constexpr uint64_t encode_leaf(Mfn mfn, P2mType t, Perm p, MemClass mc,
                                                        unsigned level) noexcept {
        Expects(level >= level_1 && level <= level_3);  // no level-0 blocks with a 4 KiB granule (D8.3)
        const uint64_t frame = mfn.raw() << page_shift;
        Expects((frame & ~oa_mask) == 0);
        Expects((mfn.raw() & (level_pages(level) - 1)) == 0);  // block output addresses are aligned (low OA bits RES0)
        const bool present = p.r || p.w || p.x || t == P2mType::ioreq_server;
        return (present ? valid : 0) | (level == level_3 ? type_bit : 0) | attrs_for(mc) |
               (p.r ? s2ap_r : 0) | (p.w ? s2ap_w : 0) | af | frame |
               (p.x ? 0 : xn_el1_el0 << xn_shift) | type_bits(t);
    }

    // A table descriptor pointing at the next-level table. Stage-2 table
    // descriptors carry no attributes (Arm ARM D8.3: only bits 1:0 and the
    // address; QEMU: "Stage 2 table descriptors do not include any
    // attribute fields"), so the leaf alone decides the rights.
    [[nodiscard]] static constexpr uint64_t encode_table(Mfn table) noexcept {
        const uint64_t frame = table.raw() << page_shift;
        Expects((frame & ~oa_mask) == 0);
        return frame | type_bit | valid;
    }

    // The lazy-recalculation mark: an access through the descriptor takes a
    // stage-2 translation fault at its level (bit 0 = 0); the rest is kept
    // so unmark() restores it exactly.
    [[nodiscard]] static constexpr uint64_t mark(uint64_t e) noexcept {
        Expects((e & valid) != 0);
        return (e & ~valid) | recalc;
    }
    [[nodiscard]] static constexpr uint64_t unmark(uint64_t e) noexcept {
        Expects(marked(e));
        return (e & ~recalc) | valid;
    }

    // --- decode -------------------------------------------------------------------

    [[nodiscard]] static constexpr bool is_valid(uint64_t e) noexcept { return (e & valid) != 0; }
    [[nodiscard]] static constexpr bool marked(uint64_t e) noexcept { return !is_valid(e) && (e & recalc) != 0; }
    [[nodiscard]] static constexpr Mfn frame(uint64_t e) noexcept { return Mfn{(e & oa_mask) >> page_shift}; }

    // How software reads a descriptor hvcore wrote (valid or not): a table
    // at levels 0-2 has bit 1 set, a block has it clear, every non-zero
    // level-3 descriptor is a page. hvcore writes no level-0 leaf and no
    // invalid table descriptor other than a marked one.
    [[nodiscard]] static constexpr bool is_table(uint64_t e, unsigned level) noexcept {
        return e != 0 && level < level_3 && (e & type_bit) != 0;
    }
    [[nodiscard]] static constexpr bool is_leaf(uint64_t e, unsigned level) noexcept {
        return e != 0 && !is_table(e, level);
    }

    // The type in bits 58:55 (codes 8..14: ioreq_server with its owner);
    // an all-zero descriptor is absent and reads as mmio_dm, as in Xen. A value no type has means the descriptor was not
    // written by encode_leaf: a corrupted table.
    [[nodiscard]] static constexpr P2mType type_of(uint64_t e) noexcept {
        if (e == 0) return P2mType::mmio_dm;
        const auto code = static_cast<uint8_t>((e & p2mt_mask) >> p2mt_shift);
        if (code >= code_owner_base + 1 && code < code_owner_base + 8) return P2mType::ioreq_server;
        const auto t = p2m_type_from_raw(code);
        Expects(t.has_value());
        return *t;
    }

    // The owner of an ioreq_server leaf (the code table above), and that
    // leaf owned by o.
    static constexpr uint8_t code_owner_base = 7;  // code 7 + k: ioreq_server owned by k (1..7)
    [[nodiscard]] static constexpr uint8_t owner_of(uint64_t e) noexcept {
        const auto code = static_cast<uint8_t>((e & p2mt_mask) >> p2mt_shift);
        return code == static_cast<uint8_t>(P2mType::ioreq_server) ? 0 : static_cast<uint8_t>(code - code_owner_base);
    }
    [[nodiscard]] static constexpr uint64_t with_owner(uint64_t e, uint8_t o) noexcept {
        Expects(o < 8 && type_of(e) == P2mType::ioreq_server);
        const uint64_t code = o == 0 ? static_cast<uint64_t>(P2mType::ioreq_server) : uint64_t{code_owner_base} + o;
        return (e & ~p2mt_mask) | (code << p2mt_shift);
    }

    [[nodiscard]] static constexpr S2LeafFields decode_leaf(uint64_t e) noexcept {
        S2LeafFields f;
        f.mfn = frame(e);
        f.type = type_of(e);
        f.perm = Perm{.r = (e & s2ap_r) != 0, .w = (e & s2ap_w) != 0, .x = (e & xn1) == 0};
        f.mem = mem_class_of(e);
        f.valid = is_valid(e);
        f.recalc = marked(e);
        return f;
    }

    // MemAttr and SH for a memory class. Normal RAM: Write-Back, Inner
    // Shareable (what KVM and Xen write for guest RAM). Devices:
    // Device-nGnRnE, and SH = Outer Shareable, which is what the hardware
    // applies anyway: data accesses to any Device memory type are treated
    // as Outer Shareable whatever SH says (Arm ARM B2.7.2 "Device memory"
    // and D8.5 "Shareability attributes"; my reading of the manual, not
    // checked by a run). Writing it keeps the descriptor honest and
    // matches Xen's mmio_direct_dev (DEV, outer).
    [[nodiscard]] static constexpr uint64_t attrs_for(MemClass mc) noexcept {
        switch (mc) {
        case MemClass::normal: return (memattr_normal_wb << memattr_shift) | (sh_inner << sh_shift);
        case MemClass::device: return (memattr_device_ngnrne << memattr_shift) | (sh_outer << sh_shift);
        }
        return (memattr_device_ngnrne << memattr_shift) | (sh_outer << sh_shift);
    }
    [[nodiscard]] static constexpr std::optional<MemClass> mem_class_of(uint64_t e) noexcept {
        const uint64_t a = e & (memattr_mask | sh_mask);
        if (a == attrs_for(MemClass::normal)) return MemClass::normal;
        if (a == attrs_for(MemClass::device)) return MemClass::device;
        return std::nullopt;
    }

    [[nodiscard]] static constexpr uint64_t type_bits(P2mType t) noexcept {
        return static_cast<uint64_t>(t) << p2mt_shift;
    }
};

// --- sanity checks ---------------------------------------------------------------

static_assert(level_pages(level_2) == 512 && level_pages(level_1) == 512 * 512);
static_assert(level_shift(level_0) == 39 && level_shift(level_1) == 30 && level_shift(level_2) == 21);
// Fields do not overlap and cover bits 10:0, 59:52, 47:12 (bit 11 is RES0).
static_assert((S2Desc::valid | S2Desc::type_bit | S2Desc::memattr_mask | S2Desc::s2ap_r | S2Desc::s2ap_w |
               S2Desc::sh_mask | S2Desc::af) == 0x7ff);
static_assert((S2Desc::oa_mask & (S2Desc::p2mt_mask | S2Desc::recalc | S2Desc::xn_mask | 0xfff)) == 0);
static_assert((S2Desc::p2mt_mask & (S2Desc::xn_mask | S2Desc::recalc | S2Desc::contiguous)) == 0);
static_assert(S2Desc::p2mt_mask == 0x0780'0000'0000'0000 && S2Desc::xn1 == (S2Desc::xn_el1_el0 << S2Desc::xn_shift));
static_assert(static_cast<uint64_t>(P2mType::ioreq_server) <= (S2Desc::p2mt_mask >> S2Desc::p2mt_shift));
// The golden claimed ioreq_server page: valid page (11), Normal WB (0xf in
// 5:2), S2AP = 01 (read only), inner shareable, AF, frame 0x1234, XN = 10,
// type 15.
static_assert(S2Desc::encode_leaf(Mfn{0x1234}, P2mType::ioreq_server, Perm{.r = true}, MemClass::normal, level_3) ==
              0x07C0'0000'0123'477F);
// Owned by 5: code 12; read-trapped owned by 7 (code 14): valid, S2AP = 00, XN.
static_assert(S2Desc::with_owner(S2Desc::encode_leaf(Mfn{0x1234}, P2mType::ioreq_server, Perm{.r = true},
                                                     MemClass::normal, level_3),
                                 5) == 0x0640'0000'0123'477F);
static_assert(S2Desc::with_owner(S2Desc::encode_leaf(Mfn{0x1234}, P2mType::ioreq_server, Perm{}, MemClass::normal,
                                                     level_3),
                                 7) == 0x0740'0000'0123'473F);
// The unused codes 6 and 7 are no type: p2m_type_from_raw refuses them.
static_assert(!p2m_type_from_raw(6) && !p2m_type_from_raw(7) && S2Desc::code_owner_base + 7 < 15);
// Every written leaf is non-zero (AF), so zero always means absent.
static_assert(S2Desc::encode_leaf(Mfn{0}, P2mType::ram_rw, Perm{}, MemClass::normal, level_3) != 0);
// A marked table descriptor is invalid and comes back unchanged.
static_assert(!S2Desc::is_valid(S2Desc::mark(S2Desc::encode_table(Mfn{0x1000000}))));
static_assert(S2Desc::unmark(S2Desc::mark(S2Desc::encode_table(Mfn{0x1000000}))) == S2Desc::encode_table(Mfn{0x1000000}));
static_assert(S2Desc::is_table(S2Desc::mark(S2Desc::encode_table(Mfn{1})), level_1));
// A typed hole block (invalid) is still a leaf to software; a page hole too.
static_assert(S2Desc::is_leaf(S2Desc::encode_leaf(Mfn{0}, P2mType::mmio_dm, Perm{}, MemClass::device, level_2), level_2));
static_assert(S2Desc::decode_leaf(S2Desc::encode_leaf(Mfn{0x40000}, P2mType::ram_ro, Perm{.r = true, .x = true},
                                                      MemClass::normal, level_1)) ==
              S2LeafFields{Mfn{0x40000}, P2mType::ram_ro, Perm{.r = true, .x = true}, MemClass::normal, true, false});

}  // namespace hvcore::arm64

// SPDX-License-Identifier: MIT
#include "handlers.hpp"

#include <array>

namespace hvcore::x86::detail {

namespace {

using Table = std::array<Handler, ZYDIS_MNEMONIC_MAX_VALUE + 1>;

constexpr Table handlers = [] {
    Table t{};
    t[ZYDIS_MNEMONIC_MOV] = &exec_mov;
    t[ZYDIS_MNEMONIC_MOVNTI] = &exec_mov;
    t[ZYDIS_MNEMONIC_MOVZX] = &exec_movzx;
    t[ZYDIS_MNEMONIC_MOVSX] = &exec_movsx;
    t[ZYDIS_MNEMONIC_MOVSXD] = &exec_movsx;
    t[ZYDIS_MNEMONIC_IN] = &exec_in;
    t[ZYDIS_MNEMONIC_OUT] = &exec_out;

    t[ZYDIS_MNEMONIC_ADD] = &exec_add;
    t[ZYDIS_MNEMONIC_OR] = &exec_or;
    t[ZYDIS_MNEMONIC_ADC] = &exec_adc;
    t[ZYDIS_MNEMONIC_SBB] = &exec_sbb;
    t[ZYDIS_MNEMONIC_AND] = &exec_and;
    t[ZYDIS_MNEMONIC_SUB] = &exec_sub;
    t[ZYDIS_MNEMONIC_XOR] = &exec_xor;
    t[ZYDIS_MNEMONIC_CMP] = &exec_cmp;
    t[ZYDIS_MNEMONIC_TEST] = &exec_test;
    t[ZYDIS_MNEMONIC_INC] = &exec_inc;
    t[ZYDIS_MNEMONIC_DEC] = &exec_dec;
    t[ZYDIS_MNEMONIC_NOT] = &exec_not;
    t[ZYDIS_MNEMONIC_NEG] = &exec_neg;
    t[ZYDIS_MNEMONIC_XCHG] = &exec_xchg;
    t[ZYDIS_MNEMONIC_XADD] = &exec_xadd;
    t[ZYDIS_MNEMONIC_CMPXCHG] = &exec_cmpxchg;
    t[ZYDIS_MNEMONIC_BT] = &exec_bt;
    t[ZYDIS_MNEMONIC_BTS] = &exec_bts;
    t[ZYDIS_MNEMONIC_BTR] = &exec_btr;
    t[ZYDIS_MNEMONIC_BTC] = &exec_btc;
    for (ZydisMnemonic m : {ZYDIS_MNEMONIC_SETO, ZYDIS_MNEMONIC_SETNO, ZYDIS_MNEMONIC_SETB, ZYDIS_MNEMONIC_SETNB,
                            ZYDIS_MNEMONIC_SETZ, ZYDIS_MNEMONIC_SETNZ, ZYDIS_MNEMONIC_SETBE, ZYDIS_MNEMONIC_SETNBE,
                            ZYDIS_MNEMONIC_SETS, ZYDIS_MNEMONIC_SETNS, ZYDIS_MNEMONIC_SETP, ZYDIS_MNEMONIC_SETNP,
                            ZYDIS_MNEMONIC_SETL, ZYDIS_MNEMONIC_SETNL, ZYDIS_MNEMONIC_SETLE, ZYDIS_MNEMONIC_SETNLE})
        t[m] = &exec_setcc;

    for (ZydisMnemonic m : {ZYDIS_MNEMONIC_MOVD, ZYDIS_MNEMONIC_MOVQ, ZYDIS_MNEMONIC_MOVDQU, ZYDIS_MNEMONIC_MOVUPS,
                            ZYDIS_MNEMONIC_MOVUPD})
        t[m] = &exec_sse_move;
    for (ZydisMnemonic m : {ZYDIS_MNEMONIC_MOVDQA, ZYDIS_MNEMONIC_MOVAPS, ZYDIS_MNEMONIC_MOVAPD,
                            ZYDIS_MNEMONIC_MOVNTDQ, ZYDIS_MNEMONIC_MOVNTPS, ZYDIS_MNEMONIC_MOVNTPD,
                            ZYDIS_MNEMONIC_MOVNTDQA})
        t[m] = &exec_sse_move_aligned;

    for (ZydisMnemonic m : {ZYDIS_MNEMONIC_MOVSB, ZYDIS_MNEMONIC_MOVSW, ZYDIS_MNEMONIC_MOVSD, ZYDIS_MNEMONIC_MOVSQ})
        t[m] = &exec_movs;
    for (ZydisMnemonic m : {ZYDIS_MNEMONIC_STOSB, ZYDIS_MNEMONIC_STOSW, ZYDIS_MNEMONIC_STOSD, ZYDIS_MNEMONIC_STOSQ})
        t[m] = &exec_stos;
    return t;
}();

}  // namespace

Handler find_handler(ZydisMnemonic mnemonic) noexcept {
    const auto i = static_cast<size_t>(mnemonic);
    return i < handlers.size() ? handlers[i] : nullptr;
}

}  // namespace hvcore::x86::detail

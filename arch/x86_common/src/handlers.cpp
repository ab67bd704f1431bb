#include "handlers.hpp"

#include <array>

namespace hvcore::x86::detail {

namespace {

using Table = std::array<Handler, ZYDIS_MNEMONIC_MAX_VALUE + 1>;

constexpr Table handlers = [] {
    Table t{};
    t[ZYDIS_MNEMONIC_MOV] = &exec_mov;
    t[ZYDIS_MNEMONIC_IN] = &exec_in;
    t[ZYDIS_MNEMONIC_OUT] = &exec_out;
    return t;
}();

}  // namespace

Handler find_handler(ZydisMnemonic mnemonic) noexcept {
    const auto i = static_cast<size_t>(mnemonic);
    return i < handlers.size() ? handlers[i] : nullptr;
}

}  // namespace hvcore::x86::detail

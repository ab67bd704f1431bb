// SPDX-License-Identifier: MIT
// What the parts of `hvcore run` (runner.cpp, dm_exec.cpp) share.
#pragma once

#include <string>

namespace hvcore::tools {

// The library's messages (hv_host_set_log) and host/kvm's, on stderr.
void print_log(void*, int level, const char* message);
// The running program's path (/proc/self/exe).
[[nodiscard]] std::string self_exe();
// How many times request_stop was called: a signal during the device
// models' grace cuts it short.
[[nodiscard]] unsigned stop_count() noexcept;

}  // namespace hvcore::tools

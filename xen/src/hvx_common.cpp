// SPDX-License-Identifier: MIT
// libhvcore-xen.so.1: the process's one connection to hvcore, shared by
// the Xen drop-ins (hvx_common.h).
#include "hvx_common.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace {

std::mutex g_mu;
hvdm_handle* g_handle = nullptr;  // guarded by g_mu; never closed (see hvx_common.h)
bool g_ready_sent = false;        // guarded by g_mu

}  // namespace

extern "C" {

int hvcore_xen_attach(hvdm_handle* h) {
    if (h == nullptr) return -EINVAL;
    std::lock_guard lk(g_mu);
    if (g_handle != nullptr && g_handle != h) return -EBUSY;
    g_handle = h;
    return 0;
}

hvdm_handle* hvx_handle(void) {
    std::lock_guard lk(g_mu);
    if (g_handle != nullptr) return g_handle;
    const char* path = std::getenv("HVCORE_DM_SOCKET");
    if (path == nullptr || *path == '\0') {
        std::fprintf(stderr,
                     "hvcore-xen: HVCORE_DM_SOCKET is not set: no hvcore to connect to (run the device model "
                     "with `hvcore run --dm-exec`, or set it to a `hvcore run --listen` socket)\n");
        errno = ENOENT;
        return nullptr;
    }
    hvdm_handle* h = hvdm_connect(path);
    if (h == nullptr) {
        const int e = errno;
        std::fprintf(stderr, "hvcore-xen: cannot connect to hvcore at %s: errno %d\n", path, e);
        errno = e;
        return nullptr;
    }
    g_handle = h;
    return h;
}

void hvx_ready_once(void) {
    hvdm_handle* h = nullptr;
    {
        std::lock_guard lk(g_mu);
        if (g_ready_sent || g_handle == nullptr) return;
        g_ready_sent = true;
        h = g_handle;
    }
    (void)hvdm_ready(h);
}

}  // extern "C"

// SPDX-License-Identifier: MIT
// libhvcore-xen.so.1: the process's one connection to hvcore, shared by
// the Xen drop-ins (hvx_common.h).
#include "hvx_common.h"

extern "C" {
#include <xentoollog.h>
}

#include <cstdarg>
#include <cstring>
#include <string>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <new>
#include <vector>

namespace {

std::mutex g_mu;
hvdm_handle* g_handle = nullptr;  // guarded by g_mu; never closed (see hvx_common.h)
bool g_ready_sent = false;        // guarded by g_mu

// The registry (hvx_common.h), under its own lock (the drop-ins call
// hvx_handle() before taking it).
std::recursive_mutex g_reg_mu;
std::vector<hvx_server> g_servers;  // guarded by g_reg_mu; creation order
uint64_t g_next_serial = 1;         // guarded by g_reg_mu
void (*g_remove_listener)(const hvx_server*) = nullptr;  // guarded by g_reg_mu

void remove_at(std::size_t i) {
    if (g_remove_listener != nullptr) g_remove_listener(&g_servers[i]);
    g_servers.erase(g_servers.begin() + static_cast<std::ptrdiff_t>(i));
}

}  // namespace

extern "C" {

int hvcore_xen_attach(hvdm_handle* h) {
    if (h == nullptr) return -EINVAL;
    std::lock_guard lk(g_mu);
    if (g_handle != nullptr && g_handle != h) return -EBUSY;
    g_handle = h;
    return 0;
}

}  // extern "C"

namespace {

// The process's handle, or NULL with errno and, in *why, the reason.
hvdm_handle* connect_once(std::string* why) {
    std::lock_guard lk(g_mu);
    if (g_handle != nullptr) return g_handle;
    const char* path = std::getenv("HVCORE_DM_SOCKET");
    if (path == nullptr || *path == '\0') {
        *why = "HVCORE_DM_SOCKET is not set: no hvcore to connect to (run the device model with "
               "`hvcore run --dm-exec`, or `hvcore xen-exec --socket` a `hvcore run --listen` socket)";
        errno = ENOENT;
        return nullptr;
    }
    hvdm_handle* h = hvdm_connect(path);
    if (h == nullptr) {
        const int e = errno;
        *why = std::string("cannot connect to hvcore at ") + path + " (HVCORE_DM_SOCKET)";
        errno = e;
        return nullptr;
    }
    g_handle = h;
    return h;
}

}  // namespace

extern "C" {

hvdm_handle* hvx_handle(void) {
    std::string why;
    return connect_once(&why);
}

hvdm_handle* hvx_open(xentoollog_logger* logger, const char* lib) {
    std::string why;
    hvdm_handle* h = connect_once(&why);
    if (h == nullptr) {
        const int e = errno;
        hvx_log_error(logger, lib, e, "%s", why.c_str());
        errno = e;
    }
    return h;
}

void hvx_log_error(xentoollog_logger* logger, const char* lib, int errnoval, const char* fmt, ...) {
    const int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    if (logger != nullptr && logger->vmessage != nullptr) {
        logger->vmessage(logger, XTL_ERROR, errnoval, lib, fmt, ap);
    } else {
        std::fprintf(stderr, "%s: ", lib);
        std::vfprintf(stderr, fmt, ap);
        if (errnoval >= 0) std::fprintf(stderr, ": %s", std::strerror(errnoval));
        std::fputc('\n', stderr);
    }
    va_end(ap);
    errno = saved;
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

void hvx_registry_lock(void) { g_reg_mu.lock(); }
void hvx_registry_unlock(void) { g_reg_mu.unlock(); }

uint64_t hvx_server_add(uint16_t domid, uint16_t id, uint32_t nr_vcpus, int has_ring) {
    std::lock_guard lk(g_reg_mu);
    // An entry of the same id on the same domain is one destroyed without
    // libxendevicemodel (its domain or the host went): forget it.
    for (std::size_t i = g_servers.size(); i-- > 0;)
        if (g_servers[i].domid == domid && g_servers[i].id == id) remove_at(i);
    try {
        const hvx_server s{g_next_serial, domid, id, nr_vcpus, has_ring != 0 ? 1 : 0};
        g_servers.push_back(s);
    } catch (const std::bad_alloc&) {
        return 0;
    }
    return g_next_serial++;
}

void hvx_server_remove(uint16_t domid, uint16_t id) {
    std::lock_guard lk(g_reg_mu);
    for (std::size_t i = 0; i < g_servers.size(); ++i) {
        if (g_servers[i].domid == domid && g_servers[i].id == id) {
            remove_at(i);
            return;
        }
    }
}

void hvx_server_remove_serial(uint64_t serial) {
    std::lock_guard lk(g_reg_mu);
    for (std::size_t i = 0; i < g_servers.size(); ++i) {
        if (g_servers[i].serial == serial) {
            remove_at(i);
            return;
        }
    }
}

size_t hvx_servers(hvx_server* out, size_t n) {
    std::lock_guard lk(g_reg_mu);
    for (std::size_t i = 0; i < n && i < g_servers.size(); ++i) out[i] = g_servers[i];
    return g_servers.size();
}

void hvx_set_remove_listener(void (*fn)(const hvx_server* s)) {
    std::lock_guard lk(g_reg_mu);
    g_remove_listener = fn;
}

}  // extern "C"

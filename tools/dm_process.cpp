// SPDX-License-Identifier: MIT
// `hvcore dm NAME[:ARGS]`: a device-model plug-in (<hvcore/hvdm_plugin.h>)
// in a process of its own. It loads the module as `hvcore run --dm` does,
// connects to the host named by HVCORE_DM_SOCKET (hvdm_connect) and calls
// hvdm_plugin_main with an environment whose open_handle connects (each
// call a new connection, a new emulator identity), whose ready sends READY
// (hvdm_ready) on a connection of the launcher's own, and whose stop_fd
// becomes readable when standard input - a pipe from `hvcore run
// --dm-exec` - reaches its end, or on SIGTERM, SIGINT or SIGHUP. The exit
// status is 0 when hvdm_plugin_main returned 0, 1 when it did not, 3 when
// the plug-in could not be loaded or the host not reached.
#include <dlfcn.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "hvcore/hvdm_plugin.h"
#include "runner.hpp"

namespace hvcore::tools {

namespace {

struct Launcher {
    hvdm_handle* control = nullptr;  // READY goes here
    const char* name = "";
    bool ready_sent = false;
};

hvdm_handle* open_handle(void*) { return hvdm_connect(nullptr); }

void server_created(void*, hvdm_ioservid_t, const char*) {
    // The host learns of the server by its requests; nothing to send.
}

void ready(void* opaque) {
    auto* l = static_cast<Launcher*>(opaque);
    if (l->ready_sent) return;
    l->ready_sent = true;
    if (int rc = hvdm_ready(l->control); rc != 0)
        fmt::print(stderr, "hvcore dm {}: hvdm_ready: {} (errno {})\n", l->name, std::strerror(-rc), -rc);
}

// The plug-in's stop: standard input at its end (when it is a pipe or a
// socket: a terminal's or a file's is not watched), or a signal.
void watch(int stop_fd, int sig_fd, int done_fd) {
    struct stat st {};
    const bool watch_stdin = fstat(STDIN_FILENO, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
    for (;;) {
        pollfd pf[3] = {{sig_fd, POLLIN, 0}, {done_fd, POLLIN, 0}, {watch_stdin ? STDIN_FILENO : -1, POLLIN, 0}};
        if (poll(pf, 3, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (pf[1].revents != 0) return;  // the plug-in returned
        if (pf[0].revents != 0) break;   // SIGTERM, SIGINT, SIGHUP
        if (pf[2].revents != 0) {
            char buf[256];
            const ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
            if (n > 0 || (n < 0 && errno == EINTR)) continue;  // anything written is ignored
            break;                                               // end of input: the host says stop
        }
    }
    const uint64_t one = 1;
    (void)!write(stop_fd, &one, sizeof one);
}

}  // namespace

int run_dm_process(const DmSpec& spec) {
    const char* domid_text = std::getenv("HVCORE_DM_DOMID");
    char* end = nullptr;
    const unsigned long domid = domid_text != nullptr ? std::strtoul(domid_text, &end, 10) : 0;
    if (domid_text == nullptr || *domid_text == '\0' || *end != '\0' || domid > 0xffff) {
        fmt::print(stderr, "hvcore dm: HVCORE_DM_DOMID must be the guest's domain id (0..65535){}\n",
                   domid_text == nullptr ? ", and is not set (hvcore run --dm-exec sets it)"
                                         : fmt::format(", not '{}'", domid_text));
        return 2;
    }
    // The module first: a bad one is refused before the host is bothered.
    void* so = dlopen(spec.path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (so == nullptr) {
        fmt::print(stderr, "hvcore dm: device model {}: dlopen: {}\n", spec.name, dlerror());
        return 3;
    }
    const auto* abi = static_cast<const uint32_t*>(dlsym(so, HVDM_PLUGIN_ABI_SYMBOL));
    if (abi == nullptr || *abi != HVDM_PLUGIN_ABI) {
        fmt::print(stderr, "hvcore dm: device model {} ({}) is not an hvcore device-model plug-in of ABI {}{}\n",
                   spec.name, spec.path, HVDM_PLUGIN_ABI,
                   abi == nullptr ? fmt::format(" (no {} symbol)", HVDM_PLUGIN_ABI_SYMBOL)
                                  : fmt::format(" (it was built for ABI {})", *abi));
        return 3;
    }
    const auto main_fn = reinterpret_cast<hvdm_plugin_main_fn>(dlsym(so, HVDM_PLUGIN_MAIN_SYMBOL));
    if (main_fn == nullptr) {
        fmt::print(stderr, "hvcore dm: device model {} ({}) does not export {}\n", spec.name, spec.path,
                   HVDM_PLUGIN_MAIN_SYMBOL);
        return 3;
    }

    Launcher l;
    l.name = spec.name.c_str();
    l.control = hvdm_connect(nullptr);
    if (l.control == nullptr) {
        const int e = errno;
        const char* path = std::getenv("HVCORE_DM_SOCKET");
        fmt::print(stderr, "hvcore dm {}: cannot connect to the host at {}: {}\n", spec.name,
                   path != nullptr && *path != '\0' ? path : "$HVCORE_DM_SOCKET (not set)", std::strerror(e));
        return 3;
    }

    // The stop signals go to one descriptor (blocked in every thread: the
    // plug-in's threads inherit the mask).
    sigset_t sigs;
    sigemptyset(&sigs);
    for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&sigs, s);
    pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
    const int sig_fd = signalfd(-1, &sigs, SFD_CLOEXEC);
    const int stop_fd = eventfd(0, EFD_CLOEXEC);
    const int done_fd = eventfd(0, EFD_CLOEXEC);
    if (sig_fd < 0 || stop_fd < 0 || done_fd < 0) {
        fmt::print(stderr, "hvcore dm {}: signalfd/eventfd: {}\n", spec.name, std::strerror(errno));
        hvdm_close(l.control);
        return 3;
    }
    std::thread watcher(watch, stop_fd, sig_fd, done_fd);

    hvdm_plugin_env env{};
    env.size = sizeof env;
    env.abi = HVDM_PLUGIN_ABI;
    env.host = nullptr;
    env.domid = static_cast<hvdm_domid_t>(domid);
    env.name = spec.name.c_str();
    env.args = spec.args.c_str();
    env.stop_fd = stop_fd;
    env.out = stdout;
    env.opaque = &l;
    env.server_created = &server_created;
    env.ready = &ready;
    env.trace = nullptr;
    env.open_handle = &open_handle;
    const int rc = main_fn(&env);
    std::fflush(stdout);

    const uint64_t one = 1;
    (void)!write(done_fd, &one, sizeof one);
    watcher.join();
    hvdm_close(l.control);
    // The module stays loaded: a thread it started may still run until exit.
    return rc == 0 ? 0 : 1;
}

}  // namespace hvcore::tools

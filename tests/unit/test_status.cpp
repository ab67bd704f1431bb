// SPDX-License-Identifier: MIT
// Status and Error (hvcore/core/status.hpp, error.hpp): a failure always
// carries a negative errno, so no failure can read as success.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <exception>

#include "hvcore/core/error.hpp"
#include "hvcore/core/status.hpp"

using namespace hvcore;

#if !HVCORE_TEST_NO_FORK
namespace {

constexpr int terminated = 86;  // the child's exit status from std::terminate

// Runs f in a child process; true when it terminated (GSL's Expects calls
// std::terminate; the child's handler exits with `terminated` rather than
// aborting: no core dump), false when f returned.
template <class F>
bool dies(F f) {
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        std::set_terminate([] { _exit(terminated); });
        f();
        _exit(0);
    }
    int st = 0;
    REQUIRE(waitpid(pid, &st, 0) == pid);
    return WIFEXITED(st) && WEXITSTATUS(st) == terminated;
}

}  // namespace
#endif

TEST_CASE("status_err_is_a_failure_with_its_errno_and_ok_is_zero") {
    CHECK(Status::err(-EINVAL).code() == -EINVAL);
    CHECK_FALSE(Status::err(-EINVAL).is_ok());
    CHECK(Status::ok().code() == 0);
    CHECK(Status::ok().is_ok());
}

TEST_CASE("an_error_has_a_negative_errno_and_its_sentence_or_is_success_with_none") {
    const Error ok;
    CHECK(ok.is_ok());
    CHECK(ok.what().empty());
    CHECK(ok.status().is_ok());
    const Error e(-ENOEXEC, "device model x: not a plug-in");
    CHECK_FALSE(e.is_ok());
    CHECK(e.code() == -ENOEXEC);
    CHECK(e.what() == "device model x: not a plug-in");
    CHECK(e.status() == Status::err(-ENOEXEC));
    errno = ENOENT;
    const Error f = Error::from_errno("open /nowhere");
    CHECK(f.code() == -ENOENT);
    CHECK(f.what().find("open /nowhere: ") == 0);
    errno = 0;  // a call that failed without saying why: EIO, never success
    CHECK(Error::from_errno("x").code() == -EIO);
}

// In a child process each: not where the tests run under qemu-user
// (cross builds), whose fork hangs on this kernel (HVCORE_TEST_NO_FORK).
#if !HVCORE_TEST_NO_FORK
TEST_CASE("status_err_of_zero_or_a_positive_errno_and_an_error_of_zero_terminate") {
    CHECK(dies([] { (void)Status::err(0); }));
    CHECK(dies([] { (void)Status::err(EINVAL); }));
    CHECK(dies([] { (void)Error(0, "no error"); }));
    CHECK_FALSE(dies([] { (void)Status::err(-ENOMEM); }));
}
#endif

// SPDX-License-Identifier: MIT
// A vCPU's I/O state: the request it waits for (at most one) and the
// replay log of the access being executed. Each piece of an instruction
// (RAM, a device model, posted, nobody) is logged with its outcome, so that
// re-executing the instruction after an answer replays the pieces instead
// of making them again (Xen's per-vCPU MMIO cache, hvmemul_phys_mmio_access,
// and the re-issue check of hvmemul_do_io). Both vCPU drivers (the model
// vCPU and a host's decoded exits) complete a request through complete().
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "hvcore/core/ioreq.hpp"
#include "hvcore/core/types.hpp"

namespace hvcore {

// One logged piece and its outcome (the data read, 0 for a write).
struct CompletedIo {
    IoreqBody req;
    uint64_t data = 0;
};

// The synchronous request a vCPU waits for.
struct InFlight {
    IoservId server{};
    uint64_t serial = 0;  // the server's: a reused id is another server
    IoreqBody sent;       // as routed (what the slot holds)
    IoreqBody sent_orig;  // as the instruction issued it (what replay compares)
    uint8_t seen_state = ioreq::state_ready;
};

class VcpuIo {
public:
    // A new access: nothing logged yet.
    void begin() noexcept {
        done_.clear();
        cursor_ = 0;
    }
    // The access is executed again: the log is met from its start.
    void rewind() noexcept { cursor_ = 0; }
    // The access completed (or will be executed anew): the log is dropped.
    void forget() noexcept { done_.clear(); }

    // Append a piece's outcome and step over it.
    void log(const IoreqBody& req, uint64_t data);

    enum class Replay : uint8_t { not_logged, replayed, mismatch };
    // The next logged piece, if there is one: replayed (a read's data into
    // *data) when req is the access logged; mismatch when the instruction
    // issued something else (the written value of a plain write is not
    // compared, a pointer is), with what was expected in *expected.
    [[nodiscard]] Replay replay(const IoreqBody& req, uint64_t* data, IoreqBody* expected);
    // The piece replay would meet next, if any.
    [[nodiscard]] const IoreqBody* next_logged() const noexcept;

    // A request was posted synchronously: the vCPU waits for it.
    void sent(IoservId server, uint64_t serial, const IoreqBody& sent, const IoreqBody& orig);
    [[nodiscard]] bool waiting() const noexcept { return flight_.has_value(); }
    [[nodiscard]] const std::optional<InFlight>& in_flight() const noexcept { return flight_; }
    // The highest slot state seen for the request in flight (the channel
    // updates it). Only while waiting().
    [[nodiscard]] uint8_t& seen_state() noexcept { return flight_->seen_state; }
    // The answer arrived (data: what a read returns; ignored for a write):
    // the wait ends and the request joins the log as issued, so the
    // re-execution replays it. The single completion of both drivers.
    void complete(uint64_t data);

    [[nodiscard]] size_t logged() const noexcept { return done_.size(); }
    [[nodiscard]] size_t cursor() const noexcept { return cursor_; }

private:
    std::optional<InFlight> flight_;
    std::vector<CompletedIo> done_;
    size_t cursor_ = 0;
};

}  // namespace hvcore

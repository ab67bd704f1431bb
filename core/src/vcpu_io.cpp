// SPDX-License-Identifier: MIT
#include "hvcore/core/vcpu_io.hpp"

#include <gsl/assert>

namespace hvcore {

void VcpuIo::log(const IoreqBody& req, uint64_t data) {
    done_.push_back({req, data});
    ++cursor_;
}

VcpuIo::Replay VcpuIo::replay(const IoreqBody& req, uint64_t* data, IoreqBody* expected) {
    if (cursor_ >= done_.size()) return Replay::not_logged;
    const CompletedIo& done = done_[cursor_];
    const IoreqBody& expect = done.req;  // as the instruction first issued it
    // Xen's check that the access was "correctly re-issued" (hvmemul_do_io):
    // the written value of a plain write is not compared, a pointer is.
    if (!(expect.addr == req.addr && expect.size == req.size && expect.dir == req.dir &&
          expect.type == req.type && expect.count == req.count && expect.df == req.df &&
          expect.data_is_ptr == req.data_is_ptr && (!req.data_is_ptr || expect.data == req.data))) {
        if (expected != nullptr) *expected = expect;
        return Replay::mismatch;
    }
    ++cursor_;
    if (req.dir == ioreq::dir_read && !req.data_is_ptr) *data = done.data & ones(req.size);
    return Replay::replayed;
}

const IoreqBody* VcpuIo::next_logged() const noexcept {
    return cursor_ < done_.size() ? &done_[cursor_].req : nullptr;
}

void VcpuIo::sent(IoservId server, uint64_t serial, const IoreqBody& sent, const IoreqBody& orig) {
    Expects(!flight_);
    flight_ = InFlight{.server = server, .serial = serial, .sent = sent, .sent_orig = orig,
                       .seen_state = ioreq::state_ready};
}

void VcpuIo::complete(uint64_t data) {
    Expects(flight_);
    done_.push_back({flight_->sent_orig, flight_->sent.dir == ioreq::dir_read ? data : 0});
    flight_.reset();
}

}  // namespace hvcore

// select(2): three bitmaps (read, write, except) of FD_SETSIZE bits.
//
// Cost: O(maxfd) per call: the master sets are copied into scratch sets
// (the kernel overwrites its arguments) and scanned up to the highest
// registered fd. Limit: an fd >= FD_SETSIZE (1024) cannot be represented;
// FD_SET on one writes past the bitmap, so Add() refuses it before any FD_SET.
// Mapping: IN and RDHUP watch the read set, OUT the write set, PRI the except
// set. select(2) cannot tell HUP or ERR from readiness: a hung-up socket is
// simply readable. RDHUP is emulated: a readable fd with RDHUP interest gets
// a zero-timeout poll(2) of its own, which tells whether the peer shut down.
// RDHUP without IN is refused by the TypeScript layer (ERR_UNSUPPORTED): the
// read set cannot wait for a shutdown without also waking for data. ONESHOT is
// emulated by clearing the fd from the master sets once it is reported.
#include <fcntl.h>
#include <poll.h>
#include <sys/select.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <vector>

#include "backend.h"
#include "state_set.h"
#include "syscall.h"

namespace iomux::detail {
namespace {

struct Sets {
  fd_set read, write, except;
  void Clear() {
    FD_ZERO(&read);
    FD_ZERO(&write);
    FD_ZERO(&except);
  }
};

// The one place select's three sets are derived from event bits.
void Arm(Sets& s, int fd, uint32_t events) {
  if (events & (kIn | kRdhup)) FD_SET(fd, &s.read);
  if (events & kOut) FD_SET(fd, &s.write);
  if (events & kPri) FD_SET(fd, &s.except);
}

void Disarm(Sets& s, int fd) {
  FD_CLR(fd, &s.read);
  FD_CLR(fd, &s.write);
  FD_CLR(fd, &s.except);
}

// ... and the one place they are turned back into event bits.
uint32_t Revents(const Sets& s, int fd, uint32_t interest) {
  uint32_t ev = 0;
  if (FD_ISSET(fd, &s.read)) {
    ev |= kIn;
    if (interest & kRdhup) {
      // select(2) has no RDHUP; ask the kernel about this one readable fd.
      // Not a MSG_PEEK: reading would consume a pending error (ECONNRESET)
      // that the application's own recv() must see.
      pollfd p{fd, static_cast<short>(kRdhup), 0};
      if (poll(&p, 1, 0) == 1 && (p.revents & kRdhup)) ev |= kRdhup;
    }
  }
  if (FD_ISSET(fd, &s.write)) ev |= kOut;
  if (FD_ISSET(fd, &s.except)) ev |= kPri;
  return ev;
}

// The deadline as select(2) takes it: nullptr = forever; microseconds,
// rounded up by the one rounding helper.
timeval* ToTimeval(const Deadline& d, timeval* tv) {
  if (d.forever()) return nullptr;
  int64_t us = d.RemainingCeil(1000, INT64_MAX);
  *tv = timeval{static_cast<time_t>(us / 1000000), static_cast<suseconds_t>(us % 1000000)};
  return tv;
}

class SelectBackend final : public Backend {
 public:
  SelectBackend() {
    master_.Clear();
    std::memset(interest_, 0, sizeof interest_);
    std::memset(registered_, 0, sizeof registered_);
  }

  const Capabilities& Caps() const override { return kSelectCaps; }

  int Add(int fd, uint32_t events) override {
    if (fd < 0 || fd >= FD_SETSIZE) return EINVAL;  // callers check first; never FD_SET it
    if (!FdIsOpen(fd)) return EBADF;
    std::lock_guard<std::mutex> lock(mu_);
    registered_[fd] = true;
    interest_[fd] = events;
    Arm(master_, fd, events);
    Mirror(fd, events);
    if (fd > maxfd_) maxfd_ = fd;
    return 0;
  }

  int Modify(int fd, uint32_t events) override {
    if (fd < 0 || fd >= FD_SETSIZE || !registered_[fd]) return ENOENT;
    std::lock_guard<std::mutex> lock(mu_);
    Disarm(master_, fd);
    Arm(master_, fd, events);  // also re-arms a fired ONESHOT fd
    interest_[fd] = events;
    Mirror(fd, events);
    return 0;
  }

  int Remove(int fd) override {
    if (fd < 0 || fd >= FD_SETSIZE || !registered_[fd]) return ENOENT;
    std::lock_guard<std::mutex> lock(mu_);
    Disarm(master_, fd);
    states_.Clear(fd, true);
    registered_[fd] = false;
    interest_[fd] = 0;
    while (maxfd_ >= 0 && !registered_[maxfd_]) maxfd_--;
    return 0;
  }

  int Wait(const Deadline& deadline, int32_t* out, int cap) override {
    std::lock_guard<std::mutex> lock(mu_);
    Sets armed = master_;
    // The waker's eventfd is kept at or below Caps().max_fd (< FD_SETSIZE).
    if (waker_fd_ >= 0) FD_SET(waker_fd_, &armed.read);
    int nfds = (maxfd_ > waker_fd_ ? maxfd_ : waker_fd_) + 1;
    int n = 0;
    int r = Block(armed, nfds, deadline, &scratch_, out, cap, &n);
    if (r <= 0) return r < 0 ? r : n;
    return Harvest(scratch_, nfds, out, cap, n);
  }

  int WaitAside(int wake_fd, const Deadline& deadline, std::vector<int32_t>* out, BlockResult* how) override {
    *how = BlockResult::kReady;
    if (wake_fd >= FD_SETSIZE) return -EINVAL;
    Sets armed;
    int nfds;
    {
      std::lock_guard<std::mutex> lock(mu_);
      armed = master_;
      if (waker_fd_ >= 0) FD_SET(waker_fd_, &armed.read);
      nfds = (maxfd_ > waker_fd_ ? maxfd_ : waker_fd_) + 1;
    }
    FD_SET(wake_fd, &armed.read);
    int all = nfds > wake_fd ? nfds : wake_fd + 1;
    // Room for every fd the sets can hold, plus the waker.
    out->resize(2 * static_cast<size_t>(all + 1));
    int n = 0;
    // No lock around the blocking call: BlockAside() takes it only to find
    // closed fds after EBADF.
    int r = BlockAside(armed, all, deadline, out->data(), static_cast<int>(out->size() / 2), &n);
    if (r < 0) {
      out->clear();
      return r;
    }
    if (r == 0 && n == 0) {
      out->clear();
      *how = BlockResult::kTimedOut;
      return 0;
    }
    bool woken = FD_ISSET(wake_fd, &block_.read);
    FD_CLR(wake_fd, &block_.read);
    std::lock_guard<std::mutex> lock(mu_);
    if (r > 0) n = Harvest(block_, nfds, out->data(), static_cast<int>(out->size() / 2), n);
    out->resize(2 * static_cast<size_t>(n));
    if (n == 0 && woken) *how = BlockResult::kWoken;
    return n;
  }

 private:
  // One select(2) over `armed`, into `seen`, retrying EINTR with the time
  // left. Closed fds are reported as NVAL (as poll does) instead of failing
  // the whole call: select(2) says only "EBADF" and not which fd it was; they
  // are written to out[*n...] and the call is repeated, without blocking,
  // over the rest. Returns select's count (0: nothing more), or -errno. The
  // caller holds mu_ (Wait) or not (BlockAside, which takes it for the scan).
  template <typename Lock>
  int BlockWith(Sets armed, int nfds, const Deadline& deadline, Sets* seen, int32_t* out, int cap, int* n, Lock lock) {
    // Once closed fds were found there are results already: don't block.
    Deadline now = Deadline::Now();
    for (const Deadline* d = &deadline;; d = &now) {
      int r = WaitUntil(*d, [&] {
        *seen = armed;
        timeval tv;
        return select(nfds, &seen->read, &seen->write, &seen->except, ToTimeval(*d, &tv));
      });
      if (r != -EBADF || d == &now) return r;
      [[maybe_unused]] auto held = lock();
      for (int fd = 0; fd <= maxfd_ && fd < nfds; fd++) {
        if (!registered_[fd] || !IsArmed(armed, fd) || FdIsOpen(fd)) continue;
        Disarm(armed, fd);
        if (!IsArmed(master_, fd)) continue;              // a ONESHOT fd that fired meanwhile
        if (interest_[fd] & kOneshot) DisarmOneshot(fd);  // reported once, like poll
        if (*n < cap) {
          out[2 * *n] = fd;
          out[2 * *n + 1] = static_cast<int32_t>(kNval);
          (*n)++;
        }
      }
    }
  }

  int Block(const Sets& armed, int nfds, const Deadline& deadline, Sets* seen, int32_t* out, int cap, int* n) {
    return BlockWith(armed, nfds, deadline, seen, out, cap, n, [] { return 0; });
  }

  int BlockAside(const Sets& armed, int nfds, const Deadline& deadline, int32_t* out, int cap, int* n) {
    return BlockWith(armed, nfds, deadline, &block_, out, cap, n, [this] { return std::unique_lock<std::mutex>(mu_); });
  }

  // Turns what one select(2) saw into pairs after out[n]; the caller holds
  // mu_. Only fds still registered, and still armed for the bit (a ONESHOT
  // fd may have fired meanwhile), are reported. Returns the new count.
  int Harvest(const Sets& seen, int nfds, int32_t* out, int cap, int n) {
    if (waker_fd_ >= 0 && waker_fd_ < nfds && FD_ISSET(waker_fd_, &seen.read) && n < cap) {
      DrainWaker(waker_fd_);
      out[2 * n] = kWakerFd;
      out[2 * n + 1] = static_cast<int32_t>(kIn);
      n++;
    }
    for (int fd = 0; fd <= maxfd_ && fd < nfds && n < cap; fd++) {
      if (!registered_[fd] || !IsArmed(master_, fd)) continue;
      uint32_t ready = FilterReady(Revents(seen, fd, interest_[fd]), interest_[fd]);
      if (ready == 0) continue;
      out[2 * n] = fd;
      out[2 * n + 1] = static_cast<int32_t>(ready);
      n++;
      if (interest_[fd] & kOneshot) DisarmOneshot(fd);
    }
    return n;
  }

  // A reported ONESHOT fd leaves the master sets until Modify(). Caller holds mu_.
  void DisarmOneshot(int fd) {
    Disarm(master_, fd);
    states_.Clear(fd, false);
  }

  // What wait()'s StateSet watches for fd: the bits of its sets (an fd with
  // none is in no set, so not watched at all). Caller holds mu_.
  void Mirror(int fd, uint32_t events) {
    if (events & kInterestBits) {
      states_.Set(fd, events & kInterestBits);
    } else {
      states_.Clear(fd, false);
    }
  }

  const StateSet* States() const override { return &states_; }

  bool SyncStates() override {
    std::lock_guard<std::mutex> lock(mu_);
    return states_.Sync(waker_fd_, [this] {
      for (int fd = 0; fd <= maxfd_; fd++) {
        if (registered_[fd] && IsArmed(master_, fd)) Mirror(fd, interest_[fd]);
      }
    });
  }

  static bool IsArmed(const Sets& s, int fd) {
    return FD_ISSET(fd, &s.read) || FD_ISSET(fd, &s.write) || FD_ISSET(fd, &s.except);
  }

  Sets master_;
  Sets scratch_;  // the JS thread's copy per call
  Sets block_;    // the wait thread's copy
  uint32_t interest_[FD_SETSIZE];
  bool registered_[FD_SETSIZE];
  int maxfd_ = -1;
  StateSet states_;  // what wait() sleeps on in the loop (state_set.h)
};

}  // namespace

std::unique_ptr<Backend> MakeSelectBackend(int* err) {
  *err = 0;
  return std::make_unique<SelectBackend>();
}

}  // namespace iomux::detail

// poll(2): one dense array of struct pollfd handed to the kernel as is.
//
// Cost: O(n) per call in the number of registered fds (the kernel copies and
// scans the whole array, and so do we to collect results); no fd limit.
// Removal swaps the last entry into the hole, so the array stays dense.
// ONESHOT is emulated: a reported fd is disarmed by negating its pollfd.fd,
// which poll(2) skips entirely (not even ERR/HUP/NVAL are reported for it).
#include <poll.h>

#include <cerrno>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "backend.h"
#include "state_set.h"
#include "syscall.h"

namespace iomux::detail {
namespace {

// poll(2) and iomux share bit values, so translation is the identity apart
// from the modifiers, which poll(2) does not know.
short ToPoll(uint32_t events) { return static_cast<short>(events & kInterestBits); }

class PollBackend final : public Backend {
 public:
  const Capabilities& Caps() const override { return kPollCaps; }

  int Add(int fd, uint32_t events) override {
    if (!FdIsOpen(fd)) return EBADF;
    std::lock_guard<std::mutex> lock(mu_);
    index_.emplace(fd, fds_.size());
    fds_.push_back(pollfd{fd, ToPoll(events), 0});
    interest_.push_back(events);
    states_.Set(fd, static_cast<uint16_t>(ToPoll(events)));
    return 0;
  }

  int Modify(int fd, uint32_t events) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = index_.find(fd);
    if (it == index_.end()) return ENOENT;
    pollfd& p = fds_[it->second];
    p.fd = fd;  // re-arms a fired ONESHOT entry
    p.events = ToPoll(events);
    interest_[it->second] = events;
    states_.Set(fd, static_cast<uint16_t>(p.events));
    return 0;
  }

  int Remove(int fd) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = index_.find(fd);
    if (it == index_.end()) return ENOENT;
    size_t i = it->second, last = fds_.size() - 1;
    index_.erase(it);
    states_.Clear(fd, true);
    if (i != last) {
      fds_[i] = fds_[last];
      interest_[i] = interest_[last];
      index_[RealFd(fds_[i])] = i;
    }
    fds_.pop_back();
    interest_.pop_back();
    return 0;
  }

  int Wait(const Deadline& deadline, int32_t* out, int cap) override {
    // Held across the call: only the JS thread waits here, and the waiter
    // thread merely snapshots under the same lock.
    std::lock_guard<std::mutex> lock(mu_);
    // The waker rides at the end of the array for this one call (the lock
    // keeps the waiter thread's snapshot from seeing it).
    bool waker = waker_fd_ >= 0;
    if (waker) fds_.push_back(pollfd{waker_fd_, POLLIN, 0});
    int r = WaitUntil(deadline, [&] { return poll(fds_.data(), fds_.size(), ToKernelMs(deadline)); });
    if (r < 0) {
      if (waker) fds_.pop_back();
      return r;
    }
    int n = 0;
    if (waker) {
      if (fds_.back().revents != 0) {
        DrainWaker(waker_fd_);
        out[2 * n] = kWakerFd;
        out[2 * n + 1] = static_cast<int32_t>(kIn);
        n++;
        r--;
      }
      fds_.pop_back();
    }
    for (size_t i = 0; i < fds_.size() && n < cap && r > 0; i++) {
      pollfd& p = fds_[i];
      if (p.revents == 0) continue;
      r--;
      uint32_t ready = FilterReady(static_cast<uint16_t>(p.revents), interest_[i]);
      p.revents = 0;
      if (ready == 0) continue;
      out[2 * n] = p.fd;
      out[2 * n + 1] = static_cast<int32_t>(ready);
      n++;
      if (interest_[i] & kOneshot) Disarm(&p);
    }
    return n;
  }

  int WaitAside(int wake_fd, const Deadline& deadline, std::vector<int32_t>* out, BlockResult* how) override {
    size_t waker_at = SIZE_MAX;
    {
      std::lock_guard<std::mutex> lock(mu_);
      snapshot_.assign(fds_.begin(), fds_.end());
      if (waker_fd_ >= 0) {
        waker_at = snapshot_.size();
        snapshot_.push_back(pollfd{waker_fd_, POLLIN, 0});
      }
    }
    snapshot_.push_back(pollfd{wake_fd, POLLIN, 0});
    int r = WaitUntil(deadline, [&] { return poll(snapshot_.data(), snapshot_.size(), ToKernelMs(deadline)); });
    *how = r == 0 ? BlockResult::kTimedOut : BlockResult::kReady;
    if (r <= 0) return r;
    out->clear();
    std::lock_guard<std::mutex> lock(mu_);
    if (waker_at != SIZE_MAX && snapshot_[waker_at].revents != 0 && snapshot_[waker_at].fd == waker_fd_) {
      DrainWaker(snapshot_[waker_at].fd);
      out->push_back(kWakerFd);
      out->push_back(static_cast<int32_t>(kIn));
    }
    size_t n = waker_at != SIZE_MAX ? waker_at : snapshot_.size() - 1;
    for (size_t j = 0; j < n; j++) {
      const pollfd& seen = snapshot_[j];
      if (seen.revents == 0) continue;
      // The live entry: the fd may have been unregistered, disarmed or
      // modified since the snapshot was taken.
      auto it = index_.find(seen.fd);
      if (it == index_.end()) continue;
      pollfd& p = fds_[it->second];
      if (p.fd < 0) continue;
      uint32_t interest = interest_[it->second];
      uint32_t ready = FilterReady(static_cast<uint16_t>(seen.revents), interest);
      if (ready == 0) continue;
      out->push_back(p.fd);
      out->push_back(static_cast<int32_t>(ready));
      if (interest & kOneshot) Disarm(&p);
    }
    *how = out->empty() && snapshot_.back().revents != 0 ? BlockResult::kWoken : BlockResult::kReady;
    return static_cast<int>(out->size() / 2);
  }

  const StateSet* States() const override { return &states_; }

  bool SyncStates() override {
    std::lock_guard<std::mutex> lock(mu_);
    return states_.Sync(waker_fd_, [this] {
      for (const pollfd& p : fds_) {
        if (p.fd >= 0) states_.Set(p.fd, static_cast<uint16_t>(p.events));
      }
    });
  }

 private:
  static int RealFd(const pollfd& p) { return p.fd >= 0 ? p.fd : -1 - p.fd; }

  // A ONESHOT fd that was reported: poll(2) skips a negative fd entirely
  // (not even ERR/HUP/NVAL), until Modify() re-arms it. Caller holds mu_.
  void Disarm(pollfd* p) {
    states_.Clear(p->fd, false);
    p->fd = -1 - p->fd;
  }

  std::vector<pollfd> fds_;
  std::vector<uint32_t> interest_;  // parallel to fds_, modifiers included
  std::unordered_map<int, size_t> index_;
  std::vector<pollfd> snapshot_;  // the wait thread's private copy
  StateSet states_;               // what wait() sleeps on in the loop (state_set.h)
};

}  // namespace

std::unique_ptr<Backend> MakePollBackend(int* err) {
  *err = 0;
  return std::make_unique<PollBackend>();
}

}  // namespace iomux::detail

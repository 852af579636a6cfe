// epoll(7): the interest list lives in the kernel, behind one epoll fd.
//
// Cost: O(1) per registration change (one epoll_ctl) and O(ready) per wait:
// the kernel hands back only the fds that are ready, so the cost of a wait
// does not grow with the number of idle fds. Limits: regular files and
// directories are refused with EPERM; an fd closed while registered is
// dropped by the kernel silently (once no dup of it remains), so it is never
// reported. EDGE and ONESHOT are native (EPOLLET, EPOLLONESHOT), and so is
// EXCLUSIVE (EPOLLEXCLUSIVE), which the kernel takes only at EPOLL_CTL_ADD.
// The epoll fd is itself pollable, which is what lets wait() hand just this
// one fd to libuv and need no thread.
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <unordered_map>
#include <vector>

#include "backend.h"
#include "epoll_ring.h"
#include "syscall.h"

namespace iomux::detail {
namespace {

// Our bits are epoll's bits. Tags no fd can have (fds fill only the low 32
// bits): the cross-thread waker, and the wait thread's own wake-up eventfd.
constexpr uint64_t kWakerTag = ~uint64_t{0};
constexpr uint64_t kAsideTag = ~uint64_t{0} - 1;

uint32_t ToEpoll(uint32_t events) { return events & (kInterestBits | kOneshot | kEdge | kExclusive); }

class EpollBackend final : public Backend {
 public:
  explicit EpollBackend(int epfd) : epfd_(epfd), use_ring_(EpollRing::Available(nullptr)) {}
  ~EpollBackend() override {
    ring_.reset();  // its wait must end before the epoll fd does
    close(epfd_);
  }

  const Capabilities& Caps() const override { return use_ring_ ? kEpollCaps : kEpollThreadCaps; }
  int KernelFd() const override { return epfd_; }

  int WaitFd() override {
    if (use_ring_ && !ring_) {
      int err = 0;
      ring_ = EpollRing::Make(epfd_, &err);
      if (!ring_) use_ring_ = false;  // (RLIMIT_MEMLOCK, say): the thread does it
    }
    return use_ring_ ? ring_->event_fd() : -1;
  }

  int Flush(int capacity) override {
    wait_armed_ = true;
    return ring_->Submit(capacity);
  }

  void Idle() override { wait_armed_ = false; }

  int Add(int fd, uint32_t events) override {
    int err = Ctl(EPOLL_CTL_ADD, fd, events);
    if (err == 0 && (events & kExclusive)) exclusive_[fd] = events;
    return err;
  }

  int Modify(int fd, uint32_t events) override {
    if (!exclusive_.empty()) {
      auto it = exclusive_.find(fd);
      if (it != exclusive_.end()) return Reregister(it, events);
    }
    return Ctl(EPOLL_CTL_MOD, fd, events);
  }

  int Remove(int fd) override {
    if (!exclusive_.empty()) exclusive_.erase(fd);
    return Ctl(EPOLL_CTL_DEL, fd, 0);
  }

  int SetWaker(int fd) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (waker_fd_ >= 0) epoll_ctl(epfd_, EPOLL_CTL_DEL, waker_fd_, nullptr);
    waker_fd_ = -1;
    if (fd < 0) return 0;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kWakerTag;
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) return errno;
    waker_fd_ = fd;
    return 0;
  }

  int Wait(const Deadline& deadline, int32_t* out, int cap) override {
    if (cap < 1) cap = 1;
    int n = ring_ ? TakeRing(deadline, out, cap) : 0;
    if (n == 0) n = WaitHere(deadline, out, cap);
    // A pending wait() whose ring request this call ended or took goes on,
    // whichever way this call found its result.
    if (ring_ && wait_armed_ && !ring_->in_flight()) {
      int err = ring_->Submit(cap);
      if (err != 0 && n >= 0) n = -err;
    }
    return n;
  }

  int WaitAside(int wake_fd, const Deadline& deadline, std::vector<int32_t>* out, BlockResult* how) override {
    *how = BlockResult::kReady;
    if (aside_fd_ != wake_fd) {
      // The wait thread's wake-up sits in the set itself: a second epoll (or
      // poll(2)) watching this one would poll every ready item once more.
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = kAsideTag;
      if (epoll_ctl(epfd_, EPOLL_CTL_ADD, wake_fd, &ev) != 0) return -errno;
      aside_fd_ = wake_fd;
    }
    // The caller sized `out` for the JS result buffer (every registration
    // and the waker); a longer ready list waits in the kernel for next time.
    int cap = out->size() < 4 ? 2 : static_cast<int>(out->size() / 2);
    if (aside_events_.size() < static_cast<size_t>(cap)) aside_events_.resize(static_cast<size_t>(cap));
    int r = Block(deadline, &aside_events_, cap);
    if (r <= 0) {
      if (r == 0) *how = BlockResult::kTimedOut;
      return r;
    }
    out->resize(2 * static_cast<size_t>(r));
    bool woken = false;
    int n = Harvest(aside_events_.data(), r, out->data(), &woken);
    out->resize(2 * static_cast<size_t>(n));
    if (n == 0 && woken) *how = BlockResult::kWoken;
    return n;
  }

 private:
  // One epoll_wait(2) on this thread, into out.
  int WaitHere(const Deadline& deadline, int32_t* out, int cap) {
    if (events_.size() < static_cast<size_t>(cap)) events_.resize(static_cast<size_t>(cap));
    for (;;) {
      int r = Block(deadline, &events_, cap);
      if (r <= 0) return r;
      int n = Harvest(events_.data(), r, out, nullptr);
      // Only the wait thread's wake-up fired: it is not ours to report, and
      // that thread drains it at once.
      if (n > 0 || deadline.Expired()) return n;
    }
  }

  // What io_uring's epoll_wait harvested, as pairs (0: nothing). Before a
  // blocking call its request is cancelled, so the two never compete for an
  // edge; a zero timeout only takes what is there.
  int TakeRing(const Deadline& deadline, int32_t* out, int cap) {
    int r = deadline.Expired() ? ring_->Reap() : ring_->Cancel();
    if (r <= 0) return r;
    return Harvest(ring_->events(), r < cap ? r : cap, out, nullptr);
  }

  // One epoll_wait(2), retrying EINTR with the time left. Returns the count,
  // 0 once the deadline passed, or -errno.
  int Block(const Deadline& deadline, std::vector<epoll_event>* events, int cap) {
    return WaitUntil(deadline, [&] { return epoll_wait(epfd_, events->data(), cap, ToKernelMs(deadline)); });
  }

  // Turns r epoll events into pairs: the waker drained and reported as
  // kWakerFd, the wait thread's wake-up left out (and noted in *woken).
  int Harvest(const epoll_event* events, int r, int32_t* out, bool* woken) {
    int n = 0;
    for (int i = 0; i < r; i++) {
      if (events[i].data.u64 == kAsideTag) {
        if (woken != nullptr) *woken = true;
        continue;
      }
      if (events[i].data.u64 == kWakerTag) {
        int waker;
        {
          std::lock_guard<std::mutex> lock(mu_);  // the wait thread harvests too
          waker = waker_fd_;
        }
        if (waker >= 0) DrainWaker(waker);
        out[2 * n] = kWakerFd;
        out[2 * n + 1] = static_cast<int32_t>(kIn);
        n++;
        continue;
      }
      // The kernel reports only interest bits plus ERR/HUP, so the filter
      // is a formality kept for symmetry with the other backends.
      uint32_t ready = FilterReady(events[i].events, kInterestBits);
      if (ready == 0) continue;
      out[2 * n] = events[i].data.fd;
      out[2 * n + 1] = static_cast<int32_t>(ready);
      n++;
    }
    return n;
  }

  // The kernel refuses EPOLL_CTL_MOD on an EPOLLEXCLUSIVE registration
  // (EINVAL), so a change is a delete and a fresh add. If the add fails, the
  // old registration is put back, so a failed modify() changes nothing.
  int Reregister(std::unordered_map<int, uint32_t>::iterator it, uint32_t events) {
    int fd = it->first;
    uint32_t old = it->second;
    int err = Ctl(EPOLL_CTL_DEL, fd, 0);
    if (err) return err;
    err = Ctl(EPOLL_CTL_ADD, fd, events);
    if (err == 0) {
      if (events & kExclusive) {
        it->second = events;
      } else {
        exclusive_.erase(it);
      }
      return 0;
    }
    // Put back what was there. This add repeats one the kernel accepted a
    // moment ago for the same file, with the slot the delete just freed.
    Ctl(EPOLL_CTL_ADD, fd, old);
    return err;
  }

  int Ctl(int op, int fd, uint32_t events) {
    epoll_event ev{};
    ev.events = ToEpoll(events);
    ev.data.fd = fd;
    return epoll_ctl(epfd_, op, fd, &ev) == 0 ? 0 : errno;
  }

  int epfd_;
  bool use_ring_;                          // wait() through io_uring (else a thread)
  bool wait_armed_ = false;                // a wait() is pending on the ring
  std::unique_ptr<EpollRing> ring_;        // made by the first wait()
  std::vector<epoll_event> events_;        // the JS thread's
  std::vector<epoll_event> aside_events_;  // the wait thread's
  int aside_fd_ = -1;
  // fd -> mask of the EPOLLEXCLUSIVE registrations, which modify() must
  // re-add (the others are changed in place).
  std::unordered_map<int, uint32_t> exclusive_;
};

}  // namespace

const Capabilities& EpollCaps() { return EpollRing::Available(nullptr) ? kEpollCaps : kEpollThreadCaps; }

std::unique_ptr<Backend> MakeEpollBackend(int* err) {
  int epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) {
    *err = errno;
    return nullptr;
  }
  *err = 0;
  return std::make_unique<EpollBackend>(epfd);
}

}  // namespace iomux::detail

// epoll(7): the interest list lives in the kernel, behind one epoll fd.
//
// Cost: O(1) per registration change (one epoll_ctl) and O(ready) per wait:
// the kernel hands back only the fds that are ready, so the cost of a wait
// does not grow with the number of idle fds. Limits: regular files and
// directories are refused with EPERM; an fd closed while registered is
// dropped by the kernel silently (once no dup of it remains), so it is never
// reported. EDGE and ONESHOT are native (EPOLLET, EPOLLONESHOT).
// The epoll fd is itself pollable, which is what lets wait() hand just this
// one fd to libuv and need no thread.
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "backend.h"

namespace iomux::detail {
namespace {

// Our bits are epoll's bits; only EPOLLEXCLUSIVE and friends are left out.
uint32_t ToEpoll(uint32_t events) { return events & (kInterestBits | kOneshot | kEdge); }

class EpollBackend final : public Backend {
 public:
  explicit EpollBackend(int epfd) : epfd_(epfd) {}
  ~EpollBackend() override { close(epfd_); }

  const Capabilities& Caps() const override { return kEpollCaps; }
  int KernelFd() const override { return epfd_; }

  int Add(int fd, uint32_t events) override { return Ctl(EPOLL_CTL_ADD, fd, events); }
  int Modify(int fd, uint32_t events) override { return Ctl(EPOLL_CTL_MOD, fd, events); }
  int Remove(int fd) override { return Ctl(EPOLL_CTL_DEL, fd, 0); }

  int Wait(const Deadline& deadline, int32_t* out, int cap) override {
    if (cap < 1) cap = 1;
    if (events_.size() < static_cast<size_t>(cap)) events_.resize(static_cast<size_t>(cap));
    int r;
    for (;;) {
      r = epoll_wait(epfd_, events_.data(), cap, ToKernelMs(deadline));
      if (r > 0) break;
      if (r == 0 && (deadline.forever() || deadline.Expired())) return 0;
      if (r < 0 && errno != EINTR) return -errno;
    }
    int n = 0;
    for (int i = 0; i < r; i++) {
      // The kernel reports only interest bits plus ERR/HUP, so the filter
      // is a formality kept for symmetry with the other backends.
      uint32_t ready = FilterReady(events_[i].events, kInterestBits);
      if (ready == 0) continue;
      out[2 * n] = events_[i].data.fd;
      out[2 * n + 1] = static_cast<int32_t>(ready);
      n++;
    }
    return n;
  }

 private:
  int Ctl(int op, int fd, uint32_t events) {
    epoll_event ev{};
    ev.events = ToEpoll(events);
    ev.data.fd = fd;
    return epoll_ctl(epfd_, op, fd, &ev) == 0 ? 0 : errno;
  }

  int epfd_;
  std::vector<epoll_event> events_;
};

}  // namespace

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

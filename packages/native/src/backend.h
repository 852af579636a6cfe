// The one internal interface every readiness mechanism implements.
//
// A backend translates between iomux's event bits (which equal Linux poll(2)
// bits) and its mechanism's own structures. Bookkeeping that is the same for
// every mechanism (the fd -> key map, argument checks, ERR_* errors) lives in
// TypeScript; a backend only keeps what its system call needs.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>

namespace iomux::detail {

// Event bits: the values of POLLIN, POLLPRI, ... and EPOLLIN, EPOLLPRI, ...
constexpr uint32_t kIn = 0x001;
constexpr uint32_t kPri = 0x002;
constexpr uint32_t kOut = 0x004;
constexpr uint32_t kErr = 0x008;
constexpr uint32_t kHup = 0x010;
constexpr uint32_t kNval = 0x020;
constexpr uint32_t kRdhup = 0x2000;
constexpr uint32_t kOneshot = 0x40000000u;
constexpr uint32_t kEdge = 0x80000000u;
constexpr uint32_t kExclusive = 0x10000000u;  // EPOLLEXCLUSIVE

constexpr uint32_t kInterestBits = kIn | kPri | kOut | kRdhup;
constexpr uint32_t kAlwaysReported = kErr | kHup | kNval;

// The one filter every backend applies to what its kernel said: the ready
// interest bits, plus the conditions poll(2) reports whether asked or not.
inline uint32_t FilterReady(uint32_t revents, uint32_t interest) {
  return revents & ((interest & kInterestBits) | kAlwaysReported);
}

// A wait deadline on CLOCK_MONOTONIC. Kernel waits are not restarted after a
// signal handler runs (even with SA_RESTART), so every backend retries EINTR
// itself with the time that is left rather than the original timeout.
class Deadline {
 public:
  // timeout_ns < 0 means forever.
  explicit Deadline(int64_t timeout_ns);
  bool forever() const { return forever_; }
  // Nanoseconds left (never negative); meaningless when forever().
  int64_t RemainingNs() const;

 private:
  bool forever_;
  int64_t end_ns_ = 0;
};

// Round a wait up to the kernel's resolution, so a wait never ends early:
// 0.2 ms must become 1 ms for poll(2), not 0 (which would not block at all).
int ToKernelMs(const Deadline& d);  // -1 = forever

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* Name() const = 0;

  // Each returns 0 or an errno value. events holds interest bits plus the
  // ONESHOT/EDGE modifiers, already validated by the caller.
  virtual int Add(int fd, uint32_t events) = 0;
  virtual int Modify(int fd, uint32_t events) = 0;
  virtual int Remove(int fd) = 0;

  // Waits up to timeout_ns (< 0: forever) and writes up to `cap` (fd, events)
  // pairs into `out`. Returns the number of pairs, or -errno. The caller
  // guarantees cap >= the number of registered fds, so one kernel call
  // suffices and no fd is reported twice.
  virtual int Wait(int64_t timeout_ns, int32_t* out, int cap) = 0;

  // The kernel object's fd (the epoll fd), or -1 when there is none.
  virtual int KernelFd() const { return -1; }

  // For a wait on another thread (select and poll cannot be watched by
  // libuv): block until a registered fd may be ready (returns 1), or until
  // wake_fd is readable (returns 0). Returns -errno on failure. Works on a
  // snapshot of the interest set taken under mu(), so the JS thread may
  // change registrations meanwhile (and then writes to wake_fd).
  virtual int BlockUntilReady(int wake_fd) {
    (void)wake_fd;
    return -1;
  }

  // The cross-thread waker's eventfd (waker.h), or -1 to forget it. Wait()
  // and BlockUntilReady() watch it with the registered fds; when it fired,
  // Wait() drains it and reports the pair (-1, IN). Returns 0 or an errno.
  virtual int SetWaker(int fd) {
    std::lock_guard<std::mutex> lock(mu_);
    waker_fd_ = fd;
    return 0;
  }
  // The waker's eventfd must be numbered below this (select: FD_SETSIZE).
  virtual int WakerFdLimit() const { return INT32_MAX; }

  std::mutex& mu() { return mu_; }

 protected:
  std::mutex mu_;
  int waker_fd_ = -1;
};

// The fd reported for the waker in Wait()'s output pairs.
constexpr int32_t kWakerFd = -1;

// Empties the waker's eventfd, so it stops being readable (waker.cc).
void DrainWaker(int fd);

// Factories; each returns nullptr and sets *err (an errno) on failure.
std::unique_ptr<Backend> MakeSelectBackend(int* err);
std::unique_ptr<Backend> MakePollBackend(int* err);
std::unique_ptr<Backend> MakeEpollBackend(int* err);

// True when fd refers to an open file description.
bool FdIsOpen(int fd);

}  // namespace iomux::detail

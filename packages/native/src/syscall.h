// System-call hygiene, in one place for every native file (mio's syscall!
// and libuv's uv__ helpers play the same part).
//  - EINTR: a call without a deadline is simply restarted (RetryEintr); a
//    blocking wait is restarted with the time that is left (WaitUntil),
//    because the kernel does not restart waits after a signal handler ran,
//    even with SA_RESTART. close(2) is never retried: on Linux the fd is
//    gone either way.
//  - would-block is one test (WouldBlock), a normal result, not an error.
//  - an eventfd is signalled and drained the same way everywhere.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "deadline.h"

namespace iomux::detail {

// Runs `call` until a signal no longer interrupts it. Returns its result,
// with errno set when that is negative.
template <typename F>
auto RetryEintr(F&& call) {
  decltype(call()) r;
  do {
    r = call();
  } while (r < 0 && errno == EINTR);
  return r;
}

inline bool WouldBlock(int err) { return err == EAGAIN || err == EWOULDBLOCK; }

// A blocking wait that ends at `deadline`. `call()` makes the system call
// with the time left (it reads the deadline itself, each time) and returns
// its count. Returns that count when positive, 0 once the deadline passed
// (a kernel that wakes a little early is sent back to sleep), or -errno.
template <typename F>
int WaitUntil(const Deadline& deadline, F&& call) {
  for (;;) {
    int r = static_cast<int>(call());
    if (r > 0) return r;
    if (r == 0) {
      if (deadline.forever() || deadline.Expired()) return 0;
      continue;
    }
    if (errno != EINTR) return -errno;
  }
}

// Makes an eventfd readable. EAGAIN (the counter is saturated) means it is
// readable already.
inline void EventfdSignal(int fd) {
  uint64_t one = 1;
  RetryEintr([&] { return write(fd, &one, sizeof one); });
}

// Makes an eventfd unreadable again (one read takes the whole counter).
inline void EventfdDrain(int fd) {
  uint64_t count;
  RetryEintr([&] { return read(fd, &count, sizeof count); });
}

}  // namespace iomux::detail

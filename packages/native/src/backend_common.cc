// Shared helpers for the backends: the deadline clock and the one place
// timeouts are rounded to the kernel's resolution.
#include <fcntl.h>
#include <time.h>

#include <cerrno>

#include "backend.h"

namespace iomux::detail {

namespace {
int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}
}  // namespace

Deadline::Deadline(int64_t timeout_ns) : forever_(timeout_ns < 0) {
  if (!forever_) end_ns_ = NowNs() + timeout_ns;
}

int64_t Deadline::RemainingNs() const {
  int64_t left = end_ns_ - NowNs();
  return left > 0 ? left : 0;
}

int ToKernelMs(const Deadline& d) {
  if (d.forever()) return -1;
  int64_t ns = d.RemainingNs();
  int64_t ms = (ns + 999999) / 1000000;  // round up: never wake early
  return ms > INT32_MAX ? INT32_MAX : static_cast<int>(ms);
}

bool FdIsOpen(int fd) { return fcntl(fd, F_GETFD) != -1 || errno != EBADF; }

}  // namespace iomux::detail

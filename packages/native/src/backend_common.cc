// Shared pieces of the backends: the capability records, the deadline clock
// and the one place a timeout is converted and rounded.
#include <fcntl.h>
#include <sys/select.h>
#include <time.h>

#include <cerrno>
#include <climits>
#include <cmath>
#include <cstring>

#include "backend.h"

namespace iomux::detail {

// The records read as a table, one line per group of fields: kept as
// written, where clang-format would put each field on a line of its own.
// clang-format off
const Capabilities kSelectCaps = {
    "select", FD_SETSIZE - 1,
    /*edge=*/false, /*exclusive=*/false, /*native_oneshot=*/false, /*rdhup_needs_in=*/true,
    /*reports_hup=*/false, /*reports_closed_fd=*/true, /*keeps_closed_fd_open=*/false,
    /*pollable_kernel_fd=*/false,
    // wait(): the loop sleeps on an epoll set mirroring sockets, pipes and
    // ttys (state_set.h), the JS thread harvests with select(2); a thread
    // in select(2) where another file is registered.
    /*wait_on_thread=*/true, /*wait_in_loop=*/true,
    // An fd with no interest bit is in none of the three sets.
    /*watches_empty_mask=*/false, /*watches_regular_files=*/true,
    // Add() checks the fd with fcntl(F_GETFD); nothing else enters the kernel.
    "select", "fcntl", nullptr, nullptr,
};

const Capabilities kPollCaps = {
    "poll", INT_MAX,
    /*edge=*/false, /*exclusive=*/false, /*native_oneshot=*/false, /*rdhup_needs_in=*/false,
    /*reports_hup=*/true, /*reports_closed_fd=*/true, /*keeps_closed_fd_open=*/false,
    /*pollable_kernel_fd=*/false,
    // wait(): as select's, with poll(2).
    /*wait_on_thread=*/true, /*wait_in_loop=*/true, /*watches_empty_mask=*/true, /*watches_regular_files=*/true,
    "poll", "fcntl", nullptr, nullptr,
};

const Capabilities kEpollCaps = {
    "epoll", INT_MAX,
    /*edge=*/true, /*exclusive=*/true, /*native_oneshot=*/true, /*rdhup_needs_in=*/false,
    /*reports_hup=*/true, /*reports_closed_fd=*/false, /*keeps_closed_fd_open=*/false,
    /*pollable_kernel_fd=*/true,
    // io_uring runs the epoll_wait (IORING_OP_EPOLL_WAIT) while libuv
    // watches an eventfd: no thread (epoll_ring.h).
    /*wait_on_thread=*/false, /*wait_in_loop=*/true, /*watches_empty_mask=*/true, /*watches_regular_files=*/false,
    "epoll_wait", "epoll_ctl", "epoll_ctl", "epoll_ctl",
};

const Capabilities kEpollThreadCaps = {
    "epoll", INT_MAX,
    /*edge=*/true, /*exclusive=*/true, /*native_oneshot=*/true, /*rdhup_needs_in=*/false,
    /*reports_hup=*/true, /*reports_closed_fd=*/false, /*keeps_closed_fd_open=*/false,
    /*pollable_kernel_fd=*/true,
    // Where io_uring cannot run it: a thread blocks in epoll_wait. (libuv
    // polling the epoll fd would poll every ready item once more, and a
    // report-once file, /proc/self/mounts, would lose its event there.)
    /*wait_on_thread=*/true, /*wait_in_loop=*/false, /*watches_empty_mask=*/true, /*watches_regular_files=*/false,
    "epoll_wait", "epoll_ctl", "epoll_ctl", "epoll_ctl",
};

const Capabilities kIoUringCaps = {
    "io_uring", INT_MAX,
    /*edge=*/true, /*exclusive=*/true, /*native_oneshot=*/true, /*rdhup_needs_in=*/false,
    // A poll request holds its file: close() of a registered fd does not
    // close it, so it is neither reported nor forgotten, until unregister().
    /*reports_hup=*/true, /*reports_closed_fd=*/false, /*keeps_closed_fd_open=*/true,
    // KernelFd() is an eventfd registered with the ring, not the ring's fd.
    // libuv polling it consumes nothing: the completions stay in the ring
    // until the JS thread's Wait() reads them, so wait() needs no thread.
    /*pollable_kernel_fd=*/true, /*wait_on_thread=*/false, /*wait_in_loop=*/true,
    // A regular file's poll request completes at once, as poll(2) reports it.
    /*watches_empty_mask=*/true, /*watches_regular_files=*/true,
    // Add() checks the fd with getsockopt(SO_TYPE) and queues its request;
    // the request, a change or a removal goes in with an io_uring_enter.
    "io_uring_enter", "getsockopt", "io_uring_enter", "io_uring_enter",
};
// clang-format on

namespace {
const Capabilities& SelectCaps() { return kSelectCaps; }
const Capabilities& PollCaps() { return kPollCaps; }
const Capabilities& IoUringCaps() { return kIoUringCaps; }
}  // namespace

const BackendEntry kBackends[] = {
    {SelectCaps, MakeSelectBackend, "select", nullptr},
    {PollCaps, MakePollBackend, "poll", nullptr},
    {EpollCaps, MakeEpollBackend, "epoll_create1", nullptr},
    {IoUringCaps, MakeIoUringBackend, "io_uring_setup", IoUringUnavailable},
};
const int kBackendCount = static_cast<int>(sizeof kBackends / sizeof kBackends[0]);

const BackendEntry* FindBackend(const char* name) {
  for (const BackendEntry& b : kBackends) {
    if (std::strcmp(b.caps().name, name) == 0) return &b;
  }
  return nullptr;
}

namespace {
int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}
}  // namespace

Deadline Deadline::FromMs(double ms) {
  if (!(ms >= 0) || ms > 9.2e12) return Forever();  // NaN and negatives too
  if (ms == 0) return Now();
  // Round up to a whole nanosecond: a fraction of one must still wait.
  return Deadline(kAt, NowNs() + static_cast<int64_t>(std::ceil(ms * 1e6)));
}

int64_t Deadline::RemainingNs() const {
  if (kind_ != kAt) return 0;
  int64_t left = end_ns_ - NowNs();
  return left > 0 ? left : 0;
}

bool Deadline::Expired() const { return kind_ == kNow || (kind_ == kAt && RemainingNs() == 0); }

int64_t Deadline::RemainingCeil(int64_t unit_ns, int64_t cap) const {
  int64_t left = RemainingNs();
  int64_t units = left / unit_ns + (left % unit_ns != 0 ? 1 : 0);
  return units > cap ? cap : units;
}

int ToKernelMs(const Deadline& d) {
  if (d.forever()) return -1;
  return static_cast<int>(d.RemainingCeil(1000000, INT_MAX));
}

bool FdIsOpen(int fd) { return fcntl(fd, F_GETFD) != -1 || errno != EBADF; }

}  // namespace iomux::detail

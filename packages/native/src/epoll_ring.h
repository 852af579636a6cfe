// An epoll_wait(2) that the kernel runs on our behalf: io_uring's
// IORING_OP_EPOLL_WAIT (Linux 6.15), used by the epoll backend's wait().
//
// Why: wait() must not block the JS thread, and libuv cannot simply watch
// the epoll fd: its check of that fd polls every ready item once more, and a
// file whose readiness the kernel clears in the poll that sees it
// (/proc/self/mounts after a mount-table change) loses its event there. A
// thread blocked in epoll_wait(2) keeps it, at the price of a hand-off per
// wake-up. Here the ring runs the epoll_wait itself, into our buffer, and
// libuv watches an eventfd registered with the ring: no thread, and the
// epoll set is harvested exactly once per result.
//
// The ring is made with SINGLE_ISSUER | DEFER_TASKRUN: its work runs only
// when this (the JS) thread enters it, so the harvest happens inside
// Reap(), never behind our back, and the thread's other system calls are
// not interrupted by io_uring's task work. The ABI is spelled here (raw
// system calls, no liburing, no <linux/io_uring.h>), so the addon builds
// against old kernel headers and keeps its glibc 2.17 floor.
#pragma once

#include <sys/epoll.h>

#include <cstdint>
#include <memory>

namespace iomux::detail {

class EpollRing {
 public:
  // Whether this process can use it (probed once: the system calls, the
  // setup flags, the operation, and IOMUX_EPOLL_WAIT=thread, which opts
  // out). When not, *why says what is missing.
  static bool Available(const char** why);
  // A ring for `epfd` with room for `max_events` per wait, or nullptr with
  // *err set (an errno).
  static std::unique_ptr<EpollRing> Make(int epfd, int* err);
  ~EpollRing();  // cancels a wait in flight, reaps it, releases everything

  EpollRing(const EpollRing&) = delete;
  EpollRing& operator=(const EpollRing&) = delete;

  // The eventfd that becomes readable when the ring has work for us.
  int event_fd() const { return event_fd_; }
  bool in_flight() const { return in_flight_; }

  // Starts the wait if none is in flight, with room for `max_events`.
  // Returns 0 or an errno.
  int Submit(int max_events);
  // Empties the eventfd, runs the ring's deferred work (where the kernel
  // harvests the epoll set) and takes the wait's completion: returns the
  // number of events now in events(), 0 when the wait is still in flight
  // (or ended with none), or -errno.
  int Reap();
  // Ends a wait in flight (before a blocking epoll_wait of our own, which
  // must not compete with it). Returns what Reap() would: events the wait
  // harvested before the cancel took effect are not lost.
  int Cancel();
  const epoll_event* events() const { return events_.get(); }

 private:
  EpollRing() = default;
  int Enter(unsigned to_submit, unsigned min_complete, unsigned flags);
  int Push(uint8_t opcode, int fd, uint64_t addr, uint32_t len, uint64_t user_data);
  int TakeCompletions();

  int ring_fd_ = -1;
  int event_fd_ = -1;
  void* ring_ = nullptr;  // the SQ and CQ rings (one mapping)
  size_t ring_bytes_ = 0;
  void* sqes_ = nullptr;
  size_t sqes_bytes_ = 0;
  // Pointers into the rings.
  unsigned* sq_head_ = nullptr;
  unsigned* sq_tail_ = nullptr;
  unsigned sq_mask_ = 0;
  unsigned* sq_array_ = nullptr;
  unsigned* cq_head_ = nullptr;
  unsigned* cq_tail_ = nullptr;
  unsigned cq_mask_ = 0;
  void* cqes_ = nullptr;

  int epfd_ = -1;
  std::unique_ptr<epoll_event[]> events_;  // the kernel writes here while a wait is in flight
  int capacity_ = 0;
  bool in_flight_ = false;
  int result_ = 0;  // the last completion's result, taken by Reap()/Cancel()
  bool completed_ = false;
};

}  // namespace iomux::detail

// How wait() watches a backend without blocking the JS thread. Three
// strategies, chosen by the backend:
//  - ThreadWaiter (epoll without io_uring; select and poll through the
//    HybridWaiter below): a dedicated thread blocks in the mechanism's own
//    call (Backend::WaitAside) with the wait's deadline and an eventfd of
//    its own, and hands what that call harvested to the JS thread through a
//    uv_async_t. The kernel is asked once per result: some files
//    (/proc/self/mounts, the hostname) report a change only to the first
//    poll that sees it, so asking again on the JS thread, or letting libuv's
//    epoll poll the epoll fd (which polls every ready item once more), would
//    lose it. The thread does not wait again until JS re-arms it, so a
//    level-triggered fd cannot make it spin.
//  - HybridWaiter (select and poll, Backend::States()): while every
//    registration is a socket, pipe or tty, libuv watches the backend's
//    StateSet (state_set.h) and the JS thread harvests with the mechanism's
//    zero-timeout call: no thread, one wake-up per event. Otherwise (another
//    file is registered), and for the rest of a wait whose loop wake-up
//    found nothing, the ThreadWaiter.
//  - KernelFdWaiter (the others): one uv_poll_t on the backend's own
//    pollable fd, where polling consumes nothing (a completion queue); the
//    JS side then harvests with a zero-timeout Wait(). The user's fds are
//    never handed to libuv (it allows one watcher per fd). A uv_timer_t ends
//    the wait at its deadline.
// Either calls `done` on the JS thread, once per Start().
#pragma once

#include <uv.h>

#include <atomic>
#include <cstdint>
#include <memory>

#include "backend.h"

namespace iomux::detail {

class Waiter {
 public:
  // err: an errno (0: fine); timed_out: the deadline passed. pairs: the n
  // (fd, events) pairs the wait harvested, or nullptr when the JS side is to
  // harvest them itself with a zero-timeout Wait().
  using Done = void (*)(void* ctx, int err, bool timed_out, const int32_t* pairs, int n);
  virtual ~Waiter() = default;  // stops and releases everything it owns

  // Arms the watcher until `deadline`. `again`: the same wait, re-armed
  // after a wake-up whose harvest found nothing. Returns 0 or an errno value.
  virtual int Start(const Deadline& deadline, bool again) = 0;
  // Disarms it; no `done` follows for the current Start(). What a wait
  // harvested but could not deliver any more is delivered by the next one.
  virtual void Stop() = 0;
  // A registration changed: a wait on a snapshot takes a new one.
  virtual void Changed() {}
};

// The waiter `backend` needs, or nullptr with *err set (an errno value).
// `capacity` (pairs the JS result buffer holds) is read at each wait.
std::unique_ptr<Waiter> MakeWaiter(uv_loop_t* loop, Backend* backend, const std::atomic<int>* capacity,
                                   Waiter::Done done, void* ctx, int* err);

}  // namespace iomux::detail

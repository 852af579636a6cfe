// How wait() watches a backend without blocking the JS thread. Two
// strategies, chosen by the backend's capability record:
//  - KernelFdWaiter (epoll): one uv_poll_t on the backend's own kernel fd.
//    libuv's epoll then nests ours; the user's fds are never handed to libuv
//    (libuv allows one watcher per fd). A uv_timer_t ends the wait at its
//    deadline.
//  - ThreadWaiter (select, poll, which libuv cannot watch): a dedicated
//    thread blocks in the real select(2)/poll(2) on a snapshot of the
//    interest set plus an eventfd waker, with the wait's deadline, then tells
//    the JS thread through a uv_async_t. It does not wait again until JS
//    re-arms it, so a level-triggered fd cannot make it spin.
// Either calls `done(ctx, err, timed_out)` on the JS thread, once per Start().
#pragma once

#include <uv.h>

#include <memory>

#include "backend.h"

namespace iomux::detail {

class Waiter {
 public:
  using Done = void (*)(void* ctx, int err, bool timed_out);
  virtual ~Waiter() = default;  // stops and releases everything it owns

  // Arms the watcher until `deadline`. Returns 0 or an errno value.
  virtual int Start(const Deadline& deadline) = 0;
  // Disarms it; no `done` follows for the current Start().
  virtual void Stop() = 0;
  // A registration changed: a wait on a snapshot takes a new one.
  virtual void Changed() {}
};

// The waiter `backend` needs, or nullptr with *err set (an errno value).
std::unique_ptr<Waiter> MakeWaiter(uv_loop_t* loop, Backend* backend, Waiter::Done done, void* ctx, int* err);

}  // namespace iomux::detail

// The N-API face of a selector, and the machinery behind wait().
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "addon.h"
#include "backend.h"

namespace iomux::detail {

// Owns a backend and whatever wait() needs to watch it without blocking the
// JS thread:
//  - epoll: one uv_poll_t on the epoll fd. libuv's own epoll then nests ours;
//    when it fires, JS collects the events with a zero-timeout select(). The
//    user's fds are never handed to libuv (libuv allows one watcher per fd).
//  - select, poll: a dedicated thread blocks in the real select(2)/poll(2) on
//    a snapshot of the interest set plus an eventfd waker, then tells the JS
//    thread through a uv_async_t. It does not wait again until JS re-arms it,
//    so a level-triggered fd cannot make it spin.
class SelectorCore {
 public:
  SelectorCore(EnvData* env, std::unique_ptr<Backend> backend);
  ~SelectorCore();

  Backend* backend() { return backend_.get(); }
  bool closed() const { return backend_ == nullptr; }

  // Arms the watcher; `callback(errno)` is called on the JS thread once
  // something may be ready (errno 0) or the wait failed. Returns 0 or errno.
  int Arm(Napi::Env env, Napi::Function callback);
  void Disarm();
  // A registration changed: a pending threaded wait re-snapshots.
  void Changed();
  // Releases everything; idempotent. Safe from the environment cleanup hook.
  void Shutdown();
  // The cross-thread waker's id, creating the waker on first use (waker.cc).
  // Returns 0 or an errno (EMFILE: select found no free fd below FD_SETSIZE).
  int EnsureWaker(uint64_t* id);

 private:
  static void OnPoll(uv_poll_t* handle, int status, int events);
  static void OnAsync(uv_async_t* handle);
  void Fire(int err);
  void ThreadMain();
  void Wake();
  void DestroyWakerOf();

  EnvData* env_;
  std::unique_ptr<Backend> backend_;
  Napi::FunctionReference callback_;
  std::unique_ptr<Napi::AsyncContext> async_context_;

  uv_poll_t* poll_ = nullptr;    // epoll backend
  uv_async_t* async_ = nullptr;  // threaded backends
  int wake_fd_ = -1;
  std::thread thread_;
  std::mutex wmu_;
  std::condition_variable cv_;
  bool armed_ = false;
  bool stopping_ = false;
  int thread_result_ = 0;
  bool firing_ = false;  // inside Fire(): the async context is in use
  uint64_t waker_id_ = 0;  // 0: no cross-thread waker yet
};

}  // namespace iomux::detail

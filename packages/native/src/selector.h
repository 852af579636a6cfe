// The native side of one selector: its backend and the machinery behind
// wait(). The JS-facing selector (selector_js.cc) holds one of these.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "addon.h"
#include "backend.h"
#include "waiter.h"

namespace iomux::detail {

class SelectorCore final : public EnvResource {
 public:
  SelectorCore(EnvData* env, std::unique_ptr<Backend> backend);
  ~SelectorCore();

  Backend* backend() { return backend_.get(); }
  bool closed() const { return backend_ == nullptr; }

  // Arms a wait until `deadline`: `callback(errno, timedOut, count)` is
  // called on the JS thread once something is ready (errno 0), the deadline
  // passed (timedOut), or the wait failed. count >= 0: that many (fd, events)
  // pairs were written to the result buffer; -1: the JS side harvests with
  // a zero-timeout select(). Rearm() continues the current wait, with the
  // same deadline, after a wake-up that brought nothing. Return 0 or errno.
  int Arm(Napi::Env env, Napi::Function callback, const Deadline& deadline);
  int Rearm(Napi::Env env, Napi::Function callback);
  void Disarm();
  // A registration changed: a pending threaded wait re-snapshots.
  void Changed();
  // The JS result buffer, which wait results are copied into (pairs).
  void SetResultBuffer(int32_t* pairs, int capacity);
  // Releases everything; idempotent. Safe from the environment cleanup hook.
  void Shutdown() override;
  // The cross-thread waker's id, creating the waker on first use (waker.cc).
  // Returns 0 or an errno (EMFILE: no free fd at or below Caps().max_fd).
  int EnsureWaker(uint64_t* id);

 private:
  static void OnDone(void* ctx, int err, bool timed_out, const int32_t* pairs, int n);
  int StartWait(Napi::Env env, Napi::Function callback, bool again);
  void DestroyWakerOf();

  EnvData* env_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Waiter> waiter_;  // made on the first wait
  Deadline deadline_ = Deadline::Forever();
  int32_t* result_ = nullptr;
  std::atomic<int> capacity_{0};  // pairs at result_; read by a wait thread
  Napi::FunctionReference callback_;
  std::unique_ptr<Napi::AsyncContext> async_context_;
  bool firing_ = false;    // inside OnDone(): the async context is in use
  uint64_t waker_id_ = 0;  // 0: no cross-thread waker yet
};

}  // namespace iomux::detail

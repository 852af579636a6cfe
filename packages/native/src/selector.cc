// SelectorCore: a backend, the machinery behind wait(), and the selector's
// cross-thread waker. The JS-facing NativeSelector object is built in
// selector_js.cc.
#include "selector.h"

#include <algorithm>
#include <cerrno>

#include "waker.h"

namespace iomux::detail {

// ---------------------------------------------------------------- core

SelectorCore::SelectorCore(EnvData* env, std::unique_ptr<Backend> backend) : env_(env), backend_(std::move(backend)) {
  env_->live.insert(this);
}

SelectorCore::~SelectorCore() { Shutdown(); }

int SelectorCore::Arm(Napi::Env env, Napi::Function callback, const Deadline& deadline) {
  deadline_ = deadline;
  return StartWait(env, callback, false);
}

int SelectorCore::Rearm(Napi::Env env, Napi::Function callback) { return StartWait(env, callback, true); }

int SelectorCore::StartWait(Napi::Env env, Napi::Function callback, bool again) {
  if (closed()) return EBADF;
  if (!waiter_) {
    int err = 0;
    waiter_ = MakeWaiter(env_->loop, backend_.get(), &capacity_, OnDone, this, &err);
    if (!waiter_) return err;
  }
  if (!async_context_) async_context_ = std::make_unique<Napi::AsyncContext>(env, "iomux.wait");
  callback_ = Napi::Persistent(callback);
  int err = waiter_->Start(deadline_, again);
  if (err) callback_.Reset();
  return err;
}

void SelectorCore::Disarm() {
  callback_.Reset();
  if (waiter_) waiter_->Stop();
}

void SelectorCore::Changed() {
  if (waiter_) waiter_->Changed();
}

void SelectorCore::SetResultBuffer(int32_t* pairs, int capacity) {
  result_ = pairs;
  capacity_.store(capacity, std::memory_order_relaxed);
}

void SelectorCore::OnDone(void* ctx, int err, bool timed_out, const int32_t* pairs, int n) {
  auto* self = static_cast<SelectorCore*>(ctx);
  if (self->env_->tearing_down || self->callback_.IsEmpty()) return;
  int count = -1;  // the JS side harvests itself
  if (pairs != nullptr) {
    // A harvest holds at most every registration and the waker, which the
    // buffer always has room for (it grows before a registration can be
    // seen, and never shrinks).
    int cap = self->capacity_.load(std::memory_order_relaxed);
    count = n < cap ? n : cap;
    std::copy(pairs, pairs + 2 * count, self->result_);
  }
  // The callback is held only while a wait is armed: a persistent reference
  // to it (and through it to the JS selector) would keep an unclosed selector
  // from ever being collected. The callback may re-arm, which sets it again.
  Napi::FunctionReference callback = std::move(self->callback_);
  Napi::Env env = callback.Env();
  Napi::HandleScope scope(env);
  // MakeCallback, not Call: it drains the microtask queue afterwards, so the
  // promise that wait() returned settles before libuv moves on.
  self->firing_ = true;
  try {
    callback.MakeCallback(
        env.Global(), {Napi::Number::New(env, err), Napi::Boolean::New(env, timed_out), Napi::Number::New(env, count)},
        *self->async_context_);
  } catch (const Napi::Error& e) {
    // JS threw in the callback or in a tick it ran (a process.nextTick that
    // throws after `await wait()`). Report it as Node does for any I/O
    // callback, through uncaughtException; a C++ exception must not reach
    // libuv (std::terminate, SIGABRT).
    napi_fatal_exception(env, e.Value());
  } catch (...) {
    // Anything else (out of memory): the same report, with the error
    // Guard() would have thrown.
    SetPendingError(env);
    napi_value error;
    if (napi_get_and_clear_last_exception(env, &error) == napi_ok) napi_fatal_exception(env, error);
  }
  self->firing_ = false;
  if (self->closed()) self->async_context_.reset();  // close() ran inside the callback
}

void SelectorCore::Shutdown() {
  if (closed()) return;
  // The waiter first: it joins its thread (which reads the backend) and stops
  // libuv watching the epoll fd before the backend closes it.
  waiter_.reset();
  DestroyWakerOf();
  backend_.reset();
  env_->live.erase(this);
  callback_.Reset();
  if (!firing_) async_context_.reset();  // else OnDone() drops it once the callback returns
}

// ---------------------------------------------------------------- waker

int SelectorCore::EnsureWaker(uint64_t* id) {
  if (closed()) return EBADF;
  if (waker_id_ == 0) {
    int fd = -1, err = 0;
    uint64_t created = CreateWaker(backend_->Caps().max_fd, &fd, &err);
    if (created == 0) return err;
    err = backend_->SetWaker(fd);
    if (err) {
      DestroyWaker(created);
      return err;
    }
    waker_id_ = created;
    Changed();  // a pending threaded wait takes a snapshot that includes it
  }
  *id = waker_id_;
  return 0;
}

void SelectorCore::DestroyWakerOf() {
  if (waker_id_ == 0) return;
  if (backend_) backend_->SetWaker(-1);
  DestroyWaker(waker_id_);
  waker_id_ = 0;
}

}  // namespace iomux::detail

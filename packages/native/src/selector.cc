// SelectorCore: a backend plus the machinery behind wait(). The JS-facing
// NativeSelector object is built in selector_js.cc.
#include "selector.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>

namespace iomux::detail {

// ---------------------------------------------------------------- core

SelectorCore::SelectorCore(EnvData* env, std::unique_ptr<Backend> backend)
    : env_(env), backend_(std::move(backend)) {
  env_->live.insert(this);
}

SelectorCore::~SelectorCore() { Shutdown(); }

int SelectorCore::Arm(Napi::Env env, Napi::Function callback) {
  if (closed()) return EBADF;
  callback_ = Napi::Persistent(callback);
  if (!async_context_) async_context_ = std::make_unique<Napi::AsyncContext>(env, "iomux.wait");
  int kfd = backend_->KernelFd();
  if (kfd >= 0) {
    if (poll_ == nullptr) {
      poll_ = new uv_poll_t;
      int r = uv_poll_init(env_->loop, poll_, kfd);
      if (r != 0) {
        delete poll_;
        poll_ = nullptr;
        return -r;
      }
      poll_->data = this;
    }
    int r = uv_poll_start(poll_, UV_READABLE, OnPoll);
    return r == 0 ? 0 : -r;
  }
  if (async_ == nullptr) {
    wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) return errno;
    async_ = new uv_async_t;
    uv_async_init(env_->loop, async_, OnAsync);
    async_->data = this;
    uv_unref(reinterpret_cast<uv_handle_t*>(async_));
    thread_ = std::thread(&SelectorCore::ThreadMain, this);
  }
  {
    std::lock_guard<std::mutex> lock(wmu_);
    armed_ = true;
  }
  cv_.notify_one();
  // A pending wait keeps the process alive, like a pending timer.
  uv_ref(reinterpret_cast<uv_handle_t*>(async_));
  return 0;
}

void SelectorCore::Disarm() {
  callback_.Reset();
  if (poll_ != nullptr) uv_poll_stop(poll_);
  if (async_ != nullptr) {
    {
      std::lock_guard<std::mutex> lock(wmu_);
      armed_ = false;
    }
    Wake();
    uv_unref(reinterpret_cast<uv_handle_t*>(async_));
  }
}

void SelectorCore::Changed() {
  if (async_ == nullptr) return;
  std::lock_guard<std::mutex> lock(wmu_);
  if (armed_) Wake();
}

void SelectorCore::Wake() {
  uint64_t one = 1;
  // EAGAIN means the counter is already non-zero: the thread will wake.
  ssize_t r;
  do {
    r = write(wake_fd_, &one, sizeof one);
  } while (r < 0 && errno == EINTR);
}

void SelectorCore::ThreadMain() {
  std::unique_lock<std::mutex> lock(wmu_);
  for (;;) {
    cv_.wait(lock, [this] { return armed_ || stopping_; });
    if (stopping_) return;
    lock.unlock();
    int r = backend_->BlockUntilReady(wake_fd_);
    uint64_t drained;
    while (read(wake_fd_, &drained, sizeof drained) < 0 && errno == EINTR) {
    }
    lock.lock();
    if (stopping_) return;
    // r == 0: woken by a registration change (or a disarm); loop to take a
    // fresh snapshot if still armed.
    if (armed_ && r != 0) {
      armed_ = false;
      thread_result_ = r < 0 ? -r : 0;
      uv_async_send(async_);
    }
  }
}

void SelectorCore::OnPoll(uv_poll_t* handle, int status, int) {
  auto* self = static_cast<SelectorCore*>(handle->data);
  uv_poll_stop(handle);
  self->Fire(status < 0 ? -status : 0);
}

void SelectorCore::OnAsync(uv_async_t* handle) {
  auto* self = static_cast<SelectorCore*>(handle->data);
  int err;
  {
    std::lock_guard<std::mutex> lock(self->wmu_);
    err = self->thread_result_;
    self->thread_result_ = 0;
  }
  uv_unref(reinterpret_cast<uv_handle_t*>(handle));
  self->Fire(err);
}

void SelectorCore::Fire(int err) {
  if (env_->tearing_down || callback_.IsEmpty()) return;
  // The callback is held only while a wait is armed: a persistent reference
  // to it (and through it to the JS selector) would keep an unclosed selector
  // from ever being collected. The callback may re-arm, which sets it again.
  Napi::FunctionReference callback = std::move(callback_);
  Napi::Env env = callback.Env();
  Napi::HandleScope scope(env);
  // MakeCallback, not Call: it drains the microtask queue afterwards, so the
  // promise that wait() returned settles before libuv moves on.
  firing_ = true;
  callback.MakeCallback(env.Global(), {Napi::Number::New(env, err)}, *async_context_);
  firing_ = false;
  if (closed()) async_context_.reset();  // close() ran inside the callback
}

void SelectorCore::Shutdown() {
  if (closed()) return;
  if (thread_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(wmu_);
      stopping_ = true;
    }
    cv_.notify_one();
    Wake();
    thread_.join();
  }
  if (async_ != nullptr) {
    uv_close(reinterpret_cast<uv_handle_t*>(async_), [](uv_handle_t* h) {
      delete reinterpret_cast<uv_async_t*>(h);
    });
    async_ = nullptr;
  }
  if (poll_ != nullptr) {
    // Stops libuv watching the epoll fd before the backend closes it below.
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) {
      delete reinterpret_cast<uv_poll_t*>(h);
    });
    poll_ = nullptr;
  }
  if (wake_fd_ >= 0) close(wake_fd_);
  wake_fd_ = -1;
  backend_.reset();
  env_->live.erase(this);
  callback_.Reset();
  if (!firing_) async_context_.reset();  // else Fire() drops it once the callback returns
}

}  // namespace iomux::detail

// NativeSelector: the JS-facing class. Methods are bound in one table in
// Init(); TypeScript (packages/core/src/native.ts) types each of them.
#include "selector.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>

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
  DestroyWakerOf();
  backend_.reset();
  env_->live.erase(this);
  callback_.Reset();
  if (!firing_) async_context_.reset();  // else Fire() drops it once the callback returns
}

// ---------------------------------------------------------------- wrapper

namespace {

class NativeSelector : public Napi::ObjectWrap<NativeSelector> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeSelector",
                       {
                           InstanceMethod<&NativeSelector::Add>("add"),
                           InstanceMethod<&NativeSelector::Modify>("modify"),
                           InstanceMethod<&NativeSelector::Remove>("remove"),
                           InstanceMethod<&NativeSelector::Select>("select"),
                           InstanceMethod<&NativeSelector::SetBuffer>("setBuffer"),
                           InstanceMethod<&NativeSelector::Arm>("arm"),
                           InstanceMethod<&NativeSelector::Disarm>("disarm"),
                           InstanceMethod<&NativeSelector::Close>("close"),
                           InstanceMethod<&NativeSelector::Waker>("waker"),
                           InstanceAccessor<&NativeSelector::KernelFd>("kernelFd"),
                       });
  }

  explicit NativeSelector(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeSelector>(info) {
    Napi::Env env = info.Env();
    std::string name = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
    int err = 0;
    std::unique_ptr<Backend> b;
    if (name == "select") {
      b = MakeSelectBackend(&err);
    } else if (name == "poll") {
      b = MakePollBackend(&err);
    } else if (name == "epoll") {
      b = MakeEpollBackend(&err);
    } else {
      ThrowTypeError(env, "ERR_INVALID_ARG_VALUE", "unknown backend");
    }
    if (!b) ThrowErrno(env, err, name == "epoll" ? "epoll_create1" : "selector");
    core_ = std::make_unique<SelectorCore>(&GetEnvData(env), std::move(b));
  }

 private:
  Backend* Live(Napi::Env env) {
    if (core_->closed()) {
      Napi::Error e = Napi::Error::New(env, "the selector is closed");
      e.Set("code", Napi::String::New(env, "ERR_SELECTOR_CLOSED"));
      throw e;
    }
    return core_->backend();
  }

  static uint32_t Events(const Napi::CallbackInfo& info) {
    if (!info[1].IsNumber()) ThrowTypeError(info.Env(), "ERR_INVALID_ARG_TYPE", "events must be a number");
    return info[1].As<Napi::Number>().Uint32Value();
  }

  void Add(const Napi::CallbackInfo& info) {
    Backend* b = Live(info.Env());
    int fd = ArgInt(info, 0, "fd");
    uint32_t events = Events(info);
    if (fd < 0) ThrowRangeError(info.Env(), "ERR_INVALID_ARG_VALUE", "fd must be >= 0");
    // ERR_FD_SETSIZE is raised in TypeScript; the select backend itself also
    // refuses such an fd (EINVAL) before any FD_SET.
    int err = b->Add(fd, events);
    if (err) ThrowErrno(info.Env(), err, b->KernelFd() >= 0 ? "epoll_ctl" : "fcntl", fd);
    core_->Changed();
  }

  void Modify(const Napi::CallbackInfo& info) {
    Backend* b = Live(info.Env());
    int fd = ArgInt(info, 0, "fd");
    int err = b->Modify(fd, Events(info));
    if (err) ThrowErrno(info.Env(), err, b->KernelFd() >= 0 ? "epoll_ctl" : "modify", fd);
    core_->Changed();
  }

  void Remove(const Napi::CallbackInfo& info) {
    Backend* b = Live(info.Env());
    int fd = ArgInt(info, 0, "fd");
    int err = b->Remove(fd);
    // After the fd was closed, epoll has already forgotten it (EBADF), or the
    // number now names another file it never saw (ENOENT): either way the
    // registration is gone, which is what the caller asked for.
    if (err && err != EBADF && err != ENOENT) ThrowErrno(info.Env(), err, "epoll_ctl", fd);
    core_->Changed();
  }

  Napi::Value Select(const Napi::CallbackInfo& info) {
    Backend* b = Live(info.Env());
    double ms;
    if (napi_get_value_double(info.Env(), info[0], &ms) != napi_ok) ms = -1;
    // Negative: forever (JS passes -1 for null). Beyond ~290 years the
    // nanoseconds would overflow int64: that is forever too.
    int64_t ns = (ms < 0 || ms > 9.2e12) ? -1 : static_cast<int64_t>(std::ceil(ms * 1e6));
    int n = b->Wait(ns, buffer_, capacity_);
    if (n < 0) ThrowErrno(info.Env(), -n, b->Name());
    return Napi::Number::New(info.Env(), n);
  }

  // The result buffer: an Int32Array of (fd, events) pairs owned by JS and
  // reused by every call, so select() creates no objects here.
  void SetBuffer(const Napi::CallbackInfo& info) {
    if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
      ThrowTypeError(info.Env(), "ERR_INVALID_ARG_TYPE", "buffer must be an Int32Array");
    }
    Napi::Int32Array a = info[0].As<Napi::Int32Array>();
    buffer_ref_ = Napi::Persistent(a);
    buffer_ = a.Data();
    capacity_ = static_cast<int>(a.ElementLength() / 2);
  }

  void Arm(const Napi::CallbackInfo& info) {
    Live(info.Env());
    if (!info[0].IsFunction()) ThrowTypeError(info.Env(), "ERR_INVALID_ARG_TYPE", "callback must be a function");
    int err = core_->Arm(info.Env(), info[0].As<Napi::Function>());
    if (err) ThrowErrno(info.Env(), err, "uv_poll_start");
  }

  void Disarm(const Napi::CallbackInfo&) {
    if (!core_->closed()) core_->Disarm();
  }

  void Close(const Napi::CallbackInfo&) { core_->Shutdown(); }

  Napi::Value Waker(const Napi::CallbackInfo& info) {
    Live(info.Env());
    uint64_t id = 0;
    int err = core_->EnsureWaker(&id);
    if (err == EMFILE && core_->backend()->WakerFdLimit() < INT32_MAX) {
      ThrowRangeError(info.Env(), "ERR_FD_SETSIZE", "no free fd below FD_SETSIZE for the select backend's waker");
    }
    if (err) ThrowErrno(info.Env(), err, "eventfd");
    return Napi::BigInt::New(info.Env(), id);
  }

  Napi::Value KernelFd(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), core_->closed() ? -1 : core_->backend()->KernelFd());
  }

  std::unique_ptr<SelectorCore> core_;
  Napi::Reference<Napi::Int32Array> buffer_ref_;
  int32_t* buffer_ = nullptr;
  int capacity_ = 0;
};

}  // namespace

void InitSelector(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeSelector", NativeSelector::Define(env));
}

}  // namespace iomux::detail

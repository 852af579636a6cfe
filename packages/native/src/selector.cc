// NativeSelector: the JS-facing class. Methods are bound in one table in
// Init(); TypeScript (packages/core/src/native.ts) types each of them.
#include "selector.h"

#include <cerrno>

namespace iomux::detail {

// ---------------------------------------------------------------- core

SelectorCore::SelectorCore(EnvData* env, std::unique_ptr<Backend> backend) : env_(env), backend_(std::move(backend)) {
  env_->live.insert(this);
}

SelectorCore::~SelectorCore() { Shutdown(); }

int SelectorCore::Arm(Napi::Env env, Napi::Function callback, const Deadline& deadline) {
  deadline_ = deadline;
  return Rearm(env, callback);
}

int SelectorCore::Rearm(Napi::Env env, Napi::Function callback) {
  if (closed()) return EBADF;
  if (!waiter_) {
    int err = 0;
    waiter_ = MakeWaiter(env_->loop, backend_.get(), OnDone, this, &err);
    if (!waiter_) return err;
  }
  if (!async_context_) async_context_ = std::make_unique<Napi::AsyncContext>(env, "iomux.wait");
  callback_ = Napi::Persistent(callback);
  int err = waiter_->Start(deadline_);
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

void SelectorCore::OnDone(void* ctx, int err, bool timed_out) {
  auto* self = static_cast<SelectorCore*>(ctx);
  if (self->env_->tearing_down || self->callback_.IsEmpty()) return;
  // The callback is held only while a wait is armed: a persistent reference
  // to it (and through it to the JS selector) would keep an unclosed selector
  // from ever being collected. The callback may re-arm, which sets it again.
  Napi::FunctionReference callback = std::move(self->callback_);
  Napi::Env env = callback.Env();
  Napi::HandleScope scope(env);
  // MakeCallback, not Call: it drains the microtask queue afterwards, so the
  // promise that wait() returned settles before libuv moves on.
  self->firing_ = true;
  callback.MakeCallback(env.Global(), {Napi::Number::New(env, err), Napi::Boolean::New(env, timed_out)},
                        *self->async_context_);
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
                           InstanceMethod<&NativeSelector::Rearm>("rearm"),
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
    // Only epoll creates a kernel object; select and poll cannot fail here.
    if (!b) ThrowErrno(env, err, "epoll_create1");
    core_ = std::make_unique<SelectorCore>(&GetEnvData(env), std::move(b));
  }

 private:
  Backend* Live(Napi::Env env) {
    if (core_->closed()) ThrowCoded(env, ErrorKind::kError, "ERR_SELECTOR_CLOSED", "The selector is closed");
    return core_->backend();
  }

  // An operation's failure, named by the backend's capability record. Where
  // the operation makes no system call (select and poll keep their sets in
  // user space), the only failure is an fd the backend does not know.
  [[noreturn]] static void ThrowOpError(Napi::Env env, int err, const char* syscall, int fd) {
    if (syscall == nullptr) ThrowCoded(env, ErrorKind::kError, "ERR_NOT_REGISTERED", "The fd is not registered");
    ThrowErrno(env, err, syscall, fd);
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
    if (err) ThrowOpError(info.Env(), err, b->Caps().add_syscall, fd);
    core_->Changed();
  }

  void Modify(const Napi::CallbackInfo& info) {
    Backend* b = Live(info.Env());
    int fd = ArgInt(info, 0, "fd");
    int err = b->Modify(fd, Events(info));
    if (err) ThrowOpError(info.Env(), err, b->Caps().modify_syscall, fd);
    core_->Changed();
  }

  void Remove(const Napi::CallbackInfo& info) {
    Backend* b = Live(info.Env());
    int fd = ArgInt(info, 0, "fd");
    int err = b->Remove(fd);
    // After the fd was closed, epoll has already forgotten it (EBADF), or the
    // number now names another file it never saw (ENOENT): either way the
    // registration is gone, which is what the caller asked for.
    if (err && err != EBADF && err != ENOENT) ThrowOpError(info.Env(), err, b->Caps().remove_syscall, fd);
    core_->Changed();
  }

  Napi::Value Select(const Napi::CallbackInfo& info) {
    Backend* b = Live(info.Env());
    int n = b->Wait(TimeoutArg(info, 0), buffer_, capacity_);
    if (n < 0) ThrowErrno(info.Env(), -n, b->Caps().wait_syscall);
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

  // arm(callback, timeoutMs): a new wait; rearm(callback): the same wait,
  // with the same deadline, after a wake-up that found nothing ready.
  void Arm(const Napi::CallbackInfo& info) {
    Live(info.Env());
    int err = core_->Arm(info.Env(), CallbackArg(info), TimeoutArg(info, 1));
    if (err) ThrowErrno(info.Env(), err, WaiterSyscall());
  }

  void Rearm(const Napi::CallbackInfo& info) {
    Live(info.Env());
    int err = core_->Rearm(info.Env(), CallbackArg(info));
    if (err) ThrowErrno(info.Env(), err, WaiterSyscall());
  }

  static Napi::Function CallbackArg(const Napi::CallbackInfo& info) {
    if (!info[0].IsFunction()) ThrowTypeError(info.Env(), "ERR_INVALID_ARG_TYPE", "callback must be a function");
    return info[0].As<Napi::Function>();
  }

  // Milliseconds as TypeScript validated them; anything else (null, a
  // negative number) waits forever.
  static Deadline TimeoutArg(const Napi::CallbackInfo& info, size_t i) {
    double ms;
    if (napi_get_value_double(info.Env(), info[i], &ms) != napi_ok) return Deadline::Forever();
    return Deadline::FromMs(ms);
  }

  const char* WaiterSyscall() { return core_->backend()->Caps().pollable_kernel_fd ? "uv_poll_start" : "eventfd"; }

  void Disarm(const Napi::CallbackInfo&) {
    if (!core_->closed()) core_->Disarm();
  }

  void Close(const Napi::CallbackInfo&) { core_->Shutdown(); }

  Napi::Value Waker(const Napi::CallbackInfo& info) {
    Live(info.Env());
    uint64_t id = 0;
    int err = core_->EnsureWaker(&id);
    if (err == EMFILE && core_->backend()->Caps().max_fd < INT32_MAX) {
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

Napi::Object CapabilitiesObject(Napi::Env env, const Capabilities& c) {
  Napi::Object o = Napi::Object::New(env);
  auto name = [&](const char* s) -> Napi::Value { return s ? Napi::String::New(env, s) : env.Null(); };
  o.Set("backend", c.name);
  o.Set("maxFd", c.max_fd);
  o.Set("edge", c.edge);
  o.Set("exclusive", c.exclusive);
  o.Set("nativeOneshot", c.native_oneshot);
  o.Set("rdhupNeedsIn", c.rdhup_needs_in);
  o.Set("reportsHup", c.reports_hup);
  o.Set("reportsClosedFd", c.reports_closed_fd);
  o.Set("pollableKernelFd", c.pollable_kernel_fd);
  o.Set("watchesEmptyMask", c.watches_empty_mask);
  Napi::Object sys = Napi::Object::New(env);
  sys.Set("wait", name(c.wait_syscall));
  sys.Set("add", name(c.add_syscall));
  sys.Set("modify", name(c.modify_syscall));
  sys.Set("remove", name(c.remove_syscall));
  o.Set("syscalls", sys);
  return o;
}

}  // namespace

void InitSelector(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeSelector", NativeSelector::Define(env));
  Napi::Object caps = Napi::Object::New(env);
  for (const Capabilities* c : {&kSelectCaps, &kPollCaps, &kEpollCaps}) caps.Set(c->name, CapabilitiesObject(env, *c));
  exports.Set("capabilities", caps);
}

}  // namespace iomux::detail

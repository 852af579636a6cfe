// The JS-facing NativeSelector: its methods (the batch pass's are in
// batch_js.cc), its construction, and the capability records as JS sees
// them. A NativeSelector is a plain object whose methods are free
// Node-API functions, each created with the selector's state as its data
// pointer. A call finds its selector in napi_get_cb_info's `data` (no
// napi_unwrap, no ObjectWrap lookup), and the hot methods (select, batchRun)
// are raw Node-API callbacks: node-addon-api's CallbackInfo costs a few tens
// of ns per call, which is measurable against a 200 ns epoll_wait.
// TypeScript (packages/core/src/native.ts) types each method.
//
// Lifetime: every method function and the object itself hold one count on the
// state; the last of their finalizers deletes it. A method kept after its
// object was dropped therefore never sees freed memory.
#include <climits>

#include "selector_js.h"

namespace iomux::detail {
namespace {

using namespace js;  // NOLINT(google-build-using-namespace): this file's own helpers

// ---------------------------------------------------------------- methods

napi_value Add(napi_env env, napi_callback_info cbinfo) {
  return Guard(env, [&]() -> napi_value {
    Napi::CallbackInfo info(env, cbinfo);
    Selector* s = Data(info);
    Backend* b = Live(info.Env(), s);
    int fd = ArgInt(info, 0, "fd");
    uint32_t events = EventsArg(info);
    if (fd < 0) ThrowRangeError(info.Env(), "ERR_INVALID_ARG_VALUE", "fd must be >= 0");
    // ERR_FD_SETSIZE is raised in TypeScript; the select backend itself also
    // refuses such an fd (EINVAL) before any FD_SET.
    int err = b->Add(fd, events);
    if (err) ThrowOpError(info.Env(), err, b->Caps().add_syscall, fd);
    s->core->Changed();
    return nullptr;
  });
}

napi_value Modify(napi_env env, napi_callback_info cbinfo) {
  return Guard(env, [&]() -> napi_value {
    Napi::CallbackInfo info(env, cbinfo);
    Selector* s = Data(info);
    Backend* b = Live(info.Env(), s);
    int fd = ArgInt(info, 0, "fd");
    int err = b->Modify(fd, EventsArg(info));
    if (err) ThrowOpError(info.Env(), err, b->Caps().modify_syscall, fd);
    s->core->Changed();
    return nullptr;
  });
}

napi_value Remove(napi_env env, napi_callback_info cbinfo) {
  return Guard(env, [&]() -> napi_value {
    Napi::CallbackInfo info(env, cbinfo);
    Selector* s = Data(info);
    Backend* b = Live(info.Env(), s);
    int fd = ArgInt(info, 0, "fd");
    int err = b->Remove(fd);
    // After the fd was closed, epoll has already forgotten it (EBADF), or the
    // number now names another file it never saw (ENOENT): either way the
    // registration is gone, which is what the caller asked for.
    if (err && err != EBADF && err != ENOENT) ThrowOpError(info.Env(), err, b->Caps().remove_syscall, fd);
    s->batch.SetRecv(fd, 0);  // a later registration of the number starts clean
    s->core->Changed();
    return nullptr;
  });
}

// select(timeoutMs) -> pairs written. The hot path: raw Node-API, one argument.
napi_value Select(napi_env env, napi_callback_info cbinfo) {
  return Guard(env, [&]() -> napi_value {
    size_t argc = 1;
    napi_value argv[1];
    void* data;
    napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, &data);
    auto* s = static_cast<Selector*>(data);
    if (s->core->closed()) ThrowClosed(Napi::Env(env));
    Backend* b = s->core->backend();
    int n = b->Wait(TimeoutArg(env, argv[0]), s->buffer, s->capacity);
    if (n < 0) ThrowErrno(Napi::Env(env), -n, b->Caps().wait_syscall);
    napi_value r;
    napi_create_int32(env, n, &r);
    return r;
  });
}

// The result buffer: an Int32Array of (fd, events) pairs owned by JS and
// reused by every call, so select() creates no objects here.
napi_value SetBuffer(napi_env env, napi_callback_info cbinfo) {
  return Guard(env, [&]() -> napi_value {
    Napi::CallbackInfo info(env, cbinfo);
    Selector* s = Data(info);
    if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
      ThrowTypeError(info.Env(), "ERR_INVALID_ARG_TYPE", "buffer must be an Int32Array");
    }
    Napi::Int32Array a = info[0].As<Napi::Int32Array>();
    s->buffer_ref = Napi::Persistent(a);
    s->buffer = a.Data();
    s->capacity = static_cast<int>(a.ElementLength() / 2);
    s->core->SetResultBuffer(s->buffer, s->capacity);
    return nullptr;
  });
}

Napi::Function CallbackArg(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) ThrowTypeError(info.Env(), "ERR_INVALID_ARG_TYPE", "callback must be a function");
  return info[0].As<Napi::Function>();
}

// What failed when a wait could not be armed. A threaded wait makes an
// eventfd and its thread; eventfd(2) never fails with EAGAIN, while
// pthread_create does when no thread can be made (a cgroup's pids.max,
// RLIMIT_NPROC).
const char* WaiterSyscall(Selector* s, int err) {
  if (!s->core->backend()->Caps().wait_on_thread) return "uv_poll_start";
  return err == EAGAIN ? "pthread_create" : "eventfd";
}

// arm(callback, timeoutMs): a new wait; rearm(callback): the same wait,
// with the same deadline, after a wake-up that found nothing ready.
napi_value Arm(napi_env env, napi_callback_info cbinfo) {
  return Guard(env, [&]() -> napi_value {
    Napi::CallbackInfo info(env, cbinfo);
    Selector* s = Data(info);
    Live(info.Env(), s);
    int err = s->core->Arm(info.Env(), CallbackArg(info), TimeoutArg(env, info[1]));
    if (err) ThrowErrno(info.Env(), err, WaiterSyscall(s, err));
    return nullptr;
  });
}

napi_value Rearm(napi_env env, napi_callback_info cbinfo) {
  return Guard(env, [&]() -> napi_value {
    Napi::CallbackInfo info(env, cbinfo);
    Selector* s = Data(info);
    Live(info.Env(), s);
    int err = s->core->Rearm(info.Env(), CallbackArg(info));
    if (err) ThrowErrno(info.Env(), err, WaiterSyscall(s, err));
    return nullptr;
  });
}

napi_value Disarm(napi_env env, napi_callback_info cbinfo) {
  return Guard(env, [&]() -> napi_value {
    void* data;
    napi_get_cb_info(env, cbinfo, nullptr, nullptr, nullptr, &data);
    auto* s = static_cast<Selector*>(data);
    if (!s->core->closed()) s->core->Disarm();
    return nullptr;
  });
}

napi_value Close(napi_env env, napi_callback_info cbinfo) {
  return Guard(env, [&]() -> napi_value {
    void* data;
    napi_get_cb_info(env, cbinfo, nullptr, nullptr, nullptr, &data);
    static_cast<Selector*>(data)->core->Shutdown();  // joins a wait thread: std::system_error in theory
    return nullptr;
  });
}

// waker() -> the cross-thread waker's id (waker.h), created on first call.
napi_value Waker(napi_env env, napi_callback_info cbinfo) {
  return Guard(env, [&]() -> napi_value {
    Napi::CallbackInfo info(env, cbinfo);
    Selector* s = Data(info);
    Live(info.Env(), s);
    uint64_t id = 0;
    int err = s->core->EnsureWaker(&id);
    if (err == EMFILE && s->core->backend()->Caps().max_fd < INT32_MAX) {
      ThrowRangeError(info.Env(), "ERR_FD_SETSIZE", "no free fd below FD_SETSIZE for the select backend's waker");
    }
    if (err) ThrowErrno(info.Env(), err, "eventfd");
    return Napi::BigInt::New(info.Env(), id);
  });
}

napi_value KernelFd(napi_env env, napi_callback_info cbinfo) {
  void* data;
  napi_get_cb_info(env, cbinfo, nullptr, nullptr, nullptr, &data);
  auto* s = static_cast<Selector*>(data);
  napi_value r;
  napi_create_int32(env, s->core->closed() ? -1 : s->core->backend()->KernelFd(), &r);
  return r;
}

// ---------------------------------------------------------------- construction

void Method(napi_env env, napi_value obj, Selector* s, const char* name, napi_callback cb) {
  napi_value fn;
  NAPI_THROW_IF_FAILED_VOID(env, napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, s, &fn));
  NAPI_THROW_IF_FAILED_VOID(env, napi_add_finalizer(env, fn, s, Release, nullptr, nullptr));
  s->holders++;
  NAPI_THROW_IF_FAILED_VOID(env, napi_set_named_property(env, obj, name, fn));
}

// new NativeSelector(backend): returns the plain object (a constructor that
// returns an object makes `new` yield it).
napi_value Create(napi_env env, napi_callback_info cbinfo) {
  return Guard(env, [&]() -> napi_value {
    Napi::CallbackInfo info(env, cbinfo);
    std::string name = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
    const BackendEntry* entry = FindBackend(name.c_str());
    if (entry == nullptr) ThrowTypeError(info.Env(), "ERR_INVALID_ARG_VALUE", "unknown backend");
    const char* unavailable = entry->unavailable != nullptr ? entry->unavailable() : nullptr;
    if (unavailable != nullptr) {
      ThrowCoded(info.Env(), ErrorKind::kError, "ERR_UNSUPPORTED",
                 (std::string("The ") + name + " backend is not available: " + unavailable).c_str());
    }
    int err = 0;
    std::unique_ptr<Backend> b = entry->make(&err);
    if (!b) ThrowErrno(info.Env(), err, entry->make_syscall);
    Napi::Object obj = Napi::Object::New(info.Env());
    auto* s = new Selector();
    s->core = std::make_unique<SelectorCore>(&GetEnvData(info.Env()), std::move(b));
    s->core_env = env;
    // The object's own hold first: from here on the finalizers own `s`.
    if (napi_add_finalizer(env, obj, s, Release, nullptr, nullptr) != napi_ok) {
      delete s;
      throw Napi::Error::New(info.Env(), "napi_add_finalizer failed");
    }
    s->holders++;
    Method(env, obj, s, "add", Add);
    Method(env, obj, s, "modify", Modify);
    Method(env, obj, s, "remove", Remove);
    Method(env, obj, s, "select", Select);
    Method(env, obj, s, "setBuffer", SetBuffer);
    Method(env, obj, s, "arm", Arm);
    Method(env, obj, s, "rearm", Rearm);
    Method(env, obj, s, "disarm", Disarm);
    Method(env, obj, s, "close", Close);
    Method(env, obj, s, "waker", Waker);
    Method(env, obj, s, "batchMemory", BatchMemory);
    Method(env, obj, s, "batchRecv", BatchRecv);
    Method(env, obj, s, "batchRun", BatchRun);
    // kernelFd stays a getter; its function is created here (not by
    // napi_define_properties) so that it holds the state like the methods do.
    napi_value getter;
    NAPI_THROW_IF_FAILED(env, napi_create_function(env, "kernelFd", NAPI_AUTO_LENGTH, KernelFd, s, &getter), nullptr);
    NAPI_THROW_IF_FAILED(env, napi_add_finalizer(env, getter, s, Release, nullptr, nullptr), nullptr);
    s->holders++;
    Napi::Object desc = Napi::Object::New(info.Env());
    desc.Set("get", Napi::Value(info.Env(), getter));
    desc.Set("enumerable", true);
    Napi::Object object_ctor = info.Env().Global().Get("Object").As<Napi::Object>();
    object_ctor.Get("defineProperty")
        .As<Napi::Function>()
        .Call(object_ctor, {obj, Napi::String::New(info.Env(), "kernelFd"), desc});
    return obj;
  });
}

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
  o.Set("keepsClosedFdOpen", c.keeps_closed_fd_open);
  o.Set("pollableKernelFd", c.pollable_kernel_fd);
  o.Set("waitOnThread", c.wait_on_thread);
  o.Set("waitInLoop", c.wait_in_loop);
  o.Set("watchesEmptyMask", c.watches_empty_mask);
  o.Set("watchesRegularFiles", c.watches_regular_files);
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
  napi_value fn;
  NAPI_THROW_IF_FAILED_VOID(env, napi_create_function(env, "NativeSelector", NAPI_AUTO_LENGTH, Create, nullptr, &fn));
  exports.Set("NativeSelector", Napi::Value(env, fn));
  Napi::Object caps = Napi::Object::New(env);
  // The registry, in its order: each backend's capability record, and
  // whether this machine can run it (probed once, here, at load).
  Napi::Array list = Napi::Array::New(env, static_cast<size_t>(kBackendCount));
  for (int i = 0; i < kBackendCount; i++) {
    const BackendEntry& b = kBackends[i];
    const Capabilities& c = b.caps();
    caps.Set(c.name, CapabilitiesObject(env, c));
    const char* unavailable = b.unavailable != nullptr ? b.unavailable() : nullptr;
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("name", c.name);
    entry.Set("available", unavailable == nullptr);
    entry.Set("reason", unavailable != nullptr ? Napi::Value(Napi::String::New(env, unavailable)) : env.Null());
    list.Set(static_cast<uint32_t>(i), entry);
  }
  exports.Set("backends", list);
  exports.Set("capabilities", caps);
  exports.Set("batchLayout", BatchLayoutObject(env));
}

}  // namespace iomux::detail

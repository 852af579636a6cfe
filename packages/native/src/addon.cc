// Module entry: per-environment state, errors, constants, and a few process
// helpers (RLIMIT_NOFILE, pipes, the blocking mode of any fd).
#include "addon.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <string>
#include <system_error>

#include "waker.h"

namespace iomux::detail {

EnvData& GetEnvData(Napi::Env env) { return *env.GetInstanceData<EnvData>(); }

void ThrowSystemError(Napi::Env env, int uv_err, const char* syscall, int fd, const char* hostname) {
  EnvData& data = GetEnvData(env);
  if (!data.error_factory.IsEmpty()) {
    Napi::Value e = data.error_factory.Call({
        Napi::Number::New(env, uv_err),
        Napi::String::New(env, syscall),
        fd >= 0 ? Napi::Number::New(env, fd) : env.Undefined(),
        hostname != nullptr ? Napi::String::New(env, hostname) : env.Undefined(),
    });
    throw Napi::Error(env, e);
  }
  // Only before @iomux/core installed its factory (direct use of the addon).
  Napi::Error e = Napi::Error::New(env, std::string(syscall) + ": " + uv_strerror(uv_err));
  e.Set("code", Napi::String::New(env, uv_err_name(uv_err)));
  e.Set("errno", Napi::Number::New(env, uv_err));
  e.Set("syscall", Napi::String::New(env, syscall));
  if (fd >= 0) e.Set("fd", Napi::Number::New(env, fd));
  if (hostname != nullptr) e.Set("hostname", Napi::String::New(env, hostname));
  throw e;
}

void ThrowCoded(Napi::Env env, ErrorKind kind, const char* code, const char* message) {
  Napi::Error e;
  if (kind == ErrorKind::kTypeError) {
    e = Napi::TypeError::New(env, message);
  } else if (kind == ErrorKind::kRangeError) {
    e = Napi::RangeError::New(env, message);
  } else {
    e = Napi::Error::New(env, message);
  }
  e.Set("code", Napi::String::New(env, code));
  throw e;
}

void SetPendingError(napi_env env) noexcept {
  // The error is built by the helpers, which throw it as a Napi::Error; that
  // (or building it failing in turn) is caught by the outer handlers.
  try {
    try {
      throw;
    } catch (const Napi::Error&) {
      throw;
    } catch (const std::bad_alloc&) {
      ThrowCoded(env, ErrorKind::kError, "ERR_MEMORY_ALLOCATION_FAILED",
                 "Failed to allocate memory in @iomux/native: free some memory (or raise the process's memory limit) "
                 "and try again");
    } catch (const std::system_error& e) {
      const std::error_category& category = e.code().category();
      int err = e.code().value();
      if (err > 0 && (category == std::generic_category() || category == std::system_category())) {
        ThrowErrno(env, err, "pthread");
      }
      ThrowCoded(env, ErrorKind::kError, "ERR_IOMUX_INTERNAL",
                 (std::string("Internal error in @iomux/native (please report it): ") + e.what()).c_str());
    } catch (const std::exception& e) {
      ThrowCoded(env, ErrorKind::kError, "ERR_IOMUX_INTERNAL",
                 (std::string("Internal error in @iomux/native (please report it): ") + e.what()).c_str());
    } catch (...) {
      ThrowCoded(env, ErrorKind::kError, "ERR_IOMUX_INTERNAL",
                 "Internal error in @iomux/native (please report it): an unknown C++ exception");
    }
  } catch (const Napi::Error& e) {
    try {
      // The C call, not ThrowAsJavaScriptException(), which throws again
      // when an exception is already pending (then that one stands).
      napi_throw(env, e.Value());
      return;
    } catch (...) {  // no handle for the error object: fall through
    }
  } catch (...) {  // the error could not even be built (out of memory again)
  }
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && !pending) {
    napi_throw_error(env, "ERR_MEMORY_ALLOCATION_FAILED", "Failed to allocate memory in @iomux/native");
  }
}

int32_t ArgInt(const Napi::CallbackInfo& info, size_t i, const char* name) {
  // One N-API call on the hot path: the type check is its status.
  int32_t v;
  if (napi_get_value_int32(info.Env(), info[i], &v) != napi_ok) {
    std::string msg = std::string("The \"") + name + "\" argument must be of type number";
    ThrowTypeError(info.Env(), "ERR_INVALID_ARG_TYPE", msg.c_str());
  }
  return v;
}

Napi::Array FdPair(Napi::Env env, const int fds[2]) {
  Napi::Array a = Napi::Array::New(env, 2);
  a.Set(0u, fds[0]);
  a.Set(1u, fds[1]);
  return a;
}

namespace {

void SetErrorFactory(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) ThrowTypeError(info.Env(), "ERR_INVALID_ARG_TYPE", "factory must be a function");
  GetEnvData(info.Env()).error_factory = Napi::Persistent(info[0].As<Napi::Function>());
}

// Raises the soft RLIMIT_NOFILE towards `want` (capped by the hard limit)
// and returns the soft limit now in force.
Napi::Value RaiseFdLimit(const Napi::CallbackInfo& info) {
  rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) ThrowErrno(info.Env(), errno, "getrlimit");
  if (info.Length() > 0 && info[0].IsNumber()) {
    double want = info[0].As<Napi::Number>().DoubleValue();
    if (!(want >= 0)) want = 0;  // NaN and negatives ask for nothing (and must not be cast)
    rlim_t target = want >= static_cast<double>(rl.rlim_max) ? rl.rlim_max : static_cast<rlim_t>(want);
    if (target > rl.rlim_cur) {
      rl.rlim_cur = target;
      if (setrlimit(RLIMIT_NOFILE, &rl) != 0) ThrowErrno(info.Env(), errno, "setrlimit");
    }
  }
  return Napi::Number::New(info.Env(), static_cast<double>(rl.rlim_cur));
}

// pipe2(O_CLOEXEC) -> [readFd, writeFd]; pipe(true) makes both ends
// O_NONBLOCK in the same call, so no other thread ever sees them blocking.
Napi::Value Pipe(const Napi::CallbackInfo& info) {
  int flags = O_CLOEXEC;
  if (info.Length() > 0 && info[0].ToBoolean()) flags |= O_NONBLOCK;
  int fds[2];
  if (pipe2(fds, flags) != 0) ThrowErrno(info.Env(), errno, "pipe2");
  return FdPair(info.Env(), fds);
}

// The file status flags of `fd` (F_GETFL), or a SystemError naming fcntl.
int StatusFlags(Napi::Env env, int fd) {
  int flags = RetryEintr([&] { return fcntl(fd, F_GETFL); });
  if (flags < 0) ThrowErrno(env, errno, "fcntl", fd);
  return flags;
}

// O_NONBLOCK of any fd (CPython's os.set_blocking): sockets, pipes, FIFOs,
// ttys, files. The flag belongs to the open file, not the number, so every
// dup of the fd (in this process or a child's) sees the change.
void SetBlocking(const Napi::CallbackInfo& info) {
  int fd = ArgInt(info, 0, "fd");
  bool blocking = info[1].ToBoolean();
  int flags = StatusFlags(info.Env(), fd);
  int want = blocking ? (flags & ~O_NONBLOCK) : (flags | O_NONBLOCK);
  if (want != flags && RetryEintr([&] { return fcntl(fd, F_SETFL, want); }) < 0)
    ThrowErrno(info.Env(), errno, "fcntl", fd);
}

// !O_NONBLOCK of any fd (CPython's os.get_blocking).
Napi::Value GetBlocking(const Napi::CallbackInfo& info) {
  int fd = ArgInt(info, 0, "fd");
  return Napi::Boolean::New(info.Env(), (StatusFlags(info.Env(), fd) & O_NONBLOCK) == 0);
}

void CloseFd(const Napi::CallbackInfo& info) {
  int fd = ArgInt(info, 0, "fd");
  // close(2) must not be retried on EINTR on Linux: the fd is already gone.
  if (close(fd) != 0 && errno != EINTR) ThrowErrno(info.Env(), errno, "close", fd);
}

Napi::Object Constants(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);
  auto set = [&](const char* k, double v) { c.Set(k, Napi::Number::New(env, v)); };
  set("POLLIN", POLLIN);
  set("POLLPRI", POLLPRI);
  set("POLLOUT", POLLOUT);
  set("POLLERR", POLLERR);
  set("POLLHUP", POLLHUP);
  set("POLLNVAL", POLLNVAL);
  set("POLLRDHUP", 0x2000);
  set("EPOLLIN", EPOLLIN);
  set("EPOLLPRI", EPOLLPRI);
  set("EPOLLOUT", EPOLLOUT);
  set("EPOLLERR", EPOLLERR);
  set("EPOLLHUP", EPOLLHUP);
  set("EPOLLRDHUP", EPOLLRDHUP);
  set("EPOLLONESHOT", static_cast<uint32_t>(EPOLLONESHOT));
  set("EPOLLET", static_cast<uint32_t>(EPOLLET));
  set("EPOLLEXCLUSIVE", static_cast<uint32_t>(EPOLLEXCLUSIVE));
  set("FD_SETSIZE", FD_SETSIZE);
  set("AF_INET", AF_INET);
  set("AF_INET6", AF_INET6);
  set("AF_UNIX", AF_UNIX);
  set("SOCK_STREAM", SOCK_STREAM);
  set("SOCK_DGRAM", SOCK_DGRAM);
  return c;
}

// Runs when the environment (process or Worker) exits, before finalizers:
// stop waiter threads and close libuv handles and kernel objects, so a Worker
// never exits with a live handle on its loop.
void Cleanup(void* arg) {
  EnvData* data = static_cast<EnvData*>(arg);
  data->tearing_down = true;
  auto live = data->live;  // Shutdown() erases from the set
  for (EnvResource* r : live) r->Shutdown();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  EnvData* data = new EnvData();
  env.SetInstanceData(data);  // deleted by node-addon-api at teardown
  uv_loop_t* loop = nullptr;
  NAPI_THROW_IF_FAILED(env, napi_get_uv_event_loop(env, &loop), exports);
  data->loop = loop;
  NAPI_THROW_IF_FAILED(env, napi_add_env_cleanup_hook(env, Cleanup, data), exports);

  exports.Set("setErrorFactory", Function<SetErrorFactory>(env, "setErrorFactory"));
  exports.Set("raiseFdLimit", Function<RaiseFdLimit>(env, "raiseFdLimit"));
  exports.Set("pipe", Function<Pipe>(env, "pipe"));
  exports.Set("setBlocking", Function<SetBlocking>(env, "setBlocking"));
  exports.Set("getBlocking", Function<GetBlocking>(env, "getBlocking"));
  exports.Set("closeFd", Function<CloseFd>(env, "closeFd"));
  exports.Set("constants", Constants(env));
  InitSelector(env, exports);
  InitSocket(env, exports);
  InitWaker(env, exports);
  InitFds(env, exports);
  return exports;
}

}  // namespace
}  // namespace iomux::detail

static Napi::Object InitIomux(Napi::Env env, Napi::Object exports) { return iomux::detail::Init(env, exports); }
NODE_API_MODULE(iomux, InitIomux)

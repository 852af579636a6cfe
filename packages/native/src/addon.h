// Shared pieces of the N-API layer: per-environment state and error helpers.
#pragma once

#include <uv.h>

#include <napi.h>

#include <cerrno>
#include <type_traits>
#include <unordered_set>

#include "syscall.h"

namespace iomux::detail {

// Something that holds kernel objects, threads or libuv handles and must
// release them when its environment exits (the cleanup hook calls Shutdown(),
// before finalizers run). Implementations erase themselves from `live`.
class EnvResource {
 public:
  virtual void Shutdown() = 0;

 protected:
  ~EnvResource() = default;
};

// Everything the addon keeps per Node.js environment (main thread or
// Worker), so each Worker that loads the addon gets its own.
struct EnvData {
  Napi::FunctionReference error_factory;  // (errno, syscall, fd, hostname) => SystemError
  std::unordered_set<EnvResource*> live;  // shut down by the cleanup hook
  uv_loop_t* loop = nullptr;
  bool tearing_down = false;
};

EnvData& GetEnvData(Napi::Env env);

// The one path for system errors: throws the SystemError for `uv_err` (a
// negative errno, or a libuv resolver code) from `syscall`, with fd when
// fd >= 0 and the host name for resolver errors. The error object is built
// in TypeScript so that its message and shape match Node's own.
[[noreturn]] void ThrowSystemError(Napi::Env env, int uv_err, const char* syscall, int fd = -1,
                                   const char* hostname = nullptr);
// The same for an errno value (positive), as system calls set it.
[[noreturn]] inline void ThrowErrno(Napi::Env env, int err, const char* syscall, int fd = -1) {
  ThrowSystemError(env, -err, syscall, fd);
}

// The one path for ERR_* errors: an Error, TypeError or RangeError with a
// Node-style code (the TypeScript layer validates first; these guard the
// native boundary against direct misuse, and report states like a closed
// selector).
enum class ErrorKind { kError, kTypeError, kRangeError };
[[noreturn]] void ThrowCoded(Napi::Env env, ErrorKind kind, const char* code, const char* message);
[[noreturn]] inline void ThrowTypeError(Napi::Env env, const char* code, const char* message) {
  ThrowCoded(env, ErrorKind::kTypeError, code, message);
}
[[noreturn]] inline void ThrowRangeError(Napi::Env env, const char* code, const char* message) {
  ThrowCoded(env, ErrorKind::kRangeError, code, message);
}

int32_t ArgInt(const Napi::CallbackInfo& info, size_t i, const char* name);

// The one boundary between C++ and JavaScript. A C++ exception that leaves
// a Node-API callback ends the process (std::terminate, SIGABRT), so every
// function JavaScript can call runs its body through Guard(), which turns
// whatever was thrown into a pending JS exception:
//  - Napi::Error (the helpers above): that error;
//  - std::system_error carrying an errno (std::thread, std::mutex and
//    std::condition_variable throw these; all of them wrap pthread calls):
//    a SystemError with that errno and syscall 'pthread';
//  - std::bad_alloc: an Error with code ERR_MEMORY_ALLOCATION_FAILED, the
//    code Node's own C++ layer gives a failed allocation;
//  - anything else: an Error with code ERR_IOMUX_INTERNAL (a bug of ours).
// libuv callbacks, where nothing can be thrown to JS, catch on their own.
void SetPendingError(napi_env env) noexcept;  // only inside a catch block

template <typename F>
napi_value Guard(napi_env env, F&& body) noexcept {
  try {
    return body();
  } catch (...) {
    SetPendingError(env);
    return nullptr;
  }
}

// A node-addon-api style body (`Napi::Value f(const Napi::CallbackInfo&)`
// or `void f(...)`) as a raw Node-API callback behind Guard().
template <auto Fn>
napi_value Guarded(napi_env env, napi_callback_info cbinfo) {
  return Guard(env, [&]() -> napi_value {
    Napi::CallbackInfo info(env, cbinfo);
    if constexpr (std::is_void_v<decltype(Fn(info))>) {
      Fn(info);
      return nullptr;
    } else {
      return Fn(info);
    }
  });
}

// A JS function for `Fn`, behind Guard(). Use it instead of
// Napi::Function::New, whose wrapper lets every exception but Napi::Error
// through. `data` is the callback's info.Data().
template <auto Fn>
Napi::Function Function(Napi::Env env, const char* name, void* data = nullptr) {
  napi_value fn;
  NAPI_THROW_IF_FAILED(env, napi_create_function(env, name, NAPI_AUTO_LENGTH, Guarded<Fn>, data, &fn),
                       Napi::Function());
  return Napi::Function(env, fn);
}

// [fds[0], fds[1]] as a JS array (pipe2, socketpair).
Napi::Array FdPair(Napi::Env env, const int fds[2]);

void InitSelector(Napi::Env env, Napi::Object exports);
void InitSocket(Napi::Env env, Napi::Object exports);
void InitFds(Napi::Env env, Napi::Object exports);

}  // namespace iomux::detail

// Shared pieces of the N-API layer: per-environment state and error helpers.
#pragma once

#include <uv.h>

#include <napi.h>

#include <cerrno>
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

// [fds[0], fds[1]] as a JS array (pipe2, socketpair).
Napi::Array FdPair(Napi::Env env, const int fds[2]);

void InitSelector(Napi::Env env, Napi::Object exports);
void InitSocket(Napi::Env env, Napi::Object exports);
void InitFds(Napi::Env env, Napi::Object exports);

}  // namespace iomux::detail

// Shared pieces of the N-API layer: per-environment state and error helpers.
#pragma once

#include <uv.h>

#include <napi.h>

#include <unordered_set>

namespace iomux::detail {

class SelectorCore;

// Everything the addon keeps per Node.js environment (main thread or
// Worker), so each Worker that loads the addon gets its own.
struct EnvData {
  Napi::FunctionReference error_factory;  // (errno, syscall, fd) => SystemError
  std::unordered_set<SelectorCore*> live;  // closed by the cleanup hook
  uv_loop_t* loop = nullptr;
  bool tearing_down = false;
};

EnvData& GetEnvData(Napi::Env env);

// Throws the SystemError for errno `err` (positive) from `syscall`, with fd
// when fd >= 0. The error object is built in TypeScript so that its message
// and shape match Node's own system errors.
[[noreturn]] void ThrowErrno(Napi::Env env, int err, const char* syscall, int fd = -1);

// An argument error with a Node-style code (the TypeScript layer validates
// first; these guard the native boundary against direct misuse).
[[noreturn]] void ThrowTypeError(Napi::Env env, const char* code, const char* message);
[[noreturn]] void ThrowRangeError(Napi::Env env, const char* code, const char* message);

int32_t ArgInt(const Napi::CallbackInfo& info, size_t i, const char* name);

// [fds[0], fds[1]] as a JS array (pipe2, socketpair).
Napi::Array FdPair(Napi::Env env, const int fds[2]);

void InitSelector(Napi::Env env, Napi::Object exports);
void InitSocket(Napi::Env env, Napi::Object exports);

}  // namespace iomux::detail

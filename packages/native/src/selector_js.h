// What the JS-facing selector's files share (selector_js.cc, batch_js.cc):
// the state every method function holds, and the helpers its methods use.
// Internal to the addon.
#pragma once

#include <memory>

#include "addon.h"
#include "batch.h"
#include "selector.h"

namespace iomux::detail::js {

struct Selector {
  std::unique_ptr<SelectorCore> core;
  Napi::Reference<Napi::Int32Array> buffer_ref;
  int32_t* buffer = nullptr;
  int capacity = 0;
  BatchState batch;
  napi_ref batch_memory = nullptr;  // the ArrayBuffer the batch pass works in
  int holders = 0;                  // functions + the object that point here

  ~Selector() {
    if (batch_memory != nullptr) napi_delete_reference(core_env, batch_memory);
  }
  napi_env core_env = nullptr;
};

inline void Release(napi_env, void* data, void*) {
  auto* s = static_cast<Selector*>(data);
  if (--s->holders == 0) delete s;
}

[[noreturn]] inline void ThrowClosed(Napi::Env env) {
  ThrowCoded(env, ErrorKind::kError, "ERR_SELECTOR_CLOSED", "The selector is closed");
}

// An operation's failure, named by the backend's capability record. Where
// the operation makes no system call (select and poll keep their sets in
// user space), the only failure is an fd the backend does not know.
[[noreturn]] inline void ThrowOpError(Napi::Env env, int err, const char* syscall, int fd) {
  if (syscall == nullptr) ThrowCoded(env, ErrorKind::kError, "ERR_NOT_REGISTERED", "The fd is not registered");
  ThrowErrno(env, err, syscall, fd);
}

inline Selector* Data(const Napi::CallbackInfo& info) { return static_cast<Selector*>(info.Data()); }

inline Backend* Live(Napi::Env env, Selector* s) {
  if (s->core->closed()) ThrowClosed(env);
  return s->core->backend();
}

inline uint32_t EventsArg(const Napi::CallbackInfo& info) {
  if (!info[1].IsNumber()) ThrowTypeError(info.Env(), "ERR_INVALID_ARG_TYPE", "events must be a number");
  return info[1].As<Napi::Number>().Uint32Value();
}

// Milliseconds as TypeScript validated them; anything else (null, a
// negative number) waits forever.
inline Deadline TimeoutArg(napi_env env, napi_value v) {
  double ms;
  if (napi_get_value_double(env, v, &ms) != napi_ok) return Deadline::Forever();
  return Deadline::FromMs(ms);
}

// The batch pass's methods (batch_js.cc).
napi_value BatchMemory(napi_env env, napi_callback_info cbinfo);
napi_value BatchRecv(napi_env env, napi_callback_info cbinfo);
napi_value BatchRun(napi_env env, napi_callback_info cbinfo);
Napi::Object BatchLayoutObject(Napi::Env env);

}  // namespace iomux::detail::js

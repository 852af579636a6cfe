// The batched pass's JS face (docs/batch.md): the memory it works in, which
// fds it receives for, the pass itself (one crossing), and the memory's
// layout as TypeScript reads it. The pass is batch.cc.
#include "selector_js.h"

namespace iomux::detail::js {

// batchMemory(arrayBuffer, readyCap, sendCap, ioOffset, recvBytes, ioBytes)
// (recvBytes: one of the two recv windows):
// the block the pass works in (layout in batch.h). Kept by reference and
// looked up again on every pass, so a detached buffer is refused, not used.
napi_value BatchMemory(napi_env env, napi_callback_info cbinfo) {
  return Guard(env, [&]() -> napi_value {
    Napi::CallbackInfo info(env, cbinfo);
    Selector* s = Data(info);
    Live(info.Env(), s);
    if (!info[0].IsArrayBuffer()) ThrowTypeError(info.Env(), "ERR_INVALID_ARG_TYPE", "memory must be an ArrayBuffer");
    Napi::ArrayBuffer ab = info[0].As<Napi::ArrayBuffer>();
    int ready_cap = ArgInt(info, 1, "readyCap"), send_cap = ArgInt(info, 2, "sendCap");
    int io_offset = ArgInt(info, 3, "ioOffset"), recv_bytes = ArgInt(info, 4, "recvBytes");
    int io_bytes = ArgInt(info, 5, "ioBytes");
    if (io_offset < 0 || recv_bytes < 0 || io_bytes < 0 || io_offset % 4 != 0 ||
        !s->batch.SetLayout(ab.ByteLength(), ready_cap, send_cap, io_offset, recv_bytes, io_bytes)) {
      ThrowRangeError(info.Env(), "ERR_INVALID_ARG_VALUE", "the batch layout does not fit its memory");
    }
    if (s->batch_memory != nullptr) napi_delete_reference(env, s->batch_memory);
    s->batch_memory = nullptr;
    s->core_env = env;
    NAPI_THROW_IF_FAILED(env, napi_create_reference(env, ab, 1, &s->batch_memory), nullptr);
    return nullptr;
  });
}

// batchRecv(fd, maxBytes): recv up to maxBytes when fd is reported (0: don't).
napi_value BatchRecv(napi_env env, napi_callback_info cbinfo) {
  return Guard(env, [&]() -> napi_value {
    Napi::CallbackInfo info(env, cbinfo);
    Selector* s = Data(info);
    Live(info.Env(), s);
    int fd = ArgInt(info, 0, "fd"), max = ArgInt(info, 1, "maxBytes");
    if (fd < 0 || max < 0) ThrowRangeError(info.Env(), "ERR_INVALID_ARG_VALUE", "fd and maxBytes must be >= 0");
    s->batch.SetRecv(fd, max);
    return nullptr;
  });
}

// batchRun(timeoutMs, nSends, parity) -> ready records written. Raw
// Node-API: the whole pass is this one crossing.
napi_value BatchRun(napi_env env, napi_callback_info cbinfo) {
  return Guard(env, [&]() -> napi_value {
    size_t argc = 3;
    napi_value argv[3];
    void* data;
    napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, &data);
    auto* s = static_cast<Selector*>(data);
    int32_t n_sends, parity;
    if (napi_get_value_int32(env, argv[1], &n_sends) != napi_ok) n_sends = 0;
    if (napi_get_value_int32(env, argv[2], &parity) != napi_ok) parity = 0;
    if (s->core->closed()) ThrowClosed(Napi::Env(env));
    napi_value ab;
    void* mem = nullptr;
    size_t bytes = 0;
    // The reference holds the ArrayBuffer BatchMemory checked (a value's type
    // never changes); a detached one answers no data and length 0.
    if (s->batch_memory == nullptr || napi_get_reference_value(env, s->batch_memory, &ab) != napi_ok ||
        napi_get_arraybuffer_info(env, ab, &mem, &bytes) != napi_ok || mem == nullptr || !s->batch.Fits(bytes)) {
      ThrowCoded(Napi::Env(env), ErrorKind::kError, "ERR_INVALID_STATE", "the batch memory is missing or detached");
    }
    Backend* b = s->core->backend();
    int n = s->batch.Run(b, static_cast<uint8_t*>(mem), TimeoutArg(env, argv[0]), n_sends, parity);
    if (n < 0) ThrowErrno(Napi::Env(env), -n, b->Caps().wait_syscall);
    napi_value r;
    napi_create_int32(env, n, &r);
    return r;
  });
}

// The batch memory's layout (batch.h), as the one declaration TypeScript reads.
Napi::Object BatchLayoutObject(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("readyStride", static_cast<int>(kReadyStride));
  o.Set("readyFd", static_cast<int>(kReadyFd));
  o.Set("readyEvents", static_cast<int>(kReadyEvents));
  o.Set("readyResult", static_cast<int>(kReadyResult));
  o.Set("readyAux", static_cast<int>(kReadyAux));
  o.Set("sendStride", static_cast<int>(kSendStride));
  o.Set("sendFd", static_cast<int>(kSendFd));
  o.Set("sendOffset", static_cast<int>(kSendOffset));
  o.Set("sendLength", static_cast<int>(kSendLength));
  o.Set("sendResult", static_cast<int>(kSendResult));
  o.Set("sendErrno", static_cast<int>(kSendErrno));
  Napi::Object results = Napi::Object::New(env);
  results.Set("NONE", kRecvNone);
  results.Set("AGAIN", kWouldBlock);
  results.Set("ERROR", kFailed);
  results.Set("NO_ROOM", kNoRoom);
  results.Set("SKIPPED", kSkipped);
  results.Set("CANCELLED", kCancelled);
  o.Set("results", results);
  return o;
}

}  // namespace iomux::detail::js

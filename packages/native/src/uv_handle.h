// Ownership of one libuv handle: allocated here, released through uv_close()
// (libuv may still touch a handle until its close callback has run, so it is
// deleted there, never directly).
#pragma once

#include <uv.h>

namespace iomux::detail {

template <typename T>
class UvHandle {
 public:
  UvHandle() = default;
  UvHandle(const UvHandle&) = delete;
  UvHandle& operator=(const UvHandle&) = delete;
  ~UvHandle() { Close(); }

  // Runs `init(handle)` (uv_poll_init, uv_timer_init, ...) on a fresh handle
  // and keeps it when that returns 0; returns libuv's (negative) error.
  template <typename F>
  int Init(F init, void* data) {
    Close();
    T* h = new T;
    int r = init(h);
    if (r != 0) {
      delete h;  // never initialised: libuv does not know it
      return r;
    }
    h->data = data;
    h_ = h;
    return 0;
  }

  T* get() const { return h_; }
  uv_handle_t* base() const { return reinterpret_cast<uv_handle_t*>(h_); }

  void Close() {
    if (h_ == nullptr) return;
    uv_close(base(), [](uv_handle_t* h) { delete reinterpret_cast<T*>(h); });
    h_ = nullptr;
  }

 private:
  T* h_ = nullptr;
};

}  // namespace iomux::detail

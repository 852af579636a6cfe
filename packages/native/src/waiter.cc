#include "waiter.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "uv_handle.h"

namespace iomux::detail {
namespace {

class KernelFdWaiter final : public Waiter {
 public:
  KernelFdWaiter(Done done, void* ctx) : done_(done), ctx_(ctx) {}

  int Init(uv_loop_t* loop, int kernel_fd) {
    int r = poll_.Init([&](uv_poll_t* h) { return uv_poll_init(loop, h, kernel_fd); }, this);
    if (r == 0) r = timer_.Init([&](uv_timer_t* h) { return uv_timer_init(loop, h); }, this);
    return -r;
  }

  int Start(const Deadline& deadline) override {
    deadline_ = deadline;
    int r = uv_poll_start(poll_.get(), UV_READABLE, OnPoll);
    if (r != 0) return -r;
    if (!deadline_.forever()) StartTimer();
    return 0;
  }

  void Stop() override {
    uv_poll_stop(poll_.get());
    uv_timer_stop(timer_.get());
  }

 private:
  void StartTimer() {
    uint64_t ms = static_cast<uint64_t>(deadline_.RemainingCeil(1000000, INT64_MAX));
    uv_timer_start(timer_.get(), OnTimer, ms, 0);
  }

  static void OnPoll(uv_poll_t* handle, int status, int) {
    auto* self = static_cast<KernelFdWaiter*>(handle->data);
    self->Stop();
    self->done_(self->ctx_, status < 0 ? -status : 0, false);
  }

  static void OnTimer(uv_timer_t* handle) {
    auto* self = static_cast<KernelFdWaiter*>(handle->data);
    // libuv's clock is the loop's cached millisecond time, which can run a
    // little behind: a timer may fire before the deadline. Never end early.
    if (!self->deadline_.Expired()) {
      self->StartTimer();
      return;
    }
    self->Stop();
    self->done_(self->ctx_, 0, true);
  }

  Done done_;
  void* ctx_;
  Deadline deadline_ = Deadline::Forever();
  UvHandle<uv_poll_t> poll_;
  UvHandle<uv_timer_t> timer_;
};

class ThreadWaiter final : public Waiter {
 public:
  ThreadWaiter(Backend* backend, Done done, void* ctx) : backend_(backend), done_(done), ctx_(ctx) {}

  int Init(uv_loop_t* loop) {
    wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) return errno;
    int r = async_.Init([&](uv_async_t* h) { return uv_async_init(loop, h, OnAsync); }, this);
    if (r != 0) return -r;
    // Only a pending wait keeps the process alive, like a pending timer.
    uv_unref(async_.base());
    thread_ = std::thread(&ThreadWaiter::ThreadMain, this);
    return 0;
  }

  ~ThreadWaiter() override {
    if (thread_.joinable()) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        stopping_ = true;
      }
      cv_.notify_one();
      Wake();
      thread_.join();
    }
    async_.Close();
    if (wake_fd_ >= 0) close(wake_fd_);
  }

  int Start(const Deadline& deadline) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      deadline_ = deadline;
      armed_ = true;
      generation_++;
    }
    cv_.notify_one();
    Wake();  // a thread still blocked for an earlier wait takes the new one
    uv_ref(async_.base());
    return 0;
  }

  void Stop() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!armed_ && result_generation_ != generation_) return;
      armed_ = false;
      generation_++;  // a result already posted for this wait is dropped
    }
    Wake();
    uv_unref(async_.base());
  }

  void Changed() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (armed_) Wake();
  }

 private:
  void Wake() {
    uint64_t one = 1;
    // EAGAIN means the counter is already non-zero: the thread will wake.
    ssize_t r;
    do {
      r = write(wake_fd_, &one, sizeof one);
    } while (r < 0 && errno == EINTR);
  }

  void ThreadMain() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return armed_ || stopping_; });
      if (stopping_) return;
      Deadline deadline = deadline_;
      uint64_t generation = generation_;
      lock.unlock();
      int err = 0;
      BlockResult r = backend_->BlockUntilReady(wake_fd_, deadline, &err);
      uint64_t drained;
      while (read(wake_fd_, &drained, sizeof drained) < 0 && errno == EINTR) {
      }
      lock.lock();
      if (stopping_) return;
      // Woken by a registration change, a new Start() or a Stop(): loop, and
      // take a fresh snapshot if still armed.
      if (r == BlockResult::kWoken || !armed_ || generation != generation_) continue;
      armed_ = false;
      result_err_ = err;
      result_timed_out_ = r == BlockResult::kTimedOut;
      result_generation_ = generation;
      uv_async_send(async_.get());
    }
  }

  static void OnAsync(uv_async_t* handle) {
    auto* self = static_cast<ThreadWaiter*>(handle->data);
    int err;
    bool timed_out;
    {
      std::lock_guard<std::mutex> lock(self->mu_);
      // A wait stopped (or replaced) after its result was posted.
      if (self->result_generation_ != self->generation_ || self->armed_) return;
      self->result_generation_ = 0;
      err = self->result_err_;
      timed_out = self->result_timed_out_;
    }
    uv_unref(self->async_.base());
    self->done_(self->ctx_, err, timed_out);
  }

  Backend* backend_;
  Done done_;
  void* ctx_;
  int wake_fd_ = -1;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  // Guarded by mu_:
  Deadline deadline_ = Deadline::Forever();
  bool armed_ = false;
  bool stopping_ = false;
  uint64_t generation_ = 0;         // one per Start()/Stop(); 0 is never a live wait
  uint64_t result_generation_ = 0;  // the wait the posted result belongs to
  int result_err_ = 0;
  bool result_timed_out_ = false;
  UvHandle<uv_async_t> async_;
};

}  // namespace

std::unique_ptr<Waiter> MakeWaiter(uv_loop_t* loop, Backend* backend, Waiter::Done done, void* ctx, int* err) {
  if (backend->Caps().pollable_kernel_fd) {
    auto w = std::make_unique<KernelFdWaiter>(done, ctx);
    *err = w->Init(loop, backend->KernelFd());
    return *err == 0 ? std::move(w) : nullptr;
  }
  auto w = std::make_unique<ThreadWaiter>(backend, done, ctx);
  *err = w->Init(loop);
  return *err == 0 ? std::move(w) : nullptr;
}

}  // namespace iomux::detail

#include "waiter.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <condition_variable>
#include <mutex>
#include <new>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "state_set.h"
#include "syscall.h"
#include "uv_handle.h"

namespace iomux::detail {
namespace {

// std::thread reports a thread it cannot make (a cgroup's pids.max,
// RLIMIT_NPROC) by throwing; here that is an errno (EAGAIN), like any
// other failed system call, and never an exception near Node-API.
template <typename F>
int StartThread(std::thread* t, F&& body) {
  try {
    *t = std::thread(std::forward<F>(body));
    return 0;
  } catch (const std::system_error& e) {
    return e.code().value() != 0 ? e.code().value() : EAGAIN;
  }
}

class KernelFdWaiter final : public Waiter {
 public:
  KernelFdWaiter(Backend* backend, const std::atomic<int>* capacity, Done done, void* ctx)
      : backend_(backend), capacity_(capacity), done_(done), ctx_(ctx) {}

  int Init(uv_loop_t* loop, int kernel_fd) {
    int r = poll_.Init([&](uv_poll_t* h) { return uv_poll_init(loop, h, kernel_fd); }, this);
    if (r == 0) r = timer_.Init([&](uv_timer_t* h) { return uv_timer_init(loop, h); }, this);
    return -r;
  }

  int Start(const Deadline& deadline, bool) override {
    deadline_ = deadline;
    int err = backend_->Flush(capacity_->load(std::memory_order_relaxed));
    if (err != 0) return err;
    if (!polling_) {
      int r = uv_poll_start(poll_.get(), UV_READABLE, OnPoll);
      if (r != 0) {
        backend_->Idle();
        return -r;
      }
      polling_ = true;
    }
    uv_ref(poll_.base());  // a pending wait keeps the process alive
    if (!deadline_.forever()) StartTimer();
    armed_ = true;
    return 0;
  }

  // The watch stays in libuv's epoll after a wait ends, unreferenced: the
  // next wait, usually started from this wait's own callback, then costs no
  // epoll_ctl (a stop and a start are a delete and an add). A readiness
  // that comes while no wait is armed ends the watch (OnPoll).
  void Stop() override {
    armed_ = false;
    uv_unref(poll_.base());
    uv_timer_stop(timer_.get());
    backend_->Idle();
  }

  // A registration changed while the loop sleeps: a backend that queues
  // changes (io_uring) submits them now, so the pending wait sees them.
  void Changed() override {
    if (armed_) backend_->Flush(capacity_->load(std::memory_order_relaxed));
  }

  bool armed() const { return armed_; }

 private:
  void StartTimer() {
    uint64_t ms = static_cast<uint64_t>(deadline_.RemainingCeil(1000000, INT64_MAX));
    uv_timer_start(timer_.get(), OnTimer, ms, 0);
  }

  static void OnPoll(uv_poll_t* handle, int status, int) {
    auto* self = static_cast<KernelFdWaiter*>(handle->data);
    if (!self->armed_ || status < 0) {
      // No wait to tell (what is there stays for the next one's harvest),
      // or a failed watch: stop watching until the next Start().
      uv_poll_stop(handle);
      self->polling_ = false;
      if (!self->armed_) return;
    }
    self->Stop();
    self->done_(self->ctx_, status < 0 ? -status : 0, false, nullptr, 0);
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
    self->done_(self->ctx_, 0, true, nullptr, 0);
  }

  Backend* backend_;
  const std::atomic<int>* capacity_;
  Done done_;
  void* ctx_;
  Deadline deadline_ = Deadline::Forever();
  bool armed_ = false;
  bool polling_ = false;  // the uv_poll is started (it may outlive a wait)
  UvHandle<uv_poll_t> poll_;
  UvHandle<uv_timer_t> timer_;
};

class ThreadWaiter final : public Waiter {
 public:
  ThreadWaiter(Backend* backend, const std::atomic<int>* capacity, Done done, void* ctx)
      : backend_(backend), capacity_(capacity), done_(done), ctx_(ctx) {}

  int Init(uv_loop_t* loop) {
    wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) return errno;
    int r = async_.Init([&](uv_async_t* h) { return uv_async_init(loop, h, OnAsync); }, this);
    if (r != 0) return -r;
    // Only a pending wait keeps the process alive, like a pending timer.
    uv_unref(async_.base());
    return StartThread(&thread_, [this] { ThreadMain(); });
  }

  ~ThreadWaiter() override {
    if (thread_.joinable()) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        stopping_ = true;
        Wake();
      }
      cv_.notify_one();
      thread_.join();
    }
    async_.Close();
    if (wake_fd_ >= 0) close(wake_fd_);
  }

  int Start(const Deadline& deadline, bool) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      generation_++;
      if (!leftover_.empty()) {
        // An earlier wait harvested these but ended before it could deliver
        // them (an abort): they are this wait's result.
        result_.swap(leftover_);
        leftover_.clear();
        result_err_ = 0;
        result_timed_out_ = false;
        result_generation_ = generation_;
        uv_async_send(async_.get());
      } else {
        deadline_ = deadline;
        armed_ = true;
        Wake();  // a thread still blocked for an earlier wait takes the new one
      }
    }
    cv_.notify_one();
    uv_ref(async_.base());
    return 0;
  }

  void Stop() override {
    {
      std::unique_lock<std::mutex> lock(mu_);
      bool posted = result_generation_ == generation_;
      if (!armed_ && !posted) return;
      if (posted) {
        // Harvested, not delivered: a report-once event must not be lost.
        leftover_.insert(leftover_.end(), result_.begin(), result_.end());
        result_.clear();
      }
      armed_ = false;
      generation_++;  // a result already posted for this wait is not delivered
      Wake();
      // Until the thread has left its blocking call, it and a select() made
      // next on this thread would both harvest (epoll's set is shared): one
      // wake-up or edge reported twice. What it harvests until then is kept
      // for the next wait. Wake() makes that call return at once.
      idle_.wait(lock, [this] { return !blocking_ || stopping_; });
    }
    uv_unref(async_.base());
  }

  void Changed() override {
    std::lock_guard<std::mutex> lock(mu_);
    Wake();
  }

  // A harvest that an earlier wait could not deliver waits for the next.
  bool HasLeftover() {
    std::lock_guard<std::mutex> lock(mu_);
    return !leftover_.empty();
  }

 private:
  // Makes the thread's blocking call return, if it is in one. Only then:
  // the epoll backend keeps wake_fd_ in its own set, where a stale wake-up
  // would make the JS thread's select() return early. Caller holds mu_.
  void Wake() {
    if (!blocking_ || wake_pending_) return;
    wake_pending_ = true;
    EventfdSignal(wake_fd_);
  }

  // Posts a result for the current wait. Caller holds mu_.
  void Post(int err, bool timed_out) {
    armed_ = false;
    result_err_ = err;
    result_timed_out_ = timed_out;
    result_generation_ = generation_;
    uv_async_send(async_.get());
  }

  void ThreadMain() {
    std::vector<int32_t> harvest;
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return armed_ || stopping_; });
      if (stopping_) return;
      Deadline deadline = deadline_;
      uint64_t generation = generation_;
      blocking_ = true;
      lock.unlock();
      BlockResult how = BlockResult::kReady;
      int n;
      try {
        harvest.resize(2 * static_cast<size_t>(capacity_->load(std::memory_order_relaxed)));
        n = backend_->WaitAside(wake_fd_, deadline, &harvest, &how);
      } catch (const std::bad_alloc&) {
        n = -ENOMEM;  // the wait rejects; an exception leaving a thread ends the process
      }
      lock.lock();
      blocking_ = false;
      idle_.notify_all();
      // Every Wake() came while blocking_ was set, under this lock: after
      // this read the eventfd stays empty until the next blocking call. (A
      // wait that ended without one makes no read: a system call saved per
      // wake-up.)
      if (wake_pending_) {
        EventfdDrain(wake_fd_);
        wake_pending_ = false;
      }
      if (stopping_) return;
      if (n > 0) {
        harvest.resize(2 * static_cast<size_t>(n));
        if (armed_) {
          // Readiness is news for whichever wait is pending now.
          result_.swap(harvest);
          Post(0, false);
        } else {
          leftover_.insert(leftover_.end(), harvest.begin(), harvest.end());
        }
        continue;
      }
      if (!armed_) continue;
      if (n < 0) {
        Post(-n, false);
      } else if (how == BlockResult::kTimedOut && generation == generation_) {
        result_.clear();
        Post(0, true);
      }
      // Otherwise woken by a registration change, a new Start() or a Stop(),
      // or everything seen was unregistered meanwhile: wait again, on a
      // fresh snapshot, if still armed.
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
      self->delivering_.swap(self->result_);
      self->result_.clear();
    }
    uv_unref(self->async_.base());
    self->done_(self->ctx_, err, timed_out, self->delivering_.data(), static_cast<int>(self->delivering_.size() / 2));
  }

  Backend* backend_;
  const std::atomic<int>* capacity_;
  Done done_;
  void* ctx_;
  int wake_fd_ = -1;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable idle_;  // the thread left its blocking call
  // Guarded by mu_:
  Deadline deadline_ = Deadline::Forever();
  bool armed_ = false;
  bool stopping_ = false;
  bool blocking_ = false;           // the thread is in (or entering) WaitAside()
  bool wake_pending_ = false;       // wake_fd_ was written since the last drain
  uint64_t generation_ = 0;         // one per Start()/Stop(); 0 is never a live wait
  uint64_t result_generation_ = 0;  // the wait the posted result belongs to
  int result_err_ = 0;
  bool result_timed_out_ = false;
  std::vector<int32_t> result_;    // the posted pairs
  std::vector<int32_t> leftover_;  // harvested after their wait ended: the next wait's
  // The JS thread's:
  std::vector<int32_t> delivering_;
  UvHandle<uv_async_t> async_;
};

// select and poll: the loop sleeps on the backend's StateSet while it
// covers every registration; the thread where it does not. Each part is
// made when first needed: a program that only watches sockets never starts
// the thread.
class HybridWaiter final : public Waiter {
 public:
  HybridWaiter(uv_loop_t* loop, Backend* backend, const std::atomic<int>* capacity, Done done, void* ctx)
      : loop_(loop), backend_(backend), capacity_(capacity), done_(done), ctx_(ctx) {}

  int Start(const Deadline& deadline, bool again) override {
    deadline_ = deadline;
    // A wake-up in the loop that found nothing means the set and the
    // mechanism disagree (select's sets do not watch a hang-up the way
    // epoll does; the item of a registered fd closed while a copy of it
    // lives on): the rest of this wait is the thread's, which cannot spin.
    bool in_loop = !again && !(thread_ && thread_->HasLeftover()) && backend_->SyncStates();
    if (in_loop && !in_loop_) {
      in_loop_ = std::make_unique<KernelFdWaiter>(backend_, capacity_, done_, ctx_);
      int err = in_loop_->Init(loop_, backend_->States()->fd());
      if (err != 0) {
        in_loop_.reset();
        return err;
      }
    }
    if (!in_loop) {
      int err = MakeThread();
      if (err != 0) return err;
    }
    active_ = in_loop ? static_cast<Waiter*>(in_loop_.get()) : thread_.get();
    int err = active_->Start(deadline, again);
    if (err != 0) active_ = nullptr;
    return err;
  }

  void Stop() override {
    if (active_ != nullptr) active_->Stop();
    active_ = nullptr;
  }

  void Changed() override {
    if (active_ == nullptr) return;
    if (active_ == thread_.get()) {
      thread_->Changed();
      return;
    }
    // Sleeping in the loop: the set takes the change now; a registration
    // it cannot cover moves the wait to the thread, towards the same deadline.
    if (!in_loop_->armed() || backend_->SyncStates()) return;
    // No thread to be had: this wait stays in the loop, over what the set
    // covers (nothing is consumed meanwhile, so the new file's news waits
    // for the next wait, whose start then reports the missing thread).
    if (MakeThread() != 0) return;
    in_loop_->Stop();
    active_ = thread_.get();
    thread_->Start(deadline_, false);  // cannot fail once the thread exists
  }

 private:
  // The thread part, made once, when a wait first needs it. 0 or an errno.
  int MakeThread() {
    if (thread_) return 0;
    auto t = std::make_unique<ThreadWaiter>(backend_, capacity_, done_, ctx_);
    int err = t->Init(loop_);
    if (err == 0) thread_ = std::move(t);
    return err;
  }

  uv_loop_t* loop_;
  Backend* backend_;
  const std::atomic<int>* capacity_;
  Done done_;
  void* ctx_;
  Deadline deadline_ = Deadline::Forever();
  std::unique_ptr<KernelFdWaiter> in_loop_;
  std::unique_ptr<ThreadWaiter> thread_;
  Waiter* active_ = nullptr;  // the part the pending wait runs on
};

}  // namespace

std::unique_ptr<Waiter> MakeWaiter(uv_loop_t* loop, Backend* backend, const std::atomic<int>* capacity,
                                   Waiter::Done done, void* ctx, int* err) {
  if (backend->States() != nullptr) {
    *err = 0;
    return std::make_unique<HybridWaiter>(loop, backend, capacity, done, ctx);
  }
  int fd = backend->WaitFd();
  if (fd >= 0) {
    auto w = std::make_unique<KernelFdWaiter>(backend, capacity, done, ctx);
    *err = w->Init(loop, fd);
    return *err == 0 ? std::move(w) : nullptr;
  }
  auto w = std::make_unique<ThreadWaiter>(backend, capacity, done, ctx);
  *err = w->Init(loop);
  return *err == 0 ? std::move(w) : nullptr;
}

}  // namespace iomux::detail

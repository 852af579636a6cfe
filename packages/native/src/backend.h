// The one internal interface every readiness mechanism implements.
//
// A backend translates between iomux's event bits (which equal Linux poll(2)
// bits) and its mechanism's own structures, and describes itself in one
// capability record that every other layer reads (TypeScript included), so
// no other file needs to know which mechanism it is talking to. Bookkeeping
// that is the same for every mechanism (the fd -> key map, argument checks,
// ERR_* errors) lives in TypeScript; a backend only keeps what its system
// call needs.
#pragma once

#include <cerrno>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "deadline.h"

namespace iomux::detail {

class StateSet;

// Event bits: the values of POLLIN, POLLPRI, ... and EPOLLIN, EPOLLPRI, ...
constexpr uint32_t kIn = 0x001;
constexpr uint32_t kPri = 0x002;
constexpr uint32_t kOut = 0x004;
constexpr uint32_t kErr = 0x008;
constexpr uint32_t kHup = 0x010;
constexpr uint32_t kNval = 0x020;
constexpr uint32_t kRdhup = 0x2000;
constexpr uint32_t kExclusive = 0x10000000u;
constexpr uint32_t kOneshot = 0x40000000u;
constexpr uint32_t kEdge = 0x80000000u;

constexpr uint32_t kInterestBits = kIn | kPri | kOut | kRdhup;
constexpr uint32_t kAlwaysReported = kErr | kHup | kNval;

// The one filter every backend applies to what its kernel said: the ready
// interest bits, plus the conditions poll(2) reports whether asked or not.
inline uint32_t FilterReady(uint32_t revents, uint32_t interest) {
  return revents & ((interest & kInterestBits) | kAlwaysReported);
}

// What a mechanism can do, and what it calls its system calls. One constant
// record per backend; TypeScript reads it once (native `capabilities`).
struct Capabilities {
  const char* name;
  int max_fd;                  // the highest fd Add() accepts
  bool edge;                   // kEdge
  bool exclusive;              // kExclusive
  bool native_oneshot;         // kOneshot done by the kernel, not emulated
  bool rdhup_needs_in;         // RDHUP can only be watched together with IN
  bool reports_hup;            // HUP/ERR are told apart from readiness
  bool reports_closed_fd;      // an fd closed while registered comes back as NVAL
  bool keeps_closed_fd_open;   // an fd closed while registered stays open (its file is held) until
                               // unregister() or close()
  bool pollable_kernel_fd;     // KernelFd() is a pollable kernel object of the backend's own
  bool wait_on_thread;         // wait() may block on a thread in WaitAside(), which hands its
                               // harvest over (select and poll: only for files whose poll may
                               // report once, see state_set.h)
  bool wait_in_loop;           // wait() on sockets, pipes and ttys makes no thread: libuv watches an
                               // fd of the backend's (WaitFd(), or StateSet's) and JS harvests with Wait()
  bool watches_empty_mask;     // an fd with no interest bit is still watched for ERR/HUP/NVAL
  bool watches_regular_files;  // a regular file is accepted (always ready); epoll refuses it (EPERM)
  // The system call each operation's errors name; nullptr where the
  // operation makes none (select and poll keep their sets in user space).
  const char* wait_syscall;
  const char* add_syscall;
  const char* modify_syscall;
  const char* remove_syscall;
};

extern const Capabilities kSelectCaps;
extern const Capabilities kPollCaps;
extern const Capabilities kEpollCaps;        // wait() through io_uring's epoll_wait
extern const Capabilities kEpollThreadCaps;  // wait() on a thread, where io_uring cannot
// The epoll record this process uses (io_uring probed once).
const Capabilities& EpollCaps();
extern const Capabilities kIoUringCaps;

// How a wait on another thread (WaitAside) ended.
enum class BlockResult { kReady, kWoken, kTimedOut };

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const Capabilities& Caps() const = 0;

  // Each returns 0 or an errno value. events holds interest bits plus the
  // modifiers, already validated by the caller against Caps().
  virtual int Add(int fd, uint32_t events) = 0;
  virtual int Modify(int fd, uint32_t events) = 0;
  virtual int Remove(int fd) = 0;

  // Waits until `deadline` and writes up to `cap` (fd, events) pairs into
  // `out`. Returns the number of pairs, or -errno. The caller guarantees cap
  // >= the number of registered fds, so one kernel call suffices and no fd
  // is reported twice.
  virtual int Wait(const Deadline& deadline, int32_t* out, int cap) = 0;

  // The kernel object's fd (the epoll fd), or -1 when there is none.
  virtual int KernelFd() const { return -1; }

  // How wait() is to watch this backend, asked once, when its first wait
  // starts: an fd for libuv to watch, whose readiness means "harvest with a
  // zero-timeout Wait()" (and whose polling consumes nothing), or -1 for a
  // thread in WaitAside(). Caps().wait_on_thread agrees with it afterwards.
  virtual int WaitFd() { return -1; }
  // Called before the loop sleeps on WaitFd(): submit what the wait needs
  // (room for `capacity` pairs). Returns 0 or an errno.
  virtual int Flush(int capacity) {
    (void)capacity;
    return 0;
  }
  // The wait that Flush() prepared has ended (its result, if any, is
  // collected by the next Wait()).
  virtual void Idle() {}

  // select and poll: the epoll set their wait() sleeps on in the loop
  // (state_set.h), or nullptr. SyncStates() brings it up to date (making it
  // at the first call) and says whether this wait may sleep on it; false:
  // the wait takes the thread.
  virtual const StateSet* States() const { return nullptr; }
  virtual bool SyncStates() { return false; }

  // wait()'s thread (Caps().wait_on_thread): blocks in the mechanism's own
  // call until a registered fd is ready, `wake_fd` is readable, or the
  // deadline passes, and harvests what that one call saw into `out` as
  // (fd, events) pairs, exactly as Wait() would report them (ONESHOT
  // disarmed, the waker drained and reported). What the kernel said is
  // handed on, never asked again: some files (/proc/self/mounts) report a
  // change to the first poll only. The JS thread may change registrations
  // meanwhile (it then writes to wake_fd); the harvest reads the live
  // interest set under mu_, so an fd unregistered meanwhile is dropped.
  // Sets *how; returns the number of pairs, or -errno. wake_fd is left for
  // the caller to drain.
  virtual int WaitAside(int wake_fd, const Deadline& deadline, std::vector<int32_t>* out, BlockResult* how) {
    (void)wake_fd;
    (void)deadline;
    (void)out;
    *how = BlockResult::kReady;
    return -ENOSYS;
  }

  // The cross-thread waker's eventfd (waker.h), or -1 to forget it. Wait()
  // and BlockUntilReady() watch it with the registered fds; when it fired,
  // Wait() drains it and reports the pair (-1, IN). Returns 0 or an errno.
  // The caller keeps the eventfd at or below Caps().max_fd.
  virtual int SetWaker(int fd) {
    std::lock_guard<std::mutex> lock(mu_);
    waker_fd_ = fd;
    return 0;
  }

 protected:
  // Guards the interest set between the JS thread and a waiter thread.
  std::mutex mu_;
  int waker_fd_ = -1;
};

// The fd reported for the waker in Wait()'s output pairs.
constexpr int32_t kWakerFd = -1;

// Empties the waker's eventfd, so it stops being readable (waker.cc).
void DrainWaker(int fd);

// Factories; each returns nullptr and sets *err (an errno) on failure.
std::unique_ptr<Backend> MakeSelectBackend(int* err);
std::unique_ptr<Backend> MakePollBackend(int* err);
std::unique_ptr<Backend> MakeEpollBackend(int* err);
std::unique_ptr<Backend> MakeIoUringBackend(int* err);
// Why io_uring cannot be used here (the kernel, the sysctl, a seccomp
// filter, a missing feature), or nullptr when it can. Probed once.
const char* IoUringUnavailable();

// The backend registry: the one list of backends, in the order backends()
// reports them. The native factory, the capability records and the
// availability that TypeScript sees (and, through it, backends(),
// createSelector(), the tests' backend lists) are all read from here.
struct BackendEntry {
  const Capabilities& (*caps)();               // caps().name is the backend's name
  std::unique_ptr<Backend> (*make)(int* err);  // the factory
  const char* make_syscall;                    // what a failed make() names
  const char* (*unavailable)();                // nullptr: always available; else the probe
};
extern const BackendEntry kBackends[];
extern const int kBackendCount;
// The entry named `name`, or nullptr.
const BackendEntry* FindBackend(const char* name);

// True when fd refers to an open file description.
bool FdIsOpen(int fd);

}  // namespace iomux::detail

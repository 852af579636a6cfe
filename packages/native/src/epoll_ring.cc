#include "epoll_ring.h"

#include "syscall.h"

#include "uring_abi.h"

#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace iomux::detail {
namespace {

// ------------------------------------------------------------ the ABI
// The kernel's io_uring ABI is spelled once, in uring_abi.h (the io_uring
// backend uses it too); this file's system calls return -1 and set errno.

using uring::Cqe;
using uring::kEnterGetevents;
using uring::kFeatSingleMmap;
using uring::kOffCqRing;
using uring::kOffSqes;
using uring::kOffSqRing;
using uring::kRegisterEventfd;
using uring::kRegisterProbe;
using uring::kSetupDeferTaskrun;
using uring::kSetupSingleIssuer;
using uring::Params;
using uring::Probe;
using uring::Sqe;
constexpr uint16_t kOpSupported = uring::kProbeOpSupported;
constexpr uint8_t kOpAsyncCancel = 14;
constexpr uint8_t kOpEpollWait = 59;  // 6.15

constexpr uint64_t kWaitTag = 1;
constexpr uint64_t kCancelTag = 2;

int SetupRaw(unsigned entries, Params* p) { return static_cast<int>(syscall(uring::kSysSetup, entries, p)); }
int RegisterRaw(int fd, unsigned op, void* arg, unsigned n) {
  return static_cast<int>(syscall(uring::kSysRegister, fd, op, arg, n));
}

unsigned Load(const unsigned* p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
void Store(unsigned* p, unsigned v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

// ------------------------------------------------------------ the probe

const char* Refusal(int err) {
  switch (err) {
    case ENOSYS:
      return "the kernel has no io_uring (Linux < 5.1, or built without it)";
    case EPERM:
      return "io_uring is refused here (kernel.io_uring_disabled, or a seccomp filter such as a container's "
             "default profile)";
    case EINVAL:
      return "the kernel lacks SINGLE_ISSUER|DEFER_TASKRUN (Linux < 6.1)";
    case ENOMEM:
      return "io_uring could not lock its memory (RLIMIT_MEMLOCK)";
    default:
      return "io_uring_setup failed";
  }
}

// Why this process cannot use the ring, or nullptr when it can.
const char* RunProbe() {
  const char* opt = getenv("IOMUX_EPOLL_WAIT");
  if (opt != nullptr && strcmp(opt, "thread") == 0) return "IOMUX_EPOLL_WAIT=thread asks for the thread";
  Params p;
  memset(&p, 0, sizeof p);
  p.flags = kSetupSingleIssuer | kSetupDeferTaskrun;
  int fd = SetupRaw(1, &p);
  if (fd < 0) return Refusal(errno);
  Probe probe;
  memset(&probe, 0, sizeof probe);
  int r = RegisterRaw(fd, kRegisterProbe, &probe, 64);
  close(fd);
  bool has = r == 0 && probe.last_op >= kOpEpollWait && probe.ops_len > kOpEpollWait &&
             (probe.ops[kOpEpollWait].flags & kOpSupported) != 0;
  return has ? nullptr : "the kernel lacks IORING_OP_EPOLL_WAIT (Linux < 6.15)";
}

}  // namespace

bool EpollRing::Available(const char** why) {
  // Once per process (a thread-safe static, not std::call_once, whose
  // pthread_once would raise the binary's glibc floor on newer systems).
  static const char* const refusal = RunProbe();
  if (why != nullptr) *why = refusal;
  return refusal == nullptr;
}

std::unique_ptr<EpollRing> EpollRing::Make(int epfd, int* err) {
  if (!Available(nullptr)) {
    *err = ENOSYS;
    return nullptr;
  }
  std::unique_ptr<EpollRing> ring(new EpollRing());
  ring->epfd_ = epfd;
  Params p;
  memset(&p, 0, sizeof p);
  p.flags = kSetupSingleIssuer | kSetupDeferTaskrun;
  // Two requests at most: the wait, and its cancel.
  ring->ring_fd_ = SetupRaw(2, &p);
  if (ring->ring_fd_ < 0) {
    *err = errno;
    return nullptr;
  }
  // io_uring fds are close-on-exec from birth (O_CLOEXEC in io_uring_setup).
  if ((p.features & kFeatSingleMmap) == 0) {
    *err = ENOSYS;  // < 5.4; EPOLL_WAIT (6.15) cannot be there either
    return nullptr;
  }
  size_t sq_bytes = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  size_t cq_bytes = p.cq_off.cqes + p.cq_entries * sizeof(Cqe);
  ring->ring_bytes_ = sq_bytes > cq_bytes ? sq_bytes : cq_bytes;
  void* m = mmap(nullptr, ring->ring_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring->ring_fd_,
                 static_cast<off_t>(kOffSqRing));
  if (m == MAP_FAILED) {
    *err = errno;
    return nullptr;
  }
  ring->ring_ = m;
  ring->sqes_bytes_ = p.sq_entries * sizeof(Sqe);
  m = mmap(nullptr, ring->sqes_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring->ring_fd_,
           static_cast<off_t>(kOffSqes));
  if (m == MAP_FAILED) {
    *err = errno;
    return nullptr;
  }
  ring->sqes_ = m;
  auto* base = static_cast<char*>(ring->ring_);
  ring->sq_head_ = reinterpret_cast<unsigned*>(base + p.sq_off.head);
  ring->sq_tail_ = reinterpret_cast<unsigned*>(base + p.sq_off.tail);
  ring->sq_mask_ = *reinterpret_cast<unsigned*>(base + p.sq_off.ring_mask);
  ring->sq_array_ = reinterpret_cast<unsigned*>(base + p.sq_off.array);
  ring->cq_head_ = reinterpret_cast<unsigned*>(base + p.cq_off.head);
  ring->cq_tail_ = reinterpret_cast<unsigned*>(base + p.cq_off.tail);
  ring->cq_mask_ = *reinterpret_cast<unsigned*>(base + p.cq_off.ring_mask);
  ring->cqes_ = base + p.cq_off.cqes;
  (void)kOffCqRing;  // one mapping serves both rings (IORING_FEAT_SINGLE_MMAP)

  ring->event_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (ring->event_fd_ < 0 || RegisterRaw(ring->ring_fd_, kRegisterEventfd, &ring->event_fd_, 1) != 0) {
    *err = errno;
    return nullptr;
  }
  *err = 0;
  return ring;
}

EpollRing::~EpollRing() {
  if (ring_fd_ >= 0 && in_flight_) Cancel();
  if (sqes_ != nullptr) munmap(sqes_, sqes_bytes_);
  if (ring_ != nullptr) munmap(ring_, ring_bytes_);
  if (ring_fd_ >= 0) close(ring_fd_);
  if (event_fd_ >= 0) close(event_fd_);
}

int EpollRing::Enter(unsigned to_submit, unsigned min_complete, unsigned flags) {
  for (;;) {
    long r = syscall(uring::kSysEnter, ring_fd_, to_submit, min_complete, flags, nullptr, 0);
    if (r >= 0) return 0;
    if (errno != EINTR) return errno;
    // Interrupted: what was submitted stays submitted; wait on without
    // submitting it twice.
    to_submit = 0;
  }
}

int EpollRing::Push(uint8_t opcode, int fd, uint64_t addr, uint32_t len, uint64_t user_data) {
  unsigned tail = *sq_tail_;  // only this thread writes it
  if (tail - Load(sq_head_) > sq_mask_) return EBUSY;
  unsigned i = tail & sq_mask_;
  Sqe* sqe = static_cast<Sqe*>(sqes_) + i;
  memset(sqe, 0, sizeof *sqe);
  sqe->opcode = opcode;
  sqe->fd = fd;
  sqe->addr = addr;
  sqe->len = len;
  sqe->user_data = user_data;
  sq_array_[i] = i;
  Store(sq_tail_, tail + 1);
  return Enter(1, 0, 0);
}

int EpollRing::Submit(int max_events) {
  if (in_flight_) return 0;
  if (max_events < 1) max_events = 1;
  if (max_events > capacity_) {
    events_.reset(new epoll_event[static_cast<size_t>(max_events)]);
    capacity_ = max_events;
  }
  int err = Push(kOpEpollWait, epfd_, reinterpret_cast<uintptr_t>(events_.get()), static_cast<uint32_t>(max_events),
                 kWaitTag);
  if (err == 0) in_flight_ = true;
  return err;
}

// Reads every posted completion; the wait's result is kept for Reap().
int EpollRing::TakeCompletions() {
  unsigned head = *cq_head_;
  unsigned tail = Load(cq_tail_);
  for (; head != tail; head++) {
    const Cqe& c = static_cast<const Cqe*>(cqes_)[head & cq_mask_];
    if (c.user_data == kWaitTag) {
      in_flight_ = false;
      completed_ = true;
      result_ = c.res;
    }
  }
  Store(cq_head_, head);
  return 0;
}

int EpollRing::Reap() {
  if (!in_flight_ && !completed_) return 0;  // nothing asked, nothing to take: no system call
  if (in_flight_) {
    // DEFER_TASKRUN: the kernel runs the wait's retry (the harvest) here.
    int err = Enter(0, 0, kEnterGetevents);
    if (err != 0) return -err;
    TakeCompletions();
  }
  // After the enter, which may itself have signalled it (a completion).
  EventfdDrain(event_fd_);
  if (!completed_) return 0;
  completed_ = false;
  int r = result_;
  // -ECANCELED: our own Cancel(); -EINTR/-EAGAIN: nothing, try again later.
  if (r == -ECANCELED || r == -EINTR || r == -EAGAIN) return 0;
  return r;
}

int EpollRing::Cancel() {
  if (in_flight_) {
    if (Push(kOpAsyncCancel, -1, kWaitTag, 0, kCancelTag) == 0) {
      // Both completions: the cancel's, and the wait's (cancelled, or done).
      // A poll-driven request is cancelled at once; the bound only keeps a
      // kernel that disagrees from hanging us.
      for (int tries = 0; in_flight_ && tries < 8; tries++) {
        if (Enter(0, 1, kEnterGetevents) != 0) break;
        TakeCompletions();
      }
    }
  }
  return Reap();
}

}  // namespace iomux::detail

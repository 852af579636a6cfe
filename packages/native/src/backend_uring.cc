// io_uring(7) as a readiness backend: each registered fd has one POLL_ADD
// request in a ring of its own (one ring per selector, so one per thread).
//
// Cost: a registration or a change is an SQE written into the shared
// submission queue, sent with the next wait's io_uring_enter: no system call
// of its own. A wait is one io_uring_enter; results come back as completions
// (CQEs) read from shared memory, O(ready). Level-triggered readiness is a
// one-shot POLL_ADD re-armed after each report (arming re-checks readiness;
// the kernel refuses IORING_POLL_ADD_LEVEL), EDGE a multishot POLL_ADD (one
// completion per wake-up), ONESHOT a one-shot poll not re-armed until
// modify(), EXCLUSIVE EPOLLEXCLUSIVE in the poll mask.
//
// Limits and traps: a poll request holds a reference to its file, so an fd
// closed while registered stays open (the peer sees no EOF) until
// unregister() or close(), which cancel their requests at once; every
// request's user_data carries a generation, so a late completion of an older
// request is dropped. Regular files are always ready, as with poll(2).
//
// Completion queue: a one-shot poll completes at most once per wait, so a
// CQ of twice the registrations cannot overflow; it starts at 1024 entries
// and grows to that (up to the kernel's 65536) before a wait, in place
// (IORING_REGISTER_RESIZE_RINGS: Linux 6.13+, on the DEFER_TASKRUN rings
// without an SQ array made from 6.6). Where the kernel cannot resize, and
// in a burst of registrations of ready fds between two waits (each full SQ
// is submitted, and arming a ready fd completes it at once), completions
// beyond the CQ wait in the kernel's overflow list (IORING_FEAT_NODROP):
// the wait drains it over more enters, and a reported level fd is re-armed
// by the next wait only, so each wait ends (test/uring-cq.test.ts, also
// under a seccomp filter that refuses the resize).
//
// wait(): the ring is created with SINGLE_ISSUER|DEFER_TASKRUN where the
// kernel has them; its fd then never wakes a poller, so the fd libuv watches
// (KernelFd()) is an eventfd registered with IORING_REGISTER_EVENTFD, and the
// JS thread harvests with a zero-timeout Wait(). Nothing is lost on the way:
// the completions stay in the ring until that Wait() reads them.
//
// A zero-timeout Wait() (select(0), and every harvest of wait()) must see
// every fd ready now, yet under DEFER_TASKRUN an enter runs at most ~20
// wake-ups' completion work unless it waits for more, and waiting for all
// requests in flight with a zero timeout arms a kernel timer (~20 us) when
// fewer are ready. So it enters with nothing to wait for, then again while
// the SQ flags say work is pending (IORING_SQ_TASKRUN) or completions
// overflowed: no timer, and one enter when one fd is ready. Measured with
// examples/scaling.mjs (N idle pairs + 1 ready): 1.8/19.0/19.5 us at
// N = 10/100/1000 before, 1.9-2.6/1.8/1.9 us after (epoll 1.0/1.0/0.8).
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "backend.h"
#include "syscall.h"
#include "uring_abi.h"

namespace iomux::detail {
namespace {

using namespace uring;  // NOLINT(build/namespaces): the ABI's names, in this file only

// user_data: kind in the top 2 bits, a 30-bit generation, the fd in the low 32.
enum Kind : uint64_t { kPollReq = 0, kWakerReq = 1, kUpdateReq = 2, kIgnoreReq = 3 };
constexpr uint32_t kGenMask = 0x3fffffffu;

uint64_t Tag(Kind kind, uint32_t gen, int fd) {
  return (static_cast<uint64_t>(kind) << 62) | (static_cast<uint64_t>(gen & kGenMask) << 32) |
         static_cast<uint32_t>(fd);
}

// Our bits are poll's bits; EXCLUSIVE is EPOLLEXCLUSIVE's bit, which the
// kernel takes in poll32_events.
uint32_t ToPoll(uint32_t events) { return events & (kInterestBits | kExclusive); }
bool Multishot(uint32_t events) { return (events & kEdge) != 0 && (events & kOneshot) == 0; }
constexpr uint32_t kModeBits = kEdge | kOneshot | kExclusive;

// DEFER_TASKRUN runs at most this many pending completions in an enter that
// asks for fewer (the kernel's IO_LOCAL_TW_DEFAULT_MAX).
constexpr unsigned kDeferRunCap = 20;

template <typename T>
T LoadAcquire(const T* p) {
  return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
template <typename T>
void StoreRelease(T* p, T v) {
  __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

// The mapped ring: the SQ and CQ rings (one mapping, IORING_FEAT_SINGLE_MMAP)
// and the SQE array.
struct Ring {
  int fd = -1;
  uint32_t flags = 0;  // the setup flags the kernel accepted
  void* ring = MAP_FAILED;
  size_t ring_bytes = 0;
  Sqe* sqes = static_cast<Sqe*>(MAP_FAILED);
  size_t sqes_bytes = 0;
  uint32_t* sq_head = nullptr;
  uint32_t* sq_tail = nullptr;
  uint32_t* sq_flags = nullptr;
  uint32_t sq_mask = 0, sq_entries = 0;
  uint32_t* cq_head = nullptr;
  uint32_t* cq_tail = nullptr;
  uint32_t cq_mask = 0, cq_entries = 0;
  Cqe* cqes = nullptr;

  // Returns 0 or an errno.
  int Init(unsigned entries, unsigned cq_want, uint32_t setup_flags) {
    Params p{};
    p.flags = setup_flags | kSetupCqsize | kSetupClamp;
    p.cq_entries = cq_want;
    int r = Setup(entries, &p);
    if (r < 0) return -r;
    fd = r;  // close-on-exec: the kernel always sets O_CLOEXEC on it
    flags = setup_flags;
    if ((p.features & (kFeatSingleMmap | kFeatNodrop | kFeatExtArg)) != (kFeatSingleMmap | kFeatNodrop | kFeatExtArg)) {
      return EOPNOTSUPP;
    }
    return Map(p);
  }

  // Gives the CQ room for at least `cq_want` completions, in place
  // (IORING_REGISTER_RESIZE_RINGS: Linux 6.13, DEFER_TASKRUN rings only;
  // asked only of rings without an SQ array, whose offset the kernel does
  // not report back on a resize).
  // The kernel copies the SQEs it has been shown and the CQEs not yet
  // consumed, and keeps its overflow list; the caller has submitted
  // everything it queued. Returns 0 or an errno (EINVAL: not on this kernel
  // or this ring; the ring is unchanged then).
  int Resize(unsigned cq_want) {
    Params p{};
    p.flags = kSetupCqsize | kSetupClamp;
    p.sq_entries = sq_entries;
    p.cq_entries = cq_want;
    int r = Register(fd, kRegisterResizeRings, &p, 1);
    if (r < 0) return -r;
    // The old mappings now show freed rings: map the new ones, then let go.
    void* old_ring = ring;
    size_t old_ring_bytes = ring_bytes;
    Sqe* old_sqes = sqes;
    size_t old_sqes_bytes = sqes_bytes;
    ring = MAP_FAILED;
    sqes = static_cast<Sqe*>(MAP_FAILED);
    int err = Map(p);
    if (err != 0) {
      // Keep the old mappings, so that no pointer dangles; the caller marks
      // the selector broken (the kernel no longer reads them).
      if (ring != MAP_FAILED) munmap(ring, ring_bytes);
      ring = old_ring;
      ring_bytes = old_ring_bytes;
      sqes = old_sqes;
      sqes_bytes = old_sqes_bytes;
      return err == EINVAL ? ENOMEM : err;  // EINVAL means "cannot resize" to the caller
    }
    munmap(old_sqes, old_sqes_bytes);
    munmap(old_ring, old_ring_bytes);
    return 0;
  }

  // Maps the rings whose layout `p` describes. Returns 0 or an errno.
  int Map(const Params& p) {
    bool array = (flags & kSetupNoSqarray) == 0;
    size_t sq_bytes = array ? p.sq_off.array + p.sq_entries * sizeof(uint32_t) : 0;
    size_t cq_bytes = p.cq_off.cqes + p.cq_entries * sizeof(Cqe);
    ring_bytes = sq_bytes > cq_bytes ? sq_bytes : cq_bytes;
    ring = mmap(nullptr, ring_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, kOffSqRing);
    if (ring == MAP_FAILED) return errno;
    sqes_bytes = p.sq_entries * sizeof(Sqe);
    void* s = mmap(nullptr, sqes_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, kOffSqes);
    if (s == MAP_FAILED) return errno;
    sqes = static_cast<Sqe*>(s);
    auto* base = static_cast<uint8_t*>(ring);
    auto at = [&](uint32_t off) { return reinterpret_cast<uint32_t*>(base + off); };
    sq_head = at(p.sq_off.head);
    sq_tail = at(p.sq_off.tail);
    sq_flags = at(p.sq_off.flags);
    sq_mask = *at(p.sq_off.ring_mask);
    sq_entries = *at(p.sq_off.ring_entries);
    // SQE i always sits in slot i: the indirection array, where the ring
    // has one (before IORING_SETUP_NO_SQARRAY, 6.6), is the identity.
    if (array) {
      uint32_t* a = at(p.sq_off.array);
      for (uint32_t i = 0; i < sq_entries; i++) a[i] = i;
    }
    cq_head = at(p.cq_off.head);
    cq_tail = at(p.cq_off.tail);
    cq_mask = *at(p.cq_off.ring_mask);
    cq_entries = *at(p.cq_off.ring_entries);
    cqes = reinterpret_cast<Cqe*>(base + p.cq_off.cqes);
    return 0;
  }

  ~Ring() {
    if (sqes != MAP_FAILED) munmap(sqes, sqes_bytes);
    if (ring != MAP_FAILED) munmap(ring, ring_bytes);
    if (fd >= 0) close(fd);
  }
};

// One registration.
struct Reg {
  uint32_t events = 0;         // the interest mask, modifiers included
  uint32_t gen = 0;            // the generation the current request's completions carry
  bool armed = false;          // a poll request is queued or in the kernel
  uint32_t seq = 0;            // the SQ position of that request's SQE, while queued
  bool cancel_queued = false;  // a POLL_REMOVE of an older request waits in the SQ...
  uint32_t cancel_seq = 0;     // ...at this position
  uint64_t pass = 0;           // the Wait() that last reported it...
  int slot = 0;                // ...in this output pair
  uint64_t empty_pass = 0;     // the Wait() that last saw it complete with nothing to report
  bool socket = false;         // a socket: its "readable" wake-ups say PRI too
  uint64_t settle = 0;         // the reap whose completions it has in...
  uint32_t pending = 0;        // ...this mask
};

class IoUringBackend final : public Backend {
 public:
  ~IoUringBackend() override { CancelAll(); }

  // Returns 0 or an errno.
  int Init() {
    // The flags in the order they are dropped: NO_SQARRAY (6.6) makes the
    // ring resizable (GrowCq()); DEFER_TASKRUN (6.1, with SINGLE_ISSUER 6.0)
    // keeps completions until this thread enters the kernel; COOP_TASKRUN
    // (5.19) at least avoids interrupting it; a plain ring works from 5.13.
    // TASKRUN_FLAG shows pending completion work in the SQ flags, which
    // Flush() and RunPending() read.
    static const uint32_t kTries[] = {
        kSetupSingleIssuer | kSetupDeferTaskrun | kSetupTaskrunFlag | kSetupSubmitAll | kSetupNoSqarray,
        kSetupSingleIssuer | kSetupDeferTaskrun | kSetupTaskrunFlag | kSetupSubmitAll,
        kSetupCoopTaskrun | kSetupTaskrunFlag | kSetupSubmitAll,
        0,
    };
    int err = EINVAL;
    for (uint32_t flags : kTries) {
      ring_ = std::make_unique<Ring>();
      err = ring_->Init(kSqEntries, kCqEntries, flags);
      if (err != EINVAL) break;
    }
    if (err) return err;
    resizable_ = (ring_->flags & (kSetupDeferTaskrun | kSetupNoSqarray)) == (kSetupDeferTaskrun | kSetupNoSqarray);
    evfd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (evfd_ < 0) return errno;
    int r = Register(ring_->fd, kRegisterEventfd, &evfd_, 1);
    return r < 0 ? -r : 0;
  }

  // Whether the kernel has what this backend needs beyond a ring: POLL_ADD,
  // POLL_REMOVE and in-place poll updates (5.13, which also brought
  // multishot polls). Returns nullptr, or what is missing.
  const char* Missing() {
    Probe probe{};
    int r = Register(ring_->fd, kRegisterProbe, &probe, 64);
    if (r < 0) return "IORING_REGISTER_PROBE (Linux 5.6)";
    for (uint8_t op : {kOpPollAdd, kOpPollRemove}) {
      if (op > probe.last_op || (probe.ops[op].flags & kProbeOpSupported) == 0) return "IORING_OP_POLL_ADD/POLL_REMOVE";
    }
    // An update of a request that does not exist: ENOENT where updates are
    // known, EINVAL where they are not.
    Sqe* s = GetSqe(&r);
    if (s == nullptr) return "a free submission queue entry";
    s->opcode = kOpPollRemove;
    s->fd = -1;
    s->addr = Tag(kIgnoreReq, 0, 0);
    s->off = Tag(kIgnoreReq, 0, 0);
    s->len = kPollUpdateEvents | kPollUpdateUserData;
    s->user_data = Tag(kUpdateReq, 0, -1);
    inflight_++;
    probe_res_ = 0;
    probing_ = true;
    for (int i = 0; i < 100 && inflight_ > 0; i++) {
      KernelTimespec ts{0, 10000000};
      if (Enter(inflight_, &ts) != 0) break;
      Reap(nullptr, 0, 0);
    }
    probing_ = false;
    return probe_res_ == -ENOENT ? nullptr : "IORING_POLL_UPDATE_EVENTS (Linux 5.13)";
  }

  const Capabilities& Caps() const override { return kIoUringCaps; }
  int KernelFd() const override { return evfd_; }

  int Add(int fd, uint32_t events) override {
    if (broken_) return broken_;
    // The request would fail later; the contract wants EBADF now. One
    // system call says both whether the fd is open and whether it is a
    // socket (ENOTSOCK: open, something else).
    int type = 0;
    socklen_t len = sizeof type;
    bool socket = getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0;
    if (!socket && errno == EBADF) return EBADF;
    Reg& reg = regs_[fd];
    reg = Reg{};
    reg.events = events;
    reg.socket = socket;
    int err = Arm(fd, &reg);
    if (err) regs_.erase(fd);
    return err;
  }

  int Modify(int fd, uint32_t events) override {
    if (broken_) return broken_;
    auto it = regs_.find(fd);
    if (it == regs_.end()) return ENOENT;
    Reg& reg = it->second;
    uint32_t old = reg.events;
    reg.events = events;
    if (!reg.armed) {
      // A fired ONESHOT (modify() re-arms it) or one parked for this pass.
      int err = Arm(fd, &reg);
      if (err) reg.events = old;
      return err;
    }
    if (Queued(reg.seq)) {
      // The kernel has not seen the request yet: rewrite it.
      Sqe& s = ring_->sqes[reg.seq & ring_->sq_mask];
      s.poll32_events = ToPoll(events);
      s.len = Multishot(events) ? kPollAddMulti : 0;
      return 0;
    }
    int err = 0;
    Sqe* s = GetSqe(&err);
    if (s == nullptr) {
      reg.events = old;
      return err;
    }
    uint64_t current = Tag(kPollReq, reg.gen, fd);
    if ((old & kModeBits) == (events & kModeBits)) {
      // In place, under a new generation: the kernel re-checks readiness
      // with the new mask, as EPOLL_CTL_MOD does. If the request has ended
      // meanwhile, the update fails with ENOENT and Handle() arms anew.
      uint32_t gen = NextGen();
      s->opcode = kOpPollRemove;
      s->fd = -1;
      s->addr = current;
      s->off = Tag(kPollReq, gen, fd);
      s->poll32_events = ToPoll(events);
      s->len = kPollUpdateEvents | kPollUpdateUserData;
      s->user_data = Tag(kUpdateReq, gen, fd);
      reg.gen = gen;
      inflight_++;
      return 0;
    }
    // One-shot <-> multishot, or EXCLUSIVE changed: a new request.
    PrepRemove(s, current);
    reg.cancel_queued = true;
    reg.cancel_seq = sq_tail_ - 1;
    reg.armed = false;
    err = Arm(fd, &reg);
    if (err) reg.events = old;  // the old request is cancelled; the next pass re-arms it
    return err;
  }

  int Remove(int fd) override {
    if (broken_) return broken_;
    auto it = regs_.find(fd);
    if (it == regs_.end()) return ENOENT;
    Reg reg = it->second;
    regs_.erase(it);
    bool submit = reg.cancel_queued && Queued(reg.cancel_seq);
    if (reg.armed) {
      if (Queued(reg.seq)) {
        // Never seen by the kernel: it becomes a no-op, and no system call.
        Sqe& s = ring_->sqes[reg.seq & ring_->sq_mask];
        std::memset(&s, 0, sizeof s);
        s.opcode = kOpNop;
        s.user_data = Tag(kIgnoreReq, 0, 0);
      } else {
        // At once: the request holds the file, and the caller may close the
        // fd next, expecting the socket to close.
        return RemoveNow(Tag(kPollReq, reg.gen, fd));
      }
    }
    return submit ? SubmitNow() : 0;
  }

  int SetWaker(int fd) override {
    if (broken_) return broken_;
    if (waker_fd_ >= 0 && waker_armed_) {
      if (Queued(waker_seq_)) {
        Sqe& s = ring_->sqes[waker_seq_ & ring_->sq_mask];
        std::memset(&s, 0, sizeof s);
        s.opcode = kOpNop;
        s.user_data = Tag(kIgnoreReq, 0, 0);
      } else {
        RemoveNow(Tag(kWakerReq, waker_gen_, 0));
      }
    }
    waker_armed_ = false;
    waker_fd_ = fd;
    return fd >= 0 ? ArmWaker() : 0;
  }

  // Submits what is queued, and makes sure the eventfd libuv is about to
  // watch wakes it for anything already waiting: completions in the CQ, or
  // completion work whose eventfd signal an earlier harvest consumed.
  int WaitFd() override { return evfd_; }

  int Flush(int capacity) override {
    (void)capacity;
    if (broken_) return broken_;
    watched_ = true;
    Unpark();
    int err = GrowCq();
    if (Unsubmitted() > 0) {
      StoreRelease(ring_->sq_tail, sq_tail_);
      int r = uring::Enter(ring_->fd, Unsubmitted(), 0, 0, nullptr, 0);
      if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) err = -r;
    }
    if (LoadAcquire(ring_->cq_tail) != *ring_->cq_head ||
        (LoadAcquire(ring_->sq_flags) & (kSqTaskrun | kSqCqOverflow)) != 0 || err != 0) {
      EventfdSignal(evfd_);
    }
    return err;
  }

  int Wait(const Deadline& deadline, int32_t* out, int cap) override {
    pass_++;
    Unpark();
    int err = GrowCq();
    if (err) return -err;
    int n = 0;
    for (;;) {
      bool zero = !deadline.forever() && deadline.Expired();
      KernelTimespec ts{};
      const KernelTimespec* tsp = nullptr;
      // A zero timeout asks for nothing (no timer armed); RunPending() then
      // runs what the kernel still holds.
      unsigned min = zero ? 0 : 1;
      if (!zero && !deadline.forever()) {
        int64_t ns = deadline.RemainingCeil(1, INT64_MAX);
        ts.tv_sec = ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        tsp = &ts;
      }
      int r = Enter(min, tsp);
      if (r < 0) return r;
      if (watched_) {
        // Only after the enter: completion work queued before it ran there
        // or shows in the SQ flags, which RunPending() reads next. Work queued
        // after it still has its signal pending, or, if this read takes
        // it, shows in the SQ flags, which Flush() reads.
        watched_ = false;
        DrainWaker(evfd_);
      }
      n = Reap(out, cap, n);
      r = RunPending(out, cap, &n);
      if (r < 0) return r;
      if (n > 0 || zero || (!deadline.forever() && deadline.Expired())) break;
      // Only stale or internal completions, or a signal: wait on.
    }
    return n;
  }

 private:
  // The CQ starts with room for a few hundred registrations and grows
  // (GrowCq()) to twice their number. Where the ring cannot be resized,
  // completions beyond it wait in the kernel's overflow list
  // (IORING_FEAT_NODROP), which Wait() drains over more enters.
  static constexpr unsigned kSqEntries = 128;
  static constexpr unsigned kCqEntries = 1024;
  static constexpr unsigned kCqMax = 65536;  // the kernel's IORING_MAX_CQ_ENTRIES
  // Completions other than the polls' own that may be in the CQ at once:
  // the waker's, and those of updates and removals queued since the last
  // reap (which a full SQ submits).
  static constexpr unsigned kCqSlack = 2 * kSqEntries;

  // Makes room in the CQ for a completion of every request in flight,
  // twice over, where the kernel can resize the ring. Returns 0 or an errno.
  int GrowCq() {
    if (broken_) return broken_;
    if (!resizable_) return 0;
    size_t want = 2 * (regs_.size() + 1) + kCqSlack;
    if (want <= ring_->cq_entries || ring_->cq_entries >= kCqMax) return 0;
    unsigned size = ring_->cq_entries;
    while (size < want && size < kCqMax) size *= 2;
    // The kernel copies only the SQEs it has been shown: submit the rest.
    if (Unsubmitted() > 0) {
      StoreRelease(ring_->sq_tail, sq_tail_);
      int r = uring::Enter(ring_->fd, Unsubmitted(), 0, 0, nullptr, 0);
      if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) return -r;
      if (Unsubmitted() > 0) return 0;  // the next wait tries again
    }
    int err = ring_->Resize(size);
    if (err == EINVAL || err == EOVERFLOW) {
      resizable_ = err != EINVAL;  // EINVAL: before 6.13, or not a DEFER_TASKRUN ring
      return 0;
    }
    if (err) {
      broken_ = err;  // resized, but the new rings could not be mapped
      return err;
    }
    SettleTaskrunFlag();
    return 0;
  }

  // After a resize the new rings' IORING_SQ_TASKRUN says nothing: newer
  // kernels set it (so that no pending work goes unseen), which would make
  // RunPending() spin to its bound until some completion work ran, and
  // older ones may have dropped it. So make completion work exist (a poll
  // of a fresh eventfd, then a write to it) and run all of it in one enter
  // that asks for every request in flight (a zero timeout: one kernel timer,
  // once per resize): the kernel clears the flag as it starts the run.
  void SettleTaskrunFlag() {
    int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (efd < 0) return;  // the flag stays set: RunPending() costs more, nothing is missed
    int err = 0;
    Sqe* s = GetSqe(&err);
    if (s != nullptr) {
      s->opcode = kOpPollAdd;
      s->fd = efd;
      s->poll32_events = kIn;
      s->user_data = Tag(kIgnoreReq, 0, 0);
      inflight_++;
      KernelTimespec ts{};
      Enter(0, &ts);
      EventfdSignal(efd);
      Enter(inflight_, &ts);
    }
    close(efd);  // the poll has completed (a one-shot): nothing holds the file
  }

  // Runs the completion work that is still pending and reaps what it
  // completes: under DEFER_TASKRUN an enter runs only about 20 completions'
  // work (the kernel's IO_LOCAL_TW_DEFAULT_MAX) unless it waits for more,
  // and asking for every request in flight with a zero timeout arms a
  // kernel timer (~20 us) whenever fewer are ready. Non-blocking enters
  // while the kernel says work is pending (IORING_SQ_TASKRUN, from
  // IORING_SETUP_TASKRUN_FLAG) or completions overflowed
  // (IORING_SQ_CQ_OVERFLOW) cost one system call per 20 ready fds and none
  // when nothing is pending. Bounded: wake-ups that keep coming while this
  // runs are left to the next wait. Returns 0 or -errno.
  int RunPending(int32_t* out, int cap, int* n) {
    size_t rounds = (regs_.size() + inflight_) / kDeferRunCap + 4;
    for (size_t i = 0; i < rounds; i++) {
      if ((LoadAcquire(ring_->sq_flags) & (kSqTaskrun | kSqCqOverflow)) == 0) break;
      int r = Enter(0, nullptr);
      if (r < 0) return r;
      *n = Reap(out, cap, *n);
    }
    return 0;
  }

  uint32_t NextGen() { return ++gen_ & kGenMask; }

  uint32_t Unsubmitted() const { return sq_tail_ - LoadAcquire(ring_->sq_head); }

  // Whether the SQE at `seq` is still unread by the kernel (only
  // io_uring_enter reads SQEs, and only this thread calls it).
  bool Queued(uint32_t seq) const {
    uint32_t head = LoadAcquire(ring_->sq_head);
    return seq - head < sq_tail_ - head;
  }

  Sqe* GetSqe(int* err) {
    if (Unsubmitted() >= ring_->sq_entries) {
      StoreRelease(ring_->sq_tail, sq_tail_);
      int r = uring::Enter(ring_->fd, Unsubmitted(), 0, 0, nullptr, 0);
      if (r < 0 && Unsubmitted() >= ring_->sq_entries) {
        *err = -r;
        return nullptr;
      }
      if (Unsubmitted() >= ring_->sq_entries) {
        *err = EAGAIN;
        return nullptr;
      }
    }
    Sqe* s = &ring_->sqes[sq_tail_ & ring_->sq_mask];
    std::memset(s, 0, sizeof *s);
    sq_tail_++;
    return s;
  }

  // A POLL_REMOVE of request `target`. Its own completion names the target
  // (kind kIgnoreReq, the target's generation and fd; -1 for the waker's),
  // so that a removal that found the request busy can be sent again.
  void PrepRemove(Sqe* s, uint64_t target) {
    auto gen = static_cast<uint32_t>(target >> 32) & kGenMask;
    bool waker = static_cast<Kind>(target >> 62) == kWakerReq;
    s->opcode = kOpPollRemove;
    s->fd = -1;
    s->addr = target;
    s->user_data = Tag(kIgnoreReq, gen, waker ? -1 : static_cast<int>(static_cast<uint32_t>(target)));
    inflight_++;
  }

  // The removal `tag` found its request busy completing (EALREADY: under
  // DEFER_TASKRUN, a wake-up's completion work was pending). A one-shot
  // request then ends by itself, but a multishot one goes on holding its
  // file: the removal must be sent again, after that work has run.
  static uint64_t TargetOf(const Cqe& c) {
    auto gen = static_cast<uint32_t>(c.user_data >> 32) & kGenMask;
    auto fd = static_cast<int>(static_cast<uint32_t>(c.user_data));
    return fd == -1 ? Tag(kWakerReq, gen, 0) : Tag(kPollReq, gen, fd);
  }

  // Looks in the CQ (without consuming it) for the completion of removal
  // `tag`; if it says EALREADY, marks it handled and returns true.
  bool RemovalWasBusy(uint64_t tag) {
    uint32_t tail = LoadAcquire(ring_->cq_tail);
    for (uint32_t i = *ring_->cq_head; i != tail; i++) {
      Cqe& c = ring_->cqes[i & ring_->cq_mask];
      if (c.user_data != tag) continue;
      if (c.res != -EALREADY) return false;
      c.res = 0;  // dealt with here: Handle() must not send it again
      return true;
    }
    return false;
  }

  // Removes request `target` and returns once the kernel has let go of it
  // (and of its file). Returns 0 or an errno.
  int RemoveNow(uint64_t target) {
    for (int attempt = 0; attempt < 8; attempt++) {
      int err = 0;
      Sqe* s = GetSqe(&err);
      if (s == nullptr) return err;
      PrepRemove(s, target);
      uint64_t tag = s->user_data;
      err = SubmitNow();
      if (err) return err;
      if (!RemovalWasBusy(tag)) return 0;
    }
    return 0;
  }

  int Arm(int fd, Reg* reg) {
    int err = 0;
    Sqe* s = GetSqe(&err);
    if (s == nullptr) return err;
    reg->gen = NextGen();
    s->opcode = kOpPollAdd;
    s->fd = fd;
    s->poll32_events = ToPoll(reg->events);
    s->len = Multishot(reg->events) ? kPollAddMulti : 0;
    s->user_data = Tag(kPollReq, reg->gen, fd);
    reg->armed = true;
    reg->seq = sq_tail_ - 1;
    inflight_++;
    return 0;
  }

  int ArmWaker() {
    int err = 0;
    Sqe* s = GetSqe(&err);
    if (s == nullptr) return err;
    waker_gen_ = NextGen();
    s->opcode = kOpPollAdd;
    s->fd = waker_fd_;
    s->poll32_events = kIn;
    s->user_data = Tag(kWakerReq, waker_gen_, 0);
    waker_armed_ = true;
    waker_seq_ = sq_tail_ - 1;
    inflight_++;
    return 0;
  }

  // Submits what is queued and waits for `min` completions, until *ts (no
  // timeout when ts is nullptr). Returns 0 or -errno; a timeout, a signal
  // and a full completion queue are not errors (the caller reaps and looks
  // at its deadline).
  int Enter(unsigned min, const KernelTimespec* ts) {
    GeteventsArg arg{};
    arg.ts = reinterpret_cast<uintptr_t>(ts);
    unsigned to_submit = Unsubmitted();
    StoreRelease(ring_->sq_tail, sq_tail_);
    int r = uring::Enter(ring_->fd, to_submit, min, kEnterGetevents | kEnterExtArg, &arg, sizeof arg);
    return r >= 0 || r == -ETIME || r == -EINTR || r == -EBUSY || r == -EAGAIN ? 0 : r;
  }

  // Submits everything queued and runs the completion work that is pending,
  // so that a cancelled request has let go of its file when this returns.
  int SubmitNow() {
    KernelTimespec ts{};
    return -Enter(inflight_, &ts);
  }

  // Reads every completion in the CQ; returns the pairs written so far.
  int Reap(int32_t* out, int cap, int n) {
    uint32_t head = *ring_->cq_head;
    uint32_t tail = LoadAcquire(ring_->cq_tail);
    for (; head != tail; head++) {
      Cqe c = ring_->cqes[head & ring_->cq_mask];
      // Handed back at once: Handle() may queue SQEs, never CQEs.
      StoreRelease(ring_->cq_head, head + 1);
      Handle(c, out, cap, &n);
    }
    Settle(out, cap, &n);
    return n;
  }

  void Emit(int32_t* out, int cap, int* n, int fd, uint32_t ready, Reg* reg) {
    if (out == nullptr) return;  // reaping to let go, not to report
    if (reg != nullptr && reg->pass == pass_) {
      out[2 * reg->slot + 1] |= static_cast<int32_t>(ready);
      return;
    }
    if (*n >= cap) return;  // cannot happen: cap covers every registration
    out[2 * *n] = fd;
    out[2 * *n + 1] = static_cast<int32_t>(ready);
    if (reg != nullptr) {
      reg->pass = pass_;
      reg->slot = *n;
    }
    (*n)++;
  }

  void Handle(const Cqe& c, int32_t* out, int cap, int* n) {
    bool last = (c.flags & kCqeFMore) == 0;
    if (last) inflight_--;
    auto kind = static_cast<Kind>(c.user_data >> 62);
    auto gen = static_cast<uint32_t>(c.user_data >> 32) & kGenMask;
    auto fd = static_cast<int>(static_cast<uint32_t>(c.user_data));
    if (kind == kIgnoreReq) {
      if (c.res == -EALREADY && gen != 0) {
        int err = 0;
        Sqe* s = GetSqe(&err);
        if (s != nullptr) PrepRemove(s, TargetOf(c));  // goes in with the next enter
      }
      return;
    }
    if (kind == kWakerReq) {
      if (waker_fd_ < 0 || gen != waker_gen_ || !waker_armed_) return;
      waker_armed_ = false;
      if (waker_pass_ != pass_) {
        waker_pass_ = pass_;
        if (c.res > 0) {
          DrainWaker(waker_fd_);
          Emit(out, cap, n, kWakerFd, kIn, nullptr);
        }
      }
      ArmWaker();
      return;
    }
    if (probing_ && kind == kUpdateReq && fd == -1) {
      probe_res_ = c.res;
      return;
    }
    auto it = regs_.find(fd);
    if (it == regs_.end() || it->second.gen != gen) return;  // an older registration's, or an older request's
    Reg* reg = &it->second;
    if (kind == kUpdateReq) {
      // The request had ended before the update reached it: arm anew.
      if (c.res < 0 && reg->armed) {
        reg->armed = false;
        Arm(fd, reg);
      }
      return;
    }
    if (last) reg->armed = false;
    // The fd was closed before its request reached the kernel: forgotten
    // silently, as epoll forgets a closed fd (no request is left to re-arm).
    if (c.res == -EBADF) return;
    uint32_t ready = 0;  // -ECANCELED: ended without news (a multishot whose completions overflowed)
    if (c.res >= 0) {
      ready = FilterReady(static_cast<uint32_t>(c.res), reg->events);
    } else if (c.res != -ECANCELED) {
      ready = kErr;
    }
    if (reg->settle != settle_id_) {
      reg->settle = settle_id_;
      reg->pending = 0;
      settle_.push_back(fd);
    }
    reg->pending |= ready;
  }

  // Completes the reports of one reap. A completion carries the mask of the
  // wake-up that ended the poll, not the file's state: a pipe whose reader
  // left while it was writable completes with OUT, without ERR; a socket's
  // "readable" wake-up says IN|PRI; data drained since is still IN. So the
  // completions say which fds to look at, and one poll(2) over just those
  // (O(ready)) says what they are, as epoll_wait() re-polls its ready
  // items. Only what poll(2) cannot see again is taken from the completion:
  // PRI and ERR of a file that reports a change once (/proc/self/mounts),
  // which the kernel's own poll of the file at wake-up consumed.
  //
  // Its cost, measured (select(0) with N registered sockets all readable,
  // CPU time per call, Linux 6.18, a loaded 2-vCPU VM): about 7 us of 40 at
  // N = 100 and 50-130 us of 400-520 at N = 1000, 15-20%. Skipping it for
  // sockets watched for IN/OUT passes the differential test (there a select
  // follows every single operation, so a completion is either harvested
  // right after its wake-up or made at arming, whose mask is exact), but
  // reports data read before the harvest as IN and misses a hang-up that
  // came after the data: test/uring-state.test.ts. So it stays.
  void Settle(int32_t* out, int cap, int* n) {
    if (settle_.empty()) return;
    check_.clear();
    for (int fd : settle_) check_.push_back(pollfd{fd, static_cast<short>(regs_[fd].events & kInterestBits), 0});
    if (poll(check_.data(), check_.size(), 0) < 0) {
      for (pollfd& p : check_) p.revents = 0;
    }
    for (const pollfd& p : check_) {
      Reg* reg = &regs_[p.fd];
      auto rev = static_cast<uint32_t>(static_cast<uint16_t>(p.revents));
      // The number was closed while the request held its file: as epoll
      // does for a closed fd, nothing is reported and nothing re-armed.
      if ((rev & kNval) != 0) continue;
      uint32_t ready = FilterReady(rev, reg->events) | (reg->pending & (reg->socket ? kErr : kErr | kPri));
      Done(p.fd, reg, ready, out, cap, n);
    }
    settle_.clear();
    settle_id_++;
  }

  // After a request of `reg` completed with `ready`: report, then re-arm as
  // its mode says.
  void Done(int fd, Reg* reg, uint32_t ready, int32_t* out, int cap, int* n) {
    if (ready != 0) Emit(out, cap, n, fd, ready, reg);
    if (reg->armed) return;
    if ((reg->events & kOneshot) != 0 && ready != 0) return;  // disarmed until modify()
    // Level: arm again, which re-checks readiness in the next enter. One
    // that was just reported is armed by the next Wait() or Flush(): armed
    // now, it would complete again in this pass's further enters (already
    // reported: wasted work), and with more ready fds than the CQ holds the
    // re-armed completions would refill the overflow list as fast as it
    // drains. A request that keeps completing with nothing to report (RDHUP
    // that was not asked for) would spin: the second such completion in one
    // pass parks it too.
    if (ready != 0) {
      parked_.push_back(fd);
      return;
    }
    if (reg->empty_pass == pass_) {
      parked_.push_back(fd);
      return;
    }
    reg->empty_pass = pass_;
    Arm(fd, reg);
  }

  void Unpark() {
    for (int fd : parked_) {
      auto it = regs_.find(fd);
      if (it != regs_.end() && !it->second.armed) Arm(fd, &it->second);
    }
    parked_.clear();
  }

 private:
  // Cancels every request and reaps until none is left (or a second has
  // passed), so the files they hold are let go before the ring is.
  void CancelAll() {
    if (!ring_ || ring_->fd < 0 || ring_->ring == MAP_FAILED || ring_->sqes == MAP_FAILED || broken_) {
      if (evfd_ >= 0) close(evfd_);
      return;
    }
    for (auto& [fd, reg] : regs_) {
      if (!reg.armed) continue;
      if (Queued(reg.seq)) {
        Sqe& s = ring_->sqes[reg.seq & ring_->sq_mask];
        std::memset(&s, 0, sizeof s);
        s.opcode = kOpNop;
        s.user_data = Tag(kIgnoreReq, 0, 0);
        continue;
      }
      int err = 0;
      Sqe* s = GetSqe(&err);
      if (s != nullptr) PrepRemove(s, Tag(kPollReq, reg.gen, fd));
    }
    regs_.clear();
    SetWaker(-1);
    // Bounded: a cancellation completes at once, but a kernel bug must not
    // hang close().
    for (int i = 0; i < 100 && (inflight_ > 0 || Unsubmitted() > 0); i++) {
      KernelTimespec ts{0, 10000000};
      if (Enter(inflight_, &ts) != 0) break;
      Reap(nullptr, 0, 0);
    }
    close(evfd_);
  }

  std::unique_ptr<Ring> ring_;
  bool resizable_ = false;  // the CQ may grow in place (tried; EINVAL says no)
  int broken_ = 0;          // an errno: the resized rings could not be mapped; every call fails
  int evfd_ = -1;
  bool watched_ = false;   // Flush() ran: libuv may be watching evfd_
  uint32_t sq_tail_ = 0;   // our tail; published to the kernel at each enter
  unsigned inflight_ = 0;  // requests whose last completion is still to come
  uint32_t gen_ = 0;
  uint64_t pass_ = 0;
  std::unordered_map<int, Reg> regs_;
  std::vector<int> parked_;
  std::vector<int> settle_;  // fds with completions in the current reap
  std::vector<pollfd> check_;
  uint64_t settle_id_ = 1;
  bool waker_armed_ = false;
  uint32_t waker_gen_ = 0;
  uint32_t waker_seq_ = 0;
  uint64_t waker_pass_ = 0;
  bool probing_ = false;
  int probe_res_ = 0;
};

// kernel.io_uring_disabled (Linux 6.6+), or -1 when it cannot be read.
int DisabledSysctl() {
  FILE* f = std::fopen("/proc/sys/kernel/io_uring_disabled", "re");
  if (f == nullptr) return -1;
  int v = -1;
  if (std::fscanf(f, "%d", &v) != 1) v = -1;
  std::fclose(f);
  return v;
}

std::string ProbeReason() {
  auto b = std::make_unique<IoUringBackend>();
  int err = b->Init();
  switch (err) {
    case 0:
      break;
    case ENOSYS:
      return "this kernel has no io_uring (io_uring_setup: ENOSYS; Linux 5.13 or later is needed)";
    case EPERM: {
      int v = DisabledSysctl();
      if (v > 0) {
        return "the sysctl kernel.io_uring_disabled is " + std::to_string(v) +
               " (1: only for CAP_SYS_ADMIN or kernel.io_uring_group; 2: for no one), so io_uring_setup fails with "
               "EPERM";
      }
      return "io_uring_setup was refused with EPERM by a seccomp filter (Docker's, containerd's and Kubernetes' "
             "default profiles refuse io_uring)";
    }
    case EOPNOTSUPP:
      return "the kernel lacks IORING_FEAT_NODROP or IORING_FEAT_EXT_ARG (Linux 5.13 or later is needed)";
    case EINVAL:
      return "the kernel refuses the ring's setup flags (io_uring_setup: EINVAL; Linux 5.13 or later is needed)";
    case ENOMEM:
      return "io_uring_setup failed with ENOMEM (before Linux 5.12 rings count against RLIMIT_MEMLOCK; raise it)";
    default:
      return std::string("io_uring_setup failed: ") + std::strerror(err);
  }
  const char* missing = b->Missing();
  if (missing != nullptr) return std::string("the kernel lacks ") + missing;
  return "";
}

}  // namespace

std::unique_ptr<Backend> MakeIoUringBackend(int* err) {
  auto b = std::make_unique<IoUringBackend>();
  *err = b->Init();
  return *err == 0 ? std::move(b) : nullptr;
}

const char* IoUringUnavailable() {
  // Once per process (a thread-safe static): every Worker sees the same answer.
  static const std::string reason = ProbeReason();
  return reason.empty() ? nullptr : reason.c_str();
}

}  // namespace iomux::detail

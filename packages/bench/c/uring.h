/*
 * The few pieces of the io_uring ABI the C benchmark references use (the
 * io_uring echo server and dispatch_bench --backend io_uring), in C: the
 * kernel's structs written out, the three system calls through syscall(2),
 * ring setup and an SQE/CQE helper. No <linux/io_uring.h> (Debian 11's lacks
 * the setup flags used here) and no liburing, like the addon's own
 * packages/native/src/uring_abi.h (C++, so not includable from C); the
 * offsets are checked the same way, with static asserts.
 *
 * The ring is set up the way the addon's io_uring backend sets up its own
 * (backend_uring.cc): SINGLE_ISSUER|DEFER_TASKRUN|TASKRUN_FLAG|SUBMIT_ALL,
 * else COOP_TASKRUN|TASKRUN_FLAG|SUBMIT_ALL, else plain, so that the C
 * reference and iomux pay for the same kernel paths.
 */
#ifndef IOMUX_BENCH_URING_H
#define IOMUX_BENCH_URING_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif
#ifndef __NR_io_uring_enter
#define __NR_io_uring_enter 426
#endif

struct bu_sq_off { uint32_t head, tail, ring_mask, ring_entries, flags, dropped, array, resv1; uint64_t user_addr; };
struct bu_cq_off { uint32_t head, tail, ring_mask, ring_entries, overflow, cqes, flags, resv1; uint64_t user_addr; };
struct bu_params {
  uint32_t sq_entries, cq_entries, flags, sq_thread_cpu, sq_thread_idle, features, wq_fd, resv[3];
  struct bu_sq_off sq_off;
  struct bu_cq_off cq_off;
};
struct bu_sqe {
  uint8_t opcode, flags;
  uint16_t ioprio;
  int32_t fd;
  uint64_t off, addr;
  uint32_t len, poll32_events;
  uint64_t user_data;
  uint16_t buf_index, personality;
  int32_t splice_fd_in;
  uint64_t addr3, pad2;
};
struct bu_cqe { uint64_t user_data; int32_t res; uint32_t flags; };
struct bu_getevents_arg { uint64_t sigmask; uint32_t sigmask_sz, pad; uint64_t ts; };
struct bu_timespec { int64_t tv_sec, tv_nsec; };

_Static_assert(sizeof(struct bu_params) == 120 && offsetof(struct bu_params, sq_off) == 40, "io_uring_params");
_Static_assert(sizeof(struct bu_sqe) == 64 && offsetof(struct bu_sqe, poll32_events) == 28 &&
                   offsetof(struct bu_sqe, user_data) == 32, "io_uring_sqe");
_Static_assert(sizeof(struct bu_cqe) == 16, "io_uring_cqe");
_Static_assert(sizeof(struct bu_getevents_arg) == 24, "io_uring_getevents_arg");

enum {
  BU_SETUP_CQSIZE = 1u << 3, BU_SETUP_CLAMP = 1u << 4, BU_SETUP_SUBMIT_ALL = 1u << 7,
  BU_SETUP_COOP_TASKRUN = 1u << 8, BU_SETUP_TASKRUN_FLAG = 1u << 9,
  BU_SETUP_SINGLE_ISSUER = 1u << 12, BU_SETUP_DEFER_TASKRUN = 1u << 13,
  BU_SQ_TASKRUN = 1u << 2, /* completion work waits to run (with TASKRUN_FLAG) */
  BU_ENTER_GETEVENTS = 1u << 0, BU_ENTER_EXT_ARG = 1u << 3,
  BU_OP_POLL_ADD = 6,
  BU_POLL_ADD_MULTI = 1u << 0,
  BU_CQE_F_MORE = 1u << 1,
};

struct bu_ring {
  int fd;
  uint32_t flags; /* the setup flags the kernel took */
  uint32_t *sq_head, *sq_tail, *sq_flags, sq_mask, sq_entries, tail;
  uint32_t *cq_head, *cq_tail, cq_mask;
  struct bu_sqe *sqes;
  struct bu_cqe *cqes;
  unsigned queued, inflight;
};

static inline int bu_enter(struct bu_ring *r, unsigned submit, unsigned min, unsigned flags, const void *arg, size_t argsz) {
  long n = syscall(__NR_io_uring_enter, r->fd, submit, min, flags, arg, argsz);
  return n < 0 ? -errno : (int)n;
}

/* Sets up a ring; returns 0 or an errno. */
static inline int bu_init(struct bu_ring *r, unsigned sq, unsigned cq) {
  static const uint32_t tries[] = {
      BU_SETUP_SINGLE_ISSUER | BU_SETUP_DEFER_TASKRUN | BU_SETUP_TASKRUN_FLAG | BU_SETUP_SUBMIT_ALL,
      BU_SETUP_COOP_TASKRUN | BU_SETUP_TASKRUN_FLAG | BU_SETUP_SUBMIT_ALL,
      0,
  };
  struct bu_params p;
  long fd = -1;
  for (size_t i = 0; i < sizeof tries / sizeof tries[0]; i++) {
    memset(&p, 0, sizeof p);
    p.flags = tries[i] | BU_SETUP_CQSIZE | BU_SETUP_CLAMP;
    p.cq_entries = cq;
    fd = syscall(__NR_io_uring_setup, sq, &p);
    if (fd >= 0) {
      r->flags = tries[i];
      break;
    }
    if (errno != EINVAL) return errno;
  }
  if (fd < 0) return errno;
  memset(r, 0, offsetof(struct bu_ring, flags));
  r->fd = (int)fd;
  size_t sq_bytes = p.sq_off.array + p.sq_entries * sizeof(uint32_t);
  size_t cq_bytes = p.cq_off.cqes + p.cq_entries * sizeof(struct bu_cqe);
  size_t bytes = sq_bytes > cq_bytes ? sq_bytes : cq_bytes;
  uint8_t *base = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, 0);
  if (base == MAP_FAILED) return errno;
  void *s = mmap(NULL, p.sq_entries * sizeof(struct bu_sqe), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd,
                 0x10000000);
  if (s == MAP_FAILED) return errno;
  r->sqes = s;
  r->sq_head = (uint32_t *)(base + p.sq_off.head);
  r->sq_tail = (uint32_t *)(base + p.sq_off.tail);
  r->sq_flags = (uint32_t *)(base + p.sq_off.flags);
  r->sq_mask = *(uint32_t *)(base + p.sq_off.ring_mask);
  r->sq_entries = *(uint32_t *)(base + p.sq_off.ring_entries);
  uint32_t *array = (uint32_t *)(base + p.sq_off.array);
  for (uint32_t i = 0; i < r->sq_entries; i++) array[i] = i; /* SQE i sits in slot i */
  r->tail = *r->sq_tail;
  r->cq_head = (uint32_t *)(base + p.cq_off.head);
  r->cq_tail = (uint32_t *)(base + p.cq_off.tail);
  r->cq_mask = *(uint32_t *)(base + p.cq_off.ring_mask);
  r->cqes = (struct bu_cqe *)(base + p.cq_off.cqes);
  r->queued = r->inflight = 0;
  return 0;
}

/* Submits what is queued and waits for min completions, with no timeout, or
   with *ts when ts is not NULL. Returns 0 or -errno (a timeout, a signal and
   a busy CQ are not errors). */
static inline int bu_submit_wait(struct bu_ring *r, unsigned min, const struct bu_timespec *ts) {
  __atomic_store_n(r->sq_tail, r->tail, __ATOMIC_RELEASE);
  struct bu_getevents_arg arg = {0, 0, 0, (uint64_t)(uintptr_t)ts};
  int n = ts ? bu_enter(r, r->queued, min, BU_ENTER_GETEVENTS | BU_ENTER_EXT_ARG, &arg, sizeof arg)
             : bu_enter(r, r->queued, min, BU_ENTER_GETEVENTS, NULL, 0);
  r->queued = r->tail - __atomic_load_n(r->sq_head, __ATOMIC_ACQUIRE); /* what the kernel has not read */
  if (n >= 0) return 0;
  return n == -ETIME || n == -EINTR || n == -EBUSY || n == -EAGAIN ? 0 : n;
}

/* Whether completion work is still pending in the kernel (DEFER_TASKRUN: a
   non-blocking enter runs about 20 completions' worth at a time). */
static inline int bu_taskrun_pending(const struct bu_ring *r) {
  return (__atomic_load_n(r->sq_flags, __ATOMIC_ACQUIRE) & BU_SQ_TASKRUN) != 0;
}

/* Queues a POLL_ADD (one-shot, or multishot with BU_POLL_ADD_MULTI); it goes
   to the kernel with the next bu_submit_wait(). Returns 0 or -errno. */
static inline int bu_poll_add(struct bu_ring *r, int fd, uint32_t events, uint32_t flags, uint64_t user_data) {
  if (r->queued >= r->sq_entries) {
    int e = bu_submit_wait(r, 0, NULL);
    if (e) return e;
    if (r->queued >= r->sq_entries) return -EAGAIN;
  }
  struct bu_sqe *s = &r->sqes[r->tail & r->sq_mask];
  memset(s, 0, sizeof *s);
  s->opcode = BU_OP_POLL_ADD;
  s->fd = fd;
  s->poll32_events = events;
  s->len = flags;
  s->user_data = user_data;
  r->tail++;
  r->queued++;
  r->inflight++;
  return 0;
}

/* The next completion, or NULL; bu_cqe_seen() hands it back. */
static inline struct bu_cqe *bu_peek(struct bu_ring *r) {
  uint32_t head = *r->cq_head;
  if (head == __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE)) return NULL;
  return &r->cqes[head & r->cq_mask];
}

static inline void bu_cqe_seen(struct bu_ring *r, const struct bu_cqe *c) {
  if (!(c->flags & BU_CQE_F_MORE)) r->inflight--;
  __atomic_store_n(r->cq_head, *r->cq_head + 1, __ATOMIC_RELEASE);
}

#endif

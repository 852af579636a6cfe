// The part of the io_uring kernel ABI the io_uring backend uses, written out
// here instead of taken from <linux/io_uring.h>, and the three system calls
// made with syscall(2) instead of through liburing. Two reasons: the prebuilt
// binaries are built against old kernel headers (Debian 11's 5.10 header
// lacks SINGLE_ISSUER, DEFER_TASKRUN, TASKRUN_FLAG, SUBMIT_ALL, ...) and must
// keep their glibc 2.17 floor, which glibc wrappers or a liburing would
// raise. The layouts below are the kernel's, fixed by its ABI; the
// static_asserts check every offset this code touches. Whether the running
// kernel knows a flag is found out at run time (backend_uring.cc probes).
#pragma once

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>

namespace iomux::detail::uring {

// The system call numbers are the same on every architecture that adopted
// the unified table (x86-64, arm64, riscv64, ...); older libc headers may not
// name them.
#ifdef __NR_io_uring_setup
constexpr long kSysSetup = __NR_io_uring_setup;
#else
constexpr long kSysSetup = 425;
#endif
#ifdef __NR_io_uring_enter
constexpr long kSysEnter = __NR_io_uring_enter;
#else
constexpr long kSysEnter = 426;
#endif
#ifdef __NR_io_uring_register
constexpr long kSysRegister = __NR_io_uring_register;
#else
constexpr long kSysRegister = 427;
#endif

struct SqringOffsets {
  uint32_t head, tail, ring_mask, ring_entries, flags, dropped, array, resv1;
  uint64_t user_addr;
};

struct CqringOffsets {
  uint32_t head, tail, ring_mask, ring_entries, overflow, cqes, flags, resv1;
  uint64_t user_addr;
};

struct Params {
  uint32_t sq_entries, cq_entries, flags, sq_thread_cpu, sq_thread_idle, features, wq_fd;
  uint32_t resv[3];
  SqringOffsets sq_off;
  CqringOffsets cq_off;
};

struct Sqe {
  uint8_t opcode;
  uint8_t flags;
  uint16_t ioprio;
  int32_t fd;
  uint64_t off;   // POLL_REMOVE with an update: the new user_data
  uint64_t addr;  // POLL_REMOVE: the user_data of the poll to remove or update
  uint32_t len;   // POLL_ADD / POLL_REMOVE: the IORING_POLL_* flags
  union {
    uint32_t poll32_events;  // POLL_ADD, POLL_REMOVE with an update
    uint32_t op_flags;       // the other operations' flags (ASYNC_CANCEL's, ...)
  };
  uint64_t user_data;
  uint16_t buf_index;
  uint16_t personality;
  int32_t splice_fd_in;
  uint64_t addr3;
  uint64_t pad2;
};

struct Cqe {
  uint64_t user_data;
  int32_t res;
  uint32_t flags;
};

struct GeteventsArg {
  uint64_t sigmask;
  uint32_t sigmask_sz;
  uint32_t min_wait_usec;  // "pad" before 6.12: must be 0
  uint64_t ts;             // a struct __kernel_timespec*, or 0: no timeout
};

struct KernelTimespec {
  int64_t tv_sec;
  int64_t tv_nsec;
};

struct ProbeOp {
  uint8_t op;
  uint8_t resv;
  uint16_t flags;
  uint32_t resv2;
};

struct Probe {
  uint8_t last_op;
  uint8_t ops_len;
  uint16_t resv;
  uint32_t resv2[3];
  ProbeOp ops[64];  // the kernel's is a flexible array; 64 entries asked for
};

static_assert(sizeof(SqringOffsets) == 40 && sizeof(CqringOffsets) == 40, "io_uring ring offsets");
static_assert(offsetof(Params, features) == 20 && offsetof(Params, sq_off) == 40 && offsetof(Params, cq_off) == 80 &&
                  sizeof(Params) == 120,
              "struct io_uring_params");
static_assert(offsetof(Sqe, fd) == 4 && offsetof(Sqe, off) == 8 && offsetof(Sqe, addr) == 16 &&
                  offsetof(Sqe, len) == 24 && offsetof(Sqe, poll32_events) == 28 && offsetof(Sqe, user_data) == 32 &&
                  sizeof(Sqe) == 64,
              "struct io_uring_sqe");
static_assert(offsetof(Cqe, res) == 8 && offsetof(Cqe, flags) == 12 && sizeof(Cqe) == 16, "struct io_uring_cqe");
static_assert(offsetof(GeteventsArg, ts) == 16 && sizeof(GeteventsArg) == 24, "struct io_uring_getevents_arg");
static_assert(sizeof(KernelTimespec) == 16, "struct __kernel_timespec");
static_assert(offsetof(Probe, ops) == 16 && sizeof(ProbeOp) == 8, "struct io_uring_probe");

// io_uring_setup flags.
constexpr uint32_t kSetupCqsize = 1u << 3;
constexpr uint32_t kSetupClamp = 1u << 4;
constexpr uint32_t kSetupSubmitAll = 1u << 7;      // 5.18
constexpr uint32_t kSetupCoopTaskrun = 1u << 8;    // 5.19
constexpr uint32_t kSetupTaskrunFlag = 1u << 9;    // 5.19
constexpr uint32_t kSetupSingleIssuer = 1u << 12;  // 6.0
constexpr uint32_t kSetupDeferTaskrun = 1u << 13;  // 6.1
constexpr uint32_t kSetupNoSqarray = 1u << 16;     // 6.6

// io_uring_params.features.
constexpr uint32_t kFeatSingleMmap = 1u << 0;  // 5.4
constexpr uint32_t kFeatNodrop = 1u << 1;      // 5.5
constexpr uint32_t kFeatExtArg = 1u << 8;      // 5.11

// io_uring_enter flags.
constexpr uint32_t kEnterGetevents = 1u << 0;
constexpr uint32_t kEnterExtArg = 1u << 3;

// The SQ ring's flags word.
constexpr uint32_t kSqCqOverflow = 1u << 1;
constexpr uint32_t kSqTaskrun = 1u << 2;

// CQE flags.
constexpr uint32_t kCqeFMore = 1u << 1;

// Opcodes.
constexpr uint8_t kOpNop = 0;
constexpr uint8_t kOpPollAdd = 6;
constexpr uint8_t kOpPollRemove = 7;

// POLL_ADD / POLL_REMOVE flags, in sqe->len.
constexpr uint32_t kPollAddMulti = 1u << 0;        // 5.13
constexpr uint32_t kPollUpdateEvents = 1u << 1;    // 5.13
constexpr uint32_t kPollUpdateUserData = 1u << 2;  // 5.13

// io_uring_register opcodes.
constexpr unsigned kRegisterEventfd = 4;
constexpr unsigned kRegisterProbe = 8;
constexpr unsigned kRegisterResizeRings = 33;  // 6.13, DEFER_TASKRUN rings only
constexpr uint16_t kProbeOpSupported = 1u << 0;

// mmap offsets of the three regions.
constexpr long kOffSqRing = 0;
constexpr long kOffCqRing = 0x8000000;
constexpr long kOffSqes = 0x10000000;

// The raw system calls: each returns what the kernel returned, or -errno.
inline int Setup(unsigned entries, Params* p) {
  long r = syscall(kSysSetup, entries, p);
  return r < 0 ? -errno : static_cast<int>(r);
}

inline int Enter(int fd, unsigned to_submit, unsigned min_complete, unsigned flags, const void* arg, size_t argsz) {
  long r = syscall(kSysEnter, fd, to_submit, min_complete, flags, arg, argsz);
  return r < 0 ? -errno : static_cast<int>(r);
}

inline int Register(int fd, unsigned opcode, const void* arg, unsigned nr_args) {
  long r = syscall(kSysRegister, fd, opcode, arg, nr_args);
  return r < 0 ? -errno : static_cast<int>(r);
}

}  // namespace iomux::detail::uring

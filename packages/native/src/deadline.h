// A wait's deadline: the one conversion and the one rounding of a timeout.
#pragma once

#include <cstdint>

namespace iomux::detail {

// A wait deadline on CLOCK_MONOTONIC, made once per wait from the caller's
// milliseconds. Kernel waits are not restarted after a signal handler runs
// (even with SA_RESTART), so every backend retries EINTR itself with the time
// that is left rather than the original timeout. A zero timeout never reads
// the clock.
class Deadline {
 public:
  // The one conversion from the API's milliseconds: < 0 (or NaN, or beyond
  // ~290 years, where nanoseconds overflow) waits forever; 0 does not wait.
  static Deadline FromMs(double ms);
  static Deadline Forever() { return Deadline(kForever, 0); }
  static Deadline Now() { return Deadline(kNow, 0); }

  bool forever() const { return kind_ == kForever; }
  // True once no time is left (always, for a zero timeout).
  bool Expired() const;
  // The time left in whole units of `unit_ns`, rounded up so that a wait
  // never ends early (0.2 ms must become 1 ms for poll(2), not 0, which
  // would not block at all); capped at `cap`. The one rounding of a timeout.
  // Meaningless when forever().
  int64_t RemainingCeil(int64_t unit_ns, int64_t cap) const;

 private:
  enum Kind { kForever, kNow, kAt };
  Deadline(Kind kind, int64_t end_ns) : kind_(kind), end_ns_(end_ns) {}
  int64_t RemainingNs() const;
  Kind kind_;
  int64_t end_ns_;
};

// The deadline as poll(2) and epoll_wait(2) take it: -1 = forever.
int ToKernelMs(const Deadline& d);

}  // namespace iomux::detail

// How wait() on select and poll sleeps without a thread: an epoll set of the
// selector's own, watched by libuv, that mirrors the registrations whose
// readiness is a state of the file: sockets, pipes and FIFOs, character
// devices (ttys, ptys), and the selector's waker. Polling such a file twice
// gives the same answer, so libuv's epoll may look at it first and the JS
// thread then harvests with the mechanism's own zero-timeout call (select(2)
// or poll(2): what the user sees is still what that mechanism says). A file
// whose poll may report a change only once (a regular file such as
// /proc/self/mounts or a sysfs attribute, an anonymous inode such as another
// epoll set, a directory) or one this set cannot hold sends the wait to the
// thread instead (waiter.cc), which harvests in the one call that saw it.
//
// The set follows the backend lazily: nothing is recorded, and no system
// call made, until the first wait() that sleeps (Sync). After that, registrations
// mark their fd dirty and Sync() (before each wait sleeps) applies the marks
// with epoll_ctl; only an unregistration removes its fd at once, since the
// caller may close it next (a closed file's item would otherwise linger
// wherever a copy of the file stays open).
//
// All methods run under the backend's mutex.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

namespace iomux::detail {

class StateSet {
 public:
  StateSet() = default;
  StateSet(const StateSet&) = delete;
  StateSet& operator=(const StateSet&) = delete;
  ~StateSet();

  int fd() const { return epfd_; }

  // fd is watched for `events` (poll bits; 0: only ERR and HUP).
  void Set(int fd, uint32_t events);
  // fd is not watched any more: a ONESHOT registration that fired (applied
  // at the next Sync) or, with `removed`, an unregistration (applied now).
  void Clear(int fd, bool removed);
  // Before a wait sleeps: makes the set at the first call (then
  // `mirror_all()` Set()s every armed registration), takes the selector's
  // waker eventfd (-1: none), and applies what changed since the last call.
  // True when the set covers every watched fd, so the loop may sleep on
  // fd(); false when one of them needs the thread (or the set could not be
  // made or take it).
  template <typename F>
  bool Sync(int waker, F mirror_all) {
    if (epfd_ < 0) {
      if (Activate() != 0) return false;
      mirror_all();
    }
    return Apply(waker);
  }

 private:
  enum Kind : uint8_t { kUnknown, kState, kOther };
  struct Item {
    uint32_t want = 0;       // the events Set() asked for
    bool watched = false;    // Set() and not Clear()ed
    Kind kind = kUnknown;    // classified at the first Sync that needs it
    bool in_set = false;     // an epoll item exists for it
    uint32_t in_events = 0;  // ... with these events
    bool dirty = false;      // listed in dirty_
    bool counted = false;    // counted in others_
  };

  int Activate();  // makes the epoll set; 0 or an errno
  bool Apply(int waker);
  void Mark(int fd, Item* item);
  // Brings one item's epoll entry in line with what is wanted; updates others_.
  void Apply(int fd, Item* item);
  int Ctl(int op, int fd, uint32_t events);

  int epfd_ = -1;
  int waker_ = -1;        // in the set, as known to be a state
  bool waker_ok_ = true;  // the waker is in the set (or there is none)
  std::unordered_map<int, Item> items_;
  std::vector<int> dirty_;
  int others_ = 0;  // watched items that are not in the set
};

}  // namespace iomux::detail

#include "state_set.h"

#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace iomux::detail {
namespace {

// Files whose poll answers from the file's state, so asking twice loses
// nothing. Everything else may keep a "seen" mark per open file that a poll
// moves forward (seq files such as /proc/self/mounts, /proc/sys entries, an
// epoll set's own items): those stay with the thread.
bool ReadinessIsState(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) return false;  // closed: the thread reports it (NVAL or EBADF)
  return S_ISSOCK(st.st_mode) || S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode);
}

}  // namespace

StateSet::~StateSet() {
  if (epfd_ >= 0) close(epfd_);
}

int StateSet::Activate() {
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  return epfd_ >= 0 ? 0 : errno;
}

int StateSet::Ctl(int op, int fd, uint32_t events) {
  // poll(2)'s bits are epoll's (IN, PRI, OUT, RDHUP); ERR and HUP need no asking.
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  return epoll_ctl(epfd_, op, fd, &ev) == 0 ? 0 : errno;
}

void StateSet::Mark(int fd, Item* item) {
  if (item->dirty) return;
  item->dirty = true;
  dirty_.push_back(fd);
}

void StateSet::Set(int fd, uint32_t events) {
  if (epfd_ < 0) return;
  Item& item = items_[fd];
  if (item.watched && item.want == events) return;
  item.watched = true;
  item.want = events;
  Mark(fd, &item);
}

void StateSet::Clear(int fd, bool removed) {
  if (epfd_ < 0) return;
  auto it = items_.find(fd);
  if (it == items_.end()) return;
  Item& item = it->second;
  if (!removed) {
    if (item.watched) {
      item.watched = false;
      Mark(fd, &item);
    }
    return;
  }
  // Now, not at the next Sync(): the caller may close fd next, and the
  // item of a file still open elsewhere (a dup, a child's copy) would
  // stay in the set under no registration.
  if (item.in_set) Ctl(EPOLL_CTL_DEL, fd, 0);
  if (item.counted) others_--;
  items_.erase(it);  // its dirty_ entry finds nothing and is skipped
}

void StateSet::Apply(int fd, Item* item) {
  bool in = false;
  if (item->watched) {
    if (item->kind == kUnknown) item->kind = ReadinessIsState(fd) ? kState : kOther;
    in = item->kind == kState;
  }
  if (in && (!item->in_set || item->in_events != item->want)) {
    int err = Ctl(item->in_set ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, item->want);
    // Our record and the kernel's can differ only after the user closed a
    // registered fd (and a new file took its number): try the other verb.
    if (err == EEXIST) err = Ctl(EPOLL_CTL_MOD, fd, item->want);
    if (err == ENOENT) err = Ctl(EPOLL_CTL_ADD, fd, item->want);
    if (err == 0) {
      item->in_set = true;
      item->in_events = item->want;
    } else {
      // The set cannot hold it: closed meanwhile (the thread reports it), or a
      // device without a poll of its own (/dev/null: EPERM; always ready).
      item->kind = kOther;
      in = false;
    }
  }
  if (!in && item->in_set) {
    Ctl(EPOLL_CTL_DEL, fd, 0);
    item->in_set = false;
  }
  bool count = item->watched && !in;
  if (count != item->counted) {
    others_ += count ? 1 : -1;
    item->counted = count;
  }
}

bool StateSet::Apply(int waker) {
  if (waker != waker_) {
    if (waker_ >= 0 && waker_ok_) Ctl(EPOLL_CTL_DEL, waker_, 0);
    waker_ = waker;
    waker_ok_ = waker_ < 0 || Ctl(EPOLL_CTL_ADD, waker_, EPOLLIN) == 0;
  }
  for (int fd : dirty_) {
    auto it = items_.find(fd);
    if (it == items_.end() || !it->second.dirty) continue;  // removed since
    Item& item = it->second;
    item.dirty = false;
    Apply(fd, &item);
    if (!item.watched && !item.in_set) items_.erase(it);
  }
  dirty_.clear();
  return others_ == 0 && waker_ok_;
}

}  // namespace iomux::detail

// The cross-thread waker's registry (see waker.h), its N-API face, and the
// one query Socket.fromFd() needs about an fd handed over from another
// thread.
#include "waker.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "selector.h"

namespace iomux::detail {
namespace {

struct Registry {
  std::mutex mu;
  std::unordered_map<uint64_t, int> fds;  // id -> eventfd
  uint64_t next_id = 1;
};

// Never destroyed: a Worker may still call Wake() while the main thread runs
// static destructors at exit.
Registry& registry() {
  static Registry* r = new Registry();
  return *r;
}

}  // namespace

uint64_t CreateWaker(int max_fd, int* fd_out, int* err) {
  int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) {
    *err = errno;
    return 0;
  }
  if (fd > max_fd) {
    // select(2) can only watch fds below FD_SETSIZE: take the lowest free one.
    int low = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    int saved = errno;
    close(fd);
    if (low < 0) {
      *err = saved;
      return 0;
    }
    if (low > max_fd) {
      close(low);
      *err = EMFILE;
      return 0;
    }
    fd = low;
  }
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  uint64_t id = r.next_id++;
  r.fds.emplace(id, fd);
  *fd_out = fd;
  *err = 0;
  return id;
}

void DestroyWaker(uint64_t id) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.fds.find(id);
  if (it == r.fds.end()) return;
  // Closed under the lock: no Wake() can be between its lookup and its write.
  close(it->second);
  r.fds.erase(it);
}

bool Wake(uint64_t id) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.fds.find(id);
  if (it == r.fds.end()) return false;
  uint64_t one = 1;
  ssize_t n;
  // EAGAIN: the counter is saturated, so the eventfd is readable already.
  do {
    n = write(it->second, &one, sizeof one);
  } while (n < 0 && errno == EINTR);
  return true;
}

void DrainWaker(int fd) {
  uint64_t count;
  while (read(fd, &count, sizeof count) < 0 && errno == EINTR) {
  }
}

int SelectorCore::EnsureWaker(uint64_t* id) {
  if (closed()) return EBADF;
  if (waker_id_ == 0) {
    int fd = -1, err = 0;
    uint64_t created = CreateWaker(backend_->Caps().max_fd, &fd, &err);
    if (created == 0) return err;
    err = backend_->SetWaker(fd);
    if (err) {
      DestroyWaker(created);
      return err;
    }
    waker_id_ = created;
    Changed();  // a pending threaded wait takes a snapshot that includes it
  }
  *id = waker_id_;
  return 0;
}

void SelectorCore::DestroyWakerOf() {
  if (waker_id_ == 0) return;
  if (backend_) backend_->SetWaker(-1);
  DestroyWaker(waker_id_);
  waker_id_ = 0;
}

namespace {

uint64_t ArgId(const Napi::CallbackInfo& info) {
  if (!info[0].IsBigInt())
    ThrowTypeError(info.Env(), "ERR_INVALID_ARG_TYPE", "The \"id\" argument must be of type bigint");
  bool lossless = false;
  uint64_t id = info[0].As<Napi::BigInt>().Uint64Value(&lossless);
  return lossless ? id : 0;  // 0 is never an id
}

Napi::Value WakeFn(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), Wake(ArgId(info))); }

// [SO_DOMAIN, SO_TYPE, O_NONBLOCK set]: what Socket.fromFd() needs to know
// about an fd it did not create.
Napi::Value SocketInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgInt(info, 0, "fd");
  int domain = 0, type = 0;
  socklen_t len = sizeof domain;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0) ThrowErrno(env, errno, "getsockopt", fd);
  len = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) ThrowErrno(env, errno, "getsockopt", fd);
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) ThrowErrno(env, errno, "fcntl", fd);
  Napi::Array a = Napi::Array::New(env, 3);
  a.Set(0u, Napi::Number::New(env, domain));
  a.Set(1u, Napi::Number::New(env, type));
  a.Set(2u, Napi::Boolean::New(env, (flags & O_NONBLOCK) != 0));
  return a;
}

// The fds a Worker's owned Sockets hold. A Worker's JavaScript objects are
// never finalized when it exits, so without this its unclosed Sockets would
// stay open for the life of the process, with no object left to close them.
struct OwnedFds {
  std::unordered_set<int> fds;
};

void CloseOwnedFds(void* arg) {
  auto* owned = static_cast<OwnedFds*>(arg);
  for (int fd : owned->fds) close(fd);
  delete owned;
}

void TrackFd(const Napi::CallbackInfo& info) { static_cast<OwnedFds*>(info.Data())->fds.insert(ArgInt(info, 0, "fd")); }

void UntrackFd(const Napi::CallbackInfo& info) {
  static_cast<OwnedFds*>(info.Data())->fds.erase(ArgInt(info, 0, "fd"));
}

}  // namespace

void InitWaker(Napi::Env env, Napi::Object exports) {
  exports.Set("wake", Function<WakeFn>(env, "wake"));
  exports.Set("socketInfo", Function<SocketInfo>(env, "socketInfo"));
  auto* owned = new OwnedFds();
  // Runs before the selectors' cleanup hook (hooks run in reverse order of
  // registration): a select/poll waiter thread then sees NVAL, which is
  // harmless, as the selector shuts it down right after.
  if (napi_add_env_cleanup_hook(env, CloseOwnedFds, owned) != napi_ok) {
    delete owned;
    return;
  }
  exports.Set("trackFd", Function<TrackFd>(env, "trackFd", owned));
  exports.Set("untrackFd", Function<UntrackFd>(env, "untrackFd", owned));
}

}  // namespace iomux::detail

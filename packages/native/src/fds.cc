// Fds that cross threads: the one query Socket.fromFd() needs about an fd
// handed over from another thread, and the Worker's record of the fds its
// owned Sockets hold, closed when the Worker exits.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <unordered_set>

#include "addon.h"

namespace iomux::detail {
namespace {

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

void InitFds(Napi::Env env, Napi::Object exports) {
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

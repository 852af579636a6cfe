// The cross-thread waker's registry (see waker.h) and its N-API face.
#include "waker.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <unordered_map>

#include "syscall.h"

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
  EventfdSignal(it->second);
  return true;
}

void DrainWaker(int fd) { EventfdDrain(fd); }

namespace {

uint64_t ArgId(const Napi::CallbackInfo& info) {
  if (!info[0].IsBigInt())
    ThrowTypeError(info.Env(), "ERR_INVALID_ARG_TYPE", "The \"id\" argument must be of type bigint");
  bool lossless = false;
  uint64_t id = info[0].As<Napi::BigInt>().Uint64Value(&lossless);
  return lossless ? id : 0;  // 0 is never an id
}

Napi::Value WakeFn(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), Wake(ArgId(info))); }

}  // namespace

void InitWaker(Napi::Env env, Napi::Object exports) { exports.Set("wake", Function<WakeFn>(env, "wake")); }

}  // namespace iomux::detail

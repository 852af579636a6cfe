// The batched pass (see batch.h): plain system calls over shared memory.
#include "batch.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <climits>

namespace iomux::detail {

namespace {
// fds below this live in a vector (4 MiB at most); the rare higher ones in a map.
constexpr int kDenseLimit = 1 << 20;

bool WouldBlock(int err) { return err == EAGAIN || err == EWOULDBLOCK; }
}  // namespace

void BatchState::SetRecv(int fd, int32_t max) {
  if (fd < 0) return;
  if (fd < kDenseLimit) {
    if (static_cast<size_t>(fd) >= dense_.size()) {
      if (max == 0) return;
      dense_.resize(std::max<size_t>(fd + 1, dense_.size() * 2), 0);
    }
    dense_[fd] = max;
  } else if (max == 0) {
    sparse_.erase(fd);
  } else {
    sparse_[fd] = max;
  }
}

bool BatchState::SetLayout(size_t mem_bytes, int ready_cap, int send_cap, size_t io_offset, size_t recv_bytes,
                           size_t io_bytes) {
  size_t words = static_cast<size_t>(ready_cap) * kReadyStride + 2 * static_cast<size_t>(send_cap) * kSendStride;
  if (ready_cap < 1 || send_cap < 1 || io_offset < words * sizeof(int32_t) || recv_bytes > io_bytes / 2 ||
      io_offset > mem_bytes || io_bytes > mem_bytes - io_offset || io_bytes > INT32_MAX) {
    return false;
  }
  configured_ = true;
  ready_cap_ = ready_cap;
  send_cap_ = send_cap;
  io_offset_ = io_offset;
  recv_bytes_ = recv_bytes;
  io_bytes_ = io_bytes;
  pairs_.assign(2 * static_cast<size_t>(ready_cap), 0);
  return true;
}

void BatchState::Flush(int32_t* sends, uint8_t* io, int n) {
  blocked_.clear();
  for (int i = 0; i < n; i++) {
    int32_t* s = sends + static_cast<size_t>(i) * kSendStride;
    int fd = s[kSendFd];
    int64_t off = s[kSendOffset], len = s[kSendLength];
    s[kSendErrno] = 0;
    if (fd < 0) {
      s[kSendResult] = kCancelled;
      continue;
    }
    // In order per fd: once one send to an fd fell short, a later one must
    // not go out ahead of the bytes still waiting to be resent.
    if (std::find(blocked_.begin(), blocked_.end(), fd) != blocked_.end()) {
      s[kSendResult] = kSkipped;
      continue;
    }
    if (off < 0 || len < 0 || off + len > static_cast<int64_t>(io_bytes_)) {
      s[kSendResult] = kFailed;
      s[kSendErrno] = EINVAL;
      blocked_.push_back(fd);
      continue;
    }
    if (len == 0) {
      s[kSendResult] = 0;
      continue;
    }
    ssize_t r;
    // MSG_NOSIGNAL: a closed peer is EPIPE, not a process-killing SIGPIPE.
    do {
      r = send(fd, io + off, static_cast<size_t>(len), MSG_NOSIGNAL);
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
      if (WouldBlock(errno)) {
        s[kSendResult] = kWouldBlock;
      } else {
        s[kSendResult] = kFailed;
        s[kSendErrno] = errno;
      }
      blocked_.push_back(fd);
      continue;
    }
    s[kSendResult] = static_cast<int32_t>(r);
    if (r < len) blocked_.push_back(fd);
  }
}

int BatchState::Run(Backend* b, uint8_t* mem, const Deadline& deadline, int n_sends, int parity) {
  size_t half = parity & 1;
  auto* words = reinterpret_cast<int32_t*>(mem);
  int32_t* ready = words;
  int32_t* sends = words + static_cast<size_t>(ready_cap_) * kReadyStride + half * send_cap_ * kSendStride;
  uint8_t* io = mem + io_offset_;
  Flush(sends, io, std::clamp(n_sends, 0, send_cap_));
  size_t window = half * recv_bytes_;  // this pass's recv window

  int n = b->Wait(deadline, pairs_.data(), ready_cap_);
  if (n < 0) return n;
  size_t used = 0;
  int m = 0;  // records written: the waker's pair ends the wait but is not an entry
  for (int i = 0; i < n; i++) {
    int fd = pairs_[2 * i];
    if (fd == kWakerFd) continue;
    uint32_t ev = static_cast<uint32_t>(pairs_[2 * i + 1]);
    int32_t* r = ready + static_cast<size_t>(m++) * kReadyStride;
    r[kReadyFd] = fd;
    r[kReadyEvents] = static_cast<int32_t>(ev);
    r[kReadyResult] = kRecvNone;
    r[kReadyAux] = 0;
    int32_t max = RecvMax(fd);
    // HUP and ERR too: the recv is what says EOF or which error it was. NVAL
    // is a closed fd (its number may name nothing, or something new).
    if (max <= 0 || (ev & (kIn | kHup | kErr)) == 0 || (ev & kNval) != 0) continue;
    size_t room = recv_bytes_ - used;
    if (room == 0) {
      r[kReadyResult] = kNoRoom;
      continue;
    }
    size_t want = std::min<size_t>(static_cast<size_t>(max), room);
    ssize_t got;
    do {
      got = recv(fd, io + window + used, want, 0);
    } while (got < 0 && errno == EINTR);
    if (got < 0) {
      if (WouldBlock(errno)) {
        r[kReadyResult] = kWouldBlock;
      } else {
        r[kReadyResult] = kFailed;
        r[kReadyAux] = errno;
      }
      continue;
    }
    r[kReadyResult] = static_cast<int32_t>(got);
    r[kReadyAux] = static_cast<int32_t>(window + used);
    used += static_cast<size_t>(got);
  }
  return m;
}

}  // namespace iomux::detail

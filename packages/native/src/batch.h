// One loop pass in one call: flush the queued sends, wait, then one recv per
// ready fd that asked for it. No Node-API in here: the pass reads and writes
// one block of memory that JS shares with it (layout below: declared here
// only; the addon exports it as `batchLayout`, which packages/core/src/batch.ts
// reads), so a completion-based backend could run the
// same pass as one submission (sends and recvs as queue entries, the wait as
// the call that reaps them) without changing the JS side.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "backend.h"

namespace iomux::detail {

// Memory layout (int32 words from offset 0, then bytes):
//   ready records  [readyCap][kReadyStride]:    fd, events, result, aux
//   send records   [2][sendCap][kSendStride]:   fd, offset, length, result, errno
//   io bytes       [ioOffset, ioOffset + ioBytes): two recv windows of
//                  recvBytes each, then whatever JS keeps there (the data its
//                  send() copied). Offsets in records are relative to ioOffset.
// Everything a pass touches comes in two halves picked by the pass's parity,
// which alternates: what pass k flushed and received stays intact while JS
// handles pass k+1 (so the rest of a short send can still be resent).
// Each record is a row of int32 words; these name its columns.
enum ReadyField : int { kReadyFd, kReadyEvents, kReadyResult, kReadyAux, kReadyStride };
enum SendField : int { kSendFd, kSendOffset, kSendLength, kSendResult, kSendErrno, kSendStride };

// Results (ready record `result`, send record `result`); >= 0 is a byte count.
constexpr int32_t kRecvNone = -1;    // recv: not attempted (not asked, or no IN/HUP/ERR)
constexpr int32_t kWouldBlock = -2;  // would block
constexpr int32_t kFailed = -3;      // aux / errno field holds the errno
constexpr int32_t kNoRoom = -4;      // recv: the recv region was used up this pass
constexpr int32_t kSkipped = -5;     // send: an earlier send to the same fd fell short in this flush
constexpr int32_t kCancelled = -6;   // send: JS cancelled it (fd -1): the registration went away

class BatchState {
 public:
  // Bytes to recv for a ready fd (0: none).
  int32_t RecvMax(int fd) const {
    if (fd >= 0 && static_cast<size_t>(fd) < dense_.size()) return dense_[fd];
    if (sparse_.empty()) return 0;
    auto it = sparse_.find(fd);
    return it == sparse_.end() ? 0 : it->second;
  }
  void SetRecv(int fd, int32_t max);

  // The layout JS chose; false when it does not fit in `mem_bytes`.
  bool SetLayout(size_t mem_bytes, int ready_cap, int send_cap, size_t io_offset, size_t recv_bytes, size_t io_bytes);
  bool Fits(size_t mem_bytes) const { return configured_ && io_offset_ + io_bytes_ <= mem_bytes; }

  // The pass over `mem` (at least Fits() bytes, int32-aligned). Returns the
  // number of ready records, or -errno when the wait failed (the send records
  // are written either way).
  int Run(Backend* b, uint8_t* mem, const Deadline& deadline, int n_sends, int parity);

 private:
  void Flush(int32_t* sends, uint8_t* io, int n);

  bool configured_ = false;
  int ready_cap_ = 0;
  int send_cap_ = 0;
  size_t io_offset_ = 0;
  size_t recv_bytes_ = 0;
  size_t io_bytes_ = 0;
  std::vector<int32_t> dense_;  // fd -> recv bytes, for fds below kDenseLimit
  std::unordered_map<int, int32_t> sparse_;
  std::vector<int32_t> pairs_;  // the backend's (fd, events) output
  std::vector<int> blocked_;    // fds whose send fell short in this flush
};

}  // namespace iomux::detail

// The cross-thread waker: an eventfd per selector, named by a process-wide
// id that is never reused, so that any thread (main or Worker) can end a
// selector's select() or wait() early.
//
// Why an id and not the eventfd's number: fd numbers are reused as soon as
// they are closed. A thread still holding the number of a closed selector's
// eventfd would write 8 bytes into whatever file got that number next (a
// socket, a pipe, a regular file). The registry maps id -> eventfd under one
// mutex, and a selector's close removes its entry and closes the eventfd
// under that same mutex, so a wake either reaches the live eventfd or finds
// no entry and does nothing.
#pragma once

#include <cstdint>

#include "addon.h"

namespace iomux::detail {

// Creates an eventfd (non-blocking, close-on-exec) numbered at most `max_fd`
// and registers it. Returns its id (> 0) and sets *fd, or returns 0 and sets
// *err: an errno, or EMFILE when no fd up to `max_fd` is free.
uint64_t CreateWaker(int max_fd, int* fd, int* err);

// Forgets the id and closes its eventfd, under the registry lock. Idempotent.
void DestroyWaker(uint64_t id);

// Makes the selector's eventfd readable. False if the id names no live
// waker (its selector was closed): then nothing is written anywhere.
bool Wake(uint64_t id);

void InitWaker(Napi::Env env, Napi::Object exports);

}  // namespace iomux::detail

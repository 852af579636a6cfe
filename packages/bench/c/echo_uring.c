/*
 * iomux_echo_c_uring: echo_server.c on io_uring readiness instead of epoll,
 * the C reference for iomux's io_uring backend in the echo benchmark.
 *
 * The same server as echo_server.c (127.0.0.1, port from argv[1], default 0;
 * one read per readiness into a 64 KiB buffer, one write, a short write parks
 * the rest and waits for writability; exits at stdin EOF or on SIGTERM), with
 * readiness the way iomux maps a level-triggered registration onto io_uring
 * (the kernel rejects IORING_POLL_ADD_LEVEL): a one-shot IORING_OP_POLL_ADD
 * per fd, re-armed after each report and submitted with the next
 * io_uring_enter, which also waits: one system call per loop for all the
 * re-arms and the wait. Raw system calls through uring.h, no liburing.
 * Prints "listening on 127.0.0.1:<port> backend=c-io_uring".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "echo_common.h"
#include "uring.h"

enum { TAG_LISTENER = 1, TAG_STDIN = 2 };

static const char kProg[] = "iomux_echo_c_uring";
static struct bu_ring ring;

static void arm(int fd, uint32_t events, uint64_t tag) {
  int e = bu_poll_add(&ring, fd, events, 0, tag);
  if (e) echo_die(kProg, "POLL_ADD", -e);
}

int main(int argc, char **argv) {
  int port = 0;
  int lst = echo_listen(kProg, argc > 1 ? atoi(argv[1]) : 0, &port);

  /* (The kernel wants the CQ at least as large as the SQ.) At most one
     request per fd is in flight, so a CQ of 4096 holds them up to ~4,000
     connections; beyond, the kernel keeps the overflow (IORING_FEAT_NODROP)
     and the next enter moves it in. */
  int err = bu_init(&ring, 1024, 4096);
  if (err) echo_die(kProg, "io_uring_setup", err);
  arm(lst, POLLIN, TAG_LISTENER);
  arm(0, POLLIN, TAG_STDIN);

  printf("listening on 127.0.0.1:%d backend=c-io_uring\n", port);
  fflush(stdout);

  static char buf[65536];
  for (;;) {
    err = bu_submit_wait(&ring, 1, NULL);
    if (err) echo_die(kProg, "io_uring_enter", -err);
    struct bu_cqe *cqe;
    while ((cqe = bu_peek(&ring)) != NULL) {
      struct bu_cqe ce = *cqe;
      bu_cqe_seen(&ring, cqe);
      if (ce.user_data == TAG_LISTENER) {
        struct conn *nc;
        while ((nc = echo_accept(lst)) != NULL) arm(nc->fd, POLLIN, (uint64_t)(uintptr_t)nc);
        arm(lst, POLLIN, TAG_LISTENER);
        continue;
      }
      if (ce.user_data == TAG_STDIN) {
        ssize_t r = read(0, buf, sizeof buf);
        if (r <= 0) return 0;
        arm(0, POLLIN, TAG_STDIN);
        continue;
      }
      struct conn *c = (struct conn *)(uintptr_t)ce.user_data;
      /* One-shot: no request is armed while its completion is handled, so
         echo_free()'s close really closes (a poll request holds its file). */
      int res = ce.res < 0 ? ECHO_DROP : c->pend ? echo_flush(c) : echo_read(c, buf, sizeof buf);
      if (res == ECHO_DROP) {
        echo_free(c);
        continue;
      }
      arm(c->fd, c->pend ? POLLOUT : POLLIN, ce.user_data);
    }
  }
}

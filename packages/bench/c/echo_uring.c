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
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "uring.h"

struct conn {
  int fd;
  char *pend;
  size_t pend_len, pend_off;
};

enum { TAG_LISTENER = 1, TAG_STDIN = 2 };

static struct bu_ring ring;

static void die(const char *what, int err) {
  fprintf(stderr, "iomux_echo_c_uring: %s: %s\n", what, strerror(err));
  exit(2);
}

static void arm(int fd, uint32_t events, uint64_t tag) {
  int e = bu_poll_add(&ring, fd, events, 0, tag);
  if (e) die("POLL_ADD", -e);
}

/* No request is armed while its completion is handled (one-shot), so this
   close really closes the socket: a poll request holds its file. */
static void drop(struct conn *c) {
  close(c->fd);
  free(c->pend);
  free(c);
}

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 0;
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  int lst = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (lst < 0) die("socket", errno);
  int one = 1;
  setsockopt(lst, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lst, (struct sockaddr *)&sa, sizeof sa) < 0) die("bind", errno);
  if (listen(lst, 4096) < 0) die("listen", errno);
  socklen_t sl = sizeof sa;
  getsockname(lst, (struct sockaddr *)&sa, &sl);

  /* At most one request per fd is in flight, so a CQ of 4096 holds them up
     to ~4,000 connections; beyond, the kernel keeps the overflow
     (IORING_FEAT_NODROP) and the next enter moves it in. */
  int err = bu_init(&ring, 1024, 4096);
  if (err) die("io_uring_setup", err);
  arm(lst, POLLIN, TAG_LISTENER);
  arm(0, POLLIN, TAG_STDIN);

  printf("listening on 127.0.0.1:%d backend=c-io_uring\n", ntohs(sa.sin_port));
  fflush(stdout);

  static char buf[65536];
  for (;;) {
    err = bu_submit_wait(&ring, 1, NULL);
    if (err) die("io_uring_enter", -err);
    struct bu_cqe *cqe;
    while ((cqe = bu_peek(&ring)) != NULL) {
      struct bu_cqe ce = *cqe;
      bu_cqe_seen(&ring, cqe);
      if (ce.user_data == TAG_LISTENER) {
        for (;;) {
          int fd = accept4(lst, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (fd < 0) break;
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          struct conn *nc = calloc(1, sizeof *nc);
          nc->fd = fd;
          arm(fd, POLLIN, (uint64_t)(uintptr_t)nc);
        }
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
      if (ce.res < 0) { /* the request itself failed */
        drop(c);
        continue;
      }
      if (c->pend) {
        ssize_t w = send(c->fd, c->pend + c->pend_off, c->pend_len - c->pend_off, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN) {
          drop(c);
          continue;
        }
        if (w > 0) c->pend_off += (size_t)w;
        if (c->pend_off == c->pend_len) {
          free(c->pend);
          c->pend = NULL;
        }
      } else {
        ssize_t r = recv(c->fd, buf, sizeof buf, 0);
        if (r < 0 && errno == EAGAIN) {
          arm(c->fd, POLLIN, ce.user_data);
          continue;
        }
        if (r <= 0) {
          drop(c);
          continue;
        }
        ssize_t w = send(c->fd, buf, (size_t)r, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN) {
          drop(c);
          continue;
        }
        if (w < 0) w = 0;
        if (w < r) {
          c->pend_len = (size_t)(r - w);
          c->pend_off = 0;
          c->pend = malloc(c->pend_len);
          memcpy(c->pend, buf + w, c->pend_len);
        }
      }
      arm(c->fd, c->pend ? POLLOUT : POLLIN, ce.user_data);
    }
  }
}

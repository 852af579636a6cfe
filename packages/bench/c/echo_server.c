/*
 * iomux_echo_c: a minimal level-triggered epoll TCP echo server, the
 * near-limit reference for the echo benchmark.
 *
 * Listens on 127.0.0.1 (port from argv[1], default 0 = any), prints
 * "listening on 127.0.0.1:<port> backend=c-epoll" on stdout, then echoes every byte back. One read per readiness
 * into a reusable 64 KiB buffer, one write; a short write parks the rest and
 * waits for EPOLLOUT before reading that connection again. Exits when stdin
 * reaches EOF (the harness closes it) or on SIGTERM.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "echo_common.h"

static const char kProg[] = "iomux_echo_c";

static void drop(int ep, struct conn *c) {
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  echo_free(c);
}

int main(int argc, char **argv) {
  int port = 0;
  int lst = echo_listen(kProg, argc > 1 ? atoi(argv[1]) : 0, &port);

  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) echo_die(kProg, "epoll_create1", errno);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(ep, EPOLL_CTL_ADD, lst, &ev);
  static struct conn stdin_marker;
  ev.data.ptr = &stdin_marker;
  epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev); /* fails harmlessly if stdin is a file */

  printf("listening on 127.0.0.1:%d backend=c-epoll\n", port);
  fflush(stdout);

  static char buf[65536];
  struct epoll_event evs[256];
  for (;;) {
    int n = epoll_wait(ep, evs, 256, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      echo_die(kProg, "epoll_wait", errno);
    }
    for (int i = 0; i < n; i++) {
      struct conn *c = evs[i].data.ptr;
      if (c == NULL) {
        struct conn *nc;
        while ((nc = echo_accept(lst)) != NULL) {
          struct epoll_event cev = {.events = EPOLLIN, .data.ptr = nc};
          epoll_ctl(ep, EPOLL_CTL_ADD, nc->fd, &cev);
        }
        continue;
      }
      if (c == &stdin_marker) {
        ssize_t r = read(0, buf, sizeof buf);
        if (r <= 0) return 0;
        continue;
      }
      if (c->pend) {
        if (echo_flush(c) == ECHO_DROP) {
          drop(ep, c);
        } else if (!c->pend) {
          struct epoll_event cev = {.events = EPOLLIN, .data.ptr = c};
          epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &cev);
        }
        continue;
      }
      int res = echo_read(c, buf, sizeof buf);
      if (res == ECHO_DROP) {
        drop(ep, c);
      } else if (res == ECHO_KEEP && c->pend) {
        struct epoll_event cev = {.events = EPOLLOUT, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &cev);
      }
    }
  }
}

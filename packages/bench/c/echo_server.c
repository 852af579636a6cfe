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
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

struct conn {
  int fd;
  char *pend;
  size_t pend_len, pend_off;
};

static void die(const char *what) {
  fprintf(stderr, "iomux_echo_c: %s: %s\n", what, strerror(errno));
  exit(2);
}

static void drop(int ep, struct conn *c) {
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
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
  if (lst < 0) die("socket");
  int one = 1;
  setsockopt(lst, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lst, (struct sockaddr *)&sa, sizeof sa) < 0) die("bind");
  if (listen(lst, 4096) < 0) die("listen");
  socklen_t sl = sizeof sa;
  getsockname(lst, (struct sockaddr *)&sa, &sl);

  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1");
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(ep, EPOLL_CTL_ADD, lst, &ev);
  static struct conn stdin_marker;
  ev.data.ptr = &stdin_marker;
  epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev); /* fails harmlessly if stdin is a file */

  printf("listening on 127.0.0.1:%d backend=c-epoll\n", ntohs(sa.sin_port));
  fflush(stdout);

  static char buf[65536];
  struct epoll_event evs[256];
  for (;;) {
    int n = epoll_wait(ep, evs, 256, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int i = 0; i < n; i++) {
      struct conn *c = evs[i].data.ptr;
      if (c == NULL) {
        for (;;) {
          int fd = accept4(lst, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (fd < 0) break;
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          struct conn *nc = calloc(1, sizeof *nc);
          nc->fd = fd;
          struct epoll_event cev = {.events = EPOLLIN, .data.ptr = nc};
          epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
        }
        continue;
      }
      if (c == &stdin_marker) {
        ssize_t r = read(0, buf, sizeof buf);
        if (r <= 0) return 0;
        continue;
      }
      if (c->pend) {
        ssize_t w = send(c->fd, c->pend + c->pend_off, c->pend_len - c->pend_off, MSG_NOSIGNAL);
        if (w < 0) {
          if (errno == EAGAIN) continue;
          drop(ep, c);
          continue;
        }
        c->pend_off += (size_t)w;
        if (c->pend_off == c->pend_len) {
          free(c->pend);
          c->pend = NULL;
          struct epoll_event cev = {.events = EPOLLIN, .data.ptr = c};
          epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &cev);
        }
        continue;
      }
      ssize_t r = recv(c->fd, buf, sizeof buf, 0);
      if (r < 0 && errno == EAGAIN) continue;
      if (r <= 0) {
        drop(ep, c);
        continue;
      }
      ssize_t w = send(c->fd, buf, (size_t)r, MSG_NOSIGNAL);
      if (w < 0 && errno != EAGAIN) {
        drop(ep, c);
        continue;
      }
      if (w < 0) w = 0;
      if (w < r) {
        c->pend_len = (size_t)(r - w);
        c->pend_off = 0;
        c->pend = malloc(c->pend_len);
        memcpy(c->pend, buf + w, c->pend_len);
        struct epoll_event cev = {.events = EPOLLOUT, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &cev);
      }
    }
  }
}

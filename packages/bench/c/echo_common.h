/*
 * What the two C echo servers (echo_server.c on epoll, echo_uring.c on
 * io_uring readiness) share, so that they differ only in how they wait: the
 * listener, and the echo itself (one recv into the caller's buffer, one send,
 * a short send's rest parked until the socket is writable).
 */
#ifndef IOMUX_BENCH_ECHO_COMMON_H
#define IOMUX_BENCH_ECHO_COMMON_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

struct conn {
  int fd;
  char *pend; /* the rest of a short send, or NULL */
  size_t pend_len, pend_off;
};

static void echo_die(const char *prog, const char *what, int err) {
  fprintf(stderr, "%s: %s: %s\n", prog, what, strerror(err));
  exit(2);
}

/* Raises RLIMIT_NOFILE to its hard limit and listens on 127.0.0.1:port (0:
   any), non-blocking; *bound gets the port. Exits on failure. */
static int echo_listen(const char *prog, int port, int *bound) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  int lst = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (lst < 0) echo_die(prog, "socket", errno);
  int one = 1;
  setsockopt(lst, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lst, (struct sockaddr *)&sa, sizeof sa) < 0) echo_die(prog, "bind", errno);
  if (listen(lst, 4096) < 0) echo_die(prog, "listen", errno);
  socklen_t sl = sizeof sa;
  getsockname(lst, (struct sockaddr *)&sa, &sl);
  *bound = ntohs(sa.sin_port);
  return lst;
}

/* The next pending connection (non-blocking, TCP_NODELAY), or NULL. */
static struct conn *echo_accept(int lst) {
  int fd = accept4(lst, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) return NULL;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct conn *c = calloc(1, sizeof *c);
  if (c == NULL) {
    close(fd);
    return NULL;
  }
  c->fd = fd;
  return c;
}

static void echo_free(struct conn *c) {
  close(c->fd);
  free(c->pend);
  free(c);
}

enum { ECHO_KEEP, ECHO_AGAIN, ECHO_DROP };

/* One readiness to read: one recv, one send of what came, the rest parked in
   c->pend. ECHO_AGAIN: nothing to read; ECHO_DROP: end of stream or an
   error, the caller drops the connection. */
static int echo_read(struct conn *c, char *buf, size_t cap) {
  ssize_t r = recv(c->fd, buf, cap, 0);
  if (r < 0 && errno == EAGAIN) return ECHO_AGAIN;
  if (r <= 0) return ECHO_DROP;
  ssize_t w = send(c->fd, buf, (size_t)r, MSG_NOSIGNAL);
  if (w < 0 && errno != EAGAIN) return ECHO_DROP;
  if (w < 0) w = 0;
  if (w < r) {
    c->pend_len = (size_t)(r - w);
    c->pend_off = 0;
    c->pend = malloc(c->pend_len);
    if (c->pend == NULL) return ECHO_DROP;
    memcpy(c->pend, buf + w, c->pend_len);
  }
  return ECHO_KEEP;
}

/* One readiness to write: sends what is parked; c->pend is NULL once it all went. */
static int echo_flush(struct conn *c) {
  ssize_t w = send(c->fd, c->pend + c->pend_off, c->pend_len - c->pend_off, MSG_NOSIGNAL);
  if (w < 0) return errno == EAGAIN ? ECHO_KEEP : ECHO_DROP;
  c->pend_off += (size_t)w;
  if (c->pend_off == c->pend_len) {
    free(c->pend);
    c->pend = NULL;
  }
  return ECHO_KEEP;
}

#endif

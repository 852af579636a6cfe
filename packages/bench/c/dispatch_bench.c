/*
 * iomux_dispatch_bench: the C reference for the dispatch-scaling benchmark.
 *
 * The method of libevent's test/bench.c, on the raw system calls: N watched
 * AF_UNIX stream sockets, all registered for reading; A of them get one byte;
 * every byte read writes one byte towards the next watched socket, W writes in
 * all; passes of a zero-timeout wait plus dispatch run until every byte
 * written has been read. Only that loop is timed. packages/bench/src/dispatch.mjs
 * does exactly the same through @iomux/core, so the ratio of the two is the
 * cost iomux adds on top of the system call.
 *
 * Layouts (fd numbering matters to select, whose cost grows with the highest fd):
 *   pairs   N socket pairs; the watched end and the write end of each pair are
 *           neighbouring fds, so the highest watched fd is about 2N.
 *   packed  N/2 socket pairs with both ends watched: the N watched fds are the
 *           lowest ones (3 .. N+2) and nothing else is open above them. A byte
 *           for watched fd i is written into its peer, itself a watched fd that
 *           this does not make readable. Needs N fds instead of 2N.
 *
 * io_uring: each watched fd has a one-shot IORING_OP_POLL_ADD, re-armed
 * after each report and submitted with the next pass's io_uring_enter (the
 * level-triggered mapping of iomux's io_uring backend; uring.h sets the ring
 * up as the backend does). A pass is one io_uring_enter(GETEVENTS,
 * min_complete 0) that submits the re-arms, entered again while the kernel
 * flags more completion work (IORING_SQ_TASKRUN: under DEFER_TASKRUN one such
 * enter runs only about 20 completions), then the reap: everything ready at
 * the pass is reported in it, with no timer. (Asking for min_complete = every
 * request in flight with a zero EXT_ARG timeout reports the same, but arms a
 * timer and costs about 20 us more per pass on Linux 6.18.)
 *
 * Usage: iomux_dispatch_bench --backend select|poll|epoll|io_uring --n N --active A
 *          --writes W --runs R [--warmup K] [--packed] [--threads T]
 * Prints one JSON line: the parameters and one {ns, passes, events} per run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <pthread.h>

#include "uring.h"

enum backend { B_SELECT, B_POLL, B_EPOLL, B_URING };

static int n_watch, n_active, n_writes;
static int *watched; /* fd of watched socket i */
static int *peer;    /* fd to write into to make watched[i] readable */
static int count, writes, fired;

static void die(const char *what) {
  fprintf(stderr, "iomux_dispatch_bench: %s: %s\n", what, strerror(errno));
  exit(2);
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* bench.c's read_cb: read one byte, pass one on to the next socket. */
static inline void on_readable(int i) {
  char ch;
  if (recv(watched[i], &ch, 1, 0) != 1) return;
  count++;
  if (writes > 0) {
    int w = i + 1;
    if (w >= n_watch) w -= n_watch;
    if (send(peer[w], "e", 1, 0) != 1) die("send");
    writes--;
    fired++;
  }
}

/* An idle thread: it only makes the process multi-threaded, as Node always is. */
static void *idle_thread(void *arg) {
  int fd = *(int *)arg;
  char c;
  while (read(fd, &c, 1) < 0 && errno == EINTR) {
  }
  return NULL;
}

static void nonblock(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) die("fcntl");
}

int main(int argc, char **argv) {
  enum backend be = B_EPOLL;
  const char *bname = "epoll";
  int runs = 5, warmup = 2, packed = 0, threads = 0;
  n_watch = 100;
  n_active = 1;
  n_writes = 100;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : "";
    if (!strcmp(a, "--backend")) {
      bname = v;
      if (!strcmp(v, "select")) be = B_SELECT;
      else if (!strcmp(v, "poll")) be = B_POLL;
      else if (!strcmp(v, "epoll")) be = B_EPOLL;
      else if (!strcmp(v, "io_uring")) be = B_URING;
      else { fprintf(stderr, "unknown backend %s\n", v); return 2; }
      i++;
    } else if (!strcmp(a, "--n")) n_watch = atoi(v), i++;
    else if (!strcmp(a, "--active")) n_active = atoi(v), i++;
    else if (!strcmp(a, "--writes")) n_writes = atoi(v), i++;
    else if (!strcmp(a, "--runs")) runs = atoi(v), i++;
    else if (!strcmp(a, "--warmup")) warmup = atoi(v), i++;
    else if (!strcmp(a, "--packed")) packed = 1;
    else if (!strcmp(a, "--threads")) threads = atoi(v), i++;
    else { fprintf(stderr, "unknown argument %s\n", a); return 2; }
  }
  if (n_watch < 2 || n_active < 1 || n_active > n_watch || (packed && n_watch % 2)) {
    fprintf(stderr, "iomux_dispatch_bench: bad N/A (packed needs an even N)\n");
    return 2;
  }

  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rlim_t want = (rlim_t)(2 * n_watch + 64);
    if (rl.rlim_cur < want) {
      rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
      setrlimit(RLIMIT_NOFILE, &rl);
    }
  }

  /* --threads K: K idle threads. The kernel takes a cheaper path to look up
     an fd (no reference count) when the fd table is not shared, i.e. in a
     single-threaded process; Node never is one, so this shows how much of
     the gap to Node is that alone. */
  static int idle_pipe[2];
  if (threads > 0 && pipe2(idle_pipe, O_CLOEXEC) < 0) die("pipe2");
  for (int t = 0; t < threads; t++) {
    pthread_t th;
    if (pthread_create(&th, NULL, idle_thread, &idle_pipe[0]) != 0) die("pthread_create");
    pthread_detach(th);
  }

  watched = calloc(n_watch, sizeof *watched);
  peer = calloc(n_watch, sizeof *peer);
  if (packed) {
    for (int j = 0; j < n_watch / 2; j++) {
      int sv[2];
      if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) die("socketpair");
      watched[2 * j] = sv[0];
      watched[2 * j + 1] = sv[1];
      peer[2 * j] = sv[1];
      peer[2 * j + 1] = sv[0];
    }
  } else {
    for (int j = 0; j < n_watch; j++) {
      int sv[2];
      if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) die("socketpair");
      watched[j] = sv[0];
      peer[j] = sv[1];
    }
  }
  int maxfd = 0;
  for (int j = 0; j < n_watch; j++) {
    nonblock(watched[j]);
    nonblock(peer[j]);
    if (watched[j] > maxfd) maxfd = watched[j];
  }
  if (be == B_SELECT && maxfd >= FD_SETSIZE) {
    fprintf(stderr, "iomux_dispatch_bench: fd %d >= FD_SETSIZE %d\n", maxfd, FD_SETSIZE);
    return 3;
  }

  /* Per-backend state, built once (bench.c re-adds before each run, untimed). */
  fd_set master, rfds;
  int *fd2idx = NULL;
  struct pollfd *pfds = NULL;
  struct epoll_event *evs = NULL;
  int epfd = -1;
  static struct bu_ring ring;
  if (be == B_URING) {
    /* The CQ holds a completion per watched fd (one request each); the kernel
       wants it at least as large as the SQ. */
    int err = bu_init(&ring, 256, (unsigned)(2 * n_watch > 1024 ? 2 * n_watch : 1024));
    if (err) {
      errno = err;
      die("io_uring_setup");
    }
    for (int j = 0; j < n_watch; j++) {
      err = -bu_poll_add(&ring, watched[j], POLLIN, 0, (uint64_t)j);
      if (err) errno = err, die("POLL_ADD");
    }
    struct bu_timespec ts0 = {0, 0};
    err = -bu_submit_wait(&ring, 0, &ts0);
    if (err) errno = err, die("io_uring_enter");
  } else if (be == B_SELECT) {
    FD_ZERO(&master);
    fd2idx = calloc(maxfd + 1, sizeof *fd2idx);
    for (int j = 0; j < n_watch; j++) FD_SET(watched[j], &master), fd2idx[watched[j]] = j;
  } else if (be == B_POLL) {
    pfds = calloc(n_watch, sizeof *pfds);
    for (int j = 0; j < n_watch; j++) pfds[j].fd = watched[j], pfds[j].events = POLLIN;
  } else {
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) die("epoll_create1");
    evs = calloc(n_watch, sizeof *evs);
    for (int j = 0; j < n_watch; j++) {
      struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)j};
      if (epoll_ctl(epfd, EPOLL_CTL_ADD, watched[j], &ev) < 0) die("epoll_ctl");
    }
  }

  int space = n_watch / n_active;
  printf("{\"impl\":\"c\",\"backend\":\"%s\",\"n\":%d,\"active\":%d,\"writes\":%d,"
         "\"layout\":\"%s\",\"threads\":%d,\"maxfd\":%d,\"samples\":[",
         bname, n_watch, n_active, n_writes, packed ? "packed" : "pairs", threads, maxfd);
  for (int run = 0; run < warmup + runs; run++) {
    for (int j = 0; j < n_active; j++) {
      if (send(peer[j * space], "e", 1, 0) != 1) die("send");
    }
    fired = n_active;
    count = 0;
    writes = n_writes;
    int passes = 0;
    uint64_t t0 = now_ns();
    do {
      if (be == B_SELECT) {
        struct timeval tv = {0, 0};
        rfds = master;
        int r = select(maxfd + 1, &rfds, NULL, NULL, &tv);
        if (r < 0 && errno != EINTR) die("select");
        for (int fd = 0; r > 0 && fd <= maxfd; fd++) {
          if (FD_ISSET(fd, &rfds)) {
            r--;
            on_readable(fd2idx[fd]);
          }
        }
      } else if (be == B_POLL) {
        int r = poll(pfds, (nfds_t)n_watch, 0);
        if (r < 0 && errno != EINTR) die("poll");
        for (int j = 0; r > 0 && j < n_watch; j++) {
          if (pfds[j].revents) {
            r--;
            on_readable(j);
          }
        }
      } else if (be == B_URING) {
        struct bu_timespec ts0 = {0, 0};
        int err = -bu_submit_wait(&ring, 0, &ts0);
        /* Run the rest of the completion work that was pending at this pass. */
        while (!err && bu_taskrun_pending(&ring)) err = -bu_submit_wait(&ring, 0, &ts0);
        if (err) errno = err, die("io_uring_enter");
        struct bu_cqe *cqe;
        while ((cqe = bu_peek(&ring)) != NULL) {
          int j = (int)cqe->user_data;
          bu_cqe_seen(&ring, cqe);
          on_readable(j);
          err = -bu_poll_add(&ring, watched[j], POLLIN, 0, (uint64_t)j);
          if (err) errno = err, die("POLL_ADD");
        }
      } else {
        int r = epoll_wait(epfd, evs, n_watch, 0);
        if (r < 0 && errno != EINTR) die("epoll_wait");
        for (int j = 0; j < r; j++) on_readable((int)evs[j].data.u32);
      }
      passes++;
    } while (count != fired);
    uint64_t t1 = now_ns();
    if (run >= warmup) {
      printf("%s{\"ns\":%llu,\"passes\":%d,\"events\":%d}", run > warmup ? "," : "",
             (unsigned long long)(t1 - t0), passes, count);
    }
  }
  printf("]}\n");
  return 0;
}

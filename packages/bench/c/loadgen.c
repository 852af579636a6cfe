/*
 * iomux_loadgen: the echo benchmark's load generator, on plain epoll so that
 * it costs as little as the C reference server does.
 *
 * Opens C connections to 127.0.0.1:PORT, keeps D messages of S bytes in
 * flight on each, checks every echoed byte against what was sent (each
 * message is a different slice of a pseudo-random pattern, so a reordered,
 * duplicated or lost byte is caught), and after a warm-up measures for a fixed
 * time: messages/s, p50/p99 round-trip latency (1 µs buckets), and the CPU
 * time of the server process (utime+stime from /proc/PID/stat) and of itself,
 * per message.
 *
 * Usage: iomux_loadgen --port P --conns C --depth D --size S
 *          [--warmup-ms 300] [--duration-ms 2000] [--server-pid PID]
 * Prints one JSON line. Exit status 0 only if no byte mismatched and no
 * connection failed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PATTERN_EXTRA 4096
#define HIST_US 1000000 /* latencies up to 1 s in 1 µs buckets; above: overflow */

struct conn {
  int fd;
  int idx;
  uint64_t sent_msgs;  /* messages fully or partly handed to send() */
  size_t send_pos;     /* bytes of message sent_msgs-1 still to send: offset */
  int sending;         /* a message is partly sent */
  uint64_t recv_msgs;  /* messages fully received back */
  size_t recv_pos;     /* bytes received of message recv_msgs */
  uint64_t *sent_at;   /* ring of D send timestamps */
  int want_out;
};

static int n_conns = 1, depth = 1, msg_size = 64;
static unsigned char *pattern;
static uint64_t mismatches, failures;
static uint32_t *hist;
static uint64_t hist_over, measured_msgs;
static int measuring;

static void die(const char *what) {
  fprintf(stderr, "iomux_loadgen: %s: %s\n", what, strerror(errno));
  exit(2);
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Where message m of connection c starts in the pattern. */
static inline size_t msg_off(const struct conn *c, uint64_t m) {
  return (size_t)((m * 2654435761u + (uint64_t)c->idx * 40503u) % PATTERN_EXTRA);
}

static long proc_cpu_ticks(int pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  if (!p) return -1;
  p += 2; /* field 3: state */
  long utime = 0, stime = 0;
  /* fields 3..13 skipped, 14 utime, 15 stime */
  for (int field = 3; field < 14; field++) {
    p = strchr(p, ' ');
    if (!p) return -1;
    p++;
  }
  if (sscanf(p, "%ld %ld", &utime, &stime) != 2) return -1;
  return utime + stime;
}

static double self_cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void set_out(int ep, struct conn *c, int on) {
  if (c->want_out == on) return;
  c->want_out = on;
  struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
  epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Keeps D messages in flight; returns -1 if the connection failed. */
static int pump_send(int ep, struct conn *c) {
  for (;;) {
    if (!c->sending) {
      if (c->sent_msgs >= c->recv_msgs + (uint64_t)depth) break;
      c->sent_at[c->sent_msgs % (uint64_t)depth] = now_ns();
      c->sent_msgs++;
      c->sending = 1;
      c->send_pos = 0;
    }
    const unsigned char *m = pattern + msg_off(c, c->sent_msgs - 1);
    ssize_t w = send(c->fd, m + c->send_pos, (size_t)msg_size - c->send_pos, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EAGAIN) {
        set_out(ep, c, 1);
        return 0;
      }
      return -1;
    }
    c->send_pos += (size_t)w;
    if (c->send_pos == (size_t)msg_size) c->sending = 0;
  }
  set_out(ep, c, 0);
  return 0;
}

static int on_recv(int ep, struct conn *c, unsigned char *buf, size_t cap) {
  ssize_t r = recv(c->fd, buf, cap, 0);
  if (r < 0) return errno == EAGAIN ? 0 : -1;
  if (r == 0) return -1;
  size_t got = (size_t)r, p = 0;
  while (p < got) {
    size_t take = (size_t)msg_size - c->recv_pos;
    if (take > got - p) take = got - p;
    if (c->recv_msgs >= c->sent_msgs) {
      mismatches++; /* more bytes back than were sent */
      return -1;
    }
    const unsigned char *want = pattern + msg_off(c, c->recv_msgs) + c->recv_pos;
    if (memcmp(buf + p, want, take) != 0) mismatches++;
    c->recv_pos += take;
    p += take;
    if (c->recv_pos == (size_t)msg_size) {
      if (measuring) {
        uint64_t lat = (now_ns() - c->sent_at[c->recv_msgs % (uint64_t)depth]) / 1000;
        if (lat < HIST_US) hist[lat]++;
        else hist_over++;
        measured_msgs++;
      }
      c->recv_msgs++;
      c->recv_pos = 0;
    }
  }
  return pump_send(ep, c);
}

static double percentile(double q) {
  uint64_t total = measured_msgs, want = (uint64_t)(q * (double)total), acc = 0;
  if (total == 0) return 0;
  for (int i = 0; i < HIST_US; i++) {
    acc += hist[i];
    if (acc > want) return i + 0.5;
  }
  return HIST_US;
}

int main(int argc, char **argv) {
  int port = 0, server_pid = 0, warmup_ms = 300, duration_ms = 2000;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int v = i + 1 < argc ? atoi(argv[i + 1]) : 0;
    if (!strcmp(a, "--port")) port = v, i++;
    else if (!strcmp(a, "--conns")) n_conns = v, i++;
    else if (!strcmp(a, "--depth")) depth = v, i++;
    else if (!strcmp(a, "--size")) msg_size = v, i++;
    else if (!strcmp(a, "--warmup-ms")) warmup_ms = v, i++;
    else if (!strcmp(a, "--duration-ms")) duration_ms = v, i++;
    else if (!strcmp(a, "--server-pid")) server_pid = v, i++;
    else { fprintf(stderr, "unknown argument %s\n", a); return 2; }
  }
  if (port <= 0 || n_conns < 1 || depth < 1 || msg_size < 1 || duration_ms < 1) {
    fprintf(stderr, "iomux_loadgen: need --port and positive --conns/--depth/--size/--duration-ms\n");
    return 2;
  }
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  pattern = malloc((size_t)msg_size + PATTERN_EXTRA);
  uint32_t x = 2463534242u;
  for (size_t i = 0; i < (size_t)msg_size + PATTERN_EXTRA; i++) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    pattern[i] = (unsigned char)x;
  }
  hist = calloc(HIST_US, sizeof *hist);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1");

  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  struct conn *conns = calloc((size_t)n_conns, sizeof *conns);
  int one = 1;
  for (int i = 0; i < n_conns; i++) {
    struct conn *c = &conns[i];
    c->idx = i;
    c->sent_at = calloc((size_t)depth, sizeof *c->sent_at);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0) die("socket");
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0) die("connect");
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) die("epoll_ctl");
  }
  for (int i = 0; i < n_conns; i++) {
    if (pump_send(ep, &conns[i]) < 0) failures++;
  }

  static unsigned char buf[262144];
  struct epoll_event *evs = calloc((size_t)n_conns, sizeof *evs);
  uint64_t t_start = now_ns();
  uint64_t t_measure = t_start + (uint64_t)warmup_ms * 1000000u;
  uint64_t t_end = t_measure + (uint64_t)duration_ms * 1000000u;
  long srv0 = -1, srv1 = -1;
  double self0 = 0, self1 = 0;
  uint64_t t0 = 0, t1 = 0;
  while (failures == 0) {
    uint64_t t = now_ns();
    if (!measuring && t >= t_measure) {
      measuring = 1;
      t0 = t;
      srv0 = server_pid ? proc_cpu_ticks(server_pid) : -1;
      self0 = self_cpu_s();
    }
    if (t >= t_end) {
      t1 = t;
      srv1 = server_pid ? proc_cpu_ticks(server_pid) : -1;
      self1 = self_cpu_s();
      break;
    }
    int n = epoll_wait(ep, evs, n_conns, 10);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int i = 0; i < n; i++) {
      struct conn *c = evs[i].data.ptr;
      if (c->fd < 0) continue;
      int r = 0;
      if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) r = on_recv(ep, c, buf, sizeof buf);
      if (r == 0 && (evs[i].events & EPOLLOUT)) r = pump_send(ep, c);
      if (r < 0) {
        failures++;
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
      }
    }
  }
  if (t1 == 0) t1 = now_ns();
  for (int i = 0; i < n_conns; i++) {
    if (conns[i].fd >= 0) close(conns[i].fd);
  }
  double secs = (double)(t1 - t0) / 1e9;
  long hz = sysconf(_SC_CLK_TCK);
  double srv_cpu = (srv0 >= 0 && srv1 >= 0) ? (double)(srv1 - srv0) / (double)hz : -1;
  double msgs = (double)measured_msgs;
  printf("{\"conns\":%d,\"depth\":%d,\"size\":%d,\"seconds\":%.4f,\"msgs\":%llu,\"msgs_per_s\":%.1f,"
         "\"p50_us\":%.1f,\"p99_us\":%.1f,\"lat_overflow\":%llu,"
         "\"server_cpu_s\":%.3f,\"server_cpu_us_per_msg\":%.4f,\"loadgen_cpu_s\":%.3f,"
         "\"loadgen_cpu_us_per_msg\":%.4f,\"clk_tck\":%ld,\"mismatches\":%llu,\"failures\":%llu}\n",
         n_conns, depth, msg_size, secs, (unsigned long long)measured_msgs, secs > 0 ? msgs / secs : 0,
         percentile(0.50), percentile(0.99), (unsigned long long)hist_over, srv_cpu,
         (srv_cpu >= 0 && msgs > 0) ? srv_cpu * 1e6 / msgs : -1, self1 - self0,
         msgs > 0 ? (self1 - self0) * 1e6 / msgs : -1, hz, (unsigned long long)mismatches,
         (unsigned long long)failures);
  return (mismatches || failures) ? 1 : 0;
}

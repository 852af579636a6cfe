/* The far end of `pnpm bench --only peers`: reads one byte at a time from
 * stdin and writes it back to stdout, at once or after DELAY_US microseconds
 * of sleep (argv[1], default 0), so the Node process under test either gets
 * its answer while still running or really goes to sleep waiting for it.
 * Exits at EOF. Blocking I/O: this process's CPU time is not what is
 * measured. */
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char** argv) {
  long delay_us = argc > 1 ? strtol(argv[1], NULL, 10) : 0;
  struct timespec delay = {delay_us / 1000000, (delay_us % 1000000) * 1000};
  char b;
  for (;;) {
    ssize_t n = read(0, &b, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 0;
    if (delay_us > 0) {
      struct timespec left = delay;
      while (nanosleep(&left, &left) != 0 && errno == EINTR) {
      }
    }
    while (write(1, &b, 1) < 0) {
      if (errno != EINTR) return 1;
    }
  }
}

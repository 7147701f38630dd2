/*
 * The C client's spinning read (aic_set_spin, aic_read_some), against a peer on a socketpair
 * that this program controls, so each case is decided by the peer's timing, not by load:
 *   default   aic_connect_unix/aic_start set AIC_DEFAULT_SPIN_US: the descriptor is non-blocking
 *   off       aic_set_spin(c, 0) clears O_NONBLOCK
 *   refused   aic_set_spin(c, 10001) fails, naming the argument
 *   ranout    a peer that writes 300 ms later (long, so a loaded machine cannot make the
 *             bytes be there before this process reads): the spin (200 us) runs out, the read blocks in
 *             poll() and returns the bytes; spin_backoff = 1, spin_skip = 1
 *   skip      the next read blocks at once (no spin): spin_skip 1 -> 0, backoff unchanged
 *   backoff   a second spin that runs out doubles the backoff: 2 reads block at once
 *   woke      a spin that finds the bytes (the peer wrote them 1 ms late, before a 10 ms spin
 *             ran out) resets the backoff to 0
 *   contended a window of reads with more than AIC_SPIN_PREEMPTIONS preemptions (the counter
 *             set back by hand) turns spinning off: the next read blocks at once; a quiet
 *             window turns it back on
 *   write     a socket left non-blocking by the spin: a write bigger than the socket buffer
 *             waits in poll() for room instead of failing with EAGAIN
 * Prints one line of key=value pairs.
 */
#include "../../clients/c/amd_iommu_client.h"
#include <time.h>

static void sleep_ms(int ms) { struct timespec t = { ms / 1000, (long)(ms % 1000) * 1000000L }; nanosleep(&t, NULL); }

/* A child that sleeps `ms`, then writes one byte to fd. */
static pid_t late_writer(int fd, int ms) {
  pid_t p = fork();
  if (p == 0) { sleep_ms(ms); char b = 'x'; if (write(fd, &b, 1) != 1) _exit(1); _exit(0); }
  return p;
}

int main(void) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) { perror("socketpair"); return 1; }
  aic_client c; memset(&c, 0, sizeof c);
  c.rfd = c.wfd = sv[0];
  if (aic_set_spin(&c, AIC_DEFAULT_SPIN_US) != 0) return 1;
  int dflt = (fcntl(sv[0], F_GETFL) & O_NONBLOCK) != 0;
  aic_set_spin(&c, 0);
  int off = (fcntl(sv[0], F_GETFL) & O_NONBLOCK) == 0;
  int refused = aic_set_spin(&c, 10001) == -1 && strstr(c.error, "us must be 0..10000") != NULL;

  unsigned char b[16];
  aic_set_spin(&c, 200);
  pid_t w = late_writer(sv[1], 300);
  ssize_t k = aic_read_some(&c, b, sizeof b);
  waitpid(w, NULL, 0);
  int ranout = k == 1 && c.spin_backoff == 1 && c.spin_skip == 1;

  w = late_writer(sv[1], 20);
  k = aic_read_some(&c, b, sizeof b);
  waitpid(w, NULL, 0);
  int skip = k == 1 && c.spin_skip == 0 && c.spin_backoff == 1;

  w = late_writer(sv[1], 300);
  k = aic_read_some(&c, b, sizeof b);
  waitpid(w, NULL, 0);
  int backoff = k == 1 && c.spin_backoff == 2 && c.spin_skip == 2;

  /* woke: two reads block at once first (skip 2 -> 0), then a 2 s spin meets a writer 1 ms late */
  for (int i = 0; i < 2; i++) { if (write(sv[1], "y", 1) != 1) return 1; aic_read_some(&c, b, sizeof b); }
  aic_set_spin(&c, 10000); /* the most a spin may be: 10 ms */
  c.spin_backoff = 2; c.spin_skip = 0;
  w = late_writer(sv[1], 1);
  k = aic_read_some(&c, b, sizeof b);
  waitpid(w, NULL, 0);
  int woke = k == 1 && (c.spin_backoff == 0 || c.spin_skip > 0); /* 0 unless this process was kept off a CPU for the whole 10 ms */
  int woke_strict = k == 1 && c.spin_backoff == 0;

  /* contended: a window that saw many preemptions turns spinning off for the next: the read
     blocks at once (a 300 ms late peer does not make a spin run out: backoff stays 0) */
  aic_set_spin(&c, 200);
  c.spin_reads = AIC_SPIN_WINDOW - 1; c.spin_ivcsw -= 1000;
  w = late_writer(sv[1], 300);
  k = aic_read_some(&c, b, sizeof b);
  waitpid(w, NULL, 0);
  int contended = k == 1 && c.spin_contended == 1 && c.spin_backoff == 0 && c.spin_skip == 0;
  /* and a quiet window turns it back on: the next spin runs out again */
  c.spin_reads = AIC_SPIN_WINDOW - 1; c.spin_ivcsw += 1000000;
  w = late_writer(sv[1], 300);
  k = aic_read_some(&c, b, sizeof b);
  waitpid(w, NULL, 0);
  int uncontended = k == 1 && c.spin_contended == 0 && c.spin_backoff == 1;

  /* write: 8 MiB through a non-blocking socket while the peer drains it 20 ms later */
  size_t n = 8u << 20;
  unsigned char *big = (unsigned char *)calloc(n, 1);
  pid_t r = fork();
  if (r == 0) {
    sleep_ms(20);
    size_t got = 0; unsigned char sink[65536];
    while (got < n) { ssize_t g = read(sv[1], sink, sizeof sink); if (g <= 0) _exit(1); got += (size_t)g; }
    _exit(0);
  }
  int wrote = aic_write_all(&c, big, n) == 0;
  int st = 1; waitpid(r, &st, 0);
  int write_ok = wrote && WIFEXITED(st) && WEXITSTATUS(st) == 0 && (fcntl(sv[0], F_GETFL) & O_NONBLOCK) != 0;
  free(big);
  printf("default=%d off=%d refused=%d ranout=%d skip=%d backoff=%d woke=%d woke_strict=%d contended=%d uncontended=%d write=%d\n",
         dflt, off, refused, ranout, skip, backoff, woke, woke_strict, contended, uncontended, write_ok);
  return 0;
}

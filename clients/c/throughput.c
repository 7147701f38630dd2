/*
 * throughput.c: translations per second through the co-simulation server, from C.
 *
 *   cc -O2 -o throughput clients/c/throughput.c
 *   ./throughput [-b BATCH] [-n COUNT] [-p PAGES] [-j] [-s PATH] [-S US] -- <command that starts the server>
 *   ./throughput -b 256 -- npx amd-iommu-model serve --binary      # binary channel, 256 per frame
 *   ./throughput -b 1 -- node dist/src/cli.js serve --binary       # one request at a time
 *   ./throughput -j -b 32 -- node dist/src/cli.js serve            # JSON channel, 32 lines in flight
 *   ./throughput -b 1 -s /tmp/s -- node dist/src/cli.js serve --binary --socket /tmp/s   # over a Unix socket
 *
 * It programs IOMMU 0 as a driver would (device table, command buffer, event log, a 3-level
 * host page table mapping PAGES 4 KiB pages for device 0x10), checks one translation, then
 * times COUNT translations (write requests cycling over the pages, BATCH per round trip) and
 * checks every answer. With PAGES <= the IOTLB size (64) they are IOTLB hits: the figure is
 * the channel's cost, not the walk's. -S US: the client retries a non-blocking read for up to US
 * microseconds before it blocks (aic_set_spin; default AIC_DEFAULT_SPIN_US, 0 = block at once;
 * the server's is --spin-us). With -s PATH the command is started with its own stdio and
 * the client connects to the Unix socket PATH once it exists. The line before the last two gives
 * the round-trip times (one round trip = one frame, or one batch of JSON lines): percentiles in
 * microseconds and the share of the timed run spent in round trips over 20 us (a machine's other
 * load shows there: a round trip that waits for a CPU). The last line is
 * `translations_per_second=N`.
 */
#include "amd_iommu_client.h"
#include <time.h>

#define DEV 0x10
#define IOVA 0x10000000ull
#define SPA 0x04000000ull

static int cmp_double(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y; }

/** Start `argv` with its own stdio, then connect to the Unix socket `path` once it listens (up to 30 s). */
static int start_and_connect(aic_client *c, char *const argv[], const char *path) {
  unlink(path);
  pid_t pid = fork();
  if (pid < 0) return aic_fail(c, "fork: %s", strerror(errno));
  if (pid == 0) { execvp(argv[0], argv); fprintf(stderr, "throughput: cannot run %s: %s\n", argv[0], strerror(errno)); _exit(127); }
  for (int i = 0; i < 3000; i++) {
    if (aic_connect_unix(c, path) == 0) { c->pid = pid; return 0; }
    if (waitpid(pid, NULL, WNOHANG) == pid) return aic_fail(c, "the server exited before listening on %s", path);
    struct timespec t = { 0, 10000000 }; nanosleep(&t, NULL);
  }
  kill(pid, SIGTERM); waitpid(pid, NULL, 0);
  return aic_fail(c, "no server listening on %s after 30 s", path);
}

static double now_s(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return (double)t.tv_sec + (double)t.tv_nsec * 1e-9; }

static void die(const char *what, const char *why) { fprintf(stderr, "throughput: %s: %s\n", what, why); exit(1); }

/* ---- the JSON channel (newline-delimited JSON; README "Co-simulation pipe") ---- */
static FILE *jin, *jout;
static char *jline; static size_t jcap;

static void b64(const unsigned char *p, size_t n, FILE *f) {
  static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
    fputc(t[v >> 18 & 63], f); fputc(t[v >> 12 & 63], f);
    fputc(i + 1 < n ? t[v >> 6 & 63] : '=', f); fputc(i + 2 < n ? t[v & 63] : '=', f);
  }
}
static const char *jread(void) {
  for (;;) {
    ssize_t k = getline(&jline, &jcap, jout);
    if (k <= 0) die("json", "the server closed its output");
    if (strstr(jline, "\"notify\"") == NULL) return jline;
  }
}
static void jcall(const char *fmt, ...) {
  va_list ap; va_start(ap, fmt); vfprintf(jin, fmt, ap); va_end(ap);
  fputc('\n', jin); fflush(jin);
  const char *a = jread();
  if (!strstr(a, "\"ok\":true")) die("json", a);
}

int main(int argc, char **argv) {
  long batch = 256, count = -1, pages = 16;
  int json = 0, i = 1;
  const char *sock_path = NULL;
  long spin = -1; /* -S: the client library's default */
  for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
    if (!strcmp(argv[i], "-b") && i + 1 < argc) batch = atol(argv[++i]);
    else if (!strcmp(argv[i], "-n") && i + 1 < argc) count = atol(argv[++i]);
    else if (!strcmp(argv[i], "-p") && i + 1 < argc) pages = atol(argv[++i]);
    else if (!strcmp(argv[i], "-j")) json = 1;
    else if (!strcmp(argv[i], "-s") && i + 1 < argc) sock_path = argv[++i];
    else if (!strcmp(argv[i], "-S") && i + 1 < argc) spin = atol(argv[++i]);
    else { fprintf(stderr, "usage: throughput [-b BATCH] [-n COUNT] [-p PAGES] [-j] [-s PATH] [-S US] -- <server command>\n"); return 2; }
  }
  if (i + 1 >= argc) { fprintf(stderr, "throughput: give the server command after --\n"); return 2; }
  if (sock_path && json) { fprintf(stderr, "throughput: -s is for the binary channel\n"); return 2; }
  if (batch < 1 || batch > 65536 || pages < 1 || pages > 4096) { fprintf(stderr, "throughput: -b 1..65536, -p 1..4096\n"); return 2; }
  if (count < 0) count = batch >= 64 ? 2000000 : 200000;
  if (json && count > 200000) count = 200000;
  count = (count + batch - 1) / batch * batch;

  /* the tables, in a local image of [1 MiB, 9 MiB) */
  aic_image img;
  if (aic_image_init(&img, 0x100000, 8 << 20) != 0) die("image", "out of memory");
  uint64_t dt = aic_image_alloc(&img, 2), cmd = aic_image_alloc(&img, 1), ev = aic_image_alloc(&img, 1), root = aic_image_alloc(&img, 1);
  for (long p = 0; p < pages; p++) aic_image_v1_map(&img, root, 3, IOVA + 4096ull * (uint64_t)p, SPA + 4096ull * (uint64_t)p, 1, 1);
  aic_image_dte_v1(&img, dt, DEV, root, 3, 5);
  const uint64_t regs[4][2] = {
    { AIC_MMIO_DEVICE_TABLE_BASE, dt | 1 }, { AIC_MMIO_COMMAND_BUFFER_BASE, cmd | (8ull << 56) },
    { AIC_MMIO_EVENT_LOG_BASE, ev | (8ull << 56) }, { AIC_MMIO_CONTROL, AIC_CONTROL_IOMMU_EN | AIC_CONTROL_EVENT_LOG_EN | AIC_CONTROL_CMD_BUF_EN },
  };

  aic_client c;
  if (sock_path ? start_and_connect(&c, argv + i + 1, sock_path) != 0 : aic_start(&c, argv + i + 1) != 0) die("start", c.error);
  if (json && aic_set_spin(&c, 0) != 0) die("json", c.error); /* stdio's getline reads a blocking descriptor */
  if (spin >= 0 && !json && aic_set_spin(&c, (unsigned)spin) != 0) die("-S", c.error);
  long bad = 0, rounds = count / batch;
  double *rt = calloc((size_t)rounds, sizeof *rt);
  if (!rt) die("round-trip times", "out of memory");
  double t0 = 0, t1 = 0;
  if (!json) {
    if (aic_hello(&c) < 1) die("hello", c.error);
    if (aic_add_memory(&c, 0, 64 << 20) != 0) die("add-memory", c.error);
    if (aic_create_iommu(&c, 0, 0, NULL) != 0) die("create-iommu", c.error);
    if (aic_write_image(&c, &img) != 0) die("write-memory", c.error);
    for (int r = 0; r < 4; r++) if (aic_mmio_write64(&c, 0, (uint32_t)regs[r][0], regs[r][1]) != 0) die("mmio-write", c.error);
    aic_translation_req *req = calloc((size_t)batch, sizeof *req);
    aic_translation *res = calloc((size_t)batch, sizeof *res);
    req[0].device_id = DEV; req[0].flags = AIC_T_WRITE; req[0].address = IOVA + 0xabc;
    if (aic_translate(&c, AIC_OP_TRANSLATE, 0, req, res) != 0) die("translate", c.error);
    if (!(res[0].flags & AIC_A_ALLOWED) || res[0].spa != SPA + 0xabc) die("translate", "the check translation was not allowed at the mapped address");
    for (long k = 0; k < batch; k++) { req[k].device_id = DEV; req[k].flags = AIC_T_WRITE; req[k].address = IOVA + 4096ull * (uint64_t)(k % pages) + 8; }
    t0 = now_s();
    for (long r = 0; r < rounds; r++) {
      double q = now_s();
      if (aic_translate_batch(&c, AIC_OP_TRANSLATE, 0, req, res, (size_t)batch) != 0) die("translate", c.error);
      rt[r] = now_s() - q;
      for (long k = 0; k < batch; k++) if (!(res[k].flags & AIC_A_ALLOWED) || res[k].spa != SPA + 4096ull * (uint64_t)(k % pages) + 8) bad++;
    }
    t1 = now_s();
    aic_close(&c);
  } else {
    jin = fdopen(c.wfd, "w"); jout = fdopen(c.rfd, "r");
    jcall("{\"op\":\"add-memory\",\"base\":0,\"bytes\":%d}", 64 << 20);
    jcall("{\"op\":\"create-iommu\",\"iommu\":\"0\"}");
    fprintf(jin, "{\"op\":\"write-memory\",\"pa\":%llu,\"data\":\"", (unsigned long long)img.base); b64(img.bytes, img.used, jin); jcall("\"}");
    for (int r = 0; r < 4; r++) jcall("{\"op\":\"mmio-write\",\"iommu\":\"0\",\"offset\":%llu,\"value\":\"0x%llx\"}", (unsigned long long)regs[r][0], (unsigned long long)regs[r][1]);
    t0 = now_s();
    for (long r = 0; r < rounds; r++) {
      double q = now_s();
      for (long k = 0; k < batch; k++)
        fprintf(jin, "{\"id\":%ld,\"op\":\"translate\",\"iommu\":\"0\",\"deviceId\":%d,\"address\":%llu,\"write\":true}\n", k, DEV,
          (unsigned long long)(IOVA + 4096ull * (uint64_t)(k % pages) + 8));
      fflush(jin);
      for (long k = 0; k < batch; k++) { const char *a = jread(); if (!strstr(a, "\"allowed\":true")) bad++; }
      rt[r] = now_s() - q;
    }
    t1 = now_s();
    jcall("{\"op\":\"quit\"}");
    fclose(jin); fclose(jout);
    waitpid(c.pid, NULL, 0);
  }
  aic_image_free(&img);
  double s = t1 - t0, slow = 0;
  for (long r = 0; r < rounds; r++) if (rt[r] > 20e-6) slow += rt[r];
  qsort(rt, (size_t)rounds, sizeof *rt, cmp_double);
#define PCT(p) (rt[(long)((double)(rounds - 1) * (p))] * 1e6)
  printf("round_trip_us min=%.1f p50=%.1f p90=%.1f p99=%.1f p99.9=%.1f max=%.1f over_20us_share_of_time=%.0f%%\n",
    rt[0] * 1e6, PCT(0.5), PCT(0.9), PCT(0.99), PCT(0.999), rt[rounds - 1] * 1e6, 100 * slow / s);
  free(rt);
  printf("channel=%s%s batch=%ld translations=%ld seconds=%.3f refused_or_wrong=%ld\n", json ? "json" : "binary", sock_path ? " transport=socket" : "", batch, count, s, bad);
  printf("translations_per_second=%.0f\n", (double)count / s);
  return bad == 0 ? 0 : 1;
}

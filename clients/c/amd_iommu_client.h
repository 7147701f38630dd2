/*
 * amd_iommu_client.h: header-only C client of the amd-iommu-v2-model binary co-simulation
 * channel (README "Binary channel"; the layout lives in
 * src/embedding/binary-channel/frame-layout.ts). C99, POSIX; no other dependency.
 *
 *   aic_client c;
 *   char *cmd[] = { "npx", "amd-iommu-model", "serve", "--binary", NULL };
 *   if (aic_start(&c, cmd) != 0) ...;                 // the server as a child process, pipes on its stdin/stdout
 *   aic_add_memory(&c, 0, 64 << 20);
 *   aic_create_iommu(&c, 0, 0, NULL);                  // IOMMU 0 on PCI segment 0
 *   ... build tables in an aic_image, aic_write_image(), aic_mmio_write64() the base registers and Control ...
 *   aic_translation_req req[256]; aic_translation res[256];
 *   aic_translate_batch(&c, AIC_OP_TRANSLATE, 0, req, res, 256);   // one frame, one round trip
 *   aic_subscribe(&c, 0, AIC_EV_UNMAP); c.on_notify = my_callback;  // unmap notifications
 *   aic_read_events(&c, 0, my_event_callback, user);  // the event log, as a driver reads it
 *   aic_remap_interrupt(&c, 0, &msi, &irq);           // an MSI write through interrupt remapping
 *   aic_close(&c);
 *
 * Every call returns 0 on success and -1 on failure, with the reason in c.error (the
 * server's error text for a refused request). Notifications arriving with an answer are
 * passed to c.on_notify (when set) before the call returns. Simulator-owned memory: set
 * c.mem_read / mem_write / mem_cas and create the IOMMU with aic_create_iommu_simmem(); the
 * server's memory requests are answered from those callbacks while a call waits.
 */
#ifndef AMD_IOMMU_CLIENT_H
#define AMD_IOMMU_CLIENT_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- the layout (frame-layout.ts) ---- */
#define AIC_MAGIC 0x424d4f49u /* "IOMB" */
#define AIC_VERSION 1
#define AIC_FRAME_HEADER 16
#define AIC_RECORD_HEADER 8
#define AIC_MAX_FRAME (16u << 20)
#define AIC_MAX_MEMORY_READ (1u << 20)
#define AIC_KIND_REQUEST 1
#define AIC_KIND_ANSWER 2
#define AIC_KIND_MEMORY_REQUEST 3
#define AIC_KIND_MEMORY_ANSWER 4

#define AIC_OP_HELLO 0x01
#define AIC_OP_ADD_MEMORY 0x02
#define AIC_OP_CREATE_IOMMU 0x03
#define AIC_OP_MMIO_READ 0x04
#define AIC_OP_MMIO_WRITE 0x05
#define AIC_OP_MEMORY_READ 0x06
#define AIC_OP_MEMORY_WRITE 0x07
#define AIC_OP_TRANSLATE 0x08
#define AIC_OP_TRANSLATE_ATS 0x09
#define AIC_OP_PEEK 0x0a
#define AIC_OP_TRANSLATE_TIMED 0x0b
#define AIC_OP_PAGE_REQUEST 0x0c
#define AIC_OP_ADVANCE 0x0d
#define AIC_OP_SUBSCRIBE 0x0e
#define AIC_OP_ATTACH_ENDPOINT 0x0f
#define AIC_OP_QUIT 0x10
#define AIC_OP_JSON 0x11
#define AIC_OP_REMAP_INTERRUPT 0x20
#define AIC_OP_NOTIFY_UNMAP 0x81
#define AIC_OP_NOTIFY_DEVICE_TLB_UNMAP 0x82
#define AIC_OP_NOTIFY_MAP 0x83
#define AIC_OP_NOTIFY_INTERRUPT 0x84
#define AIC_OP_NOTIFY_PRG_RESPONSE 0x85
#define AIC_OP_MEM_READ 0xc1
#define AIC_OP_MEM_CAS 0xc2
#define AIC_OP_MEM_WRITE 0xc3

/* translation request flags */
#define AIC_T_WRITE 1
#define AIC_T_EXECUTE 2
#define AIC_T_PRIVILEGED 4
#define AIC_T_PASID 8
/* translation answer flags */
#define AIC_A_ALLOWED 1
#define AIC_A_READABLE 2
#define AIC_A_WRITABLE 4
#define AIC_A_EXECUTABLE 8
#define AIC_A_USER 16
#define AIC_A_IOTLB_HIT 32
/* remap-interrupt request flags */
#define AIC_I_PEEK 1
#define AIC_I_TIMED 2
#define AIC_I_PASID 8
/* remap-interrupt answer flags */
#define AIC_IA_DELIVERED 1
#define AIC_IA_POSTED 2
#define AIC_IA_DOORBELL 4
#define AIC_IA_GA_LOGGED 8
#define AIC_IA_IRTE_CACHE_HIT 16
#define AIC_IA_REQUEST_EOI 32
#define AIC_IA_DESTINATION_LOGICAL 64
/* subscription mask */
#define AIC_EV_UNMAP 1
#define AIC_EV_DEVICE_TLB_UNMAP 2
#define AIC_EV_MAP 4
#define AIC_EV_INTERRUPT 8
#define AIC_EV_PRG_RESPONSE 16
/* page request flags */
#define AIC_PR_READ 1
#define AIC_PR_WRITE 2
#define AIC_PR_EXECUTE 4
#define AIC_PR_PRIVILEGED 8
#define AIC_PR_PASID 16
#define AIC_PR_LAST 32

/* MMIO offsets used by the helpers (spec-tables/registers.json) */
#define AIC_MMIO_DEVICE_TABLE_BASE 0x0000
#define AIC_MMIO_COMMAND_BUFFER_BASE 0x0008
#define AIC_MMIO_EVENT_LOG_BASE 0x0010
#define AIC_MMIO_CONTROL 0x0018
#define AIC_MMIO_COMMAND_BUFFER_HEAD 0x2000
#define AIC_MMIO_COMMAND_BUFFER_TAIL 0x2008
#define AIC_MMIO_EVENT_LOG_HEAD 0x2010
#define AIC_MMIO_EVENT_LOG_TAIL 0x2018
#define AIC_CONTROL_IOMMU_EN (1ull << 0)
#define AIC_CONTROL_EVENT_LOG_EN (1ull << 2)
#define AIC_CONTROL_CMD_BUF_EN (1ull << 12)

/* ---- types ---- */
typedef struct {
  uint16_t device_id;
  uint16_t flags;   /* AIC_T_* */
  uint32_t pasid;   /* used with AIC_T_PASID */
  uint64_t address;
  uint64_t cycle;   /* AIC_OP_TRANSLATE_TIMED: the issue cycle */
} aic_translation_req;

typedef struct {
  uint8_t status;   /* 0 = answered; 1 = refused (error_code set) */
  uint8_t fault;    /* 0 none, else index + 1 in the model's fault list (README) */
  uint8_t path;
  uint8_t page_shift;
  uint16_t flags;   /* AIC_A_* */
  uint16_t event;   /* event code logged, 0 none */
  uint8_t memory_references;
  uint32_t cycles;
  uint32_t error_code;
  uint64_t spa;
  uint64_t completion_cycle;
} aic_translation;

typedef struct {
  uint16_t device_id;
  uint16_t flags;   /* AIC_I_* */
  uint32_t data;    /* the MSI data (DWORD) */
  uint64_t address; /* the MSI address, in 0xFEE00000-0xFEEFFFFF */
  uint32_t pasid;   /* used with AIC_I_PASID */
  uint64_t cycle;   /* with AIC_I_TIMED: the issue cycle */
} aic_interrupt_req;

typedef struct {
  uint8_t status;        /* 0 = answered; 1 = refused (error_code set, the text in c->error) */
  uint16_t flags;        /* AIC_IA_* */
  uint32_t address;      /* the MSI that reaches the APIC: address and data (0 when posted) */
  uint32_t data;
  uint32_t destination;  /* 8 bits, or 32 with XTEn */
  uint32_t vector;
  uint8_t delivery_mode; /* MSI/IntType encoding: 0 fixed, 1 arbitrated, 2 SMI, 4 NMI, 5 INIT, 7 ExtINT */
  uint8_t event;         /* event code logged, 0 none */
  uint8_t fault;         /* 0 none, else index in the README's interrupt fault list */
  uint8_t path;          /* 0 none, 1 iommu-disabled, 2 not-mapped, 3 forwarded, 4 remapped, 5 guest */
  int32_t index;         /* IRTE index, -1 none */
  uint64_t cycles, completion_cycle;
  uint32_t error_code;
} aic_interrupt;

typedef struct {
  uint8_t op;       /* AIC_OP_NOTIFY_* */
  uint8_t iommu;
  uint16_t flags;   /* the record's flags (README table) */
  uint32_t device_id, domain_id, pasid;
  uint32_t code;    /* unmap: command (0 IOMMU_PAGES, 1 DEVTAB_ENTRY, 2 IOMMU_ALL); interrupt: source; prg: response code */
  uint32_t prg_index, page_shift;
  uint64_t start, size, spa, cycle;
} aic_notification;

typedef struct aic_client aic_client;
struct aic_client {
  int rfd, wfd;
  pid_t pid;
  unsigned char *out; size_t out_len, out_cap; uint32_t out_count;
  unsigned char *in; size_t in_cap; size_t in_len; size_t in_have; /* the current frame is in[0, in_len); in_have bytes buffered */
  char error[512];
  void *user;
  void (*on_notify)(aic_client *c, const aic_notification *n);
  /* simulator-owned memory callbacks */
  void (*mem_read)(aic_client *c, uint64_t pa, uint32_t *words, unsigned nwords);
  void (*mem_write)(aic_client *c, uint64_t pa, uint32_t value, int completion_wait);
  uint32_t (*mem_cas)(aic_client *c, uint64_t pa, uint32_t expected, uint32_t value);
  uint64_t memory_requests;
  unsigned spin_us; /* aic_set_spin: microseconds a read retries before it blocks (0 = block at once) */
  unsigned spin_skip, spin_backoff; /* reads left that block at once, after spins that ran out; the next such run's length */
  unsigned spin_reads; long spin_ivcsw; int spin_contended; /* the contention check every AIC_SPIN_WINDOW reads */
};

/* ---- internals ---- */
static inline int aic_fail(aic_client *c, const char *fmt, ...) {
  va_list ap; va_start(ap, fmt); vsnprintf(c->error, sizeof c->error, fmt, ap); va_end(ap);
  return -1;
}
static inline uint32_t aic_ld32(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint16_t aic_ld16(const unsigned char *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static inline uint64_t aic_ld64(const unsigned char *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline void aic_st32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void aic_st16(unsigned char *p, uint16_t v) { memcpy(p, &v, 2); }
static inline void aic_st64(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); }

static inline int aic_reserve(aic_client *c, size_t need) {
  if (c->out_len + need <= c->out_cap) return 0;
  size_t n = c->out_cap ? c->out_cap : 65536;
  while (n < c->out_len + need) n *= 2;
  unsigned char *p = (unsigned char *)realloc(c->out, n);
  if (!p) return aic_fail(c, "out of memory");
  c->out = p; c->out_cap = n;
  return 0;
}

/** Start a request frame (the calls below do it for you; use with aic_record / aic_roundtrip for your own batches). */
static inline void aic_begin(aic_client *c) {
  aic_reserve(c, AIC_FRAME_HEADER);
  c->out_len = AIC_FRAME_HEADER; c->out_count = 0;
}
/** Append a zeroed record of `len` bytes (a multiple of 8); returns a pointer to it, NULL when out of memory. */
static inline unsigned char *aic_record(aic_client *c, uint8_t op, uint8_t iommu, uint16_t flags, uint32_t len) {
  if (aic_reserve(c, len) != 0) return NULL;
  unsigned char *r = c->out + c->out_len;
  memset(r, 0, len);
  r[0] = op; r[1] = iommu; aic_st16(r + 2, flags); aic_st32(r + 4, len);
  c->out_len += len; c->out_count++;
  return r;
}

/**
 * Contention check: every AIC_SPIN_WINDOW reads, if this process was preempted (involuntary
 * context switches, getrusage) more than AIC_SPIN_PREEMPTIONS times in that window, the CPUs are
 * oversubscribed and the next window's reads block at once. Measured on a 2-vCPU VM, 100 k one-at-
 * a-time round trips: 288 preemptions idle (about 0.7 a window), 56 k with four busy loops (about
 * 144 a window), where spinning lost 30 % (a sleeping task is woken ahead of busy ones; a spinning
 * one is not).
 */
#define AIC_SPIN_WINDOW 256u
#define AIC_SPIN_PREEMPTIONS 16

/** The spin aic_start and aic_connect_unix set (microseconds); aic_set_spin(c, 0) blocks at once. */
#define AIC_DEFAULT_SPIN_US 50u

static inline uint64_t aic_now_ns(void) {
  struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}
/**
 * Wait for answers by retrying a non-blocking read for up to `us` microseconds before blocking
 * in poll() (0: block at once; aic_start and aic_connect_unix set AIC_DEFAULT_SPIN_US). With a free CPU this saves a sleeping CPU's
 * wake-up per round trip (README "One request at a time"); the server spins likewise
 * (`--spin-us`). Costs this CPU while it spins; spins that run out back off (aic_read_some).
 */
static inline int aic_set_spin(aic_client *c, unsigned us) {
  if (us > 10000) return aic_fail(c, "aic_set_spin: us must be 0..10000, got %u", us);
  int fl = fcntl(c->rfd, F_GETFL);
  if (fl < 0 || fcntl(c->rfd, F_SETFL, us ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK)) != 0)
    return aic_fail(c, "aic_set_spin: fcntl: %s", strerror(errno));
  c->spin_us = us; c->spin_skip = c->spin_backoff = 0;
  c->spin_reads = 0; c->spin_contended = 0;
  struct rusage u; c->spin_ivcsw = getrusage(RUSAGE_SELF, &u) == 0 ? u.ru_nivcsw : 0;
  return 0;
}
/** Wait until `fd` is ready for `events` (a descriptor left non-blocking by aic_set_spin). */
static inline int aic_wait_fd(int fd, short events) {
  struct pollfd q; q.fd = fd; q.events = events; q.revents = 0;
  return poll(&q, 1, -1) < 0 && errno != EINTR ? -1 : 0;
}
/**
 * One read(): on a descriptor made non-blocking by aic_set_spin it retries for up to spin_us,
 * then blocks in poll(); returns read()'s count, -1 with errno. Adaptive: a spin that runs out
 * (the server is not answering within spin_us: a busy machine, where spinning takes the CPU the
 * server needs, or a long request) makes the next 1, 2, 4 ... 256 reads block at once; a spin
 * that succeeds resets that. A window of reads in which this process was often preempted turns
 * spinning off for the next window (AIC_SPIN_WINDOW).
 */
static inline ssize_t aic_read_some(aic_client *c, unsigned char *p, size_t n) {
  uint64_t until = 0;
  if (c->spin_us != 0 && ++c->spin_reads >= AIC_SPIN_WINDOW) { /* the contention check */
    struct rusage u;
    c->spin_reads = 0;
    if (getrusage(RUSAGE_SELF, &u) == 0) { c->spin_contended = u.ru_nivcsw - c->spin_ivcsw > AIC_SPIN_PREEMPTIONS; c->spin_ivcsw = u.ru_nivcsw; }
  }
  int spin = c->spin_us != 0 && c->spin_skip == 0 && !c->spin_contended;
  if (c->spin_skip) c->spin_skip--;
  for (;;) {
    ssize_t k = read(c->rfd, p, n);
    if (k >= 0) { if (until != 0 && spin) c->spin_backoff = 0; return k; }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
    if (spin) {
      uint64_t now = aic_now_ns();
      if (until == 0) until = now + (uint64_t)c->spin_us * 1000u;
      if (now < until) continue;
      spin = 0; /* ran out: block, and block at once for the next spin_backoff reads */
      c->spin_backoff = c->spin_backoff ? (c->spin_backoff < 256 ? c->spin_backoff * 2 : 256) : 1;
      c->spin_skip = c->spin_backoff;
    }
    if (aic_wait_fd(c->rfd, POLLIN) != 0) return -1;
  }
}

static inline int aic_write_all(aic_client *c, const unsigned char *p, size_t n) {
  while (n > 0) {
    ssize_t k = write(c->wfd, p, n);
    if (k < 0) {
      if (errno == EINTR) continue;
      if ((errno == EAGAIN || errno == EWOULDBLOCK) && aic_wait_fd(c->wfd, POLLOUT) == 0) continue; /* a socket made non-blocking by aic_set_spin */
      return aic_fail(c, "write to the server: %s", strerror(errno));
    }
    p += k; n -= (size_t)k;
  }
  return 0;
}
static inline int aic_read_all(aic_client *c, unsigned char *p, size_t n) {
  while (n > 0) {
    ssize_t k = aic_read_some(c, p, n);
    if (k < 0) return aic_fail(c, "read from the server: %s", strerror(errno));
    if (k == 0) return aic_fail(c, "the server closed its output");
    p += k; n -= (size_t)k;
  }
  return 0;
}
/** Read more bytes (whatever the pipe holds, up to the buffer) so that at least `need` are buffered. */
static inline int aic_fill(aic_client *c, size_t need) {
  if (need > c->in_cap || c->in_cap - c->in_have < 4096) {
    size_t n = c->in_cap ? c->in_cap : 65536;
    while (n < need || n - c->in_have < 4096) n *= 2;
    unsigned char *p = (unsigned char *)realloc(c->in, n);
    if (!p) return aic_fail(c, "out of memory");
    c->in = p; c->in_cap = n;
  }
  while (c->in_have < need) {
    ssize_t k = aic_read_some(c, c->in + c->in_have, c->in_cap - c->in_have);
    if (k < 0) return aic_fail(c, "read from the server: %s", strerror(errno));
    if (k == 0) return aic_fail(c, "the server closed its output");
    c->in_have += (size_t)k;
  }
  return 0;
}
/**
 * Read one frame into c->in (at offset 0, c->in_len bytes); returns its kind, -1 on failure.
 * One read() usually brings the whole answer: a round trip costs one write and one read.
 */
static inline int aic_read_frame(aic_client *c) {
  if (c->in_len) { /* drop the previous frame, keep what followed it */
    memmove(c->in, c->in + c->in_len, c->in_have - c->in_len);
    c->in_have -= c->in_len; c->in_len = 0;
  }
  if (aic_fill(c, AIC_FRAME_HEADER) != 0) return -1;
  uint32_t len = aic_ld32(c->in + 4);
  if (aic_ld32(c->in) != AIC_MAGIC || len < AIC_FRAME_HEADER || (len & 7) != 0 || len > (256u << 20))
    return aic_fail(c, "bad frame from the server (magic 0x%x, length %u)", aic_ld32(c->in), len);
  if (aic_fill(c, len) != 0) return -1;
  c->in_len = len;
  return c->in[12];
}

/** Answer one memory request (simulator-owned memory) from the callbacks. */
static inline int aic_answer_memory(aic_client *c) {
  const unsigned char *r = c->in + AIC_FRAME_HEADER;
  uint8_t op = r[0];
  uint64_t pa = aic_ld64(r + 8);
  uint32_t a = aic_ld32(r + 16), b = aic_ld32(r + 20);
  unsigned char buf[AIC_FRAME_HEADER + AIC_RECORD_HEADER + 32];
  uint32_t rlen = AIC_RECORD_HEADER;
  memset(buf, 0, sizeof buf);
  c->memory_requests++;
  if (op == AIC_OP_MEM_READ) {
    uint32_t words[8] = {0};
    if (a != 4 && a != 8 && a != 32) return aic_fail(c, "memory request: read of %u bytes", a);
    if (!c->mem_read) return aic_fail(c, "memory request from the server but no mem_read callback");
    c->mem_read(c, pa, words, a / 4);
    memcpy(buf + AIC_FRAME_HEADER + AIC_RECORD_HEADER, words, a);
    rlen = AIC_RECORD_HEADER + ((a + 7) & ~7u);
  } else if (op == AIC_OP_MEM_CAS) {
    if (!c->mem_cas) return aic_fail(c, "memory request from the server but no mem_cas callback");
    aic_st32(buf + AIC_FRAME_HEADER + AIC_RECORD_HEADER, c->mem_cas(c, pa, a, b));
    rlen = 16;
  } else if (op == AIC_OP_MEM_WRITE) {
    if (!c->mem_write) return aic_fail(c, "memory request from the server but no mem_write callback");
    c->mem_write(c, pa, a, (aic_ld16(r + 2) & 1) != 0);
  } else return aic_fail(c, "memory request with op 0x%x", op);
  unsigned char *rec = buf + AIC_FRAME_HEADER;
  rec[0] = op; rec[1] = 0; aic_st32(rec + 4, rlen);
  aic_st32(buf, AIC_MAGIC); aic_st32(buf + 4, AIC_FRAME_HEADER + rlen); aic_st32(buf + 8, 1);
  buf[12] = AIC_KIND_MEMORY_ANSWER; buf[13] = AIC_VERSION;
  return aic_write_all(c, buf, AIC_FRAME_HEADER + rlen);
}

static inline void aic_decode_notification(const unsigned char *r, aic_notification *n) {
  memset(n, 0, sizeof *n);
  n->op = r[0]; n->iommu = r[1]; n->flags = aic_ld16(r + 2);
  switch (r[0]) {
  case AIC_OP_NOTIFY_UNMAP:
    n->domain_id = aic_ld32(r + 8); n->device_id = aic_ld32(r + 12); n->pasid = aic_ld32(r + 16); n->code = aic_ld32(r + 20);
    n->start = aic_ld64(r + 24); n->size = aic_ld64(r + 32); n->cycle = aic_ld64(r + 40); break;
  case AIC_OP_NOTIFY_DEVICE_TLB_UNMAP:
    n->device_id = aic_ld32(r + 8); n->pasid = aic_ld32(r + 12); n->start = aic_ld64(r + 16); n->size = aic_ld64(r + 24); n->cycle = aic_ld64(r + 32); break;
  case AIC_OP_NOTIFY_MAP:
    n->device_id = aic_ld32(r + 8); n->domain_id = aic_ld32(r + 12); n->pasid = aic_ld32(r + 16); n->page_shift = r[20]; n->code = r[21];
    n->start = aic_ld64(r + 24); n->spa = aic_ld64(r + 32); n->cycle = aic_ld64(r + 40); break;
  case AIC_OP_NOTIFY_INTERRUPT:
    n->code = aic_ld32(r + 8); break;
  case AIC_OP_NOTIFY_PRG_RESPONSE:
    n->device_id = aic_ld32(r + 8); n->pasid = aic_ld32(r + 12); n->prg_index = aic_ld32(r + 16); n->code = aic_ld32(r + 20); n->cycle = aic_ld64(r + 24); break;
  }
}

/**
 * Send the frame built since aic_begin and read its answer frame into c->in, answering
 * memory requests meanwhile. Afterwards walk the answers with aic_next_answer.
 */
static inline int aic_roundtrip(aic_client *c) {
  unsigned char *h = c->out;
  aic_st32(h, AIC_MAGIC); aic_st32(h + 4, (uint32_t)c->out_len); aic_st32(h + 8, c->out_count);
  h[12] = AIC_KIND_REQUEST; h[13] = AIC_VERSION; h[14] = 0; h[15] = 0;
  if (aic_write_all(c, c->out, c->out_len) != 0) return -1;
  for (;;) {
    int kind = aic_read_frame(c);
    if (kind < 0) return -1;
    if (kind == AIC_KIND_ANSWER) return 0;
    if (kind == AIC_KIND_MEMORY_REQUEST) { if (aic_answer_memory(c) != 0) return -1; continue; }
    return aic_fail(c, "unexpected frame kind %d from the server", kind);
  }
}

/**
 * The next answer record of the last round trip (notifications go to on_notify on the way),
 * or NULL at the end. *pos starts at 0. A record with status 1 is an error answer: its text
 * is copied to c->error.
 */
static inline const unsigned char *aic_next_answer(aic_client *c, size_t *pos) {
  size_t p = *pos ? *pos : AIC_FRAME_HEADER;
  while (p + AIC_RECORD_HEADER <= c->in_len) {
    const unsigned char *r = c->in + p;
    uint32_t len = aic_ld32(r + 4);
    if (len < AIC_RECORD_HEADER || p + len > c->in_len) return NULL;
    p += len;
    if (r[0] >= 0x80 && r[0] < 0xc0) {
      if (c->on_notify) { aic_notification n; aic_decode_notification(r, &n); c->on_notify(c, &n); }
      continue;
    }
    *pos = p;
    if (r[1] != 0 && len >= 16) {
      uint32_t tl = aic_ld32(r + 12);
      if (tl > len - 16) tl = len - 16;
      if (tl > sizeof c->error - 1) tl = sizeof c->error - 1;
      memcpy(c->error, r + 16, tl); c->error[tl] = 0;
    }
    return r;
  }
  *pos = p;
  return NULL;
}

/** One request, one answer: the single-record calls. Returns the answer record or NULL (c->error). */
static inline const unsigned char *aic_one(aic_client *c) {
  if (aic_roundtrip(c) != 0) return NULL;
  size_t pos = 0;
  const unsigned char *r = aic_next_answer(c, &pos);
  if (!r) { aic_fail(c, "no answer from the server"); return NULL; }
  if (r[1] != 0) return NULL;
  return r;
}

/* ---- starting and stopping ---- */

/** Start the server as a child process: argv is the command (argv[0] looked up in PATH), NULL-terminated. */
static inline int aic_start(aic_client *c, char *const argv[]) {
  memset(c, 0, sizeof *c);
  int to_child[2], from_child[2];
  if (pipe(to_child) != 0 || pipe(from_child) != 0) return aic_fail(c, "pipe: %s", strerror(errno));
  signal(SIGPIPE, SIG_IGN);
  pid_t pid = fork();
  if (pid < 0) return aic_fail(c, "fork: %s", strerror(errno));
  if (pid == 0) {
    dup2(to_child[0], 0); dup2(from_child[1], 1);
    close(to_child[0]); close(to_child[1]); close(from_child[0]); close(from_child[1]);
    execvp(argv[0], argv);
    fprintf(stderr, "aic_start: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  close(to_child[0]); close(from_child[1]);
  c->wfd = to_child[1]; c->rfd = from_child[0]; c->pid = pid;
  return aic_set_spin(c, AIC_DEFAULT_SPIN_US);
}

/** Connect to a server started with `serve --binary --socket PATH`. */
static inline int aic_connect_unix(aic_client *c, const char *path) {
  memset(c, 0, sizeof *c);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0) return aic_fail(c, "socket: %s", strerror(errno));
  struct sockaddr_un a; memset(&a, 0, sizeof a); a.sun_family = AF_UNIX;
  strncpy(a.sun_path, path, sizeof a.sun_path - 1);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) { close(fd); return aic_fail(c, "connect %s: %s", path, strerror(errno)); }
  signal(SIGPIPE, SIG_IGN);
  c->rfd = c->wfd = fd; c->pid = 0;
  return aic_set_spin(c, AIC_DEFAULT_SPIN_US);
}

/** Quit the server (if still running), wait for it and free the client. Returns the server's exit status. */
static inline int aic_close(aic_client *c) {
  int status = 0;
  if (c->wfd > 0) {
    aic_begin(c); aic_record(c, AIC_OP_QUIT, 0, 0, AIC_RECORD_HEADER);
    if (aic_roundtrip(c) != 0) { /* already gone */ }
    close(c->wfd);
    if (c->rfd != c->wfd) close(c->rfd);
  }
  if (c->pid > 0) { waitpid(c->pid, &status, 0); status = WIFEXITED(status) ? WEXITSTATUS(status) : 128; }
  free(c->out); free(c->in);
  c->out = c->in = NULL; c->wfd = c->rfd = -1; c->pid = 0;
  return status;
}

/* ---- ops ---- */

/** hello: the protocol version (>= 1), or -1. */
static inline int aic_hello(aic_client *c) {
  aic_begin(c); aic_record(c, AIC_OP_HELLO, 0, 0, AIC_RECORD_HEADER);
  const unsigned char *r = aic_one(c);
  return r ? (int)aic_ld32(r + 8) : -1;
}
/** add-memory: a RAM region [base, base + bytes), 4 KiB aligned. */
static inline int aic_add_memory(aic_client *c, uint64_t base, uint64_t bytes) {
  aic_begin(c);
  unsigned char *r = aic_record(c, AIC_OP_ADD_MEMORY, 0, 0, 24);
  aic_st64(r + 8, base); aic_st64(r + 16, bytes);
  return aic_one(c) ? 0 : -1;
}
static inline int aic_create_iommu_ex(aic_client *c, uint8_t iommu, uint16_t segment, const char *options_json, uint64_t simmem_bytes) {
  uint32_t jl = options_json ? (uint32_t)strlen(options_json) : 0;
  aic_begin(c);
  unsigned char *r = aic_record(c, AIC_OP_CREATE_IOMMU, iommu, simmem_bytes ? 1 : 0, 24 + ((jl + 7) & ~7u));
  aic_st32(r + 8, segment); aic_st32(r + 12, jl); aic_st64(r + 16, simmem_bytes);
  if (jl) memcpy(r + 24, options_json, jl);
  return aic_one(c) ? 0 : -1;
}
/** create-iommu: IOMMU `iommu` (0..254) on PCI segment `segment`; options_json: AmdIommu options as JSON text, or NULL. */
static inline int aic_create_iommu(aic_client *c, uint8_t iommu, uint16_t segment, const char *options_json) {
  return aic_create_iommu_ex(c, iommu, segment, options_json, 0);
}
/** create-iommu on simulator-owned memory of `bytes` bytes: every access the IOMMU makes comes back as mem_read/mem_write/mem_cas. */
static inline int aic_create_iommu_simmem(aic_client *c, uint8_t iommu, uint16_t segment, const char *options_json, uint64_t bytes) {
  return aic_create_iommu_ex(c, iommu, segment, options_json, bytes);
}
static inline int aic_mmio_write(aic_client *c, uint8_t iommu, uint32_t offset, uint64_t value, unsigned width) {
  aic_begin(c);
  unsigned char *r = aic_record(c, AIC_OP_MMIO_WRITE, iommu, 0, 24);
  aic_st32(r + 8, offset); aic_st32(r + 12, width); aic_st64(r + 16, value);
  return aic_one(c) ? 0 : -1;
}
static inline int aic_mmio_write64(aic_client *c, uint8_t iommu, uint32_t offset, uint64_t value) { return aic_mmio_write(c, iommu, offset, value, 8); }
static inline int aic_mmio_read(aic_client *c, uint8_t iommu, uint32_t offset, unsigned width, uint64_t *value) {
  aic_begin(c);
  unsigned char *r = aic_record(c, AIC_OP_MMIO_READ, iommu, 0, 24);
  aic_st32(r + 8, offset); aic_st32(r + 12, width);
  const unsigned char *a = aic_one(c);
  if (!a) return -1;
  *value = aic_ld64(a + 8);
  return 0;
}
/** write-memory: bytes into the server's memory regions (tables, rings, commands). */
static inline int aic_mem_write(aic_client *c, uint64_t pa, const void *data, uint32_t bytes) {
  aic_begin(c);
  unsigned char *r = aic_record(c, AIC_OP_MEMORY_WRITE, 0, 0, 24 + ((bytes + 7) & ~7u));
  if (!r) return -1;
  aic_st64(r + 8, pa); aic_st32(r + 16, bytes);
  memcpy(r + 24, data, bytes);
  return aic_one(c) ? 0 : -1;
}
/** read-memory: up to AIC_MAX_MEMORY_READ bytes. */
static inline int aic_mem_read(aic_client *c, uint64_t pa, void *data, uint32_t bytes) {
  aic_begin(c);
  unsigned char *r = aic_record(c, AIC_OP_MEMORY_READ, 0, 0, 24);
  aic_st64(r + 8, pa); aic_st32(r + 16, bytes);
  const unsigned char *a = aic_one(c);
  if (!a) return -1;
  memcpy(data, a + 16, bytes);
  return 0;
}

static inline void aic_decode_translation(const unsigned char *a, aic_translation *t) {
  memset(t, 0, sizeof *t);
  t->status = a[1];
  if (a[1] != 0) { t->error_code = aic_ld32(a + 8); return; }
  t->flags = aic_ld16(a + 2); t->fault = a[8]; t->path = a[9]; t->page_shift = a[10]; t->memory_references = a[11];
  t->event = aic_ld16(a + 12); t->spa = aic_ld64(a + 16); t->completion_cycle = aic_ld64(a + 24); t->cycles = aic_ld32(a + 32);
}
/** Append one translation record (op = AIC_OP_TRANSLATE, _ATS, PEEK or _TIMED) to the frame being built. */
static inline int aic_add_translation(aic_client *c, uint8_t op, uint8_t iommu, const aic_translation_req *q) {
  unsigned char *r = aic_record(c, op, iommu, q->flags, 32);
  if (!r) return -1;
  aic_st32(r + 8, q->device_id); aic_st32(r + 12, q->pasid); aic_st64(r + 16, q->address); aic_st64(r + 24, q->cycle);
  return 0;
}
/**
 * Translate n requests in one frame (one round trip). res[i] gets each answer; a refused
 * request has status 1 (the last refusal's text in c->error). Returns 0, or -1 when the
 * channel failed.
 */
static inline int aic_translate_batch(aic_client *c, uint8_t op, uint8_t iommu, const aic_translation_req *req, aic_translation *res, size_t n) {
  aic_begin(c);
  if (aic_reserve(c, 32 * n) != 0) return -1;
  for (size_t i = 0; i < n; i++) {
    unsigned char *r = c->out + c->out_len;
    r[0] = op; r[1] = iommu; aic_st16(r + 2, req[i].flags); aic_st32(r + 4, 32);
    aic_st32(r + 8, req[i].device_id); aic_st32(r + 12, req[i].pasid); aic_st64(r + 16, req[i].address); aic_st64(r + 24, req[i].cycle);
    c->out_len += 32;
  }
  c->out_count += (uint32_t)n;
  if (aic_roundtrip(c) != 0) return -1;
  size_t pos = 0, i = 0;
  for (const unsigned char *a; i < n && (a = aic_next_answer(c, &pos)) != NULL; i++) aic_decode_translation(a, &res[i]);
  if (i != n) return aic_fail(c, "%zu answers for %zu translations", i, n);
  return 0;
}
static inline int aic_translate(aic_client *c, uint8_t op, uint8_t iommu, const aic_translation_req *req, aic_translation *res) {
  return aic_translate_batch(c, op, iommu, req, res, 1);
}
/** page-request (PRI): outcome 0 logged, 1 invalid, 2 dropped, 3 answered (PPR auto-response always on). */
static inline int aic_page_request(aic_client *c, uint8_t iommu, uint16_t device_id, uint16_t flags, uint32_t pasid, uint32_t prg_index, uint64_t address, uint32_t *outcome) {
  aic_begin(c);
  unsigned char *r = aic_record(c, AIC_OP_PAGE_REQUEST, iommu, flags, 32);
  aic_st32(r + 8, device_id); aic_st32(r + 12, pasid); aic_st32(r + 16, prg_index); aic_st64(r + 24, address);
  const unsigned char *a = aic_one(c);
  if (!a) return -1;
  *outcome = aic_ld32(a + 8);
  return 0;
}
static inline void aic_decode_interrupt(const unsigned char *a, aic_interrupt *t) {
  memset(t, 0, sizeof *t);
  t->status = a[1];
  if (a[1] != 0) { t->error_code = aic_ld32(a + 8); t->index = -1; return; }
  t->flags = aic_ld16(a + 2); t->address = aic_ld32(a + 8); t->data = aic_ld32(a + 12); t->destination = aic_ld32(a + 16);
  t->vector = aic_ld32(a + 20); t->delivery_mode = a[24]; t->event = a[25]; t->fault = a[26]; t->path = a[27];
  t->index = (int32_t)aic_ld32(a + 28); t->cycles = aic_ld64(a + 32); t->completion_cycle = aic_ld64(a + 40);
}
/**
 * remap-interrupt: n MSI writes through interrupt remapping in one frame (one round trip);
 * flags AIC_I_PEEK (changes nothing), AIC_I_TIMED (issued at req.cycle), AIC_I_PASID. res[i]
 * gets each answer; a refused request has status 1 (the last refusal's text in c->error).
 * Returns 0, or -1 when the channel failed.
 */
static inline int aic_remap_interrupt_batch(aic_client *c, uint8_t iommu, const aic_interrupt_req *req, aic_interrupt *res, size_t n) {
  aic_begin(c);
  for (size_t i = 0; i < n; i++) {
    unsigned char *r = aic_record(c, AIC_OP_REMAP_INTERRUPT, iommu, req[i].flags, 40);
    if (!r) return -1;
    aic_st32(r + 8, req[i].device_id); aic_st32(r + 12, req[i].data); aic_st64(r + 16, req[i].address);
    aic_st32(r + 24, req[i].pasid); aic_st64(r + 32, req[i].cycle);
  }
  if (aic_roundtrip(c) != 0) return -1;
  size_t pos = 0, i = 0;
  for (const unsigned char *a; i < n && (a = aic_next_answer(c, &pos)) != NULL; i++) aic_decode_interrupt(a, &res[i]);
  if (i != n) return aic_fail(c, "%zu answers for %zu interrupts", i, n);
  return 0;
}
/** remap-interrupt of one MSI write, as aic_translate: delivered when res->flags & AIC_IA_DELIVERED; refused: res->status 1. */
static inline int aic_remap_interrupt(aic_client *c, uint8_t iommu, const aic_interrupt_req *req, aic_interrupt *res) {
  return aic_remap_interrupt_batch(c, iommu, req, res, 1);
}
/** advance: run commands until idle (cycle = UINT64_MAX) or to `cycle`; iommu 0xff = every IOMMU. *now = the cycle reached. */
static inline int aic_advance(aic_client *c, uint8_t iommu, uint64_t cycle, uint64_t *now) {
  aic_begin(c);
  unsigned char *r = aic_record(c, AIC_OP_ADVANCE, iommu, cycle == UINT64_MAX ? 0 : 1, 16);
  aic_st64(r + 8, cycle == UINT64_MAX ? 0 : cycle);
  const unsigned char *a = aic_one(c);
  if (!a) return -1;
  if (now) *now = aic_ld64(a + 8);
  return 0;
}
/** subscribe: the notifications wanted from `iommu` (AIC_EV_* mask; others are dropped). */
static inline int aic_subscribe(aic_client *c, uint8_t iommu, uint32_t mask) {
  aic_begin(c);
  unsigned char *r = aic_record(c, AIC_OP_SUBSCRIBE, iommu, 0, 16);
  aic_st32(r + 8, mask);
  return aic_one(c) ? 0 : -1;
}
/** attach-endpoint: a device answering ATS invalidations after `latency` cycles (UINT32_MAX = never); PRG responses become notifications. */
static inline int aic_attach_endpoint(aic_client *c, uint8_t iommu, uint16_t device_id, uint32_t latency) {
  aic_begin(c);
  unsigned char *r = aic_record(c, AIC_OP_ATTACH_ENDPOINT, iommu, 0, 16);
  aic_st32(r + 8, device_id); aic_st32(r + 12, latency);
  return aic_one(c) ? 0 : -1;
}
/** json: any JSON-protocol request (stats, snapshot, replay, ...); its answer text into out (NUL-terminated, truncated to cap). */
static inline int aic_json(aic_client *c, const char *request, char *out, size_t cap) {
  uint32_t n = (uint32_t)strlen(request);
  aic_begin(c);
  unsigned char *r = aic_record(c, AIC_OP_JSON, 0, 0, 16 + ((n + 7) & ~7u));
  if (!r) return -1;
  aic_st32(r + 8, n); memcpy(r + 16, request, n);
  if (aic_roundtrip(c) != 0) return -1;
  size_t pos = 0;
  const unsigned char *a = aic_next_answer(c, &pos);
  if (!a) return aic_fail(c, "no answer from the server");
  uint32_t tl = aic_ld32(a + 8);
  if (out && cap) { size_t k = tl < cap - 1 ? tl : cap - 1; memcpy(out, a + 16, k); out[k] = 0; }
  if (a[1] != 0) return -1;
  /* the answer is the JSON protocol's: {"id":...,"ok":true|false,...} */
  const char *t = (const char *)(a + 16);
  for (uint32_t i = 0; i + 9 <= tl; i++) if (memcmp(t + i, "\"ok\":true", 9) == 0) return 0;
  { size_t k = tl < sizeof c->error - 1 ? tl : sizeof c->error - 1; memcpy(c->error, t, k); c->error[k] = 0; }
  return -1;
}

/**
 * Read the event log as a driver does: EventLogTail and Head by MMIO, each new 16-byte
 * entry from memory (the log base from EventLogBase), then Head moved to Tail. Calls
 * cb(user, entry) per entry; returns the number read, or -1.
 */
static inline int aic_read_events(aic_client *c, uint8_t iommu, void (*cb)(void *user, const uint32_t entry[4]), void *user) {
  uint64_t base, head, tail;
  if (aic_mmio_read(c, iommu, AIC_MMIO_EVENT_LOG_BASE, 8, &base) != 0) return -1;
  if (aic_mmio_read(c, iommu, AIC_MMIO_EVENT_LOG_HEAD, 8, &head) != 0) return -1;
  if (aic_mmio_read(c, iommu, AIC_MMIO_EVENT_LOG_TAIL, 8, &tail) != 0) return -1;
  uint64_t pa = base & 0x000ffffffffff000ull;
  uint32_t size = 16u << ((base >> 56) & 0xf);
  head &= 0x7fff0; tail &= 0x7fff0;
  int n = 0;
  while (head != tail) {
    uint32_t e[4];
    if (aic_mem_read(c, pa + head, e, 16) != 0) return -1;
    if (cb) cb(user, e);
    head = (head + 16) % size; n++;
  }
  if (n > 0 && aic_mmio_write64(c, iommu, AIC_MMIO_EVENT_LOG_HEAD, head) != 0) return -1;
  return n;
}

/* ---- building tables: a local image of guest-physical memory, written with aic_write_image ---- */
typedef struct {
  uint64_t base;          /* physical address of bytes[0] */
  uint64_t size, used;    /* bytes, bump-allocated so far (4 KiB pages) */
  unsigned char *bytes;
} aic_image;

static inline int aic_image_init(aic_image *m, uint64_t base, uint64_t size) {
  m->base = base; m->size = size; m->used = 0;
  m->bytes = (unsigned char *)calloc(1, size);
  return m->bytes ? 0 : -1;
}
/** Allocate `pages` zeroed 4 KiB pages; returns their physical address (0 when full). */
static inline uint64_t aic_image_alloc(aic_image *m, uint64_t pages) {
  if (m->used + pages * 4096 > m->size) return 0;
  uint64_t pa = m->base + m->used;
  m->used += pages * 4096;
  return pa;
}
static inline uint64_t *aic_image_q(aic_image *m, uint64_t pa) { return (uint64_t *)(void *)(m->bytes + (pa - m->base)); }
/** Host (v1) page table: map the 4 KiB page at iova to spa in a `levels`-level table at root (IR/IW as given). Returns 0 or -1. */
static inline int aic_image_v1_map(aic_image *m, uint64_t root, unsigned levels, uint64_t iova, uint64_t spa, int readable, int writable) {
  uint64_t table = root;
  for (unsigned level = levels; level > 1; level--) {
    uint64_t *e = aic_image_q(m, table + 8 * ((iova >> (12 + 9 * (level - 1))) & 511));
    if ((*e & 1) == 0) {
      uint64_t next = aic_image_alloc(m, 1);
      if (!next) return -1;
      *e = next | ((uint64_t)(level - 1) << 9) | (1ull << 61) | (1ull << 62) | 1;
    }
    table = *e & 0x000ffffffffff000ull;
  }
  *aic_image_q(m, table + 8 * ((iova >> 12) & 511)) = (spa & 0x000ffffffffff000ull) | (readable ? 1ull << 61 : 0) | (writable ? 1ull << 62 : 0) | 1;
  return 0;
}
/** A DTE for host (v1) translation: V, TV, Mode = levels, root, IR/IW, DomainID, HAD = 11b (A and D). */
static inline void aic_image_dte_v1(aic_image *m, uint64_t device_table, uint16_t device_id, uint64_t root, unsigned levels, uint16_t domain) {
  uint64_t *d = aic_image_q(m, device_table + 32ull * device_id);
  d[0] = 1 | 2 | (3ull << 7) | ((uint64_t)levels << 9) | (root & 0x000ffffffffff000ull) | (1ull << 61) | (1ull << 62);
  d[1] = domain;
  d[2] = 0; d[3] = 0;
}
/** Interrupt remapping in a DTE (after aic_image_dte_*): IV, IntTabLen = log2(entries), IntTableRootPtr = table (128-byte aligned), IntCtl = 10b (remapped). */
static inline void aic_image_dte_interrupts(aic_image *m, uint64_t device_table, uint16_t device_id, uint64_t table, unsigned log2_entries) {
  uint64_t *d = aic_image_q(m, device_table + 32ull * device_id);
  d[2] = 1 | ((uint64_t)(log2_entries & 0xf) << 1) | (table & 0x000fffffffffffc0ull) | (2ull << 60);
}
/** A 32-bit IRTE (Control.GAEn = 0): RemapEn, IntType fixed, DM (1 logical), 8-bit destination, vector. */
static inline void aic_image_irte32(aic_image *m, uint64_t table, unsigned index, uint8_t vector, uint8_t destination, int logical) {
  uint32_t e = 1u | (logical ? 1u << 6 : 0) | ((uint32_t)destination << 8) | ((uint32_t)vector << 16);
  memcpy(m->bytes + (table - m->base) + 4ull * index, &e, 4);
}
/** Write the image's allocated pages to the server's memory (in 1 MiB pieces). */
static inline int aic_write_image(aic_client *c, const aic_image *m) {
  for (uint64_t off = 0; off < m->used; off += 1u << 20) {
    uint64_t n = m->used - off < (1u << 20) ? m->used - off : (1u << 20);
    if (aic_mem_write(c, m->base + off, m->bytes + off, (uint32_t)n) != 0) return -1;
  }
  return 0;
}
static inline void aic_image_free(aic_image *m) { free(m->bytes); m->bytes = NULL; }

#endif /* AMD_IOMMU_CLIENT_H */

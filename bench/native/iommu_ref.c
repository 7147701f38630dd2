/*
 * Native reference of the model's translation paths (issue 13): a competent C implementation
 * doing the same work as the TypeScript model for the benchmark's cases, so that
 * `npm run bench` can report how far the model is from native code on the same machine in
 * the same run.
 *
 * It builds exactly the tables the TypeScript side builds (the same bump allocation order as
 * src/builders: V1PageTable, LongModeTable, Gcr3Table; the DTE encoded from its fields), and
 * prints a hash of the memory image (the DTE's 8 dwords, then every dword of the table region)
 * that the runner compares with the model's before it times anything. Then it serves the same
 * request sequence: DTE cache (256 entries, direct-mapped, filled from the device table in
 * memory), GCR3 read, v1 walk (1-6 levels, NextLevel checks incl. skipped levels and
 * NextLevel-7 page sizes, reserved bits, IR/IW across levels and the DTE's, HAD A/D update),
 * long-mode walk (4 or 5 levels, P, R/W, U/S and NX across levels, PS/reserved bits,
 * canonical or GIoV width check, A in every entry and D in the leaf by compare-exchange only
 * where clear, re-walk on a lost race), nested (every guest table address and the final GPA
 * translated by the host table, host write permission needed for A/D), a set-associative
 * IOTLB with LRU and fill (page sizes tracked), a page-directory cache (levels >= 3), ATS
 * requests (no enforcement, permissions returned), and the table-line cache the model prices
 * walk reads with (src/iommu/timing/table-line-cache.ts: every page-table read of a walk looks
 * its 64-byte line up in a set-associative LRU cache; the hits per request are part of the
 * answers compared). Entries are read with 32-bit atomic loads
 * (relaxed: the model's single-agent mode); A/D with a 32-bit compare-exchange.
 *
 * Usage: iommu_ref key=value ...   (bench/native-reference.ts passes the case)
 * stdin commands: "verify N" (translate the first N requests, print a checksum of the
 * answers: SPA, ok and the table-line hits of each), "run MS" (translate for about MS ms of CPU time, print CPU ns, ops and wall ns), "quit".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef uint32_t u32;
typedef uint64_t u64;
typedef uint8_t u8;

static u32 *mem;
static u64 mem_bytes;

static inline u32 ld32(u64 pa) { return __atomic_load_n(&mem[pa >> 2], __ATOMIC_RELAXED); }
static inline int cas32(u64 pa, u32 expected, u32 value) {
  return __atomic_compare_exchange_n(&mem[pa >> 2], &expected, value, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}
static inline void st32(u64 pa, u32 v) { __atomic_store_n(&mem[pa >> 2], v, __ATOMIC_RELAXED); }

/* ---- table-line cache (the model's profile.tableCacheLines / tableCacheWays; 0 lines = off) ---- */
static u32 *line_tags; /* sets x ways line numbers, most recent first; 0xffffffff = empty */
static u32 line_sets_mask;
static int line_ways;
static u32 req_line_hits; /* walk reads of the current request whose line was cached */
static int table_cache_lines;
/* a walk read of the entry at pa: its line looked up, moved to the front (LRU), counted when it was cached */
static inline void line_touch(u64 pa) {
  if (!line_tags) return;
  if (pa >= (1ull << 37)) return; /* not tracked above 128 GiB (the model's MAX_PA) */
  u32 line = (u32)(pa >> 6);
  u32 *t = line_tags + (size_t)(line & line_sets_mask) * (u32)line_ways;
  if (t[0] == line) { req_line_hits++; return; }
  int i = 1;
  while (i < line_ways - 1 && t[i] != line) i++;
  if (t[i] == line) req_line_hits++;
  for (int j = i; j > 0; j--) t[j] = t[j - 1];
  t[0] = line;
}

/* ---- entry bits (spec-tables/page-tables.json) ---- */
enum { V1_PR = 1, V1_A = 0x20, V1_D = 0x40 };
#define V1_ADDR_LO 0xfffff000u
#define V1_ADDR_HI 0xfffffu
#define V1_PDE_RSVD_HI 0x1ff00000u
#define V1_PTE_RSVD_HI 0x7f00000u
#define V1_U_HI 0x8000000u
#define V1_IR_HI 0x20000000u
#define V1_IW_HI 0x40000000u
enum { LM_P = 1, LM_RW = 2, LM_US = 4, LM_A = 0x20, LM_D = 0x40, LM_PS = 0x80 };
#define LM_RSVD1G_LO 0x3fffe000u
#define LM_RSVD2M_LO 0x1fe000u
#define LM_NX_HI 0x80000000u
enum { G3_V = 1 };
#define G3_RSVD_LO 0xffeu
#define G3_RSVD_HI 0xfff00000u

/* permission bits of a cached translation (as the model's Perm) */
enum { P_R = 1, P_W = 2, P_X = 4, P_U = 8, P_DIRTY = 16, P_NESTED = 32, P_NOATS = 64 };

/* ---- case ---- */
static const char *kind = "v1";
static int host_levels = 4, guest_levels = 4, pages = 4096, fresh = 0, giov = 0, ats = 0, span = 4096, stride = 1,
           write_every = 0, first_touch = 0, iotlb_entries = 64, iotlb_ways = 4, pde_entries = 64, pde_ways = 4;
static u64 table_start, dt_base;
static const u32 DEVICE = 0x0100, DOMAIN = 1, PASID = 1;
static const u64 IOVA_BASE = 0x1000000000ull, GVA_BASE = 0x7f0000000000ull, DATA_BASE = 0x4000000000ull;
static const int PAS_MAX = 15, PDE_MIN_LEVEL = 3;

/* ---- builders: the same allocation order and entry values as src/builders ---- */
static u64 next_page;
static u64 alloc_page(void) {
  u64 pa = next_page;
  if (pa + 4096 > mem_bytes) { fprintf(stderr, "iommu_ref: table region exhausted\n"); exit(2); }
  next_page += 4096;
  memset((char *)mem + pa, 0, 4096);
  return pa;
}
static inline unsigned idx_of(u64 va, int level) { return (unsigned)(va >> (12 + 9 * (level - 1))) & 0x1ff; }

static void v1_map(u64 root, int mode, u64 iova, u64 spa, int accessed, int dirty) {
  u64 table = root;
  for (int L = mode; L > 1; L--) {
    u64 pa = table + idx_of(iova, L) * 8;
    u32 lo = ld32(pa), hi = ld32(pa + 4);
    unsigned nl = (lo >> 9) & 7;
    if ((lo & V1_PR) == 0 || nl == 0 || nl == 7) {
      u64 next = alloc_page();
      hi = (u32)(next >> 32) | V1_IR_HI | V1_IW_HI;
      lo = (u32)next | ((u32)(L - 1) << 9) | V1_PR;
      st32(pa, 0); st32(pa + 4, hi); st32(pa, lo);
    }
    table = ((u64)(hi & V1_ADDR_HI) << 32) | (lo & V1_ADDR_LO);
  }
  u64 pa = table + idx_of(iova, 1) * 8;
  u32 hi = (u32)(spa >> 32) | V1_IR_HI | V1_IW_HI;
  u32 lo = (u32)spa | V1_PR | (accessed ? V1_A : 0) | (dirty ? V1_D : 0);
  st32(pa, 0); st32(pa + 4, hi); st32(pa, lo);
}
static void lm_map(u64 root, int levels, u64 va, u64 phys, int accessed, int dirty) {
  u64 table = root;
  for (int L = levels; L > 1; L--) {
    u64 pa = table + idx_of(va, L) * 8;
    u32 lo = ld32(pa), hi = ld32(pa + 4);
    if ((lo & LM_P) == 0 || (L <= 3 && (lo & LM_PS) != 0)) {
      u64 next = alloc_page();
      hi = (u32)(next >> 32);
      lo = (u32)next | LM_P | LM_RW | LM_US | (accessed ? LM_A : 0);
      st32(pa, 0); st32(pa + 4, hi); st32(pa, lo);
    }
    table = ((u64)(hi & 0xfffff) << 32) | (lo & 0xfffff000u);
  }
  u64 pa = table + idx_of(va, 1) * 8;
  u32 hi = (u32)(phys >> 32);
  u32 lo = (u32)phys | LM_P | LM_RW | LM_US | (accessed ? LM_A : 0) | (dirty ? LM_D : 0);
  st32(pa, 0); st32(pa + 4, hi); st32(pa, lo);
}
static u64 entry_address(u64 root, int levels, u64 va, int is_v1) {
  u64 table = root;
  for (int L = levels; L > 1; L--) {
    u64 pa = table + idx_of(va, L) * 8;
    u32 lo = ld32(pa), hi = ld32(pa + 4);
    table = ((u64)(hi & 0xfffff) << 32) | (lo & 0xfffff000u);
  }
  (void)is_v1;
  return table + idx_of(va, 1) * 8;
}
static void gcr3_set(u64 root, u32 pasid, u64 cr3) {
  u64 pa = root + (pasid & 0x1ff) * 8; /* GLX 0 */
  st32(pa, 0); st32(pa + 4, (u32)(cr3 >> 32)); st32(pa, ((u32)cr3 & 0xfffff000u) | G3_V);
}
/* the DTE's four quadwords from its fields (spec-tables/dte.json), written upper half first as DeviceTableWriter does */
static void dte_write(u32 dev, int mode, u64 hptr, int had, int gv, int giov_, int glx_, u64 gcr3, int gpm, int i_ats) {
  u64 w0 = 1ull | (1ull << 1) | ((u64)had << 7) | ((u64)mode << 9) | (hptr & 0x000ffffffffff000ull) | ((u64)giov_ << 54) |
           ((u64)gv << 55) | ((u64)glx_ << 56) | (((gcr3 >> 12) & 7) << 58) | (1ull << 61) | (1ull << 62);
  u64 w1 = (u64)DOMAIN | (((gcr3 >> 15) & 0xffff) << 16) | ((u64)i_ats << 32) | (((gcr3 >> 31) & 0x1fffff) << 43);
  u64 w2 = (u64)gpm << 54, w3 = 0;
  u64 pa = dt_base + (u64)dev * 32;
  u64 q[4] = {w0, w1, w2, w3};
  for (int i = 7; i >= 0; i--) st32(pa + 4 * i, (u32)(q[i / 2] >> (32 * (i & 1))));
}

/* ---- DTE cache ---- */
typedef struct {
  int valid; u32 dev;
  int v, tv, mode, had, ir, iw, gv, giov, glx, glevels, i_ats;
  u32 domain; u64 hptr, gcr3;
  u8 perm_mask; /* R, W|Dirty from IR/IW, plus U and X */
} dte_t;
static dte_t dte_cache[256];
static const dte_t *dte_lookup(u32 dev) {
  dte_t *d = &dte_cache[dev & 255];
  if (d->valid && d->dev == dev) return d;
  u64 pa = dt_base + (u64)dev * 32;
  u64 w0 = (u64)ld32(pa) | ((u64)ld32(pa + 4) << 32), w1 = (u64)ld32(pa + 8) | ((u64)ld32(pa + 12) << 32),
      w2 = (u64)ld32(pa + 16) | ((u64)ld32(pa + 20) << 32);
  d->valid = 1; d->dev = dev;
  d->v = w0 & 1; d->tv = (w0 >> 1) & 1; d->had = (w0 >> 7) & 3; d->mode = (w0 >> 9) & 7; d->hptr = w0 & 0x000ffffffffff000ull;
  d->giov = (w0 >> 54) & 1; d->gv = (w0 >> 55) & 1; d->glx = (w0 >> 56) & 3; d->ir = (w0 >> 61) & 1; d->iw = (w0 >> 62) & 1;
  d->domain = w1 & 0xffff; d->i_ats = (w1 >> 32) & 1;
  d->gcr3 = (((w0 >> 58) & 7) << 12) | (((w1 >> 16) & 0xffff) << 15) | (((w1 >> 43) & 0x1fffff) << 31);
  d->glevels = ((w2 >> 54) & 3) == 1 ? 5 : 4;
  d->perm_mask = (d->ir ? P_R : 0) | (d->iw ? P_W | P_DIRTY : 0) | P_U | P_X;
  return d;
}

/* ---- IOTLB: set-associative, LRU, tags (domain, PASID or host, page size, page number) ---- */
typedef struct { u64 key, vpn, spa; u32 stamp; u8 log2, perms, valid; } tlb_e;
static tlb_e *tlb;
static u32 tlb_sets_mask, tlb_clock;
static u64 tlb_sizes; /* bit k: some entry holds pages of 2^k bytes */
static u8 tlb_size_count[64];
static inline u64 space_key(u32 domain, int pasid) { return ((u64)domain << 21) | (pasid < 0 ? 0x100000u : (u32)pasid); }
static inline u32 set_hash(u64 x, u32 mask) { u32 v = (u32)x; return (v ^ (v >> 7)) & mask; }
static tlb_e *tlb_lookup(u64 key, u64 va) {
  u64 sizes = tlb_sizes;
  while (sizes) {
    int k = __builtin_ctzll(sizes);
    sizes &= sizes - 1;
    u64 vpn = va >> k;
    tlb_e *s = &tlb[(u64)set_hash(vpn, tlb_sets_mask) * iotlb_ways];
    for (int w = 0; w < iotlb_ways; w++)
      if (s[w].valid && s[w].vpn == vpn && s[w].key == key && s[w].log2 == k) { s[w].stamp = ++tlb_clock; return &s[w]; }
  }
  return NULL;
}
static void tlb_fill(u64 key, u64 va, int log2, u64 spa, u8 perms) {
  u64 vpn = va >> log2;
  tlb_e *s = &tlb[(u64)set_hash(vpn, tlb_sets_mask) * iotlb_ways], *victim = &s[0];
  for (int w = 0; w < iotlb_ways; w++) {
    if (s[w].valid && s[w].vpn == vpn && s[w].key == key && s[w].log2 == log2) { victim = &s[w]; break; }
    if (!s[w].valid) { if (victim->valid) victim = &s[w]; }
    else if (victim->valid && s[w].stamp < victim->stamp) victim = &s[w];
  }
  if (victim->valid && --tlb_size_count[victim->log2] == 0) tlb_sizes &= ~(1ull << victim->log2);
  victim->valid = 1; victim->key = key; victim->vpn = vpn; victim->log2 = (u8)log2; victim->spa = spa; victim->perms = perms;
  victim->stamp = ++tlb_clock;
  if (tlb_size_count[log2]++ == 0) tlb_sizes |= 1ull << log2;
}

/* ---- page-directory cache: (domain, space, level, address prefix) -> next table ---- */
typedef struct { u64 key, prefix, next; u32 stamp; u8 level, next_level, perms, valid; } pde_e;
static pde_e *pdc;
static u32 pde_sets_mask, pde_clock;
static inline u64 prefix_of(u64 va, int level) { return va >> (9 * level + 3); }
static inline u32 pde_set(u64 prefix, int level) { u32 x = (u32)prefix ^ (u32)level * 0x9e37u; return (x ^ (x >> 9)) & pde_sets_mask; }
static pde_e *pde_lookup(u64 key, int level, u64 prefix) {
  pde_e *s = &pdc[(u64)pde_set(prefix, level) * pde_ways];
  for (int w = 0; w < pde_ways; w++)
    if (s[w].valid && s[w].prefix == prefix && s[w].level == level && s[w].key == key) { s[w].stamp = ++pde_clock; return &s[w]; }
  return NULL;
}
static void pde_fill(u64 key, int level, u64 prefix, u64 next, int next_level, u8 perms) {
  pde_e *s = &pdc[(u64)pde_set(prefix, level) * pde_ways], *victim = &s[0];
  for (int w = 0; w < pde_ways; w++) {
    if (s[w].valid && s[w].prefix == prefix && s[w].level == level && s[w].key == key) { victim = &s[w]; break; }
    if (!s[w].valid) { if (victim->valid) victim = &s[w]; }
    else if (victim->valid && s[w].stamp < victim->stamp) victim = &s[w];
  }
  victim->valid = 1; victim->key = key; victim->prefix = prefix; victim->level = (u8)level; victim->next = next;
  victim->next_level = (u8)next_level; victim->perms = perms; victim->stamp = ++pde_clock;
}

/* ---- v1 walk ---- */
typedef struct { u64 spa_base; int log2; u8 perms; int leaf_dirty; } walk_out;
enum { W_OK = 0, W_FAULT = 1, W_RETRY = 2 };

static int v1_walk_once(const dte_t *d, u64 va, int write, int enforce, walk_out *o) {
  int mode = d->mode;
  if (mode < 6 && (va >> (12 + 9 * mode)) != 0) return W_FAULT; /* address beyond the table */
  if (enforce && !(write ? d->iw : d->ir)) return W_FAULT;
  u32 ph = V1_IR_HI | V1_IW_HI;
  int level = mode;
  u64 table = d->hptr;
  u64 hkey = space_key(d->domain, -1);
  u64 kept_next[8]; u8 kept_level[8], kept_nl[8], kept_perm[8]; int n = 0;
  int pde_on = pdc != NULL;
  if (pde_on) {
    for (int L = PDE_MIN_LEVEL; L <= mode; L++) {
      pde_e *e = pde_lookup(hkey, L, prefix_of(va, L));
      if (!e) continue;
      int ok = 1;
      for (int l = e->next_level + 1; l < L; l++) if (idx_of(va, l) != 0) { ok = 0; break; }
      if (!ok) break;
      ph = (u32)(e->perms & (P_R | P_W)) << 29;
      table = e->next; level = e->next_level;
      break;
    }
  }
  u64 pa; u32 lo, hi;
  for (;;) {
    pa = table + (u64)idx_of(va, level) * 8;
    if (pa + 8 > mem_bytes) return W_FAULT;
    line_touch(pa);
    lo = ld32(pa); hi = ld32(pa + 4);
    if ((lo & V1_PR) == 0) return W_FAULT;
    int nl = (lo >> 9) & 7;
    ph &= hi;
    if (nl == 0 || nl == 7) {
      if (level == 6 || (hi & V1_PTE_RSVD_HI) != 0) return W_FAULT;
      if (enforce && !(write ? (ph & V1_IW_HI) && d->iw : (ph & V1_IR_HI) && d->ir)) return W_FAULT;
      int shift = 12 + 9 * (level - 1), log2 = shift;
      if (nl == 7) {
        u64 addr = ((u64)(hi & V1_ADDR_HI) << 32) | (lo & V1_ADDR_LO);
        int z = 12;
        while (z < 52 && ((addr >> z) & 1)) z++;
        log2 = z + 1;
        if (!(log2 > shift && log2 < shift + 9)) return W_FAULT;
      }
      o->spa_base = (((u64)(hi & V1_ADDR_HI) << 32) | (lo & V1_ADDR_LO)) & ~((1ull << log2) - 1);
      o->log2 = log2;
      break;
    }
    if ((hi & V1_PDE_RSVD_HI) != 0 || nl >= level) return W_FAULT;
    for (int l = nl + 1; l < level; l++) if (idx_of(va, l) != 0) return W_FAULT;
    if (enforce && !(write ? (ph & V1_IW_HI) && d->iw : (ph & V1_IR_HI) && d->ir)) return W_FAULT;
    table = ((u64)(hi & V1_ADDR_HI) << 32) | (lo & V1_ADDR_LO);
    if (pde_on && level >= PDE_MIN_LEVEL) {
      kept_next[n] = table; kept_level[n] = (u8)level; kept_nl[n] = (u8)nl; kept_perm[n] = (u8)((ph >> 29) & 3); n++;
    }
    level = nl;
  }
  int w = (ph & V1_IW_HI) != 0;
  if (d->had & 1) {
    u32 want = V1_A | (write && d->had == 3 && w && d->iw ? V1_D : 0);
    if ((lo & want) != want && !cas32(pa, lo, lo | want)) return W_RETRY;
  }
  for (int i = 0; i < n; i++) pde_fill(hkey, kept_level[i], prefix_of(va, kept_level[i]), kept_next[i], kept_nl[i], kept_perm[i]);
  o->perms = (u8)(((ph >> 29) & 3) | ((hi & V1_U_HI) ? P_NOATS : 0));
  o->leaf_dirty = d->had != 3 || (lo & V1_D) != 0 || (write && w && d->iw);
  return W_OK;
}
static int v1_walk(const dte_t *d, u64 va, int write, int enforce, walk_out *o) {
  for (int i = 0; i < 64; i++) {
    int r = v1_walk_once(d, va, write, enforce, o);
    if (r != W_RETRY) return r;
  }
  return W_FAULT;
}

/* ---- guest (long-mode) walk, optionally nested ---- */
/* a guest table GPA -> SPA through the host space (IOTLB first, then the host walk, filling the IOTLB) */
static int table_spa(const dte_t *d, u64 gpa, u64 *spa, int *host_w) {
  u64 hkey = space_key(d->domain, -1);
  if (tlb) {
    tlb_e *e = tlb_lookup(hkey, gpa);
    if (e && (e->perms & P_R) && d->ir) {
      *spa = e->spa + (gpa & ((1ull << e->log2) - 1)); *host_w = (e->perms & P_W) && d->iw; return 1;
    }
  }
  walk_out h;
  if (v1_walk(d, gpa, 0, 1, &h) != W_OK) return 0;
  if (tlb) tlb_fill(hkey, gpa, h.log2, h.spa_base, h.perms | (h.leaf_dirty ? P_DIRTY : 0));
  *spa = h.spa_base + (gpa & ((1ull << h.log2) - 1)); *host_w = (h.perms & P_W) && d->iw;
  return 1;
}

static int guest_walk_once(const dte_t *d, u32 pasid, u64 cr3, u64 va, int write, int user, int exec, int enforce, int nested, walk_out *o) {
  int levels = d->glevels;
  int w = 1, u = 1, nx = 0;
  int level = levels;
  u64 table = cr3;
  int table_is_spa = !nested;
  u64 gkey = space_key(d->domain, (int)pasid);
  int pde_on = pdc != NULL;
  if (pde_on) {
    for (int L = PDE_MIN_LEVEL; L <= levels; L++) {
      pde_e *e = pde_lookup(gkey, L, prefix_of(va, L));
      if (!e) continue;
      w = (e->perms & P_W) != 0; u = (e->perms & P_U) != 0; nx = (e->perms & P_X) == 0;
      table = e->next; table_is_spa = 1; level = L - 1;
      break;
    }
  }
  u64 e_pa[6]; u32 e_lo[6]; u8 e_hostw[6], e_level[6], e_perm[6]; u64 e_next[6];
  int n = 0;
  u32 lo, hi;
  int log2 = 12;
  u64 gpa_base;
  for (;;) {
    u64 tspa = table; int host_w = 1;
    if (!table_is_spa && !table_spa(d, table, &tspa, &host_w)) return W_FAULT;
    if (n > 0) e_next[n - 1] = tspa;
    u64 pa = tspa + (u64)idx_of(va, level) * 8;
    if (pa + 8 > mem_bytes) return W_FAULT;
    line_touch(pa);
    lo = ld32(pa); hi = ld32(pa + 4);
    if ((lo & LM_P) == 0) return W_FAULT;
    if ((lo & LM_RW) == 0) w = 0;
    if ((lo & LM_US) == 0) u = 0;
    if (hi & LM_NX_HI) nx = 1;
    e_pa[n] = pa; e_lo[n] = lo; e_level[n] = (u8)level; e_hostw[n] = (u8)host_w;
    e_perm[n] = (u8)(P_R | (w ? P_W : 0) | (u ? P_U : 0) | (nx ? 0 : P_X));
    n++;
    int ps = (lo & LM_PS) != 0;
    if (level >= 4 && ps) return W_FAULT;
    if (level == 1 || (ps && (level == 2 || level == 3))) {
      if (level == 3 && ps && (lo & LM_RSVD1G_LO)) return W_FAULT;
      if (level == 2 && ps && (lo & LM_RSVD2M_LO)) return W_FAULT;
      log2 = 12 + 9 * (level - 1);
      gpa_base = (((u64)(hi & 0xfffff) << 32) | (lo & 0xfffff000u)) & ~((1ull << log2) - 1);
      break;
    }
    table = ((u64)(hi & 0xfffff) << 32) | (lo & 0xfffff000u);
    table_is_spa = !nested;
    level--;
  }
  if (enforce && ((write && !w) || (user && !u) || (exec && nx))) return W_FAULT;
  u64 spa = gpa_base + (va & ((1ull << log2) - 1));
  int out_log2 = log2;
  u8 host_perms = P_R | P_W;
  if (nested) {
    walk_out h;
    u64 gpa = spa;
    if (v1_walk(d, gpa, write && w, enforce, &h) != W_OK) return W_FAULT;
    host_perms = h.perms & (P_R | P_W);
    spa = h.spa_base + (gpa & ((1ull << h.log2) - 1));
    if (h.log2 < out_log2) out_log2 = h.log2;
  }
  int want_d = write && w && (host_perms & P_W);
  for (int i = 0; i < n; i++) {
    u32 want = LM_A | (i == n - 1 && want_d ? LM_D : 0);
    if ((e_lo[i] & want) == want) continue;
    if (nested && !e_hostw[i]) return W_FAULT;
    if (!cas32(e_pa[i], e_lo[i], e_lo[i] | want)) return W_RETRY;
  }
  if (pde_on)
    for (int i = 0; i < n - 1; i++)
      if (e_level[i] >= PDE_MIN_LEVEL) pde_fill(gkey, e_level[i], prefix_of(va, e_level[i]), e_next[i], e_level[i] - 1, e_perm[i]);
  o->spa_base = spa & ~((1ull << out_log2) - 1);
  o->log2 = out_log2;
  int leaf_dirty = (lo & LM_D) != 0 || want_d;
  o->perms = (u8)((host_perms & P_R) | (w && (host_perms & P_W) ? P_W : 0) | (u ? P_U : 0) | (nx ? 0 : P_X) |
                  (leaf_dirty ? P_DIRTY : 0) | (nested ? P_NESTED : 0));
  return W_OK;
}

static int guest_walk(const dte_t *d, u32 pasid, u64 va, int write, int user, int exec, int enforce, walk_out *o) {
  int levels_glx = d->glx + 1;
  if (pasid >= (1u << (9 * levels_glx)) || pasid > (1u << (PAS_MAX + 1)) - 1) return W_FAULT;
  /* GCR3 table: PASID -> guest CR3 (the table root is an SPA: GCR3TRPMode off) */
  u64 table = d->gcr3;
  for (int k = levels_glx - 1; k >= 0; k--) {
    u64 pa = table + ((pasid >> (9 * k)) & 0x1ff) * 8;
    u32 lo = ld32(pa), hi = ld32(pa + 4);
    if ((lo & G3_V) == 0 || (lo & G3_RSVD_LO) || (hi & G3_RSVD_HI)) return W_FAULT;
    table = ((u64)(hi & 0xfffff) << 32) | (lo & 0xfffff000u);
  }
  int nested = d->mode != 0;
  for (int i = 0; i < 64; i++) {
    int r = guest_walk_once(d, pasid, table, va, write, user, exec, enforce, nested, o);
    if (r != W_RETRY) return r;
  }
  return W_FAULT;
}

/* ---- a request ---- */
typedef struct { u64 spa; int ok; u8 perms; } answer;

static int guest_path(const dte_t *d, u32 pasid, u64 va, int write, int user, int is_ats, int no_sign_extend, answer *a) {
  int vabits = d->glevels == 5 ? 57 : 48;
  if (no_sign_extend) { if ((va >> vabits) != 0) return 0; }
  else { u64 top = va >> (vabits - 1); if (top != 0 && top != (1ull << (64 - vabits + 1)) - 1) return 0; }
  u64 key = space_key(d->domain, (int)pasid);
  if (tlb) {
    tlb_e *e = tlb_lookup(key, va);
    if (e) {
      u8 p = e->perms & d->perm_mask;
      u8 need = (write ? P_W | P_DIRTY : P_R) | (user ? P_U : 0);
      if ((p & need) == need || is_ats) {
        a->spa = e->spa + (va & ((1ull << e->log2) - 1)); a->perms = p; a->ok = 1; return 1;
      }
    }
  }
  walk_out o;
  if (guest_walk(d, pasid, va, write, user, 0, !is_ats, &o) != W_OK) return 0;
  if (!is_ats && !(write ? d->iw : d->ir)) return 0;
  if (tlb) tlb_fill(key, va, o.log2, o.spa_base, o.perms);
  a->spa = o.spa_base + (va & ((1ull << o.log2) - 1)); a->perms = o.perms & d->perm_mask; a->ok = 1;
  return 1;
}

static int host_path(const dte_t *d, u64 va, int write, int is_ats, answer *a) {
  if (d->mode == 0 || d->mode == 7) return 0;
  u64 key = space_key(d->domain, -1);
  if (tlb) {
    tlb_e *e = tlb_lookup(key, va);
    if (e) {
      u8 p = e->perms & d->perm_mask;
      if ((p & (write ? P_W | P_DIRTY : P_R)) == (write ? P_W | P_DIRTY : P_R) || is_ats) {
        a->spa = e->spa + (va & ((1ull << e->log2) - 1)); a->perms = p; a->ok = 1; return 1;
      }
    }
  }
  walk_out o;
  if (v1_walk(d, va, write, !is_ats, &o) != W_OK) return 0;
  u8 perms = o.perms | (o.leaf_dirty ? P_DIRTY : 0);
  if (tlb) tlb_fill(key, va, o.log2, o.spa_base, perms);
  a->spa = o.spa_base + (va & ((1ull << o.log2) - 1)); a->perms = perms & d->perm_mask; a->ok = 1;
  return 1;
}

static u32 control_iommu_en = 1, control_gt_en = 1;

static int translate(u32 dev, int has_pasid, u32 pasid, u64 va, int write, int is_ats, answer *a) {
  a->ok = 0;
  req_line_hits = 0;
  if (!control_iommu_en) { a->spa = va; a->ok = 1; return 1; }
  const dte_t *d = dte_lookup(dev);
  if (!d->v) { a->spa = va; a->ok = 1; return 1; }
  if (!d->tv || (is_ats && !d->i_ats)) return 0;
  int gt_on = control_gt_en && d->gv;
  if (has_pasid) return gt_on ? guest_path(d, pasid, va, write, 1, is_ats, 0, a) : 0;
  if (gt_on && d->giov) return guest_path(d, 0, va, write, 1, is_ats, 1, a);
  return host_path(d, va, write, is_ats, a);
}

/* ---- the request sequence (bench/native-reference.ts builds the same) ---- */
static u64 *addr_of_pos; static u8 *write_of_pos; static u64 *leaf_of_pos;
static int has_pasid;
static u32 req_pasid;
static u64 pos;
static u64 sink;

static inline u32 fnv(u32 h, u32 w) { return (h ^ w) * 16777619u; }

static inline void one(answer *a) {
  u64 p = pos;
  if (first_touch) { u64 li = leaf_of_pos[p]; st32(li, ld32(li) & ~0x60u); }
  translate(DEVICE, has_pasid, req_pasid, addr_of_pos[p], write_of_pos[p], ats, a);
  if (++p == (u64)span) p = 0;
  pos = p;
}

static double now_ns(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e9 + t.tv_nsec; }
/* CPU time of this process: on a machine shared with other work, time spent descheduled is not counted */
static double cpu_ns(void) { struct timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t); return t.tv_sec * 1e9 + t.tv_nsec; }

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    char *eq = strchr(argv[i], '=');
    if (!eq) { fprintf(stderr, "iommu_ref: argument %s is not key=value\n", argv[i]); return 2; }
    *eq = 0;
    const char *k = argv[i], *v = eq + 1;
    long long n = strtoll(v, NULL, 0);
    if (!strcmp(k, "kind")) kind = v;
    else if (!strcmp(k, "hostLevels")) host_levels = (int)n;
    else if (!strcmp(k, "guestLevels")) guest_levels = (int)n;
    else if (!strcmp(k, "pages")) pages = (int)n;
    else if (!strcmp(k, "fresh")) fresh = (int)n;
    else if (!strcmp(k, "giov")) giov = (int)n;
    else if (!strcmp(k, "ats")) ats = (int)n;
    else if (!strcmp(k, "span")) span = (int)n;
    else if (!strcmp(k, "stride")) stride = (int)n;
    else if (!strcmp(k, "writeEvery")) write_every = (int)n;
    else if (!strcmp(k, "firstTouch")) first_touch = (int)n;
    else if (!strcmp(k, "iotlbEntries")) iotlb_entries = (int)n;
    else if (!strcmp(k, "iotlbWays")) iotlb_ways = (int)n;
    else if (!strcmp(k, "pdeEntries")) pde_entries = (int)n;
    else if (!strcmp(k, "pdeWays")) pde_ways = (int)n;
    else if (!strcmp(k, "tableStart")) table_start = (u64)n;
    else if (!strcmp(k, "deviceTable")) dt_base = (u64)n;
    else if (!strcmp(k, "bytes")) mem_bytes = (u64)n;
    else if (!strcmp(k, "tableCacheLines")) table_cache_lines = (int)n;
    else if (!strcmp(k, "tableCacheWays")) line_ways = (int)n;
    else { fprintf(stderr, "iommu_ref: unknown key %s\n", k); return 2; }
  }
  if (mem_bytes == 0 || table_start == 0 || dt_base == 0) { fprintf(stderr, "iommu_ref: bytes, tableStart and deviceTable are required\n"); return 2; }
  mem = aligned_alloc(4096, mem_bytes);
  if (!mem) { fprintf(stderr, "iommu_ref: out of memory\n"); return 2; }
  memset(mem, 0, mem_bytes);
  next_page = table_start;
  int is_v1 = !strcmp(kind, "v1"), is_guest = !strcmp(kind, "guest"), is_nested = !strcmp(kind, "nested");
  if (!is_v1 && !is_guest && !is_nested) { fprintf(stderr, "iommu_ref: kind must be v1, guest or nested\n"); return 2; }
  u64 base, leaf_root; int leaf_levels;
  if (is_v1) {
    u64 root = alloc_page();
    for (int i = 0; i < pages; i++) v1_map(root, host_levels, IOVA_BASE + (u64)i * 4096, DATA_BASE + (u64)i * 4096, !fresh, !fresh);
    dte_write(DEVICE, host_levels, root, 3, 0, 0, 0, 0, 0, 1);
    base = IOVA_BASE; leaf_root = root; leaf_levels = host_levels; has_pasid = 0;
  } else if (is_guest) {
    u64 root = alloc_page();
    for (int i = 0; i < pages; i++) lm_map(root, guest_levels, GVA_BASE + (u64)i * 4096, DATA_BASE + (u64)i * 4096, !fresh, !fresh);
    u64 g3 = alloc_page();
    gcr3_set(g3, giov ? 0 : PASID, root);
    dte_write(DEVICE, 0, 0, 0, 1, giov, 0, g3, guest_levels == 5 ? 1 : 0, 1);
    base = GVA_BASE; leaf_root = root; leaf_levels = guest_levels; has_pasid = !giov; req_pasid = PASID;
  } else {
    u64 start = next_page;
    u64 root = alloc_page();
    for (int i = 0; i < pages; i++) lm_map(root, 4, GVA_BASE + (u64)i * 4096, DATA_BASE + (u64)i * 4096, 1, 1);
    u64 g3 = alloc_page();
    gcr3_set(g3, PASID, root);
    u64 end = next_page;
    u64 hroot = alloc_page();
    for (u64 a = start; a < end; a += 4096) v1_map(hroot, 4, a, a, 1, 1);
    for (int i = 0; i < pages; i++) v1_map(hroot, 4, DATA_BASE + (u64)i * 4096, DATA_BASE + (u64)i * 4096, 1, 1);
    dte_write(DEVICE, 4, hroot, 3, 1, 0, 0, g3, 0, 1);
    base = GVA_BASE; leaf_root = root; leaf_levels = 4; has_pasid = 1; req_pasid = PASID;
  }
  /* the memory image: the DTE's 8 dwords, then the table region */
  u32 h = 2166136261u;
  for (int i = 0; i < 8; i++) h = fnv(h, ld32(dt_base + (u64)DEVICE * 32 + 4 * i));
  for (u64 a = table_start; a < next_page; a += 4) h = fnv(h, ld32(a));
  printf("image %08x %llu\n", h, (unsigned long long)next_page);
  fflush(stdout);

  if (iotlb_entries > 0) {
    tlb = calloc((size_t)iotlb_entries, sizeof(tlb_e));
    tlb_sets_mask = (u32)(iotlb_entries / iotlb_ways) - 1;
  }
  if (table_cache_lines > 0) {
    if (line_ways < 1 || table_cache_lines % line_ways != 0) { fprintf(stderr, "iommu_ref: tableCacheWays must divide tableCacheLines\n"); return 2; }
    line_tags = malloc(sizeof(u32) * (size_t)table_cache_lines);
    memset(line_tags, 0xff, sizeof(u32) * (size_t)table_cache_lines);
    line_sets_mask = (u32)(table_cache_lines / line_ways) - 1;
  }
  if (pde_entries > 0) {
    pdc = calloc((size_t)pde_entries, sizeof(pde_e));
    pde_sets_mask = (u32)(pde_entries / pde_ways) - 1;
  }
  addr_of_pos = malloc(sizeof(u64) * (size_t)span);
  write_of_pos = malloc((size_t)span);
  leaf_of_pos = malloc(sizeof(u64) * (size_t)span);
  for (int k = 0, i = 0; k < span; k++) {
    addr_of_pos[k] = base + (u64)i * 4096 + 64;
    write_of_pos[k] = write_every > 0 && k % write_every == 0;
    leaf_of_pos[k] = entry_address(leaf_root, leaf_levels, base + (u64)i * 4096, is_v1);
    i += stride; if (i >= span) i -= span;
  }

  char line[256];
  answer a;
  while (fgets(line, sizeof line, stdin)) {
    long long n = 0;
    if (sscanf(line, "verify %lld", &n) == 1) {
      u32 c = 2166136261u;
      for (long long i = 0; i < n; i++) {
        one(&a);
        u64 s = a.ok ? a.spa : 0;
        c = fnv(fnv(fnv(fnv(c, (u32)s), (u32)(s >> 32)), (u32)a.ok), req_line_hits);
      }
      printf("check %08x\n", c);
    } else if (sscanf(line, "run %lld", &n) == 1) {
      double w0 = now_ns(), t0 = cpu_ns(), t1, limit = (double)n * 1e6;
      long long ops = 0;
      do {
        for (int k = 0; k < 1024; k++) { one(&a); sink += a.spa; }
        ops += 1024;
        t1 = cpu_ns();
      } while (t1 - t0 < limit);
      printf("ran %.0f %lld %.0f\n", t1 - t0, ops, now_ns() - w0);
    } else if (!strncmp(line, "quit", 4)) break;
    else { fprintf(stderr, "iommu_ref: unknown command %s", line); return 2; }
    fflush(stdout);
  }
  fprintf(stderr, "sink %llu\n", (unsigned long long)(sink & 1));
  return 0;
}

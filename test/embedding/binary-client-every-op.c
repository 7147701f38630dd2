/*
 * Drives the binary channel through every op with the shipped C client
 * (clients/c/amd_iommu_client.h), for test/embedding/binary-clients.test.ts, which compiles
 * it with the system compiler and checks what it prints: one "key=value" line per fact.
 *
 *   binary-client-every-op <inval-cmd-hex32x4> <completion-wait-cmd-hex32x4> -- <server command>
 *
 * The two commands (INVALIDATE_IOMMU_PAGES of domain 5 at 0x10000000, COMPLETION_WAIT
 * storing to 0x7000) come from the test, which builds them with src/spec/commands.ts.
 */
#include "../../clients/c/amd_iommu_client.h"

#define P(...) do { printf(__VA_ARGS__); putchar('\n'); fflush(stdout); } while (0)

static int maps, unmaps, interrupts;
static uint64_t unmap_start, unmap_size; static uint32_t unmap_domain, unmap_command;
static void on_notify(aic_client *c, const aic_notification *n) {
  (void)c;
  if (n->op == AIC_OP_NOTIFY_MAP) maps++;
  if (n->op == AIC_OP_NOTIFY_UNMAP) { unmaps++; unmap_start = n->start; unmap_size = n->size; unmap_domain = n->domain_id; unmap_command = n->code; }
  if (n->op == AIC_OP_NOTIFY_INTERRUPT) interrupts++;
}
static uint32_t last_event[4]; static int events;
static void on_event(void *u, const uint32_t e[4]) { (void)u; memcpy(last_event, e, 16); events++; }

/* simulator-owned memory: 8 MiB the client keeps */
static uint32_t simmem[(8 << 20) / 4];
static int sim_reads, sim_cas, sim_writes, sim_completion;
static uint64_t sim_completion_pa; static uint32_t sim_completion_value;
static void sim_read(aic_client *c, uint64_t pa, uint32_t *w, unsigned n) { (void)c; sim_reads++; memcpy(w, &simmem[pa / 4], 4 * n); }
static void sim_write(aic_client *c, uint64_t pa, uint32_t v, int cw) {
  (void)c; sim_writes++; simmem[pa / 4] = v;
  if (cw) { sim_completion++; sim_completion_pa = pa; sim_completion_value = v; }
}
static uint32_t sim_cas_fn(aic_client *c, uint64_t pa, uint32_t expected, uint32_t v) {
  (void)c; sim_cas++; uint32_t found = simmem[pa / 4]; if (found == expected) simmem[pa / 4] = v; return found;
}

static void parse4(const char *s, uint32_t w[4]) { sscanf(s, "%x,%x,%x,%x", &w[0], &w[1], &w[2], &w[3]); }

int main(int argc, char **argv) {
  if (argc < 5 || strcmp(argv[3], "--") != 0) { fprintf(stderr, "usage: %s INVAL CWAIT -- server...\n", argv[0]); return 2; }
  uint32_t inval[4], cwait[4];
  parse4(argv[1], inval); parse4(argv[2], cwait);
  aic_client c;
  if (aic_start(&c, argv + 4) != 0) { P("start_error=%s", c.error); return 1; }
  c.on_notify = on_notify;
  c.mem_read = sim_read; c.mem_write = sim_write; c.mem_cas = sim_cas_fn;

  P("hello=%d", aic_hello(&c));
  P("add_memory=%d", aic_add_memory(&c, 0, 64 << 20));
  P("add_memory_overlap=%d", aic_add_memory(&c, 0x100000, 4096));
  P("add_memory_overlap_error=%s", c.error);
  P("create_iommu=%d", aic_create_iommu(&c, 0, 0, "{\"iotlb\":{\"entries\":64}}"));
  P("create_iommu_bad_options=%d", aic_create_iommu(&c, 2, 2, "{not json"));

  aic_image img; aic_image_init(&img, 0x100000, 4 << 20);
  uint64_t dt = aic_image_alloc(&img, 2), cmd = aic_image_alloc(&img, 1), ev = aic_image_alloc(&img, 1), root = aic_image_alloc(&img, 1);
  aic_image_v1_map(&img, root, 3, 0x10000000, 0x3000000, 1, 1);
  aic_image_dte_v1(&img, dt, 0x10, root, 3, 5);
  P("write_image=%d", aic_write_image(&c, &img));
  P("mmio_write=%d", aic_mmio_write64(&c, 0, AIC_MMIO_DEVICE_TABLE_BASE, dt | 1) | aic_mmio_write64(&c, 0, AIC_MMIO_COMMAND_BUFFER_BASE, cmd | (8ull << 56)) |
    aic_mmio_write64(&c, 0, AIC_MMIO_EVENT_LOG_BASE, ev | (8ull << 56)) |
    aic_mmio_write64(&c, 0, AIC_MMIO_CONTROL, AIC_CONTROL_IOMMU_EN | AIC_CONTROL_EVENT_LOG_EN | AIC_CONTROL_CMD_BUF_EN));
  uint64_t v = 0;
  P("mmio_read=%d", aic_mmio_read(&c, 0, AIC_MMIO_CONTROL, 8, &v));
  P("control=0x%llx", (unsigned long long)v);
  P("mmio_read32=%d", aic_mmio_read(&c, 0, AIC_MMIO_DEVICE_TABLE_BASE, 4, &v));
  P("dtb_low=0x%llx", (unsigned long long)v);
  P("mmio_bad_width=%d", aic_mmio_read(&c, 0, AIC_MMIO_CONTROL, 2, &v));
  P("mmio_bad_width_error=%s", c.error);
  P("subscribe=%d", aic_subscribe(&c, 0, AIC_EV_UNMAP | AIC_EV_MAP | AIC_EV_INTERRUPT));

  aic_translation_req q = { 0x10, AIC_T_WRITE, 0, 0x10000abc, 0 };
  aic_translation t;
  P("translate=%d", aic_translate(&c, AIC_OP_TRANSLATE, 0, &q, &t));
  P("translate_allowed=%d translate_spa=0x%llx page_shift=%u path=%u writable=%d maps=%d", !!(t.flags & AIC_A_ALLOWED), (unsigned long long)t.spa, t.page_shift, t.path, !!(t.flags & AIC_A_WRITABLE), maps);
  P("ats=%d", aic_translate(&c, AIC_OP_TRANSLATE_ATS, 0, &q, &t));
  P("ats_status=%u fault=%u", t.status, t.fault);
  int maps_before_peek = maps;
  P("peek=%d", aic_translate(&c, AIC_OP_PEEK, 0, &q, &t));
  P("peek_allowed=%d peek_spa=0x%llx maps_added=%d", !!(t.flags & AIC_A_ALLOWED), (unsigned long long)t.spa, maps - maps_before_peek);
  q.cycle = 5000;
  P("timed=%d", aic_translate(&c, AIC_OP_TRANSLATE_TIMED, 0, &q, &t));
  P("timed_completion=%llu cycles=%u", (unsigned long long)t.completion_cycle, t.cycles);
  aic_translation_req miss = { 0x10, 0, 0, 0x20000000, 0 };
  P("miss=%d", aic_translate(&c, AIC_OP_TRANSLATE, 0, &miss, &t));
  P("miss_allowed=%d fault=%u event=%u", !!(t.flags & AIC_A_ALLOWED), t.fault, t.event);
  /* a batch: a good request, a refused one (PASID out of range), a good one */
  aic_translation_req b[3] = { { 0x10, 0, 0, 0x10000000, 0 }, { 0x10, AIC_T_PASID, 0x100000, 0x10000000, 0 }, { 0x10, AIC_T_WRITE, 0, 0x10000008, 0 } };
  aic_translation br[3];
  P("batch=%d", aic_translate_batch(&c, AIC_OP_TRANSLATE, 0, b, br, 3));
  P("batch_status=%u,%u,%u batch_error=%s", br[0].status, br[1].status, br[2].status, c.error);
  P("read_events=%d", aic_read_events(&c, 0, on_event, NULL));
  P("event_code=%u event_address=0x%x", last_event[1] >> 28, last_event[2]);
  uint64_t pte = 0;
  uint64_t pte_pa = 0;
  { /* the leaf entry of 0x10000000: walk the image */
    uint64_t tbl = root;
    for (int level = 3; level > 1; level--) tbl = *aic_image_q(&img, tbl + 8 * ((0x10000000ull >> (12 + 9 * (level - 1))) & 511)) & 0x000ffffffffff000ull;
    pte_pa = tbl + 8 * ((0x10000000ull >> 12) & 511);
  }
  P("mem_read=%d", aic_mem_read(&c, pte_pa, &pte, 8));
  P("pte_accessed=%d pte_dirty=%d", (int)(pte >> 5 & 1), (int)(pte >> 6 & 1));
  P("mem_read_hole=%d", aic_mem_read(&c, 0x7f000000, &pte, 8));
  /* invalidate: the command into the ring, the tail register, advance */
  P("mem_write=%d", aic_mem_write(&c, cmd, inval, 16));
  P("tail=%d", aic_mmio_write64(&c, 0, AIC_MMIO_COMMAND_BUFFER_TAIL, 16));
  uint64_t now = 0;
  P("advance=%d", aic_advance(&c, 0, UINT64_MAX, &now));
  P("advance_now=%llu", (unsigned long long)now);
  P("unmaps=%d unmap_domain=%u unmap_start=0x%llx unmap_size=0x%llx unmap_command=%u", unmaps, unmap_domain, (unsigned long long)unmap_start, (unsigned long long)unmap_size, unmap_command);
  P("advance_to=%d", aic_advance(&c, 0xff, 100000, &now));
  P("advance_to_now=%llu", (unsigned long long)now);
  P("attach_endpoint=%d", aic_attach_endpoint(&c, 0, 0x10, 100));
  uint32_t outcome = 99;
  P("page_request=%d", aic_page_request(&c, 0, 0x10, AIC_PR_READ | AIC_PR_LAST, 0, 3, 0x10000000, &outcome));
  P("page_request_outcome=%u", outcome);
  char js[4096];
  P("json=%d", aic_json(&c, "{\"op\":\"stats\",\"iommu\":\"0\"}", js, sizeof js));
  P("json_has_stats=%d", strstr(js, "\"stats\"") != NULL);
  P("json_refused=%d", aic_json(&c, "{\"op\":\"no-such-op\"}", js, sizeof js));
  /* an unknown op, a record too short, a device id out of range */
  aic_begin(&c); aic_record(&c, 0x3f, 0, 0, 8);
  size_t pos = 0; const unsigned char *a;
  P("unknown_roundtrip=%d", aic_roundtrip(&c));
  a = aic_next_answer(&c, &pos);
  P("unknown_status=%u unknown_code=%u", a ? a[1] : 9, a ? aic_ld32(a + 8) : 0);
  aic_begin(&c); aic_record(&c, AIC_OP_MMIO_WRITE, 0, 0, 16);
  pos = 0; aic_roundtrip(&c); a = aic_next_answer(&c, &pos);
  P("short_status=%u short_code=%u", a ? a[1] : 9, a ? aic_ld32(a + 8) : 0);
  aic_translation_req badq = { 0, 0, 0, 0, 0 };
  aic_begin(&c); { unsigned char *r = aic_record(&c, AIC_OP_TRANSLATE, 0, 0, 32); aic_st32(r + 8, 70000); (void)badq; }
  pos = 0; aic_roundtrip(&c); a = aic_next_answer(&c, &pos);
  P("bad_device_status=%u bad_device_error=%s", a ? a[1] : 9, c.error);
  P("no_iommu=%d", aic_translate(&c, AIC_OP_TRANSLATE, 9, &q, &t));
  P("no_iommu_status=%u no_iommu_error=%s", t.status, c.error);

  /* simulator-owned memory: IOMMU 1 sees only this process's simmem */
  aic_image sim; aic_image_init(&sim, 0x100000, 4 << 20);
  uint64_t sdt = aic_image_alloc(&sim, 2), scmd = aic_image_alloc(&sim, 1), sev = aic_image_alloc(&sim, 1), sroot = aic_image_alloc(&sim, 1);
  aic_image_v1_map(&sim, sroot, 3, 0x10000000, 0x300000, 1, 1);
  aic_image_dte_v1(&sim, sdt, 0x10, sroot, 3, 5);
  memcpy((unsigned char *)simmem + 0x100000, sim.bytes, sim.used);
  P("create_simmem=%d", aic_create_iommu_simmem(&c, 1, 1, NULL, sizeof simmem));
  int r0 = sim_reads;
  P("sim_mmio=%d", aic_mmio_write64(&c, 1, AIC_MMIO_DEVICE_TABLE_BASE, sdt | 1) | aic_mmio_write64(&c, 1, AIC_MMIO_COMMAND_BUFFER_BASE, scmd | (8ull << 56)) |
    aic_mmio_write64(&c, 1, AIC_MMIO_EVENT_LOG_BASE, sev | (8ull << 56)) |
    aic_mmio_write64(&c, 1, AIC_MMIO_CONTROL, AIC_CONTROL_IOMMU_EN | AIC_CONTROL_EVENT_LOG_EN | AIC_CONTROL_CMD_BUF_EN));
  P("sim_reads_at_mmio=%d", sim_reads - r0);
  q.cycle = 0;
  P("sim_translate=%d", aic_translate(&c, AIC_OP_TRANSLATE, 1, &q, &t));
  P("sim_allowed=%d sim_spa=0x%llx reads=%d cas=%d requests=%llu", !!(t.flags & AIC_A_ALLOWED), (unsigned long long)t.spa, sim_reads - r0, sim_cas, (unsigned long long)c.memory_requests);
  {
    uint64_t tbl = sroot;
    for (int level = 3; level > 1; level--) tbl = *(uint64_t *)(void *)((unsigned char *)simmem + tbl + 8 * ((0x10000000ull >> (12 + 9 * (level - 1))) & 511)) & 0x000ffffffffff000ull;
    uint64_t leaf = *(uint64_t *)(void *)((unsigned char *)simmem + tbl + 8 * ((0x10000000ull >> 12) & 511));
    P("sim_pte_accessed=%d sim_pte_dirty=%d", (int)(leaf >> 5 & 1), (int)(leaf >> 6 & 1));
  }
  P("sim_timed=%d", aic_translate(&c, AIC_OP_TRANSLATE_TIMED, 1, &q, &t));
  P("sim_timed_status=%u", t.status);
  P("sim_miss=%d", aic_translate(&c, AIC_OP_TRANSLATE, 1, &miss, &t));
  P("sim_miss_fault=%u event=%u", t.fault, t.event);
  memcpy((unsigned char *)simmem + scmd, cwait, 16);
  int w0 = sim_writes;
  P("sim_tail=%d", aic_mmio_write64(&c, 1, AIC_MMIO_COMMAND_BUFFER_TAIL, 16));
  P("sim_advance=%d", aic_advance(&c, 1, UINT64_MAX, &now));
  P("sim_completion=%d pa=0x%llx value=0x%x writes=%d", sim_completion, (unsigned long long)sim_completion_pa, sim_completion_value, sim_writes - w0);
  P("sim_mem_read_refused=%d", aic_mem_read(&c, 0x7f000000, &pte, 8));

  P("close=%d", aic_close(&c));
  aic_image_free(&img); aic_image_free(&sim);
  return 0;
}

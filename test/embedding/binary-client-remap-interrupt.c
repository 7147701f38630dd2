/*
 * Drives the binary channel's remap-interrupt op (0x20) with the shipped C client
 * (aic_remap_interrupt / aic_remap_interrupt_batch in clients/c/amd_iommu_client.h), for
 * test/embedding/binary-clients.test.ts, which compiles it with the system compiler and checks
 * what it prints: one "key=value" line per fact.
 *
 *   binary-client-remap-interrupt -- <server command>
 *
 * Device 0x18 has a 4-entry table of 32-bit IRTEs (Control.GAEn = 0): entry 2 remaps to
 * vector 0x71, APIC 0x0d, physical; entry 1 has RemapEn = 0.
 */
#include "../../clients/c/amd_iommu_client.h"

#define P(...) do { printf(__VA_ARGS__); putchar('\n'); fflush(stdout); } while (0)
#define DEV 0x18
#define MSI 0xfee00000ull

static void show(const char *k, int rc, const aic_interrupt *t) {
  P("%s=%d %s_status=%u %s_flags=%u %s_address=0x%x %s_data=0x%x %s_destination=0x%x %s_vector=0x%x %s_mode=%u %s_event=%u %s_fault=%u %s_path=%u %s_index=%d %s_cycles=%llu %s_completion=%llu",
    k, rc, k, t->status, k, t->flags, k, t->address, k, t->data, k, t->destination, k, t->vector, k, t->delivery_mode, k, t->event,
    k, t->fault, k, t->path, k, t->index, k, (unsigned long long)t->cycles, k, (unsigned long long)t->completion_cycle);
}

int main(int argc, char **argv) {
  if (argc < 3 || strcmp(argv[1], "--") != 0) { fprintf(stderr, "usage: %s -- server...\n", argv[0]); return 2; }
  aic_client c;
  if (aic_start(&c, argv + 2) != 0) { P("start_error=%s", c.error); return 1; }
  P("setup=%d", aic_add_memory(&c, 0, 16 << 20) | aic_create_iommu(&c, 0, 0, NULL));
  aic_image img; aic_image_init(&img, 0x100000, 1 << 20);
  uint64_t dt = aic_image_alloc(&img, 2), ev = aic_image_alloc(&img, 1), root = aic_image_alloc(&img, 1), irt = aic_image_alloc(&img, 1);
  aic_image_dte_v1(&img, dt, DEV, root, 3, 4);
  aic_image_dte_interrupts(&img, dt, DEV, irt, 2);
  aic_image_irte32(&img, irt, 2, 0x71, 0x0d, 0);
  *(uint32_t *)(void *)(img.bytes + (irt - img.base) + 4) = 0x00720000; /* entry 1: vector 0x72, RemapEn = 0 */
  P("program=%d", aic_write_image(&c, &img) | aic_mmio_write64(&c, 0, AIC_MMIO_DEVICE_TABLE_BASE, dt | 1) |
    aic_mmio_write64(&c, 0, AIC_MMIO_EVENT_LOG_BASE, ev | (8ull << 56)) |
    aic_mmio_write64(&c, 0, AIC_MMIO_CONTROL, AIC_CONTROL_IOMMU_EN | AIC_CONTROL_EVENT_LOG_EN));

  aic_interrupt t;
  memset(&t, 0xff, sizeof t);
  aic_interrupt_req q = { DEV, 0, 2, MSI, 0, 0 };
  show("remap", aic_remap_interrupt(&c, 0, &q, &t), &t);
  show("again", aic_remap_interrupt(&c, 0, &q, &t), &t);
  q.flags = AIC_I_PEEK;
  show("peek", aic_remap_interrupt(&c, 0, &q, &t), &t);
  q.flags = AIC_I_TIMED; q.cycle = 7000;
  show("timed", aic_remap_interrupt(&c, 0, &q, &t), &t);
  aic_interrupt_req off = { DEV, 0, 1, MSI, 0, 0 }, out = { DEV, 0, 40, MSI, 0, 0 };
  show("not_remapped", aic_remap_interrupt(&c, 0, &off, &t), &t);
  show("out_of_range", aic_remap_interrupt(&c, 0, &out, &t), &t);
  aic_interrupt_req bad = { DEV, AIC_I_PEEK | AIC_I_TIMED, 2, MSI, 0, 1 };
  show("refused", aic_remap_interrupt(&c, 0, &bad, &t), &t);
  P("refused_error=%s", c.error);
  aic_interrupt_req b[3] = { { DEV, 0, 2, MSI, 0, 0 }, { DEV, AIC_I_PEEK | AIC_I_TIMED, 2, MSI, 0, 1 }, { DEV, AIC_I_PEEK, 2, MSI | (0x0dull << 12), 0, 0 } };
  aic_interrupt br[3];
  memset(br, 0xff, sizeof br);
  P("batch=%d", aic_remap_interrupt_batch(&c, 0, b, br, 3));
  P("batch_status=%u,%u,%u batch_vectors=0x%x,0x%x batch_error=%s", br[0].status, br[1].status, br[2].status, br[0].vector, br[2].vector, c.error);
  P("no_iommu=%d", aic_remap_interrupt(&c, 9, &q, &t));
  P("no_iommu_status=%u no_iommu_error=%s", t.status, c.error);
  char js[4096];
  P("json=%d", aic_json(&c, "{\"op\":\"remap-interrupt\",\"iommu\":\"0\",\"deviceId\":24,\"address\":\"0xfee00000\",\"data\":2,\"kind\":\"peek\"}", js, sizeof js));
  P("json_answer=%s", js);
  P("close=%d", aic_close(&c));
  aic_image_free(&img);
  return 0;
}

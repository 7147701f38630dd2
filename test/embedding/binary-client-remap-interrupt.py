"""
Drives the binary channel's remap-interrupt op (0x20) with the shipped Python client
(Client.remap_interrupt / remap_interrupt_batch in clients/python/amd_iommu_client.py), for
test/embedding/binary-clients.test.ts, which checks the JSON it prints last.

    python3 binary-client-remap-interrupt.py -- <server command>

Device 0x18 has a 4-entry table of 32-bit IRTEs (Control.GAEn = 0): entry 2 remaps to
vector 0x71, APIC 0x0d, physical; entry 1 has RemapEn = 0.
"""
import json
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))
import amd_iommu_client as aic  # noqa: E402

DEV, MSI = 0x18, 0xFEE00000
c = aic.Client.start(sys.argv[sys.argv.index("--") + 1:])
c.add_memory(0, 16 << 20)
c.create_iommu(0)
img = aic.Image(0x100000, 1 << 20)
dt, ev, root, irt = img.alloc(2), img.alloc(), img.alloc(), img.alloc()
img.dte_v1(dt, DEV, root, 3, 4)
img.dte_interrupts(dt, DEV, irt, 2)
img.irte32(irt, 2, 0x71, 0x0D)
struct.pack_into("<I", img.bytes, irt - img.base + 4, 0x00720000)  # entry 1: vector 0x72, RemapEn = 0
img.write(c)
c.mmio_write(0, aic.MMIO_DEVICE_TABLE_BASE, dt | 1)
c.mmio_write(0, aic.MMIO_EVENT_LOG_BASE, ev | (8 << 56))
c.mmio_write(0, aic.MMIO_CONTROL, aic.CONTROL_IOMMU_EN | aic.CONTROL_EVENT_LOG_EN)

out = {}
out["remap"] = c.remap_interrupt(0, DEV, MSI, 2)._asdict()
out["again"] = c.remap_interrupt(0, DEV, MSI, 2)._asdict()
out["peek"] = c.remap_interrupt(0, DEV, MSI, 2, aic.I_PEEK)._asdict()
out["timed"] = c.remap_interrupt(0, DEV, MSI, 2, aic.I_TIMED, cycle=7000)._asdict()
out["not_remapped"] = c.remap_interrupt(0, DEV, MSI, 1)._asdict()
out["out_of_range"] = c.remap_interrupt(0, DEV, MSI, 40)._asdict()
out["refused"] = c.remap_interrupt(0, DEV, MSI, 2, aic.I_PEEK | aic.I_TIMED, cycle=1)._asdict()
batch = c.remap_interrupt_batch(0, [aic.InterruptRequest(DEV, MSI, 2), aic.InterruptRequest(DEV, MSI, 2, aic.I_PEEK | aic.I_TIMED, 0, 1),
                                    aic.InterruptRequest(DEV, MSI | 0x0D << 12, 2, aic.I_PEEK)])
out["batch"] = [[t.status, t.vector, t.error] for t in batch]
out["names"] = [aic.INTERRUPT_PATHS[out["remap"]["path"]], aic.INTERRUPT_FAULTS[out["out_of_range"]["fault"]], aic.INTERRUPT_FAULTS[out["not_remapped"]["fault"]]]
out["no_iommu"] = c.remap_interrupt(9, DEV, MSI, 2).error
out["json"] = json.loads(c.json(json.dumps({"op": "remap-interrupt", "iommu": "0", "deviceId": DEV, "address": hex(MSI), "data": 2, "kind": "peek"})))
out["close"] = c.close()
print(json.dumps(out))

#!/usr/bin/env python3
"""
Several DMA devices sharing one IOMMU, modelled in SimPy (Debian's python3-simpy, SimPy
2.x: `from SimPy.Simulation import ...`), with the amd-iommu-v2-model server as the IOMMU
over the binary channel.

    python3 clients/python/examples/simpy_dma.py [--devices N] [--transfers N] -- <server command>
    python3 clients/python/examples/simpy_dma.py -- npx amd-iommu-model serve --binary

SimPy owns time (one time unit = one IOMMU cycle) and the devices: each device is a SimPy
Process streaming DMA bursts from its own buffer (its own domain and host page table).
For each page of a burst it takes the IOMMU's single translation port (a SimPy Resource),
sends a timed translation (issued at SimPy's now) and holds until the model's
completionCycle, then moves the page's data at the link's bandwidth. Midway a driver
process unmaps one page of device 0 and one of device 1 as a driver would: clears each PTE
in memory, writes INVALIDATE_IOMMU_PAGES to the command buffer, rings the tail doorbell and
advances the IOMMU. Device 0 listens to the UNMAP notifications (subscribed over the
channel) and drops the page from its plan; device 1 does not, so its later DMAs to the
page fault: the IOMMU refuses them and logs IO_PAGE_FAULT, which the driver reads from the
event log at the end.
The last line is a JSON summary.
"""
import json
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import amd_iommu_client as aic  # noqa: E402
from SimPy.Simulation import Process, Resource, Simulation, hold, release, request  # noqa: E402

PAGE = 4096
BYTES_PER_CYCLE = 64          # the device's link: 64 bytes per IOMMU cycle
IOVA = 0x10000000


class Device(Process):
    def __init__(self, sim, bench, index, transfers, pages):
        Process.__init__(self, name="dma%d" % index, sim=sim)
        self.bench, self.index, self.transfers, self.pages = bench, index, transfers, pages
        self.device_id = 0x10 + 8 * index
        self.stats = dict(translations=0, faults=0, iotlb_hits=0, bytes=0, latency=0, unmaps_seen=0, skipped=0)
        self.unmapped = set()
        self.listens = index != 1   # device 1 ignores UNMAP notifications (a stale device TLB)

    def run(self):
        b, port = self.bench, self.bench.port
        for t in range(self.transfers):
            page = (t * 3 + self.index) % self.pages
            if page in self.unmapped:   # the device's driver no longer maps it
                self.stats["skipped"] += 1
                continue
            yield request, self, port
            issue = int(self.sim.now())
            r = b.client.translate(aic.OP_TRANSLATE_TIMED, 0, self.device_id, IOVA + PAGE * page, aic.T_WRITE, cycle=issue)
            yield hold, self, max(0, r.completion_cycle - issue)
            yield release, self, port
            self.stats["translations"] += 1
            self.stats["latency"] += r.completion_cycle - issue
            if r.flags & aic.A_IOTLB_HIT:
                self.stats["iotlb_hits"] += 1
            if not r.flags & aic.A_ALLOWED:
                self.stats["faults"] += 1
                continue
            yield hold, self, PAGE // BYTES_PER_CYCLE
            self.stats["bytes"] += PAGE


class Driver(Process):
    """Unmaps pages [(device, page), ...] at `when`, as the IOMMU driver does."""

    def __init__(self, sim, bench, when, pages):
        Process.__init__(self, name="driver", sim=sim)
        self.bench, self.when, self.pages = bench, when, pages

    def run(self):
        yield hold, self, self.when
        b = self.bench
        c = b.client
        for dev, page in self.pages:
            c.mem_write_bytes(b.leaf[(dev, page)], bytes(8))     # PTE cleared
            iova = IOVA + PAGE * page
            cmd = struct.pack("<4I", 0, (3 << 28) | b.domains[dev], iova & 0xFFFFF000, iova >> 32)   # INVALIDATE_IOMMU_PAGES, S = 0
            c.mem_write_bytes(b.cmd + b.tail, cmd)
            b.tail = (b.tail + 16) % 4096
        c.mmio_write(0, aic.MMIO_COMMAND_BUFFER_TAIL, b.tail)
        c.advance(0, int(self.sim.now()))
        c.advance(0)  # run them to the end: the UNMAP notifications arrive with this answer
        b.unmap_cycle = int(self.sim.now())


class Bench:
    def __init__(self, cmd, devices, transfers, pages):
        self.client = c = aic.Client.start(cmd)
        c.hello()
        c.add_memory(0, 64 << 20)
        c.create_iommu(0)
        img = aic.Image(0x100000, 8 << 20)
        dt = img.alloc(2)
        self.cmd, ev = img.alloc(), img.alloc()
        self.tail = 0
        self.leaf, self.domains = {}, {}
        for d in range(devices):
            root = img.alloc()
            for p in range(pages):
                img.v1_map(root, 3, IOVA + PAGE * p, 0x1000000 + (d * pages + p) * PAGE)
                self.leaf[(d, p)] = img.leaf(root, 3, IOVA + PAGE * p)
            self.domains[d] = 1 + d
            img.dte_v1(dt, 0x10 + 8 * d, root, 3, 1 + d)
        img.write(c)
        c.mmio_write(0, aic.MMIO_DEVICE_TABLE_BASE, dt | 1)
        c.mmio_write(0, aic.MMIO_COMMAND_BUFFER_BASE, self.cmd | (8 << 56))
        c.mmio_write(0, aic.MMIO_EVENT_LOG_BASE, ev | (8 << 56))
        c.mmio_write(0, aic.MMIO_CONTROL, aic.CONTROL_IOMMU_EN | aic.CONTROL_EVENT_LOG_EN | aic.CONTROL_CMD_BUF_EN)
        c.subscribe(0, aic.EV_UNMAP)
        self.unmap_cycle = None
        self.notifications = []


def main(argv):
    devices, transfers, pages = 4, 400, 24
    if "--" not in argv:
        print(__doc__, file=sys.stderr)
        return 2
    opts, cmd = argv[:argv.index("--")], argv[argv.index("--") + 1:]
    for k in range(0, len(opts), 2):
        if opts[k] == "--devices": devices = int(opts[k + 1])
        elif opts[k] == "--transfers": transfers = int(opts[k + 1])
        else: print("unknown option " + opts[k], file=sys.stderr); return 2
    sim = Simulation()
    sim.initialize()
    bench = Bench(cmd, devices, transfers, pages)
    bench.port = Resource(capacity=1, name="iommu-port", sim=sim)
    devs = [Device(sim, bench, i, transfers, pages) for i in range(devices)]

    def on_notify(n):
        bench.notifications.append(n)
        if n.op == aic.OP_NOTIFY_UNMAP:
            for d in devs:
                if d.listens and bench.domains[d.index] == n.fields["domain_id"]:
                    d.stats["unmaps_seen"] += 1
                    first = (n.fields["start"] - IOVA) // PAGE
                    d.unmapped.update(range(first, first + max(1, n.fields["size"] // PAGE)))
    bench.client.on_notify = on_notify
    for d in devs:
        sim.activate(d, d.run())
    drv = Driver(sim, bench, 20000, [(0, 3), (1, 4)])
    sim.activate(drv, drv.run())
    sim.simulate(until=10 ** 9)
    events = bench.client.read_events(0)
    faults = [e for e in events if e[1] >> 28 == 2]
    stats = json.loads(bench.client.json('{"op":"stats","iommu":"0"}'))
    status = bench.client.close()
    for d in devs:
        s = d.stats
        print("%s%s: translations %d (IOTLB hits %d), faults %d, skipped after unmap %d, bytes %d, mean translation latency %.1f cycles" % (
            d.name, "" if d.listens else " (ignores unmaps)", s["translations"], s["iotlb_hits"], s["faults"], s["skipped"], s["bytes"], s["latency"] / max(1, s["translations"])))
    summary = dict(
        simulated_cycles=int(sim.now()), devices=[d.stats for d in devs], unmap_cycle=bench.unmap_cycle,
        unmap_notifications=sum(1 for n in bench.notifications if n.op == aic.OP_NOTIFY_UNMAP),
        io_page_faults_logged=len(faults), fault_addresses=sorted({e[2] | (e[3] << 32) for e in faults}),
        server_ok=stats.get("ok") is True, server_exit=status)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

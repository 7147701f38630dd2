"""
Drives the binary channel through every op with the shipped Python client
(clients/python/amd_iommu_client.py), for test/embedding/binary-clients.test.ts, which
checks the JSON it prints last.

    python3 binary-client-every-op.py <inval-cmd-hex32x4> <completion-wait-cmd-hex32x4> -- <server command>
"""
import json
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))
import amd_iommu_client as aic  # noqa: E402

inval = bytes.fromhex("".join(struct.pack("<I", int(x, 16)).hex() for x in sys.argv[1].split(",")))
cwait = bytes.fromhex("".join(struct.pack("<I", int(x, 16)).hex() for x in sys.argv[2].split(",")))
cmd = sys.argv[sys.argv.index("--") + 1:]
out = {}
notes = []
c = aic.Client.start(cmd)
c.on_notify = notes.append


def refused(f):
    try:
        f()
        return None
    except aic.ChannelError as e:
        return str(e)


out["hello"] = c.hello()
c.add_memory(0, 64 << 20)
out["overlap"] = refused(lambda: c.add_memory(0x100000, 4096))
c.create_iommu(0, 0, '{"iotlb":{"entries":64}}')
img = aic.Image(0x100000, 4 << 20)
dt, cbuf, ev, root = img.alloc(2), img.alloc(), img.alloc(), img.alloc()
img.v1_map(root, 3, 0x10000000, 0x3000000)
img.dte_v1(dt, 0x10, root, 3, 5)
img.write(c)
c.mmio_write(0, aic.MMIO_DEVICE_TABLE_BASE, dt | 1)
c.mmio_write(0, aic.MMIO_COMMAND_BUFFER_BASE, cbuf | (8 << 56))
c.mmio_write(0, aic.MMIO_EVENT_LOG_BASE, ev | (8 << 56))
c.mmio_write(0, aic.MMIO_CONTROL, aic.CONTROL_IOMMU_EN | aic.CONTROL_EVENT_LOG_EN | aic.CONTROL_CMD_BUF_EN)
out["control"] = c.mmio_read(0, aic.MMIO_CONTROL)
out["dtb32"] = c.mmio_read(0, aic.MMIO_DEVICE_TABLE_BASE, 4)
c.subscribe(0, aic.EV_UNMAP | aic.EV_MAP)
t = c.translate(aic.OP_TRANSLATE, 0, 0x10, 0x10000ABC, aic.T_WRITE)
out["translate"] = [t.flags & aic.A_ALLOWED, t.spa, t.page_shift, aic.PATHS[t.path]]
out["maps"] = sum(1 for n in notes if n.op == aic.OP_NOTIFY_MAP)
t = c.translate(aic.OP_TRANSLATE_ATS, 0, 0x10, 0x10000ABC)
out["ats"] = [t.status, aic.FAULTS[t.fault]]
t = c.translate(aic.OP_PEEK, 0, 0x10, 0x10000ABC)
out["peek"] = [t.flags & aic.A_ALLOWED, t.spa]
t = c.translate(aic.OP_TRANSLATE_TIMED, 0, 0x10, 0x10000ABC, cycle=5000)
out["timed"] = [t.completion_cycle, t.cycles]
t = c.translate(aic.OP_TRANSLATE, 0, 0x10, 0x20000000)
out["miss"] = [t.flags & aic.A_ALLOWED, aic.FAULTS[t.fault], t.event]
b = c.translate_batch(aic.OP_TRANSLATE, 0, [aic.TranslationRequest(0x10, 0x10000000), aic.TranslationRequest(0x10, 0x10000000, aic.T_PASID, 1 << 20),
                                            aic.TranslationRequest(0x10, 0x10000008)])
out["batch"] = [r.status for r in b] + [b[1].error]
out["events"] = [e[1] >> 28 for e in c.read_events(0)]
out["pte"] = struct.unpack("<Q", c.mem_read_bytes(img.leaf(root, 3, 0x10000000), 8))[0] & 0x60
c.mem_write_bytes(cbuf, inval)
c.mmio_write(0, aic.MMIO_COMMAND_BUFFER_TAIL, 16)
out["advance"] = c.advance(0)
out["unmap"] = [n.fields for n in notes if n.op == aic.OP_NOTIFY_UNMAP]
out["advance_to"] = c.advance(0xFF, 100000)
c.attach_endpoint(0, 0x10, 100)
out["page_request"] = c.page_request(0, 0x10, 0x10000000, 3)
out["json"] = json.loads(c.json('{"op":"stats","iommu":"0"}')).get("ok")
out["json_refused"] = json.loads(c.json('{"op":"no-such-op"}')).get("ok")
out["no_iommu"] = c.translate(aic.OP_TRANSLATE, 9, 0x10, 0).error

# simulator-owned memory: IOMMU 1 reads and writes only this dictionary
mem = {}
log = []
def rd(pa, n):
    log.append(("read", pa, 4 * n))
    return [mem.get(pa + 4 * i, 0) for i in range(n)]
def wr(pa, v, cw):
    log.append(("write", pa, v, cw))
    mem[pa] = v
def cas(pa, e, v):
    log.append(("cas", pa, e, v))
    f = mem.get(pa, 0)
    if f == e:
        mem[pa] = v
    return f
c.mem_read, c.mem_write, c.mem_cas = rd, wr, cas
sim = aic.Image(0x100000, 4 << 20)
sdt, scmd, sev, sroot = sim.alloc(2), sim.alloc(), sim.alloc(), sim.alloc()
sim.v1_map(sroot, 3, 0x10000000, 0x300000)
sim.dte_v1(sdt, 0x10, sroot, 3, 5)
for off in range(0, sim.used, 4):
    w = struct.unpack_from("<I", sim.bytes, off)[0]
    if w:
        mem[sim.base + off] = w
c.create_iommu(1, 1, None, 8 << 20)
for off, v in [(aic.MMIO_DEVICE_TABLE_BASE, sdt | 1), (aic.MMIO_COMMAND_BUFFER_BASE, scmd | (8 << 56)), (aic.MMIO_EVENT_LOG_BASE, sev | (8 << 56)),
               (aic.MMIO_CONTROL, aic.CONTROL_IOMMU_EN | aic.CONTROL_EVENT_LOG_EN | aic.CONTROL_CMD_BUF_EN)]:
    c.mmio_write(1, off, v)
t = c.translate(aic.OP_TRANSLATE, 1, 0x10, 0x10000ABC, aic.T_WRITE)
out["sim_translate"] = [t.flags & aic.A_ALLOWED, t.spa]
out["sim_log"] = [list(x) for x in log]
leaf = sim.leaf(sroot, 3, 0x10000000)
out["sim_pte_ad"] = mem[leaf] & 0x60
out["sim_timed"] = c.translate(aic.OP_TRANSLATE_TIMED, 1, 0x10, 0x10000ABC, cycle=10).error
for i, w in enumerate(struct.unpack("<4I", cwait)):
    mem[scmd + 4 * i] = w
del log[:]
c.mmio_write(1, aic.MMIO_COMMAND_BUFFER_TAIL, 16)
c.advance(1)
out["sim_completion"] = [list(x) for x in log if x[0] == "write"]
out["close"] = c.close()
print(json.dumps(out))

#!/usr/bin/env python3
"""
Translations per second through the co-simulation server, from Python (the C tool's twin).

    python3 clients/python/throughput.py [-b BATCH] [-n COUNT] [-p PAGES] [-j] [-s PATH] [-S US] -- <server command>
    python3 clients/python/throughput.py -b 256 -- node dist/src/cli.js serve --binary
    python3 clients/python/throughput.py -j -b 32 -- node dist/src/cli.js serve
    python3 clients/python/throughput.py -b 1 -s /tmp/s -- node dist/src/cli.js serve --binary --socket /tmp/s

Programs IOMMU 0 (device table, rings, a 3-level host table mapping PAGES pages for device
0x10), checks one translation, times COUNT write translations (BATCH per round trip) and
checks every answer. With -s PATH the command is started with its own stdio and the client
connects to the Unix socket PATH once it exists. -S US: the client spins up to US microseconds
before it blocks (Client.set_spin; default DEFAULT_SPIN_US, 0 = block at once; the server's is
--spin-us). The line before the last two gives the round-trip times (one frame, or
one batch of JSON lines) as in clients/c/throughput.c. The last line is
`translations_per_second=N`.
"""
import base64
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import amd_iommu_client as aic  # noqa: E402

DEV, IOVA, SPA = 0x10, 0x10000000, 0x04000000


def start_and_connect(cmd, path):
    """Start the server command with its own stdio, then connect to the Unix socket `path` once it listens (up to 30 s)."""
    if os.path.exists(path):
        os.unlink(path)
    proc = subprocess.Popen(cmd)
    for _ in range(3000):
        try:
            c = aic.Client.connect_unix(path)
            c.proc = proc
            return c
        except OSError:
            if proc.poll() is not None:
                raise SystemExit("the server exited before listening on " + path)
            time.sleep(0.01)
    proc.kill()
    raise SystemExit("no server listening on %s after 30 s" % path)


def main(argv):
    batch, count, pages, use_json, sock, spin = 256, None, 16, False, None, None
    if "--" not in argv:
        print("usage: throughput.py [-b BATCH] [-n COUNT] [-p PAGES] [-j] [-s PATH] [-S US] -- <server command>", file=sys.stderr)
        return 2
    opts, cmd = argv[:argv.index("--")], argv[argv.index("--") + 1:]
    i = 0
    while i < len(opts):
        if opts[i] == "-b": batch = int(opts[i + 1]); i += 2
        elif opts[i] == "-n": count = int(opts[i + 1]); i += 2
        elif opts[i] == "-p": pages = int(opts[i + 1]); i += 2
        elif opts[i] == "-j": use_json = True; i += 1
        elif opts[i] == "-s": sock = opts[i + 1]; i += 2
        elif opts[i] == "-S": spin = int(opts[i + 1]); i += 2
        else: print("unknown option " + opts[i], file=sys.stderr); return 2
    if sock is not None and use_json:
        print("-s is for the binary channel", file=sys.stderr)
        return 2
    if count is None:
        count = 500000 if batch >= 64 else 50000
    count = -(-count // batch) * batch

    img = aic.Image(0x100000, 8 << 20)
    dt, cmdbuf, ev, root = img.alloc(2), img.alloc(), img.alloc(), img.alloc()
    for p in range(pages):
        img.v1_map(root, 3, IOVA + 4096 * p, SPA + 4096 * p)
    img.dte_v1(dt, DEV, root, 3, 5)
    regs = [(aic.MMIO_DEVICE_TABLE_BASE, dt | 1), (aic.MMIO_COMMAND_BUFFER_BASE, cmdbuf | (8 << 56)),
            (aic.MMIO_EVENT_LOG_BASE, ev | (8 << 56)),
            (aic.MMIO_CONTROL, aic.CONTROL_IOMMU_EN | aic.CONTROL_EVENT_LOG_EN | aic.CONTROL_CMD_BUF_EN)]
    bad = 0
    rt = []
    clock = time.perf_counter
    if not use_json:
        c = aic.Client.start(cmd) if sock is None else start_and_connect(cmd, sock)
        if spin is not None:
            c.set_spin(spin)
        c.hello()
        c.add_memory(0, 64 << 20)
        c.create_iommu(0)
        img.write(c)
        for off, v in regs:
            c.mmio_write(0, off, v)
        t = c.translate(aic.OP_TRANSLATE, 0, DEV, IOVA + 0xABC, aic.T_WRITE)
        if not t.flags & aic.A_ALLOWED or t.spa != SPA + 0xABC:
            print("the check translation failed: %r" % (t,), file=sys.stderr)
            return 1
        reqs = [aic.TranslationRequest(DEV, IOVA + 4096 * (k % pages) + 8, aic.T_WRITE) for k in range(batch)]
        want = [SPA + 4096 * (k % pages) + 8 for k in range(batch)]
        frame = c.translate_frame(aic.OP_TRANSLATE, 0, reqs)
        t0 = time.perf_counter()
        for _ in range(count // batch):
            q = clock()
            res = c.run_translations(frame)
            rt.append(clock() - q)
            for k, r in enumerate(res):
                if not r.flags & aic.A_ALLOWED or r.spa != want[k]:
                    bad += 1
        t1 = time.perf_counter()
        c.close()
    else:
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)

        def call(m):
            p.stdin.write((json.dumps(m) + "\n").encode()); p.stdin.flush()
            while True:
                a = json.loads(p.stdout.readline())
                if "notify" not in a:
                    break
            if a.get("ok") is not True:
                raise RuntimeError(a)
            return a
        call({"op": "add-memory", "base": 0, "bytes": 64 << 20})
        call({"op": "create-iommu", "iommu": "0"})
        call({"op": "write-memory", "pa": img.base, "data": base64.b64encode(bytes(img.bytes[:img.used])).decode()})
        for off, v in regs:
            call({"op": "mmio-write", "iommu": "0", "offset": off, "value": hex(v)})
        lines = b"".join((json.dumps({"id": k, "op": "translate", "iommu": "0", "deviceId": DEV, "address": IOVA + 4096 * (k % pages) + 8, "write": True}) + "\n").encode() for k in range(batch))
        t0 = time.perf_counter()
        for _ in range(count // batch):
            q = clock()
            p.stdin.write(lines); p.stdin.flush()
            answers = [p.stdout.readline() for _ in range(batch)]
            rt.append(clock() - q)
            for line in answers:
                if json.loads(line).get("allowed") is not True:
                    bad += 1
        t1 = time.perf_counter()
        call({"op": "quit"})
        p.stdin.close(); p.wait()
    s = t1 - t0
    slow = sum(x for x in rt if x > 20e-6)
    rt.sort()
    pct = lambda f: rt[int((len(rt) - 1) * f)] * 1e6
    print("round_trip_us min=%.1f p50=%.1f p90=%.1f p99=%.1f p99.9=%.1f max=%.1f over_20us_share_of_time=%.0f%%"
          % (rt[0] * 1e6, pct(0.5), pct(0.9), pct(0.99), pct(0.999), rt[-1] * 1e6, 100 * slow / s))
    print("channel=%s%s batch=%d translations=%d seconds=%.3f refused_or_wrong=%d" % ("json" if use_json else "binary", "" if sock is None else " transport=socket", batch, count, s, bad))
    print("translations_per_second=%.0f" % (count / s))
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""
The Python client's spinning read (Client.set_spin, _read_some), the twin of
binary-client-spin.c: a peer on a socketpair that this program controls (a forked child that
writes late), so each case is decided by the peer's timing. Prints one JSON line.
"""
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))
import amd_iommu_client as aic  # noqa: E402


def late_writer(fd, ms):
    pid = os.fork()
    if pid == 0:
        time.sleep(ms / 1000)
        os.write(fd, b"x")
        os._exit(0)
    return pid


a, b = socket.socketpair()
c = aic.Client(a.makefile("rb", buffering=0), a.makefile("wb", buffering=0), sock=a)
o = {}
c.set_spin(aic.DEFAULT_SPIN_US)
o["default"] = not os.get_blocking(a.fileno())
c.set_spin(0)
o["off"] = os.get_blocking(a.fileno())
try:
    c.set_spin(10001)
    o["refused"] = False
except ValueError as e:
    o["refused"] = "us must be an integer 0..10000" in str(e)

c.set_spin(200)
w = late_writer(b.fileno(), 300)
k = c._read_some(16)
os.waitpid(w, 0)
o["ranout"] = k == b"x" and c._spin_backoff == 1 and c._spin_skip == 1
w = late_writer(b.fileno(), 20)
k = c._read_some(16)
os.waitpid(w, 0)
o["skip"] = k == b"x" and c._spin_skip == 0 and c._spin_backoff == 1
w = late_writer(b.fileno(), 300)
k = c._read_some(16)
os.waitpid(w, 0)
o["backoff"] = k == b"x" and c._spin_backoff == 2 and c._spin_skip == 2

c.set_spin(10000)
c._spin_backoff = 2
w = late_writer(b.fileno(), 1)
k = c._read_some(16)
os.waitpid(w, 0)
# 0 unless this process was kept off a CPU for the whole 10 ms spin (then it ran out and backs off)
o["woke"] = k == b"x" and (c._spin_backoff == 0 or c._spin_skip > 0)

# contended: a window with many preemptions turns spinning off for the next (the read blocks at once)
c.set_spin(200)
c._spin_reads, c._spin_ivcsw = aic.SPIN_WINDOW - 1, c._spin_ivcsw - 1000
w = late_writer(b.fileno(), 300)
k = c._read_some(16)
os.waitpid(w, 0)
o["contended"] = k == b"x" and c._spin_contended and c._spin_backoff == 0 and c._spin_skip == 0
c._spin_reads, c._spin_ivcsw = aic.SPIN_WINDOW - 1, c._spin_ivcsw + 1000000
w = late_writer(b.fileno(), 300)
k = c._read_some(16)
os.waitpid(w, 0)
o["uncontended"] = k == b"x" and not c._spin_contended and c._spin_backoff == 1

big = bytes(8 << 20)
pid = os.fork()
if pid == 0:
    time.sleep(0.02)
    got = 0
    while got < len(big):
        d = b.recv(65536)
        if not d:
            os._exit(1)
        got += len(d)
    os._exit(0)
c._write_all(big)
_, st = os.waitpid(pid, 0)
o["write"] = os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0 and not os.get_blocking(a.fileno())
print(json.dumps(o))

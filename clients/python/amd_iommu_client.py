"""
amd_iommu_client: Python client of the amd-iommu-v2-model binary co-simulation channel
(README "Binary channel"; layout in src/embedding/binary-channel/frame-layout.ts).
Standard library only; the same API as clients/c/amd_iommu_client.h.

    from amd_iommu_client import Client, Image, TranslationRequest, OP_TRANSLATE, T_WRITE
    c = Client.start(["npx", "amd-iommu-model", "serve", "--binary"])   # the server as a child process
    c.add_memory(0, 64 << 20)
    c.create_iommu(0)
    img = Image(0x100000, 4 << 20); ... img.write(c)                     # tables, rings
    c.mmio_write(0, MMIO_CONTROL, CONTROL_IOMMU_EN | ...)
    answers = c.translate_batch(OP_TRANSLATE, 0, [TranslationRequest(0x10, 0x10000000, T_WRITE)] * 256)
    c.subscribe(0, EV_UNMAP); c.on_notify = lambda n: ...                 # unmap notifications
    c.read_events(0)                                                      # the event log, as a driver reads it
    irq = c.remap_interrupt(0, 0x18, 0xFEE00000, 2)                       # an MSI write through interrupt remapping
    c.close()

A refused request raises ChannelError with the server's text (translate_batch instead
returns a Translation with status 1 and .error for each refused request). Notifications that
come with an answer are passed to on_notify (when set) before the call returns. Simulator-
owned memory: set mem_read / mem_write / mem_cas and create the IOMMU with simmem_bytes.
"""
import os
import resource
import select
import socket
import struct
import subprocess
import time
from collections import namedtuple

MAGIC = 0x424D4F49  # "IOMB"
VERSION = 1
FRAME_HEADER = 16
RECORD_HEADER = 8
MAX_FRAME = 16 << 20
MAX_MEMORY_READ = 1 << 20
KIND_REQUEST, KIND_ANSWER, KIND_MEMORY_REQUEST, KIND_MEMORY_ANSWER = 1, 2, 3, 4

OP_HELLO = 0x01
OP_ADD_MEMORY = 0x02
OP_CREATE_IOMMU = 0x03
OP_MMIO_READ = 0x04
OP_MMIO_WRITE = 0x05
OP_MEMORY_READ = 0x06
OP_MEMORY_WRITE = 0x07
OP_TRANSLATE = 0x08
OP_TRANSLATE_ATS = 0x09
OP_PEEK = 0x0A
OP_TRANSLATE_TIMED = 0x0B
OP_PAGE_REQUEST = 0x0C
OP_ADVANCE = 0x0D
OP_SUBSCRIBE = 0x0E
OP_ATTACH_ENDPOINT = 0x0F
OP_QUIT = 0x10
OP_JSON = 0x11
OP_REMAP_INTERRUPT = 0x20
OP_NOTIFY_UNMAP = 0x81
OP_NOTIFY_DEVICE_TLB_UNMAP = 0x82
OP_NOTIFY_MAP = 0x83
OP_NOTIFY_INTERRUPT = 0x84
OP_NOTIFY_PRG_RESPONSE = 0x85
OP_MEM_READ = 0xC1
OP_MEM_CAS = 0xC2
OP_MEM_WRITE = 0xC3

T_WRITE, T_EXECUTE, T_PRIVILEGED, T_PASID = 1, 2, 4, 8
A_ALLOWED, A_READABLE, A_WRITABLE, A_EXECUTABLE, A_USER, A_IOTLB_HIT = 1, 2, 4, 8, 16, 32
I_PEEK, I_TIMED, I_PASID = 1, 2, 8
IA_DELIVERED, IA_POSTED, IA_DOORBELL, IA_GA_LOGGED, IA_IRTE_CACHE_HIT, IA_REQUEST_EOI, IA_DESTINATION_LOGICAL = 1, 2, 4, 8, 16, 32, 64
EV_UNMAP, EV_DEVICE_TLB_UNMAP, EV_MAP, EV_INTERRUPT, EV_PRG_RESPONSE = 1, 2, 4, 8, 16
PR_READ, PR_WRITE, PR_EXECUTE, PR_PRIVILEGED, PR_PASID, PR_LAST = 1, 2, 4, 8, 16, 32

MMIO_DEVICE_TABLE_BASE = 0x0000
MMIO_COMMAND_BUFFER_BASE = 0x0008
MMIO_EVENT_LOG_BASE = 0x0010
MMIO_CONTROL = 0x0018
MMIO_COMMAND_BUFFER_HEAD = 0x2000
MMIO_COMMAND_BUFFER_TAIL = 0x2008
MMIO_EVENT_LOG_HEAD = 0x2010
MMIO_EVENT_LOG_TAIL = 0x2018
CONTROL_IOMMU_EN = 1 << 0
CONTROL_EVENT_LOG_EN = 1 << 2
CONTROL_CMD_BUF_EN = 1 << 12

FAULTS = (None, "dte-hardware-error", "illegal-dte", "translation-disabled", "reserved-mode", "pasid-not-allowed",
          "address-out-of-range", "non-canonical", "not-present", "permission", "user-supervisor", "no-execute",
          "reserved-bit", "invalid-level", "invalid-page-size", "skipped-level-nonzero", "page-table-hardware-error",
          "pasid-out-of-range", "gcr3-not-valid", "ats-disabled", "untranslated-only", "ad-contention")
PATHS = ("none", "iommu-disabled", "untranslated", "pretranslated", "exclusion", "mode0", "host", "guest", "nested")
INTERRUPT_FAULTS = (None, "not-an-interrupt", "dte-hardware-error", "illegal-dte", "interrupt-with-pasid", "remapping-blocked",
                    "pass-blocked", "logical-pass-through", "reserved-delivery-mode", "index-out-of-range", "irte-hardware-error",
                    "irte-not-remapped", "irte-reserved", "guest-mode-not-allowed", "vapic-hardware-error")
INTERRUPT_PATHS = ("none", "iommu-disabled", "not-mapped", "forwarded", "remapped", "guest")
PPR_OUTCOMES = ("logged", "invalid", "dropped", "answered")

TranslationRequest = namedtuple("TranslationRequest", "device_id address flags pasid cycle", defaults=(0, 0, 0))
Translation = namedtuple("Translation", "status flags fault path page_shift memory_references event spa completion_cycle cycles error")
InterruptRequest = namedtuple("InterruptRequest", "device_id address data flags pasid cycle", defaults=(0, 0, 0))
# fault: index in INTERRUPT_FAULTS (0 none), path: index in INTERRUPT_PATHS, index: IRTE index (-1 none)
Interrupt = namedtuple("Interrupt", "status flags address data destination vector delivery_mode event fault path index cycles completion_cycle error")
Notification = namedtuple("Notification", "op iommu flags fields")

_HDR = struct.Struct("<IIIBBH")
_REC = struct.Struct("<BBHI")
_TREQ = struct.Struct("<BBHIIIQQ")
_TANS = struct.Struct("<BBHIBBBBHHQQII")
_IREQ = struct.Struct("<BBHIIIQIIQ")
_IANS = struct.Struct("<BBHIIIIIBBBBiQQ")


#: The spin Client.start and Client.connect_unix set (microseconds); set_spin(0) blocks at once.
DEFAULT_SPIN_US = 50
#: The contention check of the spinning read (amd_iommu_client.h's AIC_SPIN_WINDOW).
SPIN_WINDOW = 256
SPIN_PREEMPTIONS = 16


class ChannelError(Exception):
    """The server refused a request (its text), or the channel failed."""


class Client:
    def __init__(self, rfile, wfile, proc=None, sock=None):
        self._r, self._w, self.proc, self._sock = rfile, wfile, proc, sock
        self.on_notify = None
        self.mem_read = None   # (pa, nwords) -> list of 32-bit words
        self.mem_write = None  # (pa, value, completion_wait) -> None
        self.mem_cas = None    # (pa, expected, value) -> value found
        self.memory_requests = 0
        self._out = bytearray()
        self._count = 0
        self._in = bytearray()
        self.spin_us = 0
        self._spin_skip = self._spin_backoff = 0

    # ---- starting and stopping ----
    @classmethod
    def start(cls, argv):
        """Start the server (argv: the command) as a child process with pipes on its stdin/stdout."""
        p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        c = cls(p.stdout, p.stdin, proc=p)
        c.set_spin(DEFAULT_SPIN_US)
        return c

    @classmethod
    def connect_unix(cls, path):
        """Connect to a server started with `serve --binary --socket PATH`."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        c = cls(s.makefile("rb", buffering=0), s.makefile("wb", buffering=0), sock=s)
        c.set_spin(DEFAULT_SPIN_US)
        return c

    def close(self):
        """Quit the server, wait for it; returns its exit status (0 for a socket)."""
        try:
            self._begin()
            self._record(OP_QUIT, 0, 0, 8)
            self._roundtrip()
        except (ChannelError, OSError):
            pass
        for f in (self._w, self._r):
            try:
                f.close()
            except OSError:
                pass
        if self._sock is not None:
            self._sock.close()
        return self.proc.wait() if self.proc is not None else 0

    def set_spin(self, us):
        """Wait for answers by retrying a non-blocking read for up to `us` microseconds before
        blocking (0: block at once; start and connect_unix set DEFAULT_SPIN_US); the C client's aic_set_spin. With a free CPU
        this saves a sleeping CPU's wake-up per round trip (README "One request at a time");
        start the server with `--spin-us` for the other direction. Spins that run out back off:
        the next 1, 2, 4 ... 256 reads block at once; a window of SPIN_WINDOW reads in which this
        process was preempted more than SPIN_PREEMPTIONS times (a busy machine) turns spinning off
        for the next window."""
        if not isinstance(us, int) or not 0 <= us <= 10000:
            raise ValueError("set_spin: us must be an integer 0..10000, got %r" % (us,))
        os.set_blocking(self._r.fileno(), us == 0)
        self.spin_us, self._spin_skip, self._spin_backoff = us, 0, 0
        self._spin_reads, self._spin_contended = 0, False
        self._spin_ivcsw = resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw

    def _read_some(self, n):
        """One read of up to n bytes (b"" at end of input), spinning first when set_spin asked for it."""
        if not self.spin_us:
            return self._r.read(n)
        self._spin_reads += 1
        if self._spin_reads >= SPIN_WINDOW:  # the contention check (the C client's AIC_SPIN_WINDOW)
            self._spin_reads = 0
            now = resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw
            self._spin_contended = now - self._spin_ivcsw > SPIN_PREEMPTIONS
            self._spin_ivcsw = now
        spin = self._spin_skip == 0 and not self._spin_contended
        if self._spin_skip:
            self._spin_skip -= 1
        until = None
        while True:
            chunk = self._r.read(n)
            if chunk is not None:
                if spin and until is not None:
                    self._spin_backoff = 0
                return chunk
            if spin:
                now = time.perf_counter()
                if until is None:
                    until = now + self.spin_us * 1e-6
                if now < until:
                    continue
                spin = False
                self._spin_backoff = min(self._spin_backoff * 2, 256) if self._spin_backoff else 1
                self._spin_skip = self._spin_backoff
            select.select([self._r], [], [])

    def _write_all(self, data):
        view = memoryview(data)
        while len(view):
            k = self._w.write(view)
            if k is None:  # a socket left non-blocking by set_spin, its buffer full
                select.select([], [self._w], [])
                continue
            view = view[k:]

    # ---- frames ----
    def _begin(self):
        self._out = bytearray(FRAME_HEADER)
        self._count = 0

    def _record(self, op, iommu, flags, length, body=b""):
        o = len(self._out)
        self._out += bytes(length)
        _REC.pack_into(self._out, o, op, iommu, flags, length)
        self._out[o + 8:o + 8 + len(body)] = body
        self._count += 1
        return o

    def _fill(self, n):
        """Buffer at least n bytes, reading whatever the pipe holds (one read per answer, usually)."""
        while len(self._in) < n:
            chunk = self._read_some(max(65536, n - len(self._in)))
            if not chunk:
                raise ChannelError("the server closed its output")
            self._in += chunk

    def _read_frame(self):
        self._fill(FRAME_HEADER)
        magic, length, count, kind, version, _ = _HDR.unpack_from(self._in, 0)
        if magic != MAGIC or length < FRAME_HEADER or length % 8:
            raise ChannelError("bad frame from the server (magic 0x%x, length %d)" % (magic, length))
        self._fill(length)
        frame = bytes(self._in[:length])
        del self._in[:length]
        return kind, count, frame

    def _answer_memory(self, frame):
        op, _iommu, flags, _len = _REC.unpack_from(frame, FRAME_HEADER)
        pa, a, b = struct.unpack_from("<QII", frame, FRAME_HEADER + 8)
        self.memory_requests += 1
        if op == OP_MEM_READ:
            words = self.mem_read(pa, a // 4)
            body = struct.pack("<%dI" % (a // 4), *words)
            body += bytes(-len(body) % 8)
        elif op == OP_MEM_CAS:
            body = struct.pack("<II", self.mem_cas(pa, a, b) & 0xFFFFFFFF, 0)
        elif op == OP_MEM_WRITE:
            self.mem_write(pa, a, bool(flags & 1))
            body = b""
        else:
            raise ChannelError("memory request with op 0x%x" % op)
        rec = _REC.pack(op, 0, 0, 8 + len(body)) + body
        self._write_all(_HDR.pack(MAGIC, FRAME_HEADER + len(rec), 1, KIND_MEMORY_ANSWER, VERSION, 0) + rec)

    def _roundtrip(self):
        """Send the frame built since _begin; returns the answer frame (memory requests answered meanwhile)."""
        _HDR.pack_into(self._out, 0, MAGIC, len(self._out), self._count, KIND_REQUEST, VERSION, 0)
        self._write_all(self._out)
        while True:
            kind, _count, frame = self._read_frame()
            if kind == KIND_ANSWER:
                return frame
            if kind == KIND_MEMORY_REQUEST:
                self._answer_memory(frame)
                continue
            raise ChannelError("unexpected frame kind %d from the server" % kind)

    def _answers(self, frame):
        """The answer records of a frame, as (op, status, flags, offset, length); notifications go to on_notify."""
        o, end, out = FRAME_HEADER, len(frame), []
        while o + RECORD_HEADER <= end:
            op, status, flags, length = _REC.unpack_from(frame, o)
            if length < RECORD_HEADER or o + length > end:
                break
            if 0x80 <= op < 0xC0:
                if self.on_notify is not None:
                    self.on_notify(decode_notification(frame, o))
            else:
                out.append((op, status, flags, o, length))
            o += length
        return out

    @staticmethod
    def _error_text(frame, o):
        _code, n = struct.unpack_from("<II", frame, o + 8)
        return frame[o + 16:o + 16 + n].decode("utf-8", "replace")

    def _one(self):
        frame = self._roundtrip()
        ans = self._answers(frame)
        if not ans:
            raise ChannelError("no answer from the server")
        op, status, flags, o, length = ans[0]
        if status != 0:
            raise ChannelError(self._error_text(frame, o))
        return frame, o

    # ---- ops ----
    def hello(self):
        self._begin(); self._record(OP_HELLO, 0, 0, 8)
        frame, o = self._one()
        return struct.unpack_from("<I", frame, o + 8)[0]

    def add_memory(self, base, nbytes):
        self._begin(); self._record(OP_ADD_MEMORY, 0, 0, 24, struct.pack("<QQ", base, nbytes)); self._one()

    def create_iommu(self, iommu, segment=0, options=None, simmem_bytes=0):
        """IOMMU `iommu` (0..254) on `segment`; options: a JSON text of AmdIommu options; simmem_bytes > 0: simulator-owned memory."""
        j = (options or "").encode()
        self._begin()
        self._record(OP_CREATE_IOMMU, iommu, 1 if simmem_bytes else 0, 24 + (-(-len(j) // 8) * 8),
                     struct.pack("<IIQ", segment, len(j), simmem_bytes) + j)
        self._one()

    def mmio_write(self, iommu, offset, value, width=8):
        self._begin(); self._record(OP_MMIO_WRITE, iommu, 0, 24, struct.pack("<IIQ", offset, width, value)); self._one()

    def mmio_read(self, iommu, offset, width=8):
        self._begin(); self._record(OP_MMIO_READ, iommu, 0, 24, struct.pack("<IIQ", offset, width, 0))
        frame, o = self._one()
        return struct.unpack_from("<Q", frame, o + 8)[0]

    def mem_write_bytes(self, pa, data):
        data = bytes(data)
        self._begin()
        self._record(OP_MEMORY_WRITE, 0, 0, 24 + (-(-len(data) // 8) * 8), struct.pack("<QII", pa, len(data), 0) + data)
        self._one()

    def mem_read_bytes(self, pa, n):
        self._begin(); self._record(OP_MEMORY_READ, 0, 0, 24, struct.pack("<QII", pa, n, 0))
        frame, o = self._one()
        return frame[o + 16:o + 16 + n]

    def translate_frame(self, op, iommu, requests):
        """A request frame of translations (bytes), to send again and again with run_translations."""
        n = len(requests)
        out = bytearray(FRAME_HEADER + 32 * n)
        _HDR.pack_into(out, 0, MAGIC, len(out), n, KIND_REQUEST, VERSION, 0)
        pack = _TREQ.pack_into
        o = FRAME_HEADER
        for q in requests:
            pack(out, o, op, iommu, q.flags, 32, q.device_id, q.pasid, q.address, q.cycle)
            o += 32
        return bytes(out)

    def run_translations(self, frame):
        """Send a frame from translate_frame; returns one Translation per request."""
        self._write_all(frame)
        while True:
            kind, count, ans = self._read_frame()
            if kind == KIND_MEMORY_REQUEST:
                self._answer_memory(ans)
                continue
            break
        if len(ans) == FRAME_HEADER + 40 * count:  # translation answers only: the fast path
            return [Translation(st, fl, f, p, ps, mr, ev, spa, cc, cy, None)
                    for (_op, st, fl, _l, f, p, ps, mr, ev, _z, spa, cc, cy, _z2) in _TANS.iter_unpack(memoryview(ans)[FRAME_HEADER:])]
        out = []
        for op, status, flags, o, length in self._answers(ans):
            if status != 0:
                out.append(Translation(1, 0, 0, 0, 0, 0, 0, 0, 0, 0, self._error_text(ans, o)))
            else:
                _op, st, fl, _l, f, p, ps, mr, ev, _z, spa, cc, cy, _z2 = _TANS.unpack_from(ans, o)
                out.append(Translation(st, fl, f, p, ps, mr, ev, spa, cc, cy, None))
        return out

    def translate_batch(self, op, iommu, requests):
        """Translate every request in one frame (one round trip): op OP_TRANSLATE, _ATS, OP_PEEK or _TIMED."""
        return self.run_translations(self.translate_frame(op, iommu, requests))

    def translate(self, op, iommu, device_id, address, flags=0, pasid=0, cycle=0):
        return self.translate_batch(op, iommu, [TranslationRequest(device_id, address, flags, pasid, cycle)])[0]

    def remap_interrupt_batch(self, iommu, requests):
        """MSI writes through interrupt remapping, in one frame (one round trip): one Interrupt per InterruptRequest
        (flags I_PEEK changes nothing, I_TIMED issues at .cycle, I_PASID); a refused request has status 1 and .error."""
        self._begin()
        for q in requests:
            o = self._record(OP_REMAP_INTERRUPT, iommu, q.flags, 40)
            _IREQ.pack_into(self._out, o, OP_REMAP_INTERRUPT, iommu, q.flags, 40, q.device_id, q.data, q.address, q.pasid, 0, q.cycle)
        frame = self._roundtrip()
        out = []
        for op, status, flags, o, length in self._answers(frame):
            if status != 0:
                out.append(Interrupt(1, 0, 0, 0, 0, 0, 0, 0, 0, 0, -1, 0, 0, self._error_text(frame, o)))
            else:
                _op, _st, fl, _l, addr, data, dest, vec, dm, ev, fault, path, index, cycles, cc = _IANS.unpack_from(frame, o)
                out.append(Interrupt(0, fl, addr, data, dest, vec, dm, ev, fault, path, index, cycles, cc, None))
        if len(out) != len(requests):
            raise ChannelError("%d answers for %d interrupts" % (len(out), len(requests)))
        return out

    def remap_interrupt(self, iommu, device_id, address, data, flags=0, pasid=0, cycle=0):
        """One MSI write (address in 0xFEE00000-0xFEEFFFFF, data) from device_id: an Interrupt (delivered: flags & IA_DELIVERED)."""
        return self.remap_interrupt_batch(iommu, [InterruptRequest(device_id, address, data, flags, pasid, cycle)])[0]

    def page_request(self, iommu, device_id, address, prg_index, flags=PR_READ | PR_LAST, pasid=0):
        """PRI page request: "logged", "invalid" or "dropped"."""
        self._begin()
        self._record(OP_PAGE_REQUEST, iommu, flags, 32, struct.pack("<IIIIQ", device_id, pasid, prg_index, 0, address))
        frame, o = self._one()
        return PPR_OUTCOMES[struct.unpack_from("<I", frame, o + 8)[0]]

    def advance(self, iommu=0xFF, cycle=None):
        """Run commands until idle (cycle None) or to `cycle`; iommu 0xff = every IOMMU. Returns the cycle reached."""
        self._begin()
        self._record(OP_ADVANCE, iommu, 0 if cycle is None else 1, 16, struct.pack("<Q", cycle or 0))
        frame, o = self._one()
        return struct.unpack_from("<Q", frame, o + 8)[0]

    def subscribe(self, iommu, mask):
        self._begin(); self._record(OP_SUBSCRIBE, iommu, 0, 16, struct.pack("<II", mask, 0)); self._one()

    def attach_endpoint(self, iommu, device_id, latency=None):
        self._begin()
        self._record(OP_ATTACH_ENDPOINT, iommu, 0, 16, struct.pack("<II", device_id, 0xFFFFFFFF if latency is None else latency))
        self._one()

    def json(self, request_text):
        """Any JSON-protocol request (text); returns the JSON answer text."""
        t = request_text.encode()
        self._begin()
        self._record(OP_JSON, 0, 0, 16 + (-(-len(t) // 8) * 8), struct.pack("<II", len(t), 0) + t)
        frame, o = self._one()
        n = struct.unpack_from("<I", frame, o + 8)[0]
        return frame[o + 16:o + 16 + n].decode()

    def read_events(self, iommu):
        """The new event-log entries (4 words each), read as a driver does; Head moved to Tail."""
        base = self.mmio_read(iommu, MMIO_EVENT_LOG_BASE)
        head = self.mmio_read(iommu, MMIO_EVENT_LOG_HEAD) & 0x7FFF0
        tail = self.mmio_read(iommu, MMIO_EVENT_LOG_TAIL) & 0x7FFF0
        pa, size = base & 0x000FFFFFFFFFF000, 16 << ((base >> 56) & 0xF)
        out = []
        while head != tail:
            out.append(struct.unpack("<4I", self.mem_read_bytes(pa + head, 16)))
            head = (head + 16) % size
        if out:
            self.mmio_write(iommu, MMIO_EVENT_LOG_HEAD, head)
        return out


def decode_notification(frame, o):
    op, iommu, flags, _len = _REC.unpack_from(frame, o)
    if op == OP_NOTIFY_UNMAP:
        d, dev, pasid, cmd, start, size, cycle = struct.unpack_from("<IIIIQQQ", frame, o + 8)
        f = dict(domain_id=d, device_id=dev, pasid=pasid, command=cmd, start=start, size=size, cycle=cycle, all=bool(flags & 1))
    elif op == OP_NOTIFY_DEVICE_TLB_UNMAP:
        dev, pasid, start, size, cycle = struct.unpack_from("<IIQQQ", frame, o + 8)
        f = dict(device_id=dev, pasid=pasid, start=start, size=size, cycle=cycle, all=bool(flags & 1))
    elif op == OP_NOTIFY_MAP:
        dev, d, pasid, shift, cause, _z, addr, spa, cycle = struct.unpack_from("<IIIBBHQQQ", frame, o + 8)
        f = dict(device_id=dev, domain_id=d, pasid=pasid, page_shift=shift, cause=cause, address=addr, spa=spa, cycle=cycle)
    elif op == OP_NOTIFY_INTERRUPT:
        f = dict(source=struct.unpack_from("<I", frame, o + 8)[0])
    elif op == OP_NOTIFY_PRG_RESPONSE:
        dev, pasid, prg, code, cycle = struct.unpack_from("<IIIIQ", frame, o + 8)
        f = dict(device_id=dev, pasid=pasid, prg_index=prg, response_code=code, cycle=cycle)
    else:
        f = {}
    return Notification(op, iommu, flags, f)


class Image:
    """A local image of physical memory [base, base + size) with a page bump allocator, for building tables."""

    def __init__(self, base, size):
        self.base, self.size, self.used = base, size, 0
        self.bytes = bytearray(size)

    def alloc(self, pages=1):
        if self.used + 4096 * pages > self.size:
            raise MemoryError("image full")
        pa = self.base + self.used
        self.used += 4096 * pages
        return pa

    def q(self, pa):
        return struct.unpack_from("<Q", self.bytes, pa - self.base)[0]

    def set_q(self, pa, v):
        struct.pack_into("<Q", self.bytes, pa - self.base, v)

    def v1_map(self, root, levels, iova, spa, readable=True, writable=True):
        """Map the 4 KiB page at iova to spa in a `levels`-level host (v1) table at root."""
        table = root
        for level in range(levels, 1, -1):
            e = table + 8 * ((iova >> (12 + 9 * (level - 1))) & 511)
            if not self.q(e) & 1:
                self.set_q(e, self.alloc() | ((level - 1) << 9) | (1 << 61) | (1 << 62) | 1)
            table = self.q(e) & 0x000FFFFFFFFFF000
        self.set_q(table + 8 * ((iova >> 12) & 511), (spa & 0x000FFFFFFFFFF000) | (readable << 61) | (writable << 62) | 1)

    def leaf(self, root, levels, iova):
        """Physical address of the leaf entry of iova (after v1_map)."""
        table = root
        for level in range(levels, 1, -1):
            table = self.q(table + 8 * ((iova >> (12 + 9 * (level - 1))) & 511)) & 0x000FFFFFFFFFF000
        return table + 8 * ((iova >> 12) & 511)

    def dte_v1(self, device_table, device_id, root, levels, domain):
        """A DTE for host translation: V, TV, HAD = 11b, Mode = levels, root, IR, IW, DomainID."""
        d = device_table + 32 * device_id
        self.set_q(d, 1 | 2 | (3 << 7) | (levels << 9) | (root & 0x000FFFFFFFFFF000) | (1 << 61) | (1 << 62))
        self.set_q(d + 8, domain)
        self.set_q(d + 16, 0)
        self.set_q(d + 24, 0)

    def dte_interrupts(self, device_table, device_id, table, log2_entries):
        """Interrupt remapping in a DTE (after dte_v1): IV, IntTabLen, IntTableRootPtr = table (128-byte aligned), IntCtl = 10b."""
        self.set_q(device_table + 32 * device_id + 16, 1 | ((log2_entries & 0xF) << 1) | (table & 0x000FFFFFFFFFFFC0) | (2 << 60))

    def irte32(self, table, index, vector, destination, logical=False):
        """A 32-bit IRTE (Control.GAEn = 0): RemapEn, IntType fixed, DM, 8-bit destination, vector."""
        struct.pack_into("<I", self.bytes, table - self.base + 4 * index, 1 | (logical << 6) | ((destination & 0xFF) << 8) | ((vector & 0xFF) << 16))

    def write(self, client):
        """Write the allocated pages to the server's memory."""
        for off in range(0, self.used, 1 << 20):
            client.mem_write_bytes(self.base + off, self.bytes[off:min(self.used, off + (1 << 20))])

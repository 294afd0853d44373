#!/usr/bin/python3
"""The load generator of bpfex's tests and of deploy/measure.sh: work for each bpfex module.

LOADS maps a module name (as bpfex registers it) to the function that makes work for it:
  exec     successful execs of a uniquely named copy of /bin/true, failed execs (ENOENT) of a
           missing path;
  syscall  cheap system calls, some failing: getppid, a 1-byte read of /dev/zero, stat of a
           missing file (ENOENT), close(-1) (EBADF);
  network  loopback UDP and ICMP (ping), over 127.0.0.1 and ::1;
  runqueue context switches: a byte ping-ponged with a child process over two pipes (two wakeups per
           round trip); storm: more CPU-bound processes than CPUs, so that runnable tasks wait;
  block    O_DIRECT reads, writes and fsyncs on a loop device of its own (root) backed by a sparse
           16 MB file on a 1 MB tmpfs, so that writes past the first megabyte fail (ENOSPC): every
           operation and an error kind appear; without root, O_DIRECT on a file in the work directory;
  tcp      loopback TCP over 127.0.0.1 and ::1: connections accepted and closed, connects to a
           closed port (refused: a reset each way), aborted connections (a reset), and connects
           to a listener whose accept queue is full (listen overflows, and SYN retransmits);
  oom      OOM kills: a child that allocates past the 32 MiB limit of a memory cgroup the load
           creates (cgroup v2's memory controller, else v1's; root only), one every few seconds.
Each runs until its LoadRun ends (stopped, or its time is up), at one of two intensities:
  steady   about 20 small rounds a second in one thread: series of every kind appear and keep
           moving, at little cost (the dashboards test);
  storm    as much as the machine does (deploy/measure.sh): exec: one /bin/true loop per CPU,
           more distinct program names (1100) than config/bpfex.yaml's max_comms (1024) so the comm
           map fills and "other" is used, a failing-exec loop; syscall: one loop per CPU; network:
           `ping -f` to 127.0.0.1 and ::1, a TCP stream over 127.0.0.1, raw IPv4 packets of the
           experimental protocols 253/254 to 127.0.0.1; tcp: one connection-churn loop per CPU
           (connect, accept, close; refused connects); oom: one kill after the other. The loops
           are processes of their own (one Python thread would hold a single CPU).
Traffic never leaves loopback: every address goes through loopback() first.

In a test:  Load(["exec", "network"], workdir).start() ... .stop()   (a thread; stop() raises
            LoadError if a generator failed)
            run_program(workdir, name, n), failing_execs(path, n), ping(address, n): exact work
            for tests that count.
As a command (deploy/measure.sh):
            load.py --modules exec,syscall,network --seconds 60 [--storm]
            It stops by itself after --seconds, or on SIGTERM/SIGINT, and is silent unless a
            generator fails (exit status 1).

Python 3 standard library only.
"""

from __future__ import annotations

import argparse
import atexit
import ipaddress
import mmap
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

STEADY_ROUNDS_PER_SECOND = 20
# More distinct program names than config/bpfex.yaml's max_comms (1024): the comm map fills to its
# cap and the "other" overflow is used, the largest /metrics the exec module can produce.
DISTINCT_COMMS = 1100
# A steady ICMP burst this often: enough for rate() over the dashboards' windows, little traffic.
STEADY_PING_EVERY_SECONDS = 10
MAX_COMM = 15  # bytes of a task name the kernel keeps


class LoadError(Exception):
    """A generator could not make the work it should (a program failed, a socket did not open)."""


def loopback(address: str) -> str:
    """The address, if it is a loopback one (127.0.0.0/8, ::1): the only place load may go."""
    if not ipaddress.ip_address(address).is_loopback:
        raise LoadError(f"{address} is not a loopback address: load goes to 127.0.0.1 and ::1 only")
    return address


def loopback_addresses() -> list[str]:
    """127.0.0.1, and ::1 where lo has it (IPv6 may be off)."""
    out = ["127.0.0.1"]
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        out.append("::1")
    except OSError:
        pass
    return out


def unique_name(prefix: str) -> str:
    """prefix_ + 8 hex digits: unique per run, so that nothing else on the machine adds to the
    series of a program of that name; within the kernel's 15-byte task name."""
    name = f"{prefix}_{os.urandom(4).hex()}"
    if len(name.encode()) > MAX_COMM:
        raise ValueError(f"{name}: longer than a task name ({MAX_COMM} bytes)")
    return name


# ---------------------------------------------------------------- exact work, for tests that count

def copy_of_true(workdir: Path, name: str) -> Path:
    """workdir/NAME, a copy of /bin/true: a program whose task name (comm) is NAME."""
    prog = workdir / name
    if not prog.exists():
        shutil.copyfile("/bin/true", prog)
        prog.chmod(0o755)
    return prog


def spawn_and_wait(prog: Path) -> None:
    """One successful exec of prog (posix_spawn: fork and exec at the cost of a vfork)."""
    pid = os.posix_spawn(str(prog), [prog.name], os.environ)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise LoadError(f"{prog} exited with {os.waitstatus_to_exitcode(status)}")


def run_program(workdir: Path, name: str, runs: int) -> Path:
    """Exactly `runs` successful execs of a program whose task name is NAME; returns its path."""
    prog = copy_of_true(workdir, name)
    for _ in range(runs):
        spawn_and_wait(prog)
    return prog


def failing_exec(missing: Path) -> None:
    """One execve of a missing path, by this process: it fails with ENOENT at the path lookup,
    before anything of the process is replaced (so it is safe in a thread too)."""
    if missing.exists():
        raise LoadError(f"{missing} exists: it must stay missing for execs of it to fail")
    try:
        os.execv(missing, [missing.name])
    except FileNotFoundError:
        return
    raise LoadError(f"execv({missing}) did not fail")  # unreachable: a successful execv never returns


def failing_execs(missing: Path, n: int) -> None:
    """Exactly n failed execve calls (ENOENT) of the missing path."""
    for _ in range(n):
        failing_exec(missing)


def ping_command(address: str, count: int | None = None, interval: float = 0.2, flood_seconds: int | None = None) -> list[str]:
    cmd = ["ping", "-q", "-n"]
    if flood_seconds is not None:
        cmd += ["-f", "-w", str(flood_seconds)]
    else:
        # -w: a deadline, so a lost reply cannot keep ping waiting; non-root ping needs -i >= 0.2.
        cmd += ["-c", str(count), "-i", str(interval), "-w", str(int(count * interval) + 5)]
    return cmd + [loopback(address)]


def ping(address: str, count: int, interval: float = 0.2) -> None:
    """count ICMP echo requests to a loopback address, each answered (ICMPv6 for ::1)."""
    proc = subprocess.run(ping_command(address, count, interval), capture_output=True, text=True,
                          timeout=count * interval + 15)
    if proc.returncode != 0:
        raise LoadError(f"ping {address} exited {proc.returncode}: {(proc.stdout + proc.stderr).strip()[-300:]}")


class UdpLoopback:
    """A datagram socket pair per loopback address: send() sends n datagrams to each receiver and
    reads back what arrived (so the receive queues never fill)."""

    def __init__(self):
        self.pairs = []
        for address in loopback_addresses():
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            rx = socket.socket(family, socket.SOCK_DGRAM)
            rx.bind((loopback(address), 0))
            rx.setblocking(False)
            self.pairs.append((socket.socket(family, socket.SOCK_DGRAM), rx, rx.getsockname()))

    def send(self, n: int) -> None:
        for tx, rx, to in self.pairs:
            for _ in range(n):
                tx.sendto(b"bpfex load", to)
            try:
                while rx.recv(64):
                    pass
            except BlockingIOError:
                pass

    def close(self) -> None:
        for tx, rx, _ in self.pairs:
            tx.close()
            rx.close()


def syscall_round(fd: int, missing: str) -> None:
    """Cheap system calls, two of them failing: getppid (never cached by the C library), a 1-byte
    read of /dev/zero, stat of a missing file (ENOENT), close(-1) (EBADF)."""
    os.getppid()
    os.read(fd, 1)
    try:
        os.stat(missing)
    except FileNotFoundError:
        pass
    try:
        os.close(-1)
    except OSError:
        pass


# ---------------------------------------------------------------- storm loops (processes of their own)

def _exec_loop(deadline: float, prog: str) -> None:
    while time.monotonic() < deadline:
        spawn_and_wait(Path(prog))


def _failing_exec_loop(deadline: float, missing: str) -> None:
    while time.monotonic() < deadline:
        failing_exec(Path(missing))


def _syscall_loop(deadline: float, missing: str) -> None:
    fd = os.open("/dev/zero", os.O_RDONLY)
    while time.monotonic() < deadline:
        for _ in range(100):  # the deadline is looked at once per 100 rounds: the loop is the load
            syscall_round(fd, missing)


def _tcp_stream(deadline: float) -> None:
    srv = socket.create_server((loopback("127.0.0.1"), 0))

    def sink():
        conn, _ = srv.accept()
        while conn.recv(1 << 16):
            pass

    threading.Thread(target=sink, daemon=True).start()
    out = socket.create_connection(srv.getsockname())
    chunk = bytes(1 << 16)
    while time.monotonic() < deadline:
        out.sendall(chunk)


def _raw_ip(deadline: float) -> None:
    """Raw IPv4 packets of the experimental protocols 253 and 254: bpfex counts protocols without
    a name of their own in a hash map, not in the per-interface slots."""
    raw = [socket.socket(socket.AF_INET, socket.SOCK_RAW, p) for p in (253, 254)]
    while time.monotonic() < deadline:
        for s in raw:
            s.sendto(b"bpfex load", (loopback("127.0.0.1"), 0))
        time.sleep(0.001)


def _spin_loop(deadline: float) -> None:
    while time.monotonic() < deadline:
        for _ in range(100000):
            pass


def _block_loop(deadline: float, device: str) -> None:
    """O_DIRECT 4 KB reads at spread offsets of the device, as fast as they complete."""
    fd = os.open(device, os.O_RDONLY | os.O_DIRECT)
    buf = mmap.mmap(-1, 4096)  # page-aligned, as O_DIRECT wants
    try:
        size = os.lseek(fd, 0, os.SEEK_END)
        at = 0
        while time.monotonic() < deadline:
            os.preadv(fd, [buf], at)
            at = (at + 1048576 + 4096) % max(size - 4096, 4096) // 4096 * 4096
    finally:
        os.close(fd)


class TcpLoopback:
    """Loopback TCP of every kind the tcp module counts, per address: connections accepted and
    closed, connects to a closed port (refused), aborted connections (SO_LINGER 0: a reset), and a
    listener whose accept queue stays full (its SYNs overflow and are retransmitted)."""

    def __init__(self):
        self.servers = []
        for address in loopback_addresses():
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            srv = socket.socket(family, socket.SOCK_STREAM)
            srv.bind((loopback(address), 0))
            srv.listen(64)
            srv.settimeout(5)
            closed = socket.socket(family, socket.SOCK_STREAM)
            closed.bind((loopback(address), 0))  # bound, never listening: connects are refused
            full = socket.socket(family, socket.SOCK_STREAM)
            full.bind((loopback(address), 0))
            full.listen(0)  # never accepted: full after one connection
            self.servers.append((family, srv, closed, full))
        self.waiting: list[socket.socket] = []

    def round(self, connections: int) -> None:
        for family, srv, closed, _ in self.servers:
            for i in range(connections):
                c = socket.create_connection(srv.getsockname()[:2], timeout=5)
                a, _ = srv.accept()
                if i == 0:  # an abort: the peer gets a reset
                    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                c.close()
                a.close()
            with socket.socket(family, socket.SOCK_STREAM) as r:
                r.settimeout(5)
                if r.connect_ex(closed.getsockname()[:2]) == 0:
                    raise LoadError(f"a connect to the closed port {closed.getsockname()} succeeded")

    def overflow(self) -> None:
        """Replaces the connects pending on the full listeners (each SYN of theirs overflows)."""
        for c in self.waiting:
            c.close()
        self.waiting = []
        for family, _, _, full in self.servers:
            for _ in range(3):
                c = socket.socket(family, socket.SOCK_STREAM)
                c.setblocking(False)
                c.connect_ex(full.getsockname()[:2])
                self.waiting.append(c)

    def close(self) -> None:
        for c in self.waiting:
            c.close()
        for _, srv, closed, full in self.servers:
            srv.close()
            closed.close()
            full.close()


def _tcp_churn(deadline: float) -> None:
    tcp = TcpLoopback()
    try:
        while time.monotonic() < deadline:
            tcp.round(20)
    finally:
        tcp.close()


OOM_LIMIT = 32 << 20  # the memory limit of the OOM load's cgroup
OOM_VICTIM_GIVES_UP = 1 << 30  # a victim that got this far was not limited


def _mounts() -> list[tuple[str, str, list[str]]]:
    """(mount point, file system type, super options) of /proc/self/mountinfo."""
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields, rest = left.split(), right.split()
        if len(fields) >= 5 and len(rest) >= 3:
            out.append((fields[4].replace("\\040", " "), rest[0], rest[2].split(",")))
    return out


class MemoryLimit:
    """A memory cgroup of the load's own with a 32 MiB limit (cgroup v2's memory controller where
    the hierarchy has it, enabled down to it; else cgroup v1's memory hierarchy), removed by
    close(). procs: the cgroup.procs file a victim writes its pid into."""

    def __init__(self):
        if os.geteuid() != 0:
            raise LoadError("the oom load needs root: it creates a memory cgroup")
        name = f"bpfex-load-oom-{os.urandom(4).hex()}"
        v2 = next((m for m, t, _ in _mounts() if t == "cgroup2"), None)
        if v2 and "memory" in (Path(v2) / "cgroup.controllers").read_text().split():
            control = Path(v2) / "cgroup.subtree_control"
            if "memory" not in control.read_text().split():
                control.write_text("+memory")  # a fresh hierarchy (a guest's): hand the controller down
            self.dir = Path(v2) / name
            self.dir.mkdir()
            (self.dir / "memory.max").write_text(str(OOM_LIMIT))
            if (self.dir / "memory.swap.max").exists():
                (self.dir / "memory.swap.max").write_text("0")
        else:
            v1 = next((m for m, t, opts in _mounts() if t == "cgroup" and "memory" in opts), None)
            if not v1:
                raise LoadError("no memory controller in cgroup v2 or v1: the oom load cannot limit memory")
            self.dir = Path(v1) / name
            self.dir.mkdir()
            (self.dir / "memory.limit_in_bytes").write_text(str(OOM_LIMIT))
            if (self.dir / "memory.memsw.limit_in_bytes").exists():
                (self.dir / "memory.memsw.limit_in_bytes").write_text(str(OOM_LIMIT))
            (self.dir / "memory.swappiness").write_text("0")
        self.procs = self.dir / "cgroup.procs"

    def close(self) -> None:
        for _ in range(50):
            try:
                self.dir.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.1)  # the last victim is still being torn down


def _oom_victim(deadline: float, procs: str) -> None:
    """Joins the memory cgroup, then touches memory until the kernel kills it."""
    Path(procs).write_text(str(os.getpid()))
    blocks = []
    while len(blocks) << 20 < OOM_VICTIM_GIVES_UP and time.monotonic() < deadline:
        blocks.append(bytearray(b"\x5a") * (1 << 20))  # written, so charged to the cgroup
    sys.exit(1)


def oom_kill(limit: MemoryLimit) -> None:
    """Exactly one OOM kill: a victim past the cgroup's limit, killed by the kernel (SIGKILL)."""
    proc = subprocess.run([sys.executable, "-B", str(Path(__file__).resolve()), "--worker", "oom_victim",
                           "--seconds", "60", str(limit.procs)], stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=90)
    if proc.returncode != -signal.SIGKILL:
        raise LoadError(f"the OOM victim exited {proc.returncode}, not killed by the kernel: "
                        f"{proc.stderr.decode(errors='replace').strip()[-300:]}")


WORKERS: dict[str, Callable[..., None]] = {
    "exec_loop": _exec_loop,
    "failing_exec_loop": _failing_exec_loop,
    "syscall_loop": _syscall_loop,
    "tcp_stream": _tcp_stream,
    "raw_ip": _raw_ip,
    "spin_loop": _spin_loop,
    "block_loop": _block_loop,
    "tcp_churn": _tcp_churn,
    "oom_victim": _oom_victim,
}


# ---------------------------------------------------------------- one run of the generators

class LoadRun:
    """What the generators of one Load share: the work directory, the intensity, when to end, and
    the processes they started (stopped when the run ends)."""

    def __init__(self, workdir: Path, storm: bool, seconds: float):
        self.workdir = workdir
        self.storm = storm
        self.deadline = time.monotonic() + seconds
        self.stopped = threading.Event()
        self.missing = workdir / "no_such_program"
        self._procs: list[subprocess.Popen] = []
        self._lock = threading.Lock()

    def running(self) -> bool:
        return not self.stopped.is_set() and time.monotonic() < self.deadline

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def pause(self) -> None:
        """Between two steady rounds."""
        self.stopped.wait(1 / STEADY_ROUNDS_PER_SECOND)

    def wait_end(self) -> None:
        self.stopped.wait(self.remaining())

    def start(self, cmd: list[str]) -> subprocess.Popen:
        """A process that ends by itself by the run's end (a deadline of its own) and is stopped
        then at the latest."""
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        with self._lock:
            self._procs.append(proc)
        return proc

    def workers(self, name: str, copies: int, *args: object) -> None:
        """`copies` processes each running the storm loop WORKERS[name] until the run's end."""
        for _ in range(copies):
            self.start([sys.executable, "-B", str(Path(__file__).resolve()), "--worker", name,
                        "--seconds", f"{self.remaining():.1f}", *map(str, args)])

    def failures(self, ignore_signals: bool = False) -> list[str]:
        """Processes that exited with an error (a kill at the run's end is no error)."""
        out = []
        with self._lock:
            for p in self._procs:
                rc = p.poll()
                if rc and not (ignore_signals and rc < 0):
                    err = p.stderr.read().decode(errors="replace").strip()[-300:] if p.stderr else ""
                    out.append(f"{' '.join(p.args[-3:])} exited {rc}: {err}")
        return out

    def end_workers(self) -> None:
        """Stops the processes started so far (before what they use is taken away)."""
        with self._lock:
            procs = list(self._procs)
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)

    def end(self) -> None:
        self.stopped.set()
        with self._lock:
            procs = list(self._procs)
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)


# ---------------------------------------------------------------- the generators, one per module

def exec_load(run: LoadRun) -> None:
    prog = copy_of_true(run.workdir, unique_name("ld"))
    if run.storm:
        run.workers("exec_loop", os.cpu_count() or 1, prog)
        run.workers("failing_exec_loop", 1, run.missing)
        names = run.workdir / "comms"
        names.mkdir(exist_ok=True)
        for i in range(DISTINCT_COMMS):
            if not run.running():
                return
            p = names / f"m{i}"
            try:
                os.link("/bin/true", p)  # a hard link is a new name without a copy
            except OSError:
                copy_of_true(names, p.name)
            spawn_and_wait(p)
        run.wait_end()
        return
    while run.running():
        spawn_and_wait(prog)
        failing_exec(run.missing)
        run.pause()


def syscall_load(run: LoadRun) -> None:
    missing = str(run.missing)
    if run.storm:
        run.workers("syscall_loop", os.cpu_count() or 1, missing)
        run.wait_end()
        return
    fd = os.open("/dev/zero", os.O_RDONLY)
    try:
        while run.running():
            for _ in range(10):
                syscall_round(fd, missing)
            run.pause()
    finally:
        os.close(fd)


def network_load(run: LoadRun) -> None:
    if run.storm:
        seconds = max(1, int(run.remaining()))
        for address in loopback_addresses():
            run.start(ping_command(address, flood_seconds=seconds))
        run.workers("tcp_stream", 1)
        run.workers("raw_ip", 1)
        run.wait_end()
        return
    udp = UdpLoopback()
    last_ping = 0.0
    try:
        while run.running():
            udp.send(20)
            if time.monotonic() - last_ping >= STEADY_PING_EVERY_SECONDS:
                for address in loopback_addresses():
                    run.start(ping_command(address, count=5))
                last_ping = time.monotonic()
            run.pause()
    finally:
        udp.close()


def runqueue_load(run: LoadRun) -> None:
    if run.storm:
        run.workers("spin_loop", 2 * (os.cpu_count() or 1))
    child_in, to_child = os.pipe()  # (read end, write end)
    from_child, child_out = os.pipe()
    pid = os.fork()
    if pid == 0:  # the echo: every byte is a wakeup here and one back in the parent
        try:
            os.close(to_child)
            os.close(from_child)
            while os.read(child_in, 1):
                os.write(child_out, b"x")
        finally:
            os._exit(0)
    os.close(child_in)
    os.close(child_out)
    try:
        while run.running():
            for _ in range(200 if run.storm else 20):
                os.write(to_child, b"x")
                os.read(from_child, 1)
            if not run.storm:
                run.pause()
    finally:
        os.close(to_child)
        os.close(from_child)
        os.waitpid(pid, 0)


class BlockDevice:
    """Where block_load does its I/O: as root, a loop device (losetup) backed by a sparse 16 MB file
    on a 1 MB tmpfs mounted in the work directory. The backing file's first 256 KB, where
    block_round's writes that fit go, are written at the start; a filler file takes all but 16 pages
    of the rest, so that its writes near the end fail with ENOSPC after at most 16 rounds: I/O errors
    from the first second of a load on, however slowly its rounds go. Otherwise a 16 MB file in the
    work directory, on whatever disk holds it. close() detaches and unmounts."""

    SIZE = 16 << 20
    TMPFS = 1 << 20
    FITS = 256 << 10  # block_round's writes that fit
    SPARE = 16 * 4096  # room for writes near the end before they fail

    def __init__(self, workdir: Path):
        self.loop = ""
        self.mount = workdir / "blockfs"
        self.mount.mkdir(exist_ok=True)
        self.mounted = False
        if os.geteuid() == 0 and shutil.which("losetup"):
            subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.TMPFS}", "bpfex-load", str(self.mount)],
                           check=True)
            self.mounted = True
            backing = self.mount / "disk.img"
            with open(backing, "wb") as f:
                f.write(bytes(self.FITS))
                f.truncate(self.SIZE)
            with open(self.mount / "filler", "wb") as f:
                f.write(bytes(self.TMPFS - self.FITS - self.SPARE))
            self.loop = subprocess.run(["losetup", "--find", "--show", str(backing)], check=True,
                                       capture_output=True, text=True).stdout.strip()
            self.path = self.loop
        else:
            self.path = str(workdir / "block.img")
            with open(self.path, "wb") as f:
                f.truncate(self.SIZE)

    def close(self) -> None:
        if self.loop:
            subprocess.run(["losetup", "-d", self.loop], check=False)
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.mount)], check=False)


def block_round(fd: int, buf: mmap.mmap, size: int, i: int) -> None:
    """Four reads, two writes that fit, one past the tmpfs's room (it fails on the loop device), a
    flush."""
    for k in range(4):
        os.preadv(fd, [buf], ((i * 4 + k) * 262144) % size)
    for k in range(2):
        os.pwritev(fd, [buf], ((i * 2 + k) % 64) * 4096)
    try:
        os.pwritev(fd, [buf], size - 4096 - (i % 512) * 8192)
    except OSError:
        pass
    os.fsync(fd)


def block_load(run: LoadRun) -> None:
    device = BlockDevice(run.workdir)
    try:
        if run.storm:
            run.workers("block_loop", os.cpu_count() or 1, device.path)
        fd = os.open(device.path, os.O_RDWR | os.O_DIRECT)
        buf = mmap.mmap(-1, 4096)
        try:
            i = 0
            while run.running():
                block_round(fd, buf, BlockDevice.SIZE, i)
                i += 1
                run.pause()
        finally:
            os.close(fd)
        run.wait_end()
    finally:
        run.end_workers()
        device.close()
def tcp_load(run: LoadRun) -> None:
    if run.storm:
        run.workers("tcp_churn", os.cpu_count() or 1)
        run.wait_end()
        return
    tcp = TcpLoopback()
    last_overflow = 0.0
    try:
        while run.running():
            tcp.round(2)
            if time.monotonic() - last_overflow >= 5:
                tcp.overflow()
                last_overflow = time.monotonic()
            run.pause()
    finally:
        tcp.close()


OOM_STEADY_EVERY_SECONDS = 5


def oom_load(run: LoadRun) -> None:
    limit = MemoryLimit()
    try:
        while run.running():
            oom_kill(limit)
            if not run.storm:
                run.stopped.wait(OOM_STEADY_EVERY_SECONDS)
    finally:
        limit.close()


LOADS: dict[str, Callable[[LoadRun], None]] = {
    "exec": exec_load,
    "syscall": syscall_load,
    "network": network_load,
    "runqueue": runqueue_load,
    "block": block_load,
    "tcp": tcp_load,
    "oom": oom_load,
}


class Load(threading.Thread):
    """Runs the generators of the given modules, each in a thread of its own, until stop() or
    until `seconds` have passed (so that a forgotten Load still ends)."""

    def __init__(self, modules: list[str], workdir: Path, storm: bool = False, seconds: float = 600):
        super().__init__(name="load", daemon=True)
        missing = [m for m in modules if m not in LOADS]
        if missing:
            raise LoadError(f"no load generator for module(s) {missing} in tests/lib/load.py LOADS")
        self.modules = list(modules)
        self.run_ = LoadRun(workdir, storm, seconds)
        self.errors: list[str] = []
        atexit.register(self.run_.end)  # the storm's processes, if the test dies before stop()

    def _generate(self, module: str) -> None:
        try:
            LOADS[module](self.run_)
        except Exception as e:  # noqa: BLE001 - reported by stop()
            self.errors.append(f"{module}: {type(e).__name__}: {e}")
            self.run_.stopped.set()

    def run(self) -> None:
        threads = [threading.Thread(target=self._generate, args=(m,), name=f"load-{m}", daemon=True)
                   for m in self.modules]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.errors += self.run_.failures(ignore_signals=True)
        self.run_.end()

    def abort(self) -> None:
        """Ends the run without a verdict (cleanup after a failure elsewhere)."""
        self.run_.end()
        self.join(15)

    def stop(self, timeout: float = 15) -> None:
        """Ends the run; raises LoadError naming what failed, if anything did."""
        self.run_.stopped.set()
        self.join(timeout)
        if self.is_alive():
            self.errors.append(f"generators still running {timeout} s after stop")
            self.run_.end()
        if self.errors:
            raise LoadError("; ".join(self.errors))


# ---------------------------------------------------------------- command line

def main() -> int:
    parser = argparse.ArgumentParser(description="Load for bpfex's modules, on this host and loopback only.")
    parser.add_argument("--modules", help=f"comma-separated, of {','.join(LOADS)}")
    parser.add_argument("--seconds", type=float, default=60, help="how long (default 60)")
    parser.add_argument("--storm", action="store_true", help="as much load as the machine takes")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)  # one storm loop
    parser.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    a = parser.parse_args()
    if a.worker:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        WORKERS[a.worker](time.monotonic() + a.seconds, *a.args)
        return 0
    if not a.modules:
        parser.error("--modules is required")
    workdir = Path(tempfile.mkdtemp(prefix="bpfex-load."))
    try:
        load = Load(a.modules.split(","), workdir, storm=a.storm, seconds=a.seconds)
        signal.signal(signal.SIGTERM, lambda *_: load.run_.stopped.set())
        signal.signal(signal.SIGINT, lambda *_: load.run_.stopped.set())
        load.start()
        while load.is_alive():
            load.join(0.5)  # a timeout, so that the signal handlers run
        load.stop()
    except LoadError as e:
        print(f"load: {e}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

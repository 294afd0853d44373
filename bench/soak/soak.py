#!/usr/bin/python3
"""Soak: bpfex for a given time under churn, its resources sampled; the verdict says whether they
stay flat. bench/soak/run.sh runs it (for an hour by default); ctest `soak` runs it for 3 minutes.

Churn, in cycles (a burst, then quiet):
  burst   veth pairs with random names (bytes that are not UTF-8 included), raw frames of several
          ethertypes sent on them; cgroups with random names (likewise), each running execs of
          programs with random names (likewise, up to the 15 bytes the kernel keeps); scrapes of
          /metrics 10 times a second throughout.
  reload  at a burst's start once RELOAD_EVERY seconds have passed, SIGHUP, in turn with a module
          option changed (block's include_queue_time: that module is started anew and swapped, its
          counters carried on), with the file unchanged, and with a broken file; each waited for.
  quiet   everything of the burst deleted, then SETTLE seconds: bpfex must be back where it was.
  probe   at every burst's start, PROBE_EXECS execs of a program of a name of the soak's own
          (bpfexsoakprobe) in a cgroup that lives through the run: every one must be counted.
Everything runs in a network namespace of its own (so other users of the machine add no
interfaces) and in cgroups under <cgroup2>/bpfex-soak-<pid>.

Sampled: every SAMPLE_EVERY seconds, and at the end of every quiet phase: bpfex's RSS, open fds,
threads, the entries of its kernel maps (found through /proc/PID/fdinfo, counted with
BPF_MAP_GET_NEXT_KEY) and their memlock, the series on /metrics.

Verdict (after the warm-up, on the samples taken at the end of quiet phases, where the churn is
gone and only leaks remain): RSS, open fds and the entries of its hash maps within +-5% of their
median (LRU maps are caches that fill by design: reported, and bounded by their size); no lost
counts (at every quiet sample, bpfex_exec_total{comm="bpfexsoakprobe"} equals the probe's execs so
far, exactly: its series never retire, and under a cap they land in `other`, which never goes
down); no label beyond its cap (comm, interface, the workload, device); counters never went down
(the swapped block module's included); every scrape answered; every reload did what it should
(successful; failed for the broken file); bpfex alive throughout and gone within 10 s of SIGTERM
with status 0; the last /metrics `promtool check metrics` clean. Reloads that restart a module load
and free BPF programs and maps: the flat fds, RSS and map entries cover them.

Usage: bench/soak/soak.py BPFEX_BINARY REPO_ROOT [--seconds N] [--warmup N] [--results FILE]
Root (BPF, veths, cgroups); without root it skips (77), except under CI=true, where it fails.
Python 3 standard library and tests/lib only; iproute2 and promtool (scripts/install-deps.sh --tests).
"""

from __future__ import annotations

import argparse
import ctypes
import http.client
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
from lib.harness import (Cgroup, Daemon, Suite, cgroup2_mount, describe, ensure_tracefs, fail,  # noqa: E402
                         free_ports, label_pairs, require_root, run, sample, temp_dir, wait_until)

SCRAPES_PER_SECOND = 10
SAMPLE_EVERY = 10        # seconds between periodic samples
RELOAD_EVERY = 15        # seconds between SIGHUPs
BURST_SECONDS = 8        # churn phase of a cycle
SETTLE = 4               # quiet seconds before a quiet-phase sample (bpfex polls every second)
VETH_PAIRS = 6           # per burst: 12 interfaces, over the configuration's max_interfaces
CGROUPS = 4              # per burst
EXECS_PER_CGROUP = 30    # per burst, each of a program with a random name
PROBE_EXECS = 20         # per burst, of bpfexsoakprobe in the steady cgroup
PROBE = "bpfexsoakprobe"
TOLERANCE = 0.05         # flat: within +-5% of the median
# The hash maps also track the machine's other processes (their cgroups, task names): a few come and
# go with what else runs, which at small totals is more than 5%.
HASH_ENTRIES_SLACK = 16
LONG_RUN = 1800          # seconds from which the total of hash map entries is judged flat too

# Small caps, so that the run reaches each and the overflow path is exercised.
CAPS = {"max_comms": 64, "max_interfaces": 8, "max_workloads": 16, "max_devices": 64}
CONFIG = """# bench/soak: small caps, so that the churn overflows them; short ages, so workloads come and go.
poll_interval: 1s
attribution:
  max_workloads: {max_workloads}
  min_age: 3s
  retire_after: 20s
modules:
  exec:
    max_comms: {max_comms}
  network:
    max_interfaces: {max_interfaces}
  block:
    max_devices: {max_devices}
    include_queue_time: {queue_time}
"""
BROKEN_CONFIG = "modules:\n  exec:\n    max_comms: many\n"

# ---------------------------------------------------------------- the network namespace

CLONE_NEWNET = 0x40000000


def own_network_namespace() -> None:
    """Moves this process (still single-threaded) into a new network namespace with lo up."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        fail(f"unshare(CLONE_NEWNET): {os.strerror(ctypes.get_errno())}")
    proc = run(["ip", "link", "set", "lo", "up"])
    if proc.returncode != 0:
        fail("ip link set lo up\n" + describe(proc))


# ---------------------------------------------------------------- bpfex's kernel maps

BPF_MAP_GET_NEXT_KEY, BPF_MAP_GET_FD_BY_ID, BPF_OBJ_GET_INFO_BY_FD = 4, 14, 15
MAP_TYPES = {1: "hash", 5: "percpu_hash", 9: "lru_hash", 10: "lru_percpu_hash"}  # the ones with entries to count
LRU = {"lru_hash", "lru_percpu_hash"}
SYS_BPF = {"x86_64": 321, "aarch64": 280}[platform.machine()]
_libc = ctypes.CDLL(None, use_errno=True)


def _bpf(cmd: int, attr: ctypes.Array) -> int:
    return _libc.syscall(SYS_BPF, cmd, attr, len(attr))


@dataclass
class MapInfo:
    id: int
    type: str
    name: str
    max_entries: int
    memlock: int
    entries: int | None  # counted for hash maps, else None
    dead: int = 0        # of them, entries whose key holds the ID of a cgroup the churn removed a cycle ago
    key_size: int = 0


def bpfex_maps(pid: int, dead: set[int] = frozenset()) -> list[MapInfo]:
    """Every BPF map bpfex holds a file descriptor of (fdinfo's map_id), with its entries counted,
    and those keyed by a cgroup ID in `dead`."""
    seen: dict[int, dict[str, str]] = {}
    for fdinfo in Path(f"/proc/{pid}/fdinfo").iterdir():
        try:
            fields = dict(line.split(":", 1) for line in fdinfo.read_text().splitlines() if ":" in line)
        except OSError:
            continue  # closed meanwhile
        if "map_id" in fields:
            seen[int(fields["map_id"])] = {k: v.strip() for k, v in fields.items()}
    out = []
    for map_id, f in sorted(seen.items()):
        kind = MAP_TYPES.get(int(f.get("map_type", "0")), f"type{f.get('map_type')}")
        entries, in_dead = (_count_entries(map_id, int(f.get("key_size", "0")), int(f.get("max_entries", "0")),
                                           dead) if kind in MAP_TYPES.values() else (None, 0))
        out.append(MapInfo(map_id, kind, _map_name(map_id), int(f.get("max_entries", "0")),
                           int(f.get("memlock", "0")), entries, in_dead, int(f.get("key_size", "0"))))
    return out


def _map_fd(map_id: int) -> int:
    attr = ctypes.create_string_buffer(struct.pack("=I", map_id), 128)
    return _bpf(BPF_MAP_GET_FD_BY_ID, attr)


def _map_name(map_id: int) -> str:
    fd = _map_fd(map_id)
    if fd < 0:
        return "?"
    try:
        info = ctypes.create_string_buffer(88)
        attr = ctypes.create_string_buffer(struct.pack("=IIQ", fd, len(info), ctypes.addressof(info)), 128)
        if _bpf(BPF_OBJ_GET_INFO_BY_FD, attr) != 0:
            return "?"
        return info.raw[24:40].split(b"\0")[0].decode(errors="replace")  # struct bpf_map_info.name
    finally:
        os.close(fd)


def _count_entries(map_id: int, key_size: int, max_entries: int, dead: set[int]) -> tuple[int | None, int]:
    """The map's entries, and how many of them have a key holding a cgroup ID of `dead` (bpfex's
    keys put a cgroup ID at an offset that is a multiple of 8)."""
    fd = _map_fd(map_id)
    if fd < 0:
        return None, 0  # gone meanwhile
    try:
        key, next_key = ctypes.create_string_buffer(key_size), ctypes.create_string_buffer(key_size)
        n, in_dead, first = 0, 0, True
        # Entries deleted while we walk restart the walk at the table's start: bounded anyway.
        while n <= 4 * max_entries:
            attr = ctypes.create_string_buffer(struct.pack("=IIQQ", fd, 0, 0 if first else ctypes.addressof(key),
                                                           ctypes.addressof(next_key)), 128)
            if _bpf(BPF_MAP_GET_NEXT_KEY, attr) != 0:
                break  # ENOENT: the end
            ctypes.memmove(key, next_key, key_size)
            first = False
            n += 1
            if dead and any(struct.unpack_from("=Q", key.raw, off)[0] in dead for off in range(0, key_size - 7, 8)):
                in_dead += 1
        return n, in_dead
    finally:
        os.close(fd)


def entries_by_cgroup(map_id: int, key_size: int, mount: Path) -> dict[str, int]:
    """A map's entries by the cgroup their key names (a live cgroup's path relative to `mount`;
    "(no cgroup)" when no 8-byte-aligned field of the key is a live cgroup's ID): which workloads
    hold the entries of a map that grew."""
    paths: dict[int, str] = {}
    for d, _, _ in os.walk(mount):
        try:
            paths[os.stat(d).st_ino] = "/" + os.path.relpath(d, mount).removeprefix(".")
        except OSError:
            continue
    out: dict[str, int] = {}
    fd = _map_fd(map_id)
    if fd < 0:
        return out
    try:
        key, next_key = ctypes.create_string_buffer(key_size), ctypes.create_string_buffer(key_size)
        first = True
        for _ in range(1 << 16):
            attr = ctypes.create_string_buffer(struct.pack("=IIQQ", fd, 0, 0 if first else ctypes.addressof(key),
                                                           ctypes.addressof(next_key)), 128)
            if _bpf(BPF_MAP_GET_NEXT_KEY, attr) != 0:
                break
            ctypes.memmove(key, next_key, key_size)
            first = False
            ids = [struct.unpack_from("=Q", key.raw, off)[0] for off in range(0, key_size - 7, 8)]
            where = next((paths[i] for i in ids if i in paths), "(no cgroup)")
            out[where] = out.get(where, 0) + 1
    finally:
        os.close(fd)
    return out


# ---------------------------------------------------------------- samples

@dataclass
class Sample:
    t: float
    quiet: bool
    rss_kb: int
    fds: int
    threads: int
    hash_entries: int        # non-LRU hash maps: what tracks live objects
    lru_entries: int
    dead_entries: int        # hash map entries of cgroups the churn removed a cycle or more ago
    memlock: int
    series: int
    maps: list[MapInfo] = field(default_factory=list)


def process_status(pid: int) -> dict[str, str]:
    return dict(line.split(":\t", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":\t" in line)


def take_sample(pid: int, t: float, quiet: bool, series: int, dead: set[int]) -> Sample:
    status = process_status(pid)
    maps = bpfex_maps(pid, dead)
    return Sample(t=t, quiet=quiet, rss_kb=int(status["VmRSS"].split()[0]), fds=len(os.listdir(f"/proc/{pid}/fd")),
                  threads=int(status["Threads"]),
                  hash_entries=sum(m.entries or 0 for m in maps if m.type not in LRU),
                  lru_entries=sum(m.entries or 0 for m in maps if m.type in LRU),
                  dead_entries=sum(m.dead for m in maps if m.type not in LRU),
                  memlock=sum(m.memlock for m in maps), series=series, maps=maps)


# ---------------------------------------------------------------- scrapes

COUNTER_SUFFIXES = (b"_bucket", b"_count", b"_sum")
SAMPLE_LINE = re.compile(rb"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$")


class Scraper(threading.Thread):
    """GET /metrics SCRAPES_PER_SECOND times a second; once a second the page is read in full:
    valid UTF-8, counters never lower than a second before, the labels with caps counted."""

    def __init__(self, port: int):
        super().__init__(name="scraper", daemon=True)
        self.port = port
        self.stop_event = threading.Event()
        self.ok = 0
        self.failures: list[str] = []
        self.latencies: list[float] = []
        self.decreases: list[str] = []
        self.cap_max: dict[str, int] = {}
        self.series = 0
        self.last_body = b""
        self._previous: dict[bytes, float] = {}

    def fetch(self) -> bytes:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", "/metrics")
            r = conn.getresponse()
            body = r.read()
            if r.status != 200:
                raise OSError(f"status {r.status}")
            return body
        finally:
            conn.close()

    def run(self) -> None:
        n = 0
        next_at = time.monotonic()
        while not self.stop_event.is_set():
            start = time.monotonic()
            try:
                body = self.fetch()
                self.latencies.append(time.monotonic() - start)
                self.ok += 1
                if n % SCRAPES_PER_SECOND == 0:
                    self.read(body)
            except Exception as e:  # noqa: BLE001 - counted and reported
                self.failures.append(f"{time.strftime('%T')} {type(e).__name__}: {e}")
            n += 1
            next_at += 1 / SCRAPES_PER_SECOND
            self.stop_event.wait(max(0.0, next_at - time.monotonic()))

    def read(self, body: bytes) -> None:
        self.last_body = body
        try:
            body.decode("utf-8", errors="strict")
        except UnicodeDecodeError as e:
            self.failures.append(f"not UTF-8: {e}")
        types: dict[bytes, bytes] = {}
        values: dict[bytes, float] = {}
        distinct: dict[str, set] = {"comm": set(), "interface": set(), "device": set()}
        workloads: dict[bytes, set] = {}
        for line in body.split(b"\n"):
            if line.startswith(b"# TYPE "):
                _, _, name, kind = line.split(b" ", 3)
                types[name] = kind
                continue
            m = SAMPLE_LINE.match(line)
            if not m:
                continue
            name, labels, value = m.group(1), m.group(2) or b"", float(m.group(3))
            family = next((name[: -len(s)] for s in COUNTER_SUFFIXES if name.endswith(s) and
                           types.get(name[: -len(s)]) == b"histogram"), name)
            if types.get(family) in (b"counter", b"histogram"):
                key = name + labels
                values[key] = value
                before = self._previous.get(key)
                if before is not None and value < before and len(self.decreases) < 200:
                    self.decreases.append(f"{key.decode(errors='replace')}: {before:g} -> {value:g}")
            if labels:
                pairs = label_pairs(labels.decode(errors="replace"))
                for label in distinct:
                    if label in pairs:
                        distinct[label].add(pairs[label])
                if "cgroup" in pairs:
                    workloads.setdefault(family, set()).add(
                        tuple(pairs.get(k) for k in ("namespace", "pod", "container", "cgroup")))
        self._previous = values
        self.series = sum(1 for line in body.split(b"\n") if line and not line.startswith(b"#"))
        counts = {label: len(v) for label, v in distinct.items()}
        counts["workload"] = max((len(v) for v in workloads.values()), default=0)
        for k, v in counts.items():
            self.cap_max[k] = max(self.cap_max.get(k, 0), v)


# ---------------------------------------------------------------- churn

def random_name(prefix: bytes, length: int, forbidden: bytes) -> bytes:
    """prefix + random bytes (invalid UTF-8 likely), none of `forbidden` and no NUL."""
    out = bytearray(prefix)
    while len(out) < length:
        b = random.randrange(1, 256)
        if bytes([b]) not in forbidden:
            out.append(b)
    return bytes(out)


def frames(mac: bytes) -> list[bytes]:
    """Broadcast frames: IPv4/UDP, ARP, IPv6/ICMPv6, and an ethertype without a name."""
    dst = b"\xff" * 6
    ip4 = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28, 0, 0, 64, 17, 0, b"\0\0\0\0", b"\xff\xff\xff\xff")
    udp = struct.pack("!HHHH", 68, 67, 8, 0)
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mac, b"\0\0\0\0", b"\0" * 6, b"\x0a\0\0\x01")
    ip6 = struct.pack("!IHBB16s16s", 0x60000000, 8, 58, 255, b"\0" * 16, b"\xff\x02" + b"\0" * 13 + b"\x01")
    icmp6 = struct.pack("!BBHI", 128, 0, 0, 0)
    return [dst + mac + b"\x08\x00" + ip4 + udp, dst + mac + b"\x08\x06" + arp,
            dst + mac + b"\x86\xdd" + ip6 + icmp6, dst + mac + b"\x88\xb5" + b"bpfex soak".ljust(46, b"\0")]


class Churn:
    def __init__(self, mount: Path, workdir: Path, suite: Suite, steady: Cgroup, probe: Path):
        self.suite = suite
        self.parent = f"/bpfex-soak-{os.getpid()}"
        Cgroup(mount, self.parent)
        self.steady, self.probe = steady, probe
        self.probe_execs = 0
        self.removed: list[set[int]] = []  # IDs of the cgroups each cycle removed
        self.mount = mount
        self.bin = workdir / "bin"
        self.bin.mkdir()
        self.true = self.bin / "true"
        shutil.copyfile("/bin/true", self.true)
        self.true.chmod(0o755)
        self.errors: list[str] = []
        self.cycles = 0
        self.execs = 0

    def _ip(self, *args: bytes | str) -> None:
        proc = subprocess.run(["ip", *args], capture_output=True, timeout=30)
        if proc.returncode != 0:
            self.errors.append(f"ip {b' '.join(a if isinstance(a, bytes) else a.encode() for a in args)!r}: "
                               f"{proc.stderr.decode(errors='replace').strip()}")

    def veths(self) -> list[tuple[bytes, bytes]]:
        # Interface names: up to 15 bytes, none of '/', ':', '%' (a template to the kernel), whitespace (to the
        # kernel 0xa0 is one too).
        bad = b"/:% \t\n\v\f\r\xa0"
        pairs = [(random_name(b"sk", 15, bad), random_name(b"sp", random.randrange(3, 16), bad))
                 for _ in range(VETH_PAIRS)]
        for a, b in pairs:
            self._ip("link", "add", b"name", a, "type", "veth", "peer", "name", b)
            self._ip("link", "set", a, "up")
            self._ip("link", "set", b, "up")
        return pairs

    def traffic(self, pairs: list[tuple[bytes, bytes]]) -> None:
        # Python's AF_PACKET addresses take the name as UTF-8 only: sendto(2) with the ifindex.
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as s:
            for pair in pairs:
                for name in pair:
                    try:
                        ifindex = socket.if_nametoindex(os.fsdecode(name))
                    except OSError as e:
                        self.errors.append(f"ifindex of {name!r}: {e}")
                        continue
                    address = struct.pack("=HHiHBB8s", socket.AF_PACKET, 0, ifindex, 0, 0, 6, b"")
                    for frame in frames(b"\x02" + os.urandom(5)):
                        if _libc.sendto(s.fileno(), frame, len(frame), 0, address, len(address)) < 0:
                            self.errors.append(f"frames on {name!r}: {os.strerror(ctypes.get_errno())}")
                            break

    def cgroups(self) -> list[tuple[Cgroup, subprocess.Popen]]:
        out = []
        for _ in range(CGROUPS):
            # cgroup names: anything but '/' and '\n' (the kernel refuses a newline).
            name = random_name(b"c", random.randrange(2, 24), b"/\n")
            cg = Cgroup(self.mount, f"{self.parent}/{os.fsdecode(name)}")
            cg.id = os.stat(cg.dir).st_ino  # a cgroup v2 directory's inode number is its ID
            progs = []
            for _ in range(EXECS_PER_CGROUP):
                prog = self.bin / os.fsdecode(random_name(b"", random.randrange(1, 16), b"/"))
                if not prog.exists():
                    os.link(self.true, prog)
                progs.append(prog)
            # A shell that moves itself into the cgroup, then runs each program once.
            worker = subprocess.Popen(["sh", "-c", 'echo 0 > "$1/cgroup.procs" && shift && for p; do "$p"; done',
                                       "sh", cg.dir, *progs], stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            self.execs += len(progs)
            out.append((cg, worker))
        return out

    def burst(self, deadline: float) -> None:
        self.steady.execs(self.probe, PROBE_EXECS)
        self.probe_execs += PROBE_EXECS
        pairs = self.veths()
        groups = self.cgroups()
        while time.monotonic() < deadline:
            self.traffic(pairs)
            time.sleep(1)
        self.removed.append({cg.id for cg, _ in groups})
        for cg, worker in groups:
            try:
                _, err = worker.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                _, err = worker.communicate()
            if worker.returncode != 0:
                self.errors.append(f"execs in {cg.path!r}: exit {worker.returncode}: {err.decode(errors='replace')}")
            try:
                cg.remove()
            except OSError as e:
                self.errors.append(f"rmdir {cg.path!r}: {e}")
        for a, _ in pairs:
            self._ip("link", "del", a)
        for f in self.bin.iterdir():
            if f != self.true:
                f.unlink()
        self.cycles += 1


# ---------------------------------------------------------------- reloads

class Reloader:
    """A reload (SIGHUP) at the start of a burst once RELOAD_EVERY seconds have passed, in turn: the
    block module's include_queue_time changed (the module is started beside the old one and swapped),
    the file rewritten unchanged (nothing restarted), a broken file (the running configuration stays),
    and so on. Each is waited for (bpfex_config_last_reload_successful and _success_timestamp_seconds
    on /metrics), so that quiet samples never catch a swap half done."""

    KINDS = ("changed", "unchanged", "broken")

    def __init__(self, bpfex: Daemon, config: Path, scraper: "Scraper"):
        self.bpfex, self.config, self.scraper = bpfex, config, scraper
        self.queue_time = False  # as the file starts
        self.last = -RELOAD_EVERY
        self.sent = {k: 0 for k in self.KINDS}
        self.errors: list[str] = []

    def _state(self) -> tuple[float | None, float | None]:
        text = self.scraper.fetch().decode(errors="replace")
        return (sample(text, "bpfex_config_last_reload_successful"),
                sample(text, "bpfex_config_last_reload_success_timestamp_seconds"))

    def maybe_reload(self, t: float) -> None:
        if t - self.last < RELOAD_EVERY or not self.bpfex.alive():
            return
        self.last = t
        kind = self.KINDS[sum(self.sent.values()) % len(self.KINDS)]
        try:
            _, before = self._state()
        except OSError as e:
            self.errors.append(f"{t:.0f}s: scrape before a reload failed: {e}")
            return
        if kind == "broken":
            self.config.write_text(BROKEN_CONFIG)
        else:
            if kind == "changed":
                self.queue_time = not self.queue_time
            self.config.write_text(CONFIG.format(**CAPS, queue_time=str(self.queue_time).lower()))
        # The timestamp has a resolution of a second: the next success must show a later one.
        time.sleep(max(0.0, (before or 0) + 1.05 - time.time()))
        os.kill(self.bpfex.pid, signal.SIGHUP)
        self.sent[kind] += 1

        def done() -> bool:
            ok, when = self._state()
            return ok == 0 if kind == "broken" else ok == 1 and when is not None and when != before

        if not wait_until(20, done):
            state = "?"
            try:
                state = "successful %s, success timestamp %s (was %s)" % (*self._state(), before)
            except OSError as e:
                state = str(e)
            self.errors.append(f"{t:.0f}s: {kind} reload not done as expected within 20 s: {state}")
        if kind == "broken":  # the good file back, for the unchanged one's turn
            self.config.write_text(CONFIG.format(**CAPS, queue_time=str(self.queue_time).lower()))

    def summary(self) -> str:
        return (f"{sum(self.sent.values())} reloads by SIGHUP ({self.sent['changed']} with a changed module option, "
                f"{self.sent['unchanged']} unchanged, {self.sent['broken']} with a broken file)")


# ---------------------------------------------------------------- the run

def flat(samples: list[Sample], what: str, get, slack: float = 0) -> tuple[bool, str]:
    """Every value within TOLERANCE of the median, or within `slack` of it (small absolute numbers)."""
    values = [get(s) for s in samples]
    if not values:
        return False, f"{what}: no samples after the warm-up"
    median = statistics.median(values)
    lo, hi = min(values), max(values)
    off = max(abs(lo - median), abs(hi - median))
    worst = off / median if median else (0.0 if lo == hi == 0 else 1.0)
    ok = worst <= TOLERANCE or off <= slack
    limit = f"limit {TOLERANCE * 100:.0f}%" + (f" or {slack:g}" if slack else "")
    return ok, (f"{what}: median {median:g}, min {lo:g}, max {hi:g}, first {values[0]:g}, last {values[-1]:g}: "
                f"{'flat' if ok else 'NOT flat'} ({worst * 100:.1f}% from the median, {limit})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("binary", type=Path)
    parser.add_argument("root", type=Path)
    parser.add_argument("--seconds", type=float, default=3600)
    parser.add_argument("--warmup", type=float, help="seconds not judged (default: a sixth, 60 s to 10 min)")
    parser.add_argument("--results", type=Path, help="also write the samples and verdict here")
    args = parser.parse_args()
    warmup = args.warmup if args.warmup is not None else min(max(60.0, args.seconds / 6), 600.0)
    suite = Suite("soak")
    require_root(suite, "the soak loads BPF programs and creates veths and cgroups")
    binary = args.binary.resolve()
    mount = cgroup2_mount()
    if mount is None:
        suite.fatal("no cgroup v2 hierarchy in /proc/self/mountinfo: the soak churns cgroups")
    warning = ensure_tracefs(args.root.resolve())
    if warning:
        suite.note(warning)
    own_network_namespace()
    workdir = temp_dir("bpfex-soak.")
    # The probe's cgroup exists before bpfex starts: an old workload, exported (or in `other`) at once.
    steady = Cgroup(mount, f"/bpfex-soak-{os.getpid()}/steady")
    probe = workdir / PROBE
    shutil.copyfile("/bin/true", probe)
    probe.chmod(0o755)
    config = workdir / "soak.yaml"
    config.write_text(CONFIG.format(**CAPS, queue_time="false"))
    port = free_ports(1)[0]
    # Capabilities kept: a reload that restarts a module loads BPF programs again.
    bpfex = Daemon("bpfex", [binary, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}",
                             "--capabilities.keep=all"],
                   workdir / "bpfex.log")
    suite.show_logs(bpfex)
    scraper = Scraper(port)
    if not wait_until(30, lambda: bpfex.alive() and scraper.fetch() is not None):
        suite.fatal("bpfex answering /metrics within 30 s", bpfex.tail())
    print(f"soak: {args.seconds:g} s, warm-up {warmup:g} s, bpfex pid {bpfex.pid} on port {port}, "
          f"churn cgroups under {mount}/bpfex-soak-{os.getpid()}", flush=True)

    churn = Churn(mount, workdir, suite, steady, probe)
    lost: list[str] = []
    # The probe's name takes one of the max_comms names before the churn's random ones race for them
    # (names are first come, first served, and keep their place).
    steady.execs(probe, PROBE_EXECS)
    churn.probe_execs += PROBE_EXECS
    if not wait_until(10, lambda: sample(scraper.fetch().decode(errors="replace"), "bpfex_exec_total",
                                         f'comm="{PROBE}"') == churn.probe_execs):
        suite.fatal(f"{PROBE_EXECS} execs of {PROBE} counted within 10 s", bpfex.tail())
    reloader = Reloader(bpfex, config, scraper)
    samples: list[Sample] = []
    start = time.monotonic()
    end = start + args.seconds
    last_periodic = -SAMPLE_EVERY
    died = ""
    scraper.start()

    def count_probe(t: float) -> None:
        try:
            counted = sample(scraper.fetch().decode(errors="replace"), "bpfex_exec_total", f'comm="{PROBE}"') or 0
        except OSError as e:
            lost.append(f"{t:.0f}s: scrape failed: {e}")
            return
        if counted != churn.probe_execs:
            lost.append(f"{t:.0f}s: {counted:g} of {churn.probe_execs} counted")

    def take(quiet: bool) -> None:
        # Cgroups of the cycles before the last: bpfex has had a whole cycle to free their entries.
        dead = set().union(*churn.removed[:-1]) if len(churn.removed) > 1 else set()
        s = take_sample(bpfex.pid, time.monotonic() - start, quiet, scraper.series, dead)
        samples.append(s)
        print(f"{s.t:7.1f}s {'quiet' if quiet else 'busy '} rss {s.rss_kb} kB, fds {s.fds}, threads {s.threads}, "
              f"hash entries {s.hash_entries} ({s.dead_entries} of dead cgroups), lru entries {s.lru_entries}, memlock {s.memlock >> 10} KiB, "
              f"series {s.series}", flush=True)

    try:
        while time.monotonic() < end:
            if not bpfex.alive():
                died = f"bpfex exited ({bpfex.proc.returncode}) after {time.monotonic() - start:.0f} s"
                break
            reloader.maybe_reload(time.monotonic() - start)
            churn.burst(min(time.monotonic() + BURST_SECONDS, end))
            if time.monotonic() - start - last_periodic >= SAMPLE_EVERY:
                take(False)
                last_periodic = time.monotonic() - start
            time.sleep(SETTLE)
            if bpfex.alive():
                take(True)
                count_probe(time.monotonic() - start)
    finally:
        scraper.stop_event.set()
        scraper.join(15)

    body = scraper.last_body
    try:
        body = scraper.fetch()
    except OSError as e:
        died = died or f"final scrape failed: {e}"
    lint = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True, timeout=60)
    # The maps that grew since the warm-up, by the cgroup their entries name (read while bpfex still
    # holds them): growth in live workloads is new keys there (task names, errnos), not a leak.
    judged = [s for s in samples if s.quiet and s.t >= warmup]
    grown: list[str] = []
    if judged and bpfex.alive():
        first = {m.id: m.entries for m in judged[0].maps}
        for m in bpfex_maps(bpfex.pid):
            grew = m.entries is not None and (m.entries - (first.get(m.id) or 0)) > HASH_ENTRIES_SLACK // 4
            if grew and m.type not in LRU:
                split = sorted(entries_by_cgroup(m.id, m.key_size, mount).items(), key=lambda kv: -kv[1])[:8]
                grown.append(f"#   {m.name} {first.get(m.id)}->{m.entries}; entries by cgroup now: " +
                             ", ".join(f"{path!r} {n}" for path, n in split))
    status = bpfex.sigterm() if bpfex.alive() else bpfex.proc.returncode

    lines = [f"# bench/soak {args.seconds:g} s (warm-up {warmup:g} s), {time.strftime('%FT%TZ', time.gmtime())}, "
             f"{os.cpu_count()} CPUs, Linux {platform.release()}",
             f"# {churn.cycles} churn cycles: {churn.cycles * VETH_PAIRS} veth pairs, {churn.cycles * CGROUPS} cgroups, "
             f"{churn.execs} execs of random names; {reloader.summary()}; "
             f"{scraper.ok} scrapes answered, {len(scraper.failures)} failed",
             "# t_s phase rss_kb fds threads hash_entries dead_cgroup_entries lru_entries memlock_kb series"]
    lines += [f"{s.t:.1f} {'quiet' if s.quiet else 'busy'} {s.rss_kb} {s.fds} {s.threads} {s.hash_entries} "
              f"{s.dead_entries} {s.lru_entries} {s.memlock >> 10} {s.series}" for s in samples]
    if judged:
        first = {m.id: m.entries for m in judged[0].maps}
        lines.append("# hash map entries, first and last judged sample: " + ", ".join(
            f"{m.name} {first.get(m.id, '-')}->{m.entries}" for m in judged[-1].maps if m.entries is not None))
        lines += grown
    if samples:
        lines.append("# maps at the last sample: id type name entries/max_entries memlock")
        lines += [f"#   {m.id} {m.type} {m.name} {m.entries if m.entries is not None else '-'}/{m.max_entries} "
                  f"{m.memlock}" for m in samples[-1].maps]
    latencies = sorted(scraper.latencies) or [0.0]
    lines.append(f"# scrape latency: p50 {latencies[len(latencies) // 2] * 1000:.1f} ms, "
                 f"p99 {latencies[int(len(latencies) * 0.99)] * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms")

    verdicts: list[tuple[bool, str]] = [
        flat(judged, "RSS (kB)", lambda s: s.rss_kb),
        flat(judged, "open fds", lambda s: s.fds),
    ]
    # Entries that outlive their cgroup are what would grow without bound: none, exactly. The total
    # also follows what else runs on the machine; judged flat on long runs only (it takes a while to
    # see every name and workload the machine has).
    leaked = [s for s in samples if s.quiet and s.dead_entries]
    verdicts.append((not leaked, "no map entries of removed cgroups left a cycle later" +
                     (": " + ", ".join(f"{s.t:.0f}s {s.dead_entries}" for s in leaked[:5]) if leaked else "")))
    total = flat(judged, "hash map entries", lambda s: s.hash_entries, HASH_ENTRIES_SLACK)
    if args.seconds >= LONG_RUN:
        verdicts.append(total)
    else:
        lines.append(f"# (not judged under {LONG_RUN} s) {total[1]}")
    lru_over = [f"{m.name} {m.entries}/{m.max_entries}" for s in samples for m in s.maps
                if m.type in LRU and m.entries is not None and m.entries > m.max_entries]
    verdicts.append((not lru_over, "LRU map entries within their size" + (f": {lru_over[:3]}" if lru_over else "")))
    threads = [s.threads for s in judged] or [0]
    lines.append(f"# threads after the warm-up: {min(threads)}..{max(threads)}")
    caps = {"comm": CAPS["max_comms"], "interface": CAPS["max_interfaces"], "workload": CAPS["max_workloads"],
            "device": CAPS["max_devices"]}
    beyond = [f"{k}: {scraper.cap_max.get(k, 0)} values, cap {cap} + other" for k, cap in caps.items()
              if scraper.cap_max.get(k, 0) > cap + 1]
    verdicts.append((not beyond, "no series beyond the caps (most values seen: " +
                     ", ".join(f"{k} {scraper.cap_max.get(k, 0)}/{cap}+1" for k, cap in caps.items()) + ")" +
                     (f": {beyond}" if beyond else "")))
    verdicts.append((churn.probe_execs > 0 and not lost,
                     f"no lost counts: {churn.probe_execs} execs of {PROBE}, each counted at every quiet sample" +
                     (": " + "; ".join(lost[:5]) if lost else "")))
    verdicts.append((not scraper.decreases, "counters never went down" +
                     (": " + "; ".join(scraper.decreases[:5]) if scraper.decreases else "")))
    verdicts.append((not scraper.failures, f"every scrape answered ({scraper.ok})" +
                     (": " + "; ".join(scraper.failures[:5]) if scraper.failures else "")))
    verdicts.append((not reloader.errors, f"every reload done as expected: {reloader.summary()}" +
                     (": " + "; ".join(reloader.errors[:5]) if reloader.errors else "")))
    verdicts.append((not churn.errors, "churn ran as intended" + (": " + "; ".join(churn.errors[:5]) if churn.errors else "")))
    verdicts.append((not died and status == 0, f"bpfex alive throughout, exit status {status} after SIGTERM" +
                     (f": {died}" if died else "")))
    verdicts.append((lint.returncode == 0 and not (lint.stdout + lint.stderr).strip(),
                     "promtool check metrics clean at the end" +
                     ("" if lint.returncode == 0 and not (lint.stdout + lint.stderr).strip()
                      else ": " + (lint.stdout + lint.stderr).decode(errors="replace")[:500])))
    lines += [f"# {'PASS' if ok else 'FAIL'} {text}" for ok, text in verdicts]
    if args.results:
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text("\n".join(lines) + "\n")
    print("\n".join(line for line in lines if line.startswith("# ")), flush=True)
    for ok, text in verdicts:
        suite.check(text, lambda ok=ok, text=text: ok or fail(text))
    suite.finish()


if __name__ == "__main__":
    main()

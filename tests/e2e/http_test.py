#!/usr/bin/python3
"""bpfex's HTTP front against clients that misbehave, on loopback only, in bounded loops.

While hundreds of connections trickle headers (slowloris), read responses a byte at a time, or
just sit idle, scrapes keep being answered (each within a generous client timeout: the latency
itself is bench/http's to measure); oversized request lines and headers, bodies, absurd methods,
HTTP/0.9 and garbage framing get a 4xx or a closed connection, never a crash; pipelined requests
are answered in order; IPv4 and IPv6 both work; bpfex's threads and memory stay bounded.

Usage: tests/e2e/http_test.py BPFEX_BINARY REPO_ROOT   (no root needed: every module is off)
"""

from __future__ import annotations

import re
import resource
import select
import socket
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lib.harness import (Suite, expect, fail, free_ports, http_get, parse_args, registered_modules,  # noqa: E402
                         start_bpfex, temp_dir, wait_healthy)

SCRAPE_TIMEOUT = 5  # seconds a scrape may take before it counts as not answered

suite = Suite("http")
BPFEX, ROOT = parse_args(suite)
TMP = temp_dir("bpfex-http.")
# Thousands of sockets on the client side: as many descriptors as the hard limit allows.
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
CONFIG = TMP / "bpfex.yaml"
CONFIG.write_text("modules:\n" + "".join(f"  {m}: {{enabled: false}}\n" for m in registered_modules(BPFEX)))
PORT = free_ports(1)[0]
bpfex = start_bpfex(BPFEX, [f"--config.file={CONFIG}"], TMP, port=PORT, host="")  # ":PORT": every address
suite.show_logs(bpfex.daemon)
if wait_healthy(bpfex) != 200:
    suite.fatal("bpfex did not become healthy", bpfex.daemon.tail(20))


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def connect(family: int = socket.AF_INET, host: str = "127.0.0.1") -> socket.socket:
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(SCRAPE_TIMEOUT)
    s.connect((host, PORT))
    return s


def raw(request: bytes, read_seconds: float = SCRAPE_TIMEOUT, until_closed: bool = False) -> bytes:
    """Sends bytes as they are and returns what comes back until the server closes (or, unless
    until_closed, goes quiet after answering)."""
    with connect() as s:
        s.sendall(request)
        out = b""
        deadline = time.monotonic() + read_seconds
        while time.monotonic() < deadline:
            ready, _, _ = select.select([s], [], [], 0.2)
            if not ready:
                if out and not until_closed:
                    break
                continue
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            out += chunk
        return out


def status_of(answer: bytes) -> int:
    """The status code of the first response in answer; 0 when there is none (closed)."""
    if not answer.startswith(b"HTTP/1."):
        return 0
    return int(answer.split(b" ", 2)[1])


def scrape() -> None:
    r = http_get(f"http://127.0.0.1:{PORT}/metrics", timeout=SCRAPE_TIMEOUT)
    expect("scrape status", r.status, 200)
    if "bpfex_build_info" not in r.body:
        fail("the scrape has no bpfex_build_info")


def process_status(field: str) -> int:
    for line in Path(f"/proc/{bpfex.daemon.pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    fail(f"no {field} in /proc/{bpfex.daemon.pid}/status")


def alive() -> None:
    if not bpfex.daemon.alive():
        fail("bpfex exited")
    scrape()


# ---------------------------------------------------------------- addresses

def t_ipv4_and_ipv6():
    scrape()
    if not has_ipv6_loopback():
        suite.note("no IPv6 on lo here: only IPv4 checked")
        return
    with connect(socket.AF_INET6, "::1") as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        expect("GET /healthz over [::1]", status_of(s.recv(4096)), 200)


# ---------------------------------------------------------------- hostile clients, scrapes still answered

def t_slowloris():
    """200 connections each sending its request a byte at a time."""
    conns = [connect() for _ in range(200)]
    request = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 64
    stop = threading.Event()

    def trickle():
        i = 0
        while not stop.is_set() and i < len(request):
            for c in conns:
                try:
                    c.send(request[i:i + 1])
                except OSError:
                    pass
            i += 1
            stop.wait(0.2)

    t = threading.Thread(target=trickle)
    t.start()
    try:
        for _ in range(10):
            scrape()
            time.sleep(0.2)
    finally:
        stop.set()
        t.join()
        for c in conns:
            c.close()


def t_slow_readers():
    """200 connections that ask for /metrics and then read one byte a second."""
    conns = []
    for _ in range(200):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)  # the response stays in flight
        s.settimeout(SCRAPE_TIMEOUT)
        s.connect(("127.0.0.1", PORT))
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        conns.append(s)
    try:
        for round_ in range(5):
            for c in conns:
                c.setblocking(False)
                try:
                    c.recv(1)
                except BlockingIOError:
                    pass
            scrape()
            time.sleep(0.5)
    finally:
        for c in conns:
            c.close()


def t_idle_connections():
    """2000 connections that send nothing; bpfex's threads and memory do not grow with them."""
    threads0, rss0 = process_status("Threads"), process_status("VmRSS")
    conns = []
    try:
        for _ in range(2000):
            conns.append(connect())
        time.sleep(0.5)
        for _ in range(5):
            scrape()
        threads1, rss1 = process_status("Threads"), process_status("VmRSS")
    finally:
        for c in conns:
            c.close()
    expect("bpfex threads with 2000 idle connections", threads1, threads0)
    # 2000 connections, each with its request memory: bounded well below 100 MiB.
    if rss1 - rss0 > 100 * 1024:
        fail(f"RSS grew by {rss1 - rss0} KiB with 2000 idle connections")


# ---------------------------------------------------------------- broken and absurd requests

def t_oversized_request_line():
    answer = raw(b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    code = status_of(answer)
    if code and not 400 <= code < 500:
        fail(f"a 100 kB request line got {code}")
    alive()


def t_oversized_headers():
    headers = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 100) for i in range(1000))
    code = status_of(raw(b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n"))
    if code and not 400 <= code < 500:
        fail(f"1000 headers of 100 bytes got {code}")
    alive()


def t_pipelining():
    answer = raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                 until_closed=True)
    statuses = [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", answer)]
    expect("statuses of two pipelined requests", statuses, [200, 404])


def t_http09_and_garbage():
    for request in (b"GET /\r\n", b"\x00\x01\x02 garbage \xff\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                    b"GET / HTTP/1.1\r\nHost x no colon\r\n\r\n", b"\r\n\r\n\r\n"):
        code = status_of(raw(request, read_seconds=2))
        if code and not 400 <= code < 600:
            fail(f"{request!r} got {code}")
    alive()


def t_methods_and_bodies():
    def first_status(request: bytes) -> int:
        return status_of(raw(request, read_seconds=2))
    expect("TRACE /metrics", first_status(b"TRACE /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), 405)
    expect("FOO /metrics", first_status(b"FOO /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), 405)
    expect("GET with a body",
           first_status(b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"), 413)
    expect("POST with chunked body",
           first_status(b"POST /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
           413)
    expect("absolute-form target", first_status(b"GET http://node/metrics HTTP/1.1\r\nHost: node\r\n\r\n"), 200)
    expect("/metrics%00", first_status(b"GET /metrics%00 HTTP/1.1\r\nHost: x\r\n\r\n"), 404)
    expect("/m%65trics", first_status(b"GET /m%65trics HTTP/1.1\r\nHost: x\r\n\r\n"), 200)
    alive()


suite.check("listens on IPv4 and IPv6 (:PORT is both)", t_ipv4_and_ipv6)
suite.check("pipelined requests answered in order", t_pipelining)
suite.check("200 slowloris connections: scrapes answered", t_slowloris)
suite.check("200 slow readers: scrapes answered", t_slow_readers)
suite.check("2000 idle connections: scrapes answered, threads and memory bounded", t_idle_connections)
suite.check("a 100 kB request line: 4xx or closed, bpfex fine", t_oversized_request_line)
suite.check("100 kB of headers: 4xx or closed, bpfex fine", t_oversized_headers)
suite.check("HTTP/0.9, garbage framing, bad versions: 4xx or closed, bpfex fine", t_http09_and_garbage)
suite.check("TRACE and unknown methods 405, bodies 413, absolute-form and escapes", t_methods_and_bodies)
suite.check("pipelined requests answered in order, again after the abuse", t_pipelining)
suite.finish()

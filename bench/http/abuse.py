#!/usr/bin/python3
"""Scrape latency of a bpfex while other connections misbehave (bench/http/run.sh runs it).

  abuse.py PORT SCENARIO SCRAPES

SCENARIO: quiet (nothing else), idle8 (8 connections that send nothing), idle2000, slowloris200
(200 connections sending a request a byte every 0.2 s), slowreaders200 (200 connections that
requested /metrics and read a byte every 0.5 s). Then SCRAPES sequential GET /metrics with a 10 s
timeout. Prints one line: SCENARIO answered_within_1s/SCRAPES p50_ms p99_ms max_ms failures.
Loopback only. Python 3 standard library.
"""

import resource
import socket
import statistics
import sys
import threading
import time

port, scenario, scrapes = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def conn(rcvbuf: int = 0) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    return s


def scrape() -> float | None:
    t0 = time.monotonic()
    try:
        with conn() as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        return time.monotonic() - t0 if data.startswith(b"HTTP/1.1 200") else None
    except OSError:
        return None


stop = threading.Event()
others: list[socket.socket] = []
workers: list[threading.Thread] = []
try:
    if scenario.startswith("idle"):
        others = [conn() for _ in range(int(scenario[4:]))]
    elif scenario == "slowloris200":
        others = [conn() for _ in range(200)]
        request = b"GET /metrics HTTP/1.1\r\nHost: bench\r\nX-Slow: " + b"a" * 4096

        def trickle():
            for i in range(len(request)):
                if stop.wait(0.2):
                    return
                for s in others:
                    try:
                        s.send(request[i:i + 1])
                    except OSError:
                        pass
        workers.append(threading.Thread(target=trickle))
    elif scenario == "slowreaders200":
        others = [conn(rcvbuf=1024) for _ in range(200)]
        for s in others:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: bench\r\n\r\n")

        def read_slowly():
            while not stop.wait(0.5):
                for s in others:
                    s.setblocking(False)
                    try:
                        s.recv(1)
                    except OSError:
                        pass
        workers.append(threading.Thread(target=read_slowly))
    elif scenario != "quiet":
        sys.exit(f"unknown scenario {scenario}")
    for w in workers:
        w.start()
    time.sleep(0.5)
    times = [scrape() for _ in range(scrapes)]
finally:
    stop.set()
    for w in workers:
        w.join()
    for s in others:
        s.close()
ok = sorted(t for t in times if t is not None)
fast = sum(1 for t in ok if t < 1)
def pct(p: float) -> float:
    return ok[min(len(ok) - 1, int(p * len(ok)))] * 1000 if ok else float("nan")
print(f"{scenario} {fast}/{scrapes} {pct(0.5):.1f} {pct(0.99):.1f} {(ok[-1] * 1000 if ok else float('nan')):.1f} "
      f"{scrapes - len(ok)}")

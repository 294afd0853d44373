#!/usr/bin/python3
"""A stand-in for the kubelet's read-only pod API, for tests that need Kubernetes names.

The kubelet itself cannot run here; this answers what bpfex asks of it, shaped like the real one:
GET /pods over HTTPS (a certificate for 127.0.0.1 from a test CA, made with openssl), a v1 PodList
(metadata.name/namespace/uid, status.containerStatuses[].name/containerID as
"<runtime>://<id>", init containers, a static pod's config-hash annotation, a restarted
container's lastState), and the kubelet's plain-text 401 and 403.

Also the IDs and cgroup paths the kubelet and container runtimes make, for tests that create them.

Python 3 standard library and the openssl command only.
"""

from __future__ import annotations

import http.server
import json
import os
import ssl
import threading
from pathlib import Path

from lib.harness import describe, fail, run


def openssl(workdir: Path, *args: str) -> None:
    proc = run(["openssl", *args], cwd=workdir)
    if proc.returncode != 0:
        fail("openssl " + " ".join(args) + "\n" + describe(proc))


def make_ca(workdir: Path, name: str) -> None:
    """workdir/name.crt and .key: a CA of its own."""
    openssl(workdir, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2", "-subj", f"/CN=bpfex test {name}",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")


def make_server_cert(workdir: Path, name: str, ca: str) -> None:
    """workdir/name.crt and .key: a serving certificate for 127.0.0.1, as a kubelet's, signed by ca."""
    openssl(workdir, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", "/CN=127.0.0.1")
    (workdir / f"{name}.ext").write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                                         "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n")
    openssl(workdir, "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext")


class FakeKubelet:
    """GET /pods over HTTPS as the kubelet answers it: a v1 PodList of self.pods, or self.status
    with a line of text (the kubelet's 401 and 403), or self.raw. Records Authorization headers.
    cert: the name of a certificate make_server_cert made in workdir."""

    def __init__(self, workdir: Path, cert: str):
        self.pods: list[dict] = []
        self.status = 200
        self.raw: str | None = None
        self.location = ""  # where a 302 sends the client
        self.auth: list[str | None] = []
        self.requests = 0
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (the stdlib's name)
                fake.requests += 1
                fake.auth.append(self.headers.get("Authorization"))
                if self.path != "/pods":
                    body, status, ctype = "404 page not found\n", 404, "text/plain"
                elif fake.status == 302:
                    self.send_response(302)
                    self.send_header("Location", fake.location)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                elif fake.status != 200:
                    words = {401: "Unauthorized", 403: "Forbidden (user=system:serviceaccount:bpfex:bpfex, "
                                                       "verb=get, resource=nodes, subresource=pods)"}
                    body, status, ctype = words.get(fake.status, "error") + "\n", fake.status, "text/plain"
                elif fake.raw is not None:
                    body, status, ctype = fake.raw, 200, "text/html"
                else:
                    body = json.dumps({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": fake.pods})
                    status, ctype = 200, "application/json"
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(workdir / f"{cert}.crt", workdir / f"{cert}.key")
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add_pod(self, uid: str, ns: str, name: str, containers: dict[str, str], runtime: str = "containerd",
                static: bool = False, init: dict[str, str] | None = None, restarted: dict[str, str] | None = None):
        """containers: ID -> name; restarted: name -> the ID of its run before the restart."""
        def status(cid: str, cname: str) -> dict:
            s = {"name": cname, "containerID": f"{runtime}://{cid}", "ready": True, "restartCount": 0,
                 "state": {"running": {"startedAt": "2026-12-05T00:00:00Z"}}}
            if restarted and cname in restarted:
                s["restartCount"] = 1
                s["lastState"] = {"terminated": {"exitCode": 137, "containerID": f"{runtime}://{restarted[cname]}"}}
            return s
        meta = {"name": name, "namespace": ns, "uid": uid}
        if static:
            meta["annotations"] = {"kubernetes.io/config.source": "file", "kubernetes.io/config.hash": uid}
        self.pods.append({
            "metadata": meta,
            "spec": {"containers": [{"name": n} for n in containers.values()]},
            "status": {"phase": "Running",
                       "containerStatuses": [status(i, n) for i, n in containers.items()],
                       "initContainerStatuses": [status(i, n) for i, n in (init or {}).items()]},
        })

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def hex_id(n: int = 64) -> str:
    """A container ID (64 hex digits), or a static pod's UID (32)."""
    return os.urandom(n // 2).hex()


def uuid() -> str:
    h = hex_id(32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def underscored(uid: str) -> str:
    """A pod UID as the systemd cgroup driver writes it in a slice name."""
    return uid.replace("-", "_")


def systemd_pod(prefix: str, qos: str, uid: str) -> str:
    """The systemd driver's pod cgroup below prefix: kubepods.slice/kubepods-<qos>.slice/
    kubepods-<qos>-pod<uid>.slice (Guaranteed: no QoS level)."""
    if qos == "guaranteed":
        return f"{prefix}/kubepods.slice/kubepods-pod{underscored(uid)}.slice"
    return f"{prefix}/kubepods.slice/kubepods-{qos}.slice/kubepods-{qos}-pod{underscored(uid)}.slice"

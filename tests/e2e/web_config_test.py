#!/usr/bin/python3
"""--web.config.file end to end, in exporter-toolkit's format: TLS with each client_auth_type
(client certificates from a test CA, and from another one), TLS version bounds, cipher suites,
client_allowed_sans, basic auth (good, wrong password, unknown user), headers from
http_server_config, the rate limit, plaintext refused under TLS, certificate rotation picked up
without a restart, a broken rotation that keeps the last good certificate, and broken web configs
at start (exit 2, file:line:column).

Usage: tests/e2e/web_config_test.py BPFEX_BINARY REPO_ROOT   (no root: every module is off)
Debian 12 packages it relies on: openssl, python3 (its crypt module makes the bcrypt hashes).
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import socket
import ssl
import sys
import time
import warnings
from pathlib import Path

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt  # noqa: E402 (deprecated in 3.11, still the way to libxcrypt's bcrypt)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lib.harness import (Suite, describe, expect, fail, parse_args, registered_modules, run, start_bpfex,  # noqa: E402
                         temp_dir, wait_until)

suite = Suite("web_config")
BPFEX, ROOT = parse_args(suite)
TMP = temp_dir("bpfex-web.")
OFF = TMP / "off.yaml"
OFF.write_text("modules:\n" + "".join(f"  {m}: {{enabled: false}}\n" for m in registered_modules(BPFEX)))


def openssl(*args: str) -> None:
    proc = run(["openssl", *args], cwd=TMP)
    if proc.returncode != 0:
        suite.fatal("openssl " + " ".join(args), describe(proc))


def ca(name: str) -> None:
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
            f"{name}.key", "-out", f"{name}.crt", "-days", "2", "-subj", f"/CN=bpfex test {name}",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")


def leaf(name: str, signer: str, san: str, usage: str, key: str = "ec") -> None:
    keyopt = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"] if key == "ec" else ["-newkey", "rsa:2048"]
    openssl("req", *keyopt, "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}")
    (TMP / f"{name}.ext").write_text(f"subjectAltName={san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage={usage}\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{signer}.crt", "-CAkey", f"{signer}.key", "-CAcreateserial",
            "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext")


ca("ca")
ca("clients")
ca("stranger")
leaf("server", "ca", "IP:127.0.0.1", "serverAuth", key="rsa")  # RSA: the ECDHE-RSA suites apply
leaf("server2", "ca", "IP:127.0.0.1", "serverAuth", key="rsa")
leaf("client", "clients", "DNS:client.bpfex.test", "clientAuth")
leaf("client-other-san", "clients", "DNS:other.bpfex.test", "clientAuth")
leaf("intruder", "stranger", "DNS:client.bpfex.test", "clientAuth")
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    ALICE_HASH = crypt.crypt("wonderland", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 4))


def web_config(name: str, text: str) -> Path:
    path = TMP / f"{name}.yml"
    path.write_text(text)
    return path


def start(name: str, config: Path):
    b = start_bpfex(BPFEX, [f"--config.file={OFF}", f"--web.config.file={config}"], TMP, name=f"bpfex-{name}")
    suite.show_logs(b.daemon)
    return b


def tls_ready(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def context(client: str | None = None, min_version=None, max_version=None, ciphers: str | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(TMP / "ca.crt")
    if client:
        ctx.load_cert_chain(TMP / f"{client}.crt", TMP / f"{client}.key")
    if min_version:
        ctx.minimum_version = min_version
    if max_version:
        ctx.maximum_version = max_version
    if ciphers:
        ctx.set_ciphers(ciphers)
    return ctx


def https(port: int, ctx: ssl.SSLContext, path: str = "/metrics", auth: tuple[str, str] | None = None):
    """(status, headers, body), or None when the connection failed (a refused TLS client)."""
    headers = {}
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=5)
    try:
        conn.request("GET", path, headers=headers)
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read().decode(errors="replace")
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def fingerprint(port: int) -> str:
    ctx = context()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
        return hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()


def wait_up(b) -> None:
    if not wait_until(20, lambda: tls_ready(b.port)):
        fail(f"bpfex does not listen\n{b.daemon.tail(20)}")


TLS = f"""tls_server_config:
  cert_file: server.crt
  key_file: server.key
"""


# ---------------------------------------------------------------- TLS, basic auth, headers

def t_tls_basic_auth_headers():
    cfg = web_config("auth", TLS + f"""http_server_config:
  headers:
    X-Frame-Options: deny
    Strict-Transport-Security: max-age=31536000
basic_auth_users:
  alice: {ALICE_HASH}
""")
    b = start("auth", cfg)
    wait_up(b)
    got = https(b.port, context())
    if got is None:
        fail("no answer over TLS")
    expect("no credentials", got[0], 401)
    expect("WWW-Authenticate", got[1].get("WWW-Authenticate"), "Basic")
    expect("wrong password", https(b.port, context(), auth=("alice", "queen"))[0], 401)
    expect("unknown user", https(b.port, context(), auth=("mallory", "wonderland"))[0], 401)
    status, headers, body = https(b.port, context(), auth=("alice", "wonderland"))
    expect("alice", status, 200)
    if "bpfex_build_info" not in body:
        fail("no metrics for alice")
    expect("X-Frame-Options", headers.get("X-Frame-Options"), "deny")
    expect("Strict-Transport-Security", headers.get("Strict-Transport-Security"), "max-age=31536000")
    expect("/healthz needs credentials too", https(b.port, context(), path="/healthz")[0], 401)
    # Plaintext to the TLS port: no metrics.
    with socket.create_connection(("127.0.0.1", b.port), timeout=5) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        s.settimeout(5)
        data = b""
        try:
            while chunk := s.recv(65536):
                data += chunk
        except OSError:
            pass
    if b"bpfex_build_info" in data:
        fail("plaintext got metrics from a TLS listener")
    b.daemon.stop()


# ---------------------------------------------------------------- client certificates

# client_auth_type -> whether (no certificate, a valid one, one from another CA) is served.
CLIENT_AUTH = {
    "NoClientCert": (True, True, True),
    "RequestClientCert": (True, True, True),
    "RequireAnyClientCert": (False, True, True),
    "VerifyClientCertIfGiven": (True, True, False),
    "RequireAndVerifyClientCert": (False, True, False),
}


def t_client_auth(kind: str):
    cfg = web_config(kind, TLS + f"  client_auth_type: {kind}\n  client_ca_file: clients.crt\n")
    b = start(kind, cfg)
    wait_up(b)
    for client, want in zip((None, "client", "intruder"), CLIENT_AUTH[kind]):
        got = https(b.port, context(client))
        served = got is not None and got[0] == 200
        if served != want:
            fail(f"{kind}, client certificate {client}: served {served}, want {want} ({got and got[0]})")
    b.daemon.stop()


def t_client_allowed_sans():
    cfg = web_config("sans", TLS + "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: clients.crt\n"
                     "  client_allowed_sans: [client.bpfex.test]\n")
    b = start("sans", cfg)
    wait_up(b)
    expect("allowed SAN", (https(b.port, context("client")) or [0])[0], 200)
    expect("other SAN", https(b.port, context("client-other-san")), None)
    b.daemon.stop()


# ---------------------------------------------------------------- versions and suites

def t_versions_and_suites():
    cfg = web_config("v13", TLS + "  min_version: TLS13\n")
    b = start("v13", cfg)
    wait_up(b)
    expect("TLS 1.2 client to min_version TLS13", https(b.port, context(max_version=ssl.TLSVersion.TLSv1_2)), None)
    expect("TLS 1.3 client", (https(b.port, context(min_version=ssl.TLSVersion.TLSv1_3)) or [0])[0], 200)
    b.daemon.stop()
    cfg = web_config("suites", TLS + "  max_version: TLS12\n  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]\n")
    b = start("suites", cfg)
    wait_up(b)
    expect("TLS 1.3 client to max_version TLS12", https(b.port, context(min_version=ssl.TLSVersion.TLSv1_3)), None)
    expect("the allowed suite", (https(b.port, context(ciphers="ECDHE-RSA-AES128-GCM-SHA256")) or [0])[0], 200)
    expect("another suite", https(b.port, context(ciphers="ECDHE-RSA-AES256-GCM-SHA384")), None)
    b.daemon.stop()


# ---------------------------------------------------------------- rate limit

def t_rate_limit():
    cfg = web_config("rate", "rate_limit:\n  interval: 10s\n  burst: 2\n")
    b = start("rate", cfg)
    if not wait_until(20, lambda: tls_ready(b.port)):
        fail("not listening")
    statuses = [b.get("/metrics").status for _ in range(3)]
    expect("statuses of 3 requests with a burst of 2", statuses, [200, 200, 429])
    b.daemon.stop()


# ---------------------------------------------------------------- rotation

def t_rotation():
    (TMP / "rot.crt").write_bytes((TMP / "server.crt").read_bytes())
    (TMP / "rot.key").write_bytes((TMP / "server.key").read_bytes())
    cfg = web_config("rot", "tls_server_config:\n  cert_file: rot.crt\n  key_file: rot.key\n")
    b = start("rot", cfg)
    wait_up(b)
    first = fingerprint(b.port)
    # A broken certificate: logged, the old one keeps serving.
    (TMP / "rot.crt").write_text("not a certificate\n")
    if not wait_until(10, lambda: "the last good one keeps serving" in b.daemon.log.read_text()):
        fail("a broken certificate was not reported\n" + b.daemon.tail(10))
    expect("certificate after a broken rotation", fingerprint(b.port), first)
    # The new pair, key first (as cert-manager writes a Secret): picked up without a restart.
    (TMP / "rot.key").write_bytes((TMP / "server2.key").read_bytes())
    (TMP / "rot.crt").write_bytes((TMP / "server2.crt").read_bytes())
    if not wait_until(10, lambda: fingerprint(b.port) != first):
        fail("the rotated certificate is not served\n" + b.daemon.tail(10))
    expect("scrape after rotation", (https(b.port, context()) or [0])[0], 200)
    b.daemon.stop()


# ---------------------------------------------------------------- broken configs

def t_broken_at_start():
    cases = {
        "unknown_key.yml": (TLS + "  colour: red\n", "4:3"),
        "bad_auth_type.yml": (TLS + "  client_auth_type: Sometimes\n", "4:21"),
        "verify_without_ca.yml": (TLS + "  client_auth_type: RequireAndVerifyClientCert\n", "4:21"),
        "missing_cert.yml": ("tls_server_config:\n  cert_file: nope.crt\n  key_file: server.key\n", "2:14"),
        "not_bcrypt.yml": ("basic_auth_users:\n  alice: secret\n", "2:10"),
        "mismatched_key.yml": ("tls_server_config:\n  cert_file: server.crt\n  key_file: client.key\n", "2:14"),
        "bad_header.yml": ("http_server_config:\n  headers:\n    X-Frame-Options: maybe\n", "3:22"),
    }
    for name, (text, where) in cases.items():
        path = web_config(name.removesuffix(".yml"), text)
        for extra in (["--config.check"], []):
            proc = run([BPFEX, f"--config.file={OFF}", f"--web.config.file={path}", "--web.listen-address=127.0.0.1:1",
                        *extra], timeout=10)
            expect(f"{name} {extra}: exit status", proc.returncode, 2)
            if f"{path}:{where}: error:" not in proc.stderr:
                fail(f"{name}: stderr lacks {path}:{where}\n" + describe(proc))


suite.check("TLS + basic auth: 401 with WWW-Authenticate, wrong and unknown refused, headers, no plaintext",
            t_tls_basic_auth_headers)
for kind in CLIENT_AUTH:
    suite.check(f"client_auth_type {kind}: no, valid and foreign client certificates", t_client_auth, kind)
suite.check("client_allowed_sans", t_client_allowed_sans)
suite.check("min_version, max_version, cipher_suites", t_versions_and_suites)
suite.check("rate_limit: a burst, then 429", t_rate_limit)
suite.check("certificate rotation without a restart; a broken one keeps the last good", t_rotation)
suite.check("broken web configs: exit 2 with file:line:column, with and without --config.check", t_broken_at_start)
suite.finish()

#!/usr/bin/python3
"""Loads and attaches one tiny BPF program per attach flavour bpfex uses, triggers it and reads its
counter back: kprobe, kretprobe, fentry, fexit, tp_btf, raw_tp, tracepoint, tc (clsact, through
iproute2's tc) and tcx. Raw bpf(2) through ctypes: no libbpf, no clang, no ELF; only Debian's
python3, iproute2 and iputils-ping. Run as root in a guest (tests/guest/selftest.sh).

  bpf_check.py [--absent FLAVOUR]...   # flavours this kernel must NOT have (tcx on 6.1)

Prints PASS/FAIL per flavour and "bpf_check: N passed, M failed"; exit 1 on any failure. Network
traffic only inside a veth pair whose far end is in a namespace this script creates.
"""
import argparse
import ctypes
import errno
import os
import struct
import subprocess
import sys
import time

libc = ctypes.CDLL(None, use_errno=True)
NR_BPF, NR_PERF_EVENT_OPEN = 321, 298  # x86_64
if os.uname().machine != "x86_64":
    sys.exit("bpf_check: x86_64 only (syscall numbers)")

# bpf commands, program and attach types (include/uapi/linux/bpf.h)
MAP_CREATE, MAP_LOOKUP_ELEM, PROG_LOAD, OBJ_PIN, RAW_TRACEPOINT_OPEN, LINK_CREATE = 0, 1, 5, 6, 17, 28
PT_KPROBE, PT_SCHED_CLS, PT_TRACEPOINT, PT_RAW_TRACEPOINT, PT_TRACING = 2, 3, 5, 17, 26
AT_TRACE_RAW_TP, AT_TRACE_FENTRY, AT_TRACE_FEXIT, AT_TCX_INGRESS = 23, 24, 25, 46
PERF_TYPE_TRACEPOINT = 2
PERF_EVENT_IOC_ENABLE, PERF_EVENT_IOC_SET_BPF = 0x2400, 0x40042408

# The traced function: execve's entry point (what bpfex's exec module hooks), in BTF and traceable on
# every x86_64 kernel since 4.17. (Argument-less ones such as getpid are aliases of __do_sys_* on
# newer kernels and have no BTF entry of their own.)
FUNC = "__x64_sys_execve"
NETNS, VETH, PEER, ADDR, PEER_ADDR = "bpfexcheck", "bpfexck0", "bpfexck1", "10.252.0.1", "10.252.0.2"


class BpfError(Exception):
    pass


def sys_bpf(cmd, attr: bytes):
    buf = ctypes.create_string_buffer(attr, len(attr))
    r = libc.syscall(NR_BPF, cmd, buf, len(attr))
    if r < 0:
        e = ctypes.get_errno()
        raise BpfError(f"bpf cmd {cmd}: {errno.errorcode.get(e, e)} ({os.strerror(e)})")
    return r, buf


def ptr(b):
    return ctypes.addressof(b)


def insn(code, dst=0, src=0, off=0, imm=0):
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def counter_program(map_fd):
    """key = 0; v = lookup(map, &key); if (v) __sync_fetch_and_add(v, 1); return 0;"""
    return b"".join([
        insn(0x62, dst=10, off=-4, imm=0),          # *(u32 *)(r10 - 4) = 0
        insn(0xBF, dst=2, src=10),                  # r2 = r10
        insn(0x07, dst=2, imm=-4),                  # r2 += -4
        insn(0x18, dst=1, src=1, imm=map_fd),       # r1 = map (ld_imm64, BPF_PSEUDO_MAP_FD)
        insn(0x00),
        insn(0x85, imm=1),                          # call bpf_map_lookup_elem
        insn(0x15, dst=0, off=2, imm=0),            # if r0 == 0 goto +2
        insn(0xB7, dst=1, imm=1),                   # r1 = 1
        insn(0xDB, dst=0, src=1, off=0, imm=0),     # lock *(u64 *)(r0 + 0) += r1
        insn(0xB7, dst=0, imm=0),                   # r0 = 0 (TC_ACT_OK, TCX_PASS)
        insn(0x95),                                 # exit
    ])


def map_create():
    fd, _ = sys_bpf(MAP_CREATE, struct.pack("<IIIII", 2, 4, 8, 1, 0).ljust(72, b"\0"))  # array, 1 x u64
    return fd


def map_read(map_fd):
    key, value = ctypes.create_string_buffer(4), ctypes.create_string_buffer(8)
    sys_bpf(MAP_LOOKUP_ELEM, struct.pack("<IIQQ", map_fd, 0, ptr(key), ptr(value)))
    return struct.unpack("<Q", value.raw)[0]


def prog_load(prog_type, map_fd, name, attach_type=0, btf_id=0):
    code = counter_program(map_fd)
    insns = ctypes.create_string_buffer(code, len(code))
    lic = ctypes.create_string_buffer(b"GPL")
    log = ctypes.create_string_buffer(65536)
    attr = struct.pack("<IIQQIIQII16sIIIIQIIQII", prog_type, len(code) // 8, ptr(insns), ptr(lic),
                       1, len(log), ptr(log), 0, 0, name.encode()[:15], 0, attach_type, 0, 0, 0, 0, 0, 0, 0,
                       btf_id)
    try:
        fd, _ = sys_bpf(PROG_LOAD, attr.ljust(128, b"\0"))
    except BpfError as e:
        raise BpfError(f"{e}; verifier: {log.value.decode(errors='replace').strip()[-300:]}") from None
    return fd


def vmlinux_btf_ids(wanted):
    """{name: id} for the (kind, name) pairs in wanted, from /sys/kernel/btf/vmlinux."""
    data = open("/sys/kernel/btf/vmlinux", "rb").read()
    magic, _, _, hdr_len, type_off, type_len, str_off, _ = struct.unpack_from("<HBBIIIII", data)
    if magic != 0xEB9F:
        raise BpfError("bad BTF magic")
    strings = hdr_len + str_off
    pos, end, tid, found = hdr_len + type_off, hdr_len + type_off + type_len, 1, {}
    extra = {1: lambda v: 4, 3: lambda v: 12, 4: lambda v: 12 * v, 5: lambda v: 12 * v, 6: lambda v: 8 * v,
             13: lambda v: 8 * v, 14: lambda v: 4, 15: lambda v: 12 * v, 17: lambda v: 4, 19: lambda v: 12 * v}
    kinds = {k for k, _ in wanted}
    while pos < end:
        name_off, info, _ = struct.unpack_from("<III", data, pos)
        kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
        if name_off and kind in kinds:
            n = data[strings + name_off:data.index(b"\0", strings + name_off)].decode()
            if (kind, n) in wanted:
                found[n] = tid
        pos += 12 + extra.get(kind, lambda v: 0)(vlen)
        tid += 1
    missing = [n for _, n in wanted if n not in found]
    if missing:
        raise BpfError(f"not in vmlinux BTF: {', '.join(missing)}")
    return found


def perf_event_open(ptype, config, config1=0):
    attr = struct.pack("<IIQQQQQIIQQ", ptype, 112, config, 1, 0, 0, 0, 1, 0, config1, 0).ljust(112, b"\0")
    buf = ctypes.create_string_buffer(attr, len(attr))
    fd = libc.syscall(NR_PERF_EVENT_OPEN, buf, -1, 0, -1, 8)  # pid -1, cpu 0, PERF_FLAG_FD_CLOEXEC
    if fd < 0:
        e = ctypes.get_errno()
        raise BpfError(f"perf_event_open: {errno.errorcode.get(e, e)}")
    return fd


def attach_perf(fd_prog, perf_fd):
    if libc.ioctl(perf_fd, PERF_EVENT_IOC_SET_BPF, fd_prog) < 0 or libc.ioctl(perf_fd, PERF_EVENT_IOC_ENABLE, 0) < 0:
        raise BpfError(f"perf ioctl: {errno.errorcode.get(ctypes.get_errno())}")
    return perf_fd


def kprobe_pmu(retprobe):
    ptype = int(open("/sys/bus/event_source/devices/kprobe/type").read())
    config = 0
    if retprobe:  # format/retprobe reads "config:0"
        config = 1 << int(open("/sys/bus/event_source/devices/kprobe/format/retprobe").read().split(":")[1])
    return ptype, config


def trigger_syscalls():
    for _ in range(3):
        subprocess.run(["/bin/true"], check=True)  # execve, and every syscall around it


def sh(cmd):
    subprocess.run(cmd, shell=True, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def trigger_packets():
    subprocess.run(["ip", "netns", "exec", NETNS, "ping", "-c", "3", "-i", "0.2", "-W", "2", ADDR], check=True,
                   stdout=subprocess.DEVNULL)


def setup_veth():
    sh(f"ip netns add {NETNS}")
    sh(f"ip link add {VETH} type veth peer name {PEER} netns {NETNS}")
    sh(f"ip addr add {ADDR}/30 dev {VETH} && ip link set {VETH} up")
    sh(f"ip -n {NETNS} addr add {PEER_ADDR}/30 dev {PEER} && ip -n {NETNS} link set {PEER} up")
    time.sleep(0.5)


def teardown_veth():
    subprocess.run(f"ip link del {VETH}; ip netns del {NETNS}", shell=True, stderr=subprocess.DEVNULL)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--absent", action="append", default=[], help="flavour this kernel must not have")
    args = ap.parse_args()
    btf = vmlinux_btf_ids({(12, FUNC), (8, "btf_trace_sys_enter")})
    tp_id = int(open("/sys/kernel/tracing/events/raw_syscalls/sys_enter/id").read())
    keep = []  # fds that must stay open until the counter is read

    def kprobe(retprobe):
        def run(m):
            p = prog_load(PT_KPROBE, m, "bpfex_kprobe")
            ptype, config = kprobe_pmu(retprobe)
            name = ctypes.create_string_buffer(FUNC.encode())
            keep.append(name)
            keep.append(attach_perf(p, perf_event_open(ptype, config, ptr(name))))
            trigger_syscalls()
        return run

    def tracing(attach_type, btf_name):
        def run(m):
            p = prog_load(PT_TRACING, m, "bpfex_tracing", attach_type, btf[btf_name])
            keep.append(sys_bpf(RAW_TRACEPOINT_OPEN, struct.pack("<QI", 0, p).ljust(16, b"\0"))[0])
            trigger_syscalls()
        return run

    def raw_tp(m):
        p = prog_load(PT_RAW_TRACEPOINT, m, "bpfex_raw_tp")
        name = ctypes.create_string_buffer(b"sys_enter")
        keep.append(sys_bpf(RAW_TRACEPOINT_OPEN, struct.pack("<QI", ptr(name), p).ljust(16, b"\0"))[0])
        trigger_syscalls()

    def tracepoint(m):
        p = prog_load(PT_TRACEPOINT, m, "bpfex_tp")
        keep.append(attach_perf(p, perf_event_open(PERF_TYPE_TRACEPOINT, tp_id)))
        trigger_syscalls()

    def tc(m):
        p = prog_load(PT_SCHED_CLS, m, "bpfex_tc")
        pin = "/sys/fs/bpf/bpfex_check_tc"
        path = ctypes.create_string_buffer(pin.encode())
        sys_bpf(OBJ_PIN, struct.pack("<QII", ptr(path), p, 0))
        try:
            sh(f"tc qdisc add dev {VETH} clsact")
            sh(f"tc filter add dev {VETH} ingress bpf direct-action object-pinned {pin}")
            trigger_packets()
        finally:
            os.unlink(pin)
            subprocess.run(["tc", "qdisc", "del", "dev", VETH, "clsact"], stderr=subprocess.DEVNULL)

    def tcx(m):
        p = prog_load(PT_SCHED_CLS, m, "bpfex_tcx", AT_TCX_INGRESS)
        ifindex = int(open(f"/sys/class/net/{VETH}/ifindex").read())
        link, _ = sys_bpf(LINK_CREATE, struct.pack("<IIII", p, ifindex, AT_TCX_INGRESS, 0).ljust(48, b"\0"))
        try:
            trigger_packets()
        finally:
            os.close(link)

    checks = [("kprobe", kprobe(False)), ("kretprobe", kprobe(True)),
              ("fentry", tracing(AT_TRACE_FENTRY, FUNC)), ("fexit", tracing(AT_TRACE_FEXIT, FUNC)),
              ("tp_btf", tracing(AT_TRACE_RAW_TP, "btf_trace_sys_enter")), ("raw_tp", raw_tp),
              ("tracepoint", tracepoint), ("tc", tc), ("tcx", tcx)]
    passed = failed = 0
    teardown_veth()
    setup_veth()
    try:
        for name, run in checks:
            m = map_create()
            try:
                run(m)
                n = map_read(m)
                ok, what = n > 0, f"{n} events"
                if name in args.absent:
                    ok, what = False, f"attached and counted {n} events, but this kernel should not have it"
            except (BpfError, OSError, subprocess.CalledProcessError) as e:
                detail = getattr(e, "stderr", None)
                msg = f"{e}{': ' + detail.decode().strip() if detail else ''}"
                ok, what = name in args.absent, ("absent, as expected: " if name in args.absent else "") + msg
            finally:
                for fd in keep:
                    if isinstance(fd, int):
                        os.close(fd)
                keep.clear()
                os.close(m)
            print(f"{'PASS' if ok else 'FAIL'} bpf {name}: {what}")
            passed, failed = passed + ok, failed + (not ok)
    finally:
        teardown_veth()
    print(f"bpf_check: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

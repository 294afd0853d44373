#!/usr/bin/python3
"""The Dockerfile cannot be built here (no Docker engine), so this pins down what can drift:

- the build stage builds the way the README does: it runs the scripts that the README's commands
  (scripts/run.sh, scripts/test.sh) run to install dependencies and build, in the same order, and
  builds no other way (no apt-get, cmake or make of its own);
- the runtime stage is slim: debian:12-slim plus packages that provide exactly the shared libraries
  `ldd build/bpfex` lists (dpkg -S maps each library to its Debian package; a package counts as
  provided when apt installs it as a dependency of a listed one);
- the binary in the runtime stage comes from the build stage and is the entrypoint;
- .dockerignore keeps the host's build/ out and lets in everything the Dockerfile copies.

Usage: tests/deploy/image_test.py BPFEX_BINARY REPO_ROOT   (no root needed)
"""

from __future__ import annotations

import fnmatch
import re
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lib.harness import CheckFailed, Suite, describe, expect, fail, parse_args, run  # noqa: E402
from deploytest import copies, image_command, parse_dockerfile  # noqa: E402

suite = Suite("image")
BPFEX, ROOT = parse_args(suite)
DOCKERFILE = ROOT / "Dockerfile"
try:
    STAGES = parse_dockerfile(DOCKERFILE)
except (OSError, ValueError) as e:
    suite.fatal("parse Dockerfile", str(e))


def build_stage():
    return STAGES[0]


def runtime_stage():
    return STAGES[-1]


# ---------------------------------------------------------------- build stage = README

def readme_commands() -> list[str]:
    """The scripts of the README's "Two commands" section, in order."""
    text = (ROOT / "README.md").read_text()
    m = re.search(r"^## Two commands\n(.*?)(?=^## )", text, re.S | re.M)
    if not m:
        fail('README.md has no "## Two commands" section')
    block = re.search(r"```(?:sh|bash)?\n(.*?)```", m.group(1), re.S)
    if not block:
        fail('the "Two commands" section has no code block')
    return [line.split()[0] for line in block.group(1).splitlines() if line.strip().startswith("scripts/")]


def scripts_executed(script: Path) -> list[str]:
    """scripts/*.sh that `script` executes (not sources), in order."""
    out = []
    for line in script.read_text().splitlines():
        code = line.split("#", 1)[0].strip()
        if not code or re.match(r"(source|\.)\s", code):
            continue
        for m in re.finditer(r'(?:^|[;&|(]\s*|exec\s+)"?(?:\$root/|\$\{root\}/)?(scripts/[\w.-]+\.sh)', code):
            out.append(m.group(1))
    return out


def stage_scripts(stage) -> list[str]:
    out = []
    for i in stage.all("RUN"):
        for m in re.finditer(r"(?:^|[;&|]\s*|\s)(?:\./)?(scripts/[\w.-]+\.sh)", i.args):
            out.append(m.group(1))
    return out


def t_build_stage_runs_readme_scripts():
    stage = build_stage()
    expect("build stage base image", stage.base, "debian:12")
    commands = readme_commands()
    if not commands:
        fail("the README's code block names no scripts/ command")
    # The build recipe is what every README command runs before doing its own thing.
    per_command = [scripts_executed(ROOT / c) for c in commands]
    common = [s for s in per_command[0] if all(s in other for other in per_command[1:])]
    if not common:
        fail(f"the README's commands {commands} share no build script: {per_command}")
    got = stage_scripts(stage)
    if got != common:
        fail(f"the build stage runs {got}, the README's commands ({', '.join(commands)}) run {common} "
             "before anything else")
    for s in common:
        if not (ROOT / s).exists():
            fail(f"{s} does not exist")


def t_build_stage_builds_only_through_scripts():
    own = []
    for i in build_stage().all("RUN"):
        for word in ("apt-get", "apt ", "cmake", "make ", "ninja", "g++", "clang"):
            if word in i.args + " ":
                own.append(f"line {i.line}: RUN {i.args}")
                break
    if own:
        fail("the build stage installs or builds outside scripts/install-deps.sh and scripts/build.sh, "
             "so the image can drift from the README:\n" + "\n".join(own))


# ---------------------------------------------------------------- runtime stage

def runtime_packages() -> list[str]:
    pkgs = []
    for i in runtime_stage().all("RUN"):
        for cmd in re.split(r"&&|;|\|\|", i.args):
            words = shlex.split(cmd)
            if len(words) >= 2 and words[0] in ("apt-get", "apt") and "install" in words:
                pkgs += [w for w in words[words.index("install") + 1:] if not w.startswith("-")]
    return pkgs


def ldd_libraries() -> dict[str, str]:
    """{soname: resolved path} of every shared library the binary needs."""
    proc = run(["ldd", str(BPFEX)])
    if proc.returncode != 0:
        raise CheckFailed("ldd failed\n" + describe(proc))
    libs = {}
    for line in proc.stdout.splitlines():
        m = re.match(r"\s*(\S+) => (\S+) \(0x", line)
        if m:
            libs[m.group(1)] = m.group(2)
        elif "not found" in line:
            fail(f"ldd: {line.strip()}")
        else:
            m = re.match(r"\s*(/\S+) \(0x", line)  # the dynamic loader
            if m:
                libs[Path(m.group(1)).name] = m.group(1)
    return libs


def owning_package(path: str) -> str:
    """Debian package shipping a library. Merged /usr: dpkg may know /lib/x or /usr/lib/x, and the
    file or the symlink, so try each spelling."""
    p = Path(path)
    candidates = [str(p), str(p.resolve())]
    for c in list(candidates):
        if c.startswith("/usr/"):
            candidates.append(c[4:])
        else:
            candidates.append("/usr" + c)
    for c in candidates:
        proc = run(["dpkg", "-S", c])
        if proc.returncode == 0:
            return proc.stdout.split(":", 1)[0].strip()
    raise CheckFailed(f"dpkg -S finds no package for {path} (tried {candidates})")


def depends_closure(packages: list[str]) -> dict[str, str]:
    """{package: why} for the packages and everything apt pulls in through Depends/Pre-Depends
    (resolved against the installed packages, which are what bpfex was built and linked against)."""
    why = {p: "listed" for p in packages}
    todo = list(packages)
    while todo:
        p = todo.pop()
        proc = run(["dpkg-query", "-W", "-f=${Pre-Depends}, ${Depends}", p])
        if proc.returncode != 0:
            continue
        for alt in proc.stdout.split(","):
            for dep in alt.split("|"):
                name = dep.strip().split(" ")[0].split(":")[0]
                if name and name not in why:
                    why[name] = f"dependency of {p}"
                    todo.append(name)
    return why


def t_runtime_base():
    expect("runtime stage base image", runtime_stage().base, "debian:12-slim")
    if not any("--no-install-recommends" in i.args for i in runtime_stage().all("RUN")):
        fail("the runtime stage's apt-get install lacks --no-install-recommends")


def t_runtime_packages_cover_libraries():
    listed = runtime_packages()
    if not listed:
        fail("the runtime stage installs no packages")
    missing_pkgs = [p for p in listed if run(["dpkg-query", "-W", p]).returncode != 0
                    and run(["apt-cache", "show", p]).returncode != 0]
    if missing_pkgs:
        fail(f"not Debian 12 packages: {missing_pkgs}")
    closure = depends_closure(listed)
    rows, uncovered, needed = [], [], set()
    for soname, path in sorted(ldd_libraries().items()):
        pkg = owning_package(path)
        needed.add(pkg)
        reason = closure.get(pkg)
        rows.append(f"{soname:32} {pkg:28} {reason or 'NOT INSTALLED'}")
        if not reason:
            uncovered.append(f"{soname} ({pkg})")
    print("    library                          package                      in the image because")
    for r in rows:
        print("    " + r)
    if uncovered:
        fail(f"libraries the runtime stage does not install: {uncovered}; add their packages")
    unneeded = [p for p in listed if p not in needed]
    if unneeded:
        fail(f"runtime packages that provide no library bpfex links: {unneeded} (keep the image slim)")
    dev = [p for p in listed if p.endswith("-dev")]
    if dev:
        fail(f"development packages in the runtime stage: {dev}")


def t_binary_from_build_stage():
    argv = image_command(runtime_stage())
    if not argv:
        fail("the runtime stage has no ENTRYPOINT/CMD")
    binary = argv[0]
    froms = [(frm, srcs) for frm, srcs, dest in copies(runtime_stage()) if dest == binary]
    if len(froms) != 1 or froms[0][0] not in (build_stage().name, "0"):
        fail(f"the entrypoint {binary} is not copied from the build stage ({build_stage().name}): {froms}")
    if not any("build/bpfex" in i.args for i in build_stage().instructions) and \
            not any("build/bpfex" in s for s in froms[0][1]):
        fail("the binary copied to the runtime stage is not derived from build/bpfex")


def dockerignore_patterns() -> list[tuple[str, bool]]:
    out = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        out.append((line.lstrip("!").rstrip("/"), negate))
    return out


def ignored(path: str, patterns) -> bool:
    result = False
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern, negate in patterns:
        if any(fnmatch.fnmatch(p, pattern) for p in prefixes):
            result = not negate
    return result


def t_dockerignore():
    patterns = dockerignore_patterns()
    if not ignored("build/CMakeCache.txt", patterns):
        fail(".dockerignore lets build/ in: the host's CMakeCache.txt would point the image build at host paths")
    needed = ["CMakeLists.txt", "scripts/install-deps.sh", "scripts/build.sh", "exporter/main.cpp",
              "kernel/exec.bpf.c", "config/bpfex.yaml", "tests/unit"]
    for frm, srcs, _ in copies(build_stage()) + copies(runtime_stage()):
        if frm is None:
            needed += [s for s in srcs if s not in (".", "./")]
    shut_out = [p for p in needed if ignored(p, patterns)]
    if shut_out:
        fail(f".dockerignore excludes files the image build needs: {shut_out}")


suite.check("build stage: debian:12 running the README's install and build scripts", t_build_stage_runs_readme_scripts)
suite.check("build stage: no apt-get/cmake/make outside the scripts", t_build_stage_builds_only_through_scripts)
suite.check("runtime stage: debian:12-slim, no recommends", t_runtime_base)
suite.check("runtime stage: packages provide every library ldd lists, and only those",
            t_runtime_packages_cover_libraries)
suite.check("runtime stage: entrypoint is the binary built in the build stage", t_binary_from_build_stage)
suite.check(".dockerignore: build/ out, everything the build copies in", t_dockerignore)
suite.finish()

"""Helpers that only the deploy tests (tests/deploy/*_test.py) use: Kubernetes manifests and
quantities, capabilities and setpriv, the Dockerfile, YAML comments, systemd units. Everything else
a test needs (checks, processes, HTTP, metrics, bpfex, Prometheus) is in tests/lib/harness.py.

Python 3.11 from Debian (/usr/bin/python3) with python3-yaml; nothing from pip.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lib.harness import CheckFailed, describe, run  # noqa: E402

try:
    import yaml
except ImportError:
    print("FAIL python3-yaml is missing (scripts/install-deps.sh installs it; run with /usr/bin/python3)")
    sys.exit(1)


# ---------------------------------------------------------------- Kubernetes manifests

class StrictLoader(yaml.SafeLoader):
    """PyYAML keeps the last of duplicate keys silently; kubectl rejects them. So do we."""


def _mapping_without_duplicates(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                             lambda loader, node: _mapping_without_duplicates(loader, node, deep=True))


def load_manifests(directory: Path) -> dict[str, list[dict]]:
    """{file name: its documents} of every *.yaml in directory (raises yaml.YAMLError, also for a
    duplicate key)."""
    out = {}
    for f in sorted(directory.glob("*.yaml")):
        out[f.name] = [d for d in yaml.load_all(f.read_text(), Loader=StrictLoader) if d is not None]
    return out


def cpu_cores(q) -> float:
    """A Kubernetes CPU quantity ("250m", "1") in cores."""
    s = str(q)
    return float(s[:-1]) / 1000 if s.endswith("m") else float(s)


def memory_bytes(q) -> float:
    """A Kubernetes memory quantity ("64Mi", "1G", "1000") in bytes."""
    s = str(q)
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
    for u, mult in units.items():
        if s.endswith(u):
            return float(s[: -len(u)]) * mult
    return float(s)


# ---------------------------------------------------------------- capabilities

CAP_NUMBERS = {"CAP_NET_ADMIN": 12, "CAP_SYS_RESOURCE": 24, "CAP_SYS_ADMIN": 21, "CAP_PERFMON": 38,
               "CAP_BPF": 39, "CAP_DAC_READ_SEARCH": 2}


def cap_mask(caps: set[str]) -> int:
    mask = 0
    for c in caps:
        mask |= 1 << CAP_NUMBERS[c]
    return mask


def proc_status(pid: int) -> dict[str, str]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        out[k] = v.strip()
    return out


def setpriv_prefix(caps: set[str], uid: int, gid: int, ambient: bool) -> list[str]:
    """Runs the next command as uid/gid with exactly `caps`, no_new_privs on, nothing else
    gainable (bounding set): what the DaemonSet's securityContext or the systemd unit gives."""
    names = ",".join("+" + c.removeprefix("CAP_").lower() for c in sorted(caps))
    spec = "-all" + ("," + names if names else "")
    cmd = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--no-new-privs",
           f"--bounding-set={spec}", f"--inh-caps={spec if ambient else '-all'}"]
    if ambient:
        cmd.append(f"--ambient-caps={spec}")
    return cmd


# ---------------------------------------------------------------- Dockerfile

@dataclass
class Instruction:
    line: int
    keyword: str
    args: str

    def exec_form(self) -> list[str] | None:
        a = self.args.strip()
        if a.startswith("["):
            return json.loads(a)
        return None


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def parse_dockerfile(path: Path) -> list[Stage]:
    """Stages of a Dockerfile: comments dropped, backslash continuations joined."""
    stages: list[Stage] = []
    pending, start = "", 0
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if not pending:
            start = n
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        text = pending + stripped
        pending = ""
        keyword, _, args = text.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            words = args.split()
            words = [w for w in words if not w.startswith("--platform")]
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name))
        elif not stages:
            if keyword != "ARG":
                raise ValueError(f"{path}:{n}: {keyword} before FROM")
        else:
            stages[-1].instructions.append(Instruction(start, keyword, args.strip()))
    return stages


def image_command(stage: Stage) -> list[str]:
    """ENTRYPOINT + CMD of a stage, both required in exec form."""
    entry = stage.all("ENTRYPOINT")[-1].exec_form() if stage.all("ENTRYPOINT") else []
    cmd = stage.all("CMD")[-1].exec_form() if stage.all("CMD") else []
    if entry is None or cmd is None:
        raise CheckFailed("ENTRYPOINT and CMD must be in exec (JSON) form")
    return entry + cmd


def copies(stage: Stage) -> list[tuple[str | None, list[str], str]]:
    """COPY instructions as (from-stage or None, sources, destination)."""
    out = []
    for i in stage.all("COPY"):
        words = shlex.split(i.args)
        frm = None
        while words and words[0].startswith("--"):
            if words[0].startswith("--from="):
                frm = words[0].split("=", 1)[1]
            words.pop(0)
        out.append((frm, words[:-1], words[-1]))
    return out


# ---------------------------------------------------------------- YAML with comments

def preceding_comments(lines: list[str], index: int) -> list[str]:
    """Comment lines directly above lines[index] (same block, no blank line between), plus a
    trailing comment on the line itself."""
    out = []
    m = re.search(r"\s#\s*(.*)$", lines[index])
    if m:
        out.append(m.group(1))
    i = index - 1
    while i >= 0 and lines[i].strip().startswith("#"):
        out.insert(0, lines[i].strip().lstrip("#").strip())
        i -= 1
    return out


def explains(comments: list[str], min_words: int = 4) -> bool:
    return len(" ".join(comments).split()) >= min_words


# ---------------------------------------------------------------- systemd units

@dataclass
class UnitSetting:
    section: str
    key: str
    value: str
    line: int
    comments: list[str]


def parse_unit(path: Path) -> list[UnitSetting]:
    """Settings of a systemd unit or drop-in in file order (keys may repeat), each with the
    comment block right above it. Continuation lines (trailing backslash) are joined."""
    out: list[UnitSetting] = []
    section, comments, pending, start = "", [], "", 0
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if pending:
            pending += " " + line.rstrip("\\").strip()
            if line.endswith("\\"):
                continue
            key, _, value = pending.partition("=")
            out.append(UnitSetting(section, key.strip(), value.strip(), start, comments))
            pending, comments = "", []
            continue
        if not line:
            comments = []
        elif line[0] in "#;":
            comments.append(line.lstrip("#;").strip())
        elif line.startswith("["):
            section, comments = line.strip("[]"), []
        elif line.endswith("\\"):
            pending, start = line.rstrip("\\").strip(), n
        else:
            key, _, value = line.partition("=")
            out.append(UnitSetting(section, key.strip(), value.strip(), n, comments))
            comments = []
    return out


def unit_values(settings: list[UnitSetting], key: str, section: str = "Service") -> list[str]:
    return [s.value for s in settings if s.key == key and s.section == section]


def unit_last(settings: list[UnitSetting], key: str, section: str = "Service") -> str | None:
    v = unit_values(settings, key, section)
    return v[-1] if v else None


def unit_capabilities(settings: list[UnitSetting], key: str) -> set[str]:
    """A capability list setting, with systemd's semantics: assignments accumulate, an empty one
    resets (only plain lists are supported, not ~inversion)."""
    caps: set[str] = set()
    for v in unit_values(settings, key):
        if not v:
            caps = set()
        elif v.startswith("~"):
            raise CheckFailed(f"{key}={v}: inverted capability lists are not supported by the test")
        else:
            caps |= set(v.split())
    return caps


def syscall_group(name: str) -> set[str]:
    """System calls of a systemd syscall-filter group (@name), expanded by systemd-analyze."""
    proc = run(["systemd-analyze", "syscall-filter", name])
    if proc.returncode != 0:
        raise CheckFailed(f"systemd-analyze syscall-filter {name} failed\n" + describe(proc))
    out = set()
    for line in proc.stdout.splitlines():
        s = line.strip()
        if not s or s.startswith("#") or not line.startswith(" "):
            continue
        out |= syscall_group(s) if s.startswith("@") else {s}
    return out


def allowed_syscalls(settings: list[UnitSetting]) -> tuple[set[str], bool]:
    """Effective SystemCallFilter= of a unit: (syscalls, is_allow_list). Follows systemd: the
    first assignment decides allow or deny list; later ones add to it (allow) or remove from the
    allow list (~deny); an empty assignment resets."""
    allowed: set[str] = set()
    allow_list: bool | None = None
    for v in unit_values(settings, "SystemCallFilter"):
        if not v:
            allowed, allow_list = set(), None
            continue
        deny = v.startswith("~")
        names = set()
        for word in v.lstrip("~").split():
            names |= syscall_group(word) if word.startswith("@") else {word.split(":")[0]}
        if allow_list is None:
            allow_list = not deny
            allowed = set(names)
        elif allow_list:
            allowed = allowed - names if deny else allowed | names
        else:
            allowed = allowed | names if deny else allowed - names
    return allowed, bool(allow_list)

#!/usr/bin/python3
"""Every module the binary registers has all of its pieces, and no piece is left of a module it
does not register.

The registered modules are the keys of the `modules:` mapping that `bpfex --config.check` prints
(registry order). For each one:
- config/bpfex.yaml has a section modules.<m> (in the file, not just defaulted) with every option
  key the effective configuration has for it;
- dashboards/<m>.json exists and its panel queries use at least one bpfex_<m>_ metric;
- README.md's modules table (the table whose header's first cell is "module") has a row, a line
  starting with "| `<m>` |";
- tests/lib/load.py has a load generator, LOADS["<m>"].
Stale pieces fail too: a modules.<x> section, a dashboards/<x>.json (other than the dashboards that
are of no module, DASHBOARDS_OF_NO_MODULE), a modules-table row or a LOADS entry for an x that is
not registered.

The checks are run once more on a doctored copy of those files (each piece of one module taken
away, one stale piece of each kind added) and must find exactly what was doctored: this test can
fail, and says which module and which piece.

Usage: tests/e2e/registry_test.py BPFEX_BINARY REPO_ROOT   (no root needed)
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lib.harness import (Suite, dashboard_queries, expect, fail, load_dashboard, module_options,  # noqa: E402
                         parse_args, temp_dir)
from lib.load import LOADS  # noqa: E402

import yaml  # noqa: E402

# Dashboards about bpfex as a whole rather than one module.
DASHBOARDS_OF_NO_MODULE = {"overview"}

suite = Suite("registry")
BPFEX, ROOT = parse_args(suite)


# ---------------------------------------------------------------- the pieces, as {module: problems}

Problems = dict[str, list[str]]


def add_stale(problems: Problems, present: list[str], modules: list[str], where: Callable[[str], str]) -> Problems:
    """A problem for each name in `present` (pieces the tree has) that is not a registered module;
    where(name) says which piece it is."""
    for name in present:
        if name not in modules:
            problems.setdefault(name, []).append(f"{where(name)}, for a module the binary does not register")
    return problems


def config_problems(root: Path, effective: dict[str, dict]) -> Problems:
    doc = yaml.safe_load((root / "config" / "bpfex.yaml").read_text()) or {}
    sections = doc.get("modules") or {}
    out: Problems = {}
    for m, options in effective.items():
        section = sections.get(m)
        if not isinstance(section, dict):
            out[m] = [f"config/bpfex.yaml has no section modules.{m}"]
        elif missing := [k for k in options if k not in section]:
            out[m] = [f"config/bpfex.yaml modules.{m} lacks option(s) {missing} that the effective configuration has"]
    return add_stale(out, list(sections), list(effective), lambda m: f"config/bpfex.yaml has a section modules.{m}")


def dashboard_problems(root: Path, modules: list[str]) -> Problems:
    out: Problems = {}
    for m in modules:
        path = root / "dashboards" / f"{m}.json"
        if not path.exists():
            out[m] = [f"no dashboard dashboards/{m}.json"]
            continue
        metrics = {n for q in dashboard_queries(load_dashboard(path)) for n in re.findall(r"\bbpfex_\w+", q)}
        if not any(n.startswith(f"bpfex_{m}_") for n in metrics):
            out[m] = [f"dashboards/{m}.json: no panel query uses a bpfex_{m}_ metric (it uses {sorted(metrics)})"]
    present = [p.stem for p in sorted((root / "dashboards").glob("*.json")) if p.stem not in DASHBOARDS_OF_NO_MODULE]
    return add_stale(out, present, modules, lambda m: f"dashboards/{m}.json, not in DASHBOARDS_OF_NO_MODULE "
                                                      f"{sorted(DASHBOARDS_OF_NO_MODULE)}, is a dashboard")


def modules_table(readme: str) -> list[str]:
    """The lines of README.md's modules table: the first table whose header's first cell is
    "module", header and separator included."""
    lines = readme.splitlines()
    for i, line in enumerate(lines):
        if re.match(r"\|\s*module\s*\|", line):
            end = i
            while end < len(lines) and lines[end].startswith("|"):
                end += 1
            return lines[i:end]
    fail('README.md has no modules table (a table whose header starts with "| module |")')


def readme_problems(root: Path, modules: list[str]) -> Problems:
    table = modules_table((root / "README.md").read_text())
    out: Problems = {m: [f"README.md's modules table has no row \"| `{m}` | ...\""]
                     for m in modules if not any(line.startswith(f"| `{m}` |") for line in table)}
    present = [row.group(1) for line in table if (row := re.match(r"\| `([^`]+)` \|", line))]
    return add_stale(out, present, modules, lambda m: f"README.md's modules table has a row for {m}")


def load_problems(loads: dict, modules: list[str]) -> Problems:
    out: Problems = {m: [f"tests/lib/load.py has no load generator LOADS[{m!r}]"]
                     for m in modules if not callable(loads.get(m))}
    return add_stale(out, list(loads), modules, lambda m: f"tests/lib/load.py has a load generator LOADS[{m!r}]")


PIECES = {
    "config section": lambda root, effective, loads: config_problems(root, effective),
    "dashboard": lambda root, effective, loads: dashboard_problems(root, list(effective)),
    "README row": lambda root, effective, loads: readme_problems(root, list(effective)),
    "load generator": lambda root, effective, loads: load_problems(loads, list(effective)),
}


# ---------------------------------------------------------------- checks

def t_piece(problems: Problems, module: str):
    if problems.get(module):
        fail("\n".join(problems[module]))


def t_no_stale(problems: Problems, modules: list[str]):
    stale = [p for m, ps in problems.items() if m not in modules for p in ps]
    if stale:
        fail("\n".join(stale))


def doctored_copy(effective: dict[str, dict]) -> tuple[Path, dict, dict[str, str]]:
    """A copy of config/bpfex.yaml, dashboards/ and README.md in which the first registered module
    lost one option, its dashboard's module metrics and its README row, LOADS lost it, and each
    kind of piece gained a stale one. Returns the copy's root, the doctored LOADS and what each
    piece's check must say about the victim."""
    victim = next(iter(effective))
    stale = "nosuchmodule"
    root = temp_dir("bpfex-registry.")
    (root / "config").mkdir()
    shutil.copytree(ROOT / "dashboards", root / "dashboards")
    config = yaml.safe_load((ROOT / "config" / "bpfex.yaml").read_text())
    option = next(k for k in config["modules"][victim] if k != "enabled")
    del config["modules"][victim][option]
    config["modules"][stale] = {"enabled": True}
    (root / "config" / "bpfex.yaml").write_text(yaml.safe_dump(config))
    dash = root / "dashboards" / f"{victim}.json"
    dash.write_text(dash.read_text().replace(f"bpfex_{victim}_", "bpfex_other_"))
    (root / "dashboards" / f"{stale}.json").write_text(json.dumps({"panels": []}))
    readme = (ROOT / "README.md").read_text().replace(f"| `{victim}` |", f"| `{stale}` |")
    (root / "README.md").write_text(readme)
    loads = {m: f for m, f in LOADS.items() if m != victim} | {stale: LOADS[victim]}
    want = {"config section": option, "dashboard": f"bpfex_{victim}_", "README row": f"`{victim}`",
            "load generator": repr(victim)}
    return root, loads, want | {"victim": victim, "stale": stale}


def t_checks_find_doctored_pieces(effective: dict[str, dict], real: dict[str, Problems]):
    """`real`: what each piece's check found in the tree itself (reported by the checks above, so
    not again here)."""
    root, loads, want = doctored_copy(effective)
    missed = []
    for piece, find in PIECES.items():
        problems = find(root, effective, loads)
        victim = " ".join(problems.get(want["victim"], []))
        if want[piece] not in victim:
            missed.append(f"{piece}: nothing said about {want['victim']}'s missing piece ({want[piece]}): {problems}")
        if not problems.get(want["stale"]):
            missed.append(f"{piece}: the stale {want['stale']} went unnoticed: {problems}")
        others = sorted(set(problems) - {want["victim"], want["stale"]} - set(real.get(piece, {})))
        expect(f"{piece}: modules with problems besides the doctored ones", others, [])
    if missed:
        fail("\n".join(missed))


EFFECTIVE = suite.check("bpfex --config.check prints the registered modules", module_options, BPFEX)
if not EFFECTIVE:
    suite.finish()
MODULES = list(EFFECTIVE)
print(f"registry: registered modules: {', '.join(MODULES)}", flush=True)
REAL = {}
for piece, find in PIECES.items():
    found = suite.check(f"{piece}s: read", find, ROOT, EFFECTIVE, LOADS)
    if found is None:
        continue
    REAL[piece] = found
    for module in MODULES:
        suite.check(f"{module}: {piece}", t_piece, found, module)
    suite.check(f"no {piece} of a module that is not registered", t_no_stale, found, MODULES)
suite.check("the checks find the pieces of a doctored copy missing or stale", t_checks_find_doctored_pieces,
            EFFECTIVE, REAL)
suite.finish()

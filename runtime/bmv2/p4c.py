"""p4c's bmv2 back end on the generated P4: the switch's JSON, p4c's P4Info, and what p4c says it costs.

:func:`run_p4c` compiles ``NAME.p4`` with ``p4c-bm2-ss`` into ``NAME.json`` (the
program simple_switch loads) and ``NAME.p4info.p4c.txtpb`` (p4c's own P4Info, kept
to check nicc's against). Builds are cached by source hash under
``$NICC_CACHE/bmv2`` (``~/.cache/nicc``): p4c takes about 25 s and 650 MB for E1.

When p4c rejects the program, the error is reported at the user's line that the
rejected P4 line was generated for (:class:`~nicc.backends.p4.P4Program` keeps
that map), with p4c's own message as a note. :func:`explain` reads the cost back
from the JSON p4c wrote: one row per table, register array, counter and action,
and totals (``manifest["explain"]`` and ``manifest["resources"]``).
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

from ...compiler.errors import NiccError
from ...backends.p4 import P4Program
from .tools import P4C, Toolchain

CACHE = os.environ.get("NICC_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "nicc")
# p4c cannot see that a value set under one verdict branch is only read under the same one.
P4C_FLAGS = ["--Wdisable=uninitialized_use"]
_ERROR = re.compile(r"^(?P<file>[^\s(]+?)(?:\((?P<line>\d+)\)|:(?P<line2>\d+):\d+):\s*(?:\[[^\]]*\]\s*)?"
                    r"error:\s*(?P<msg>.*)$")


class P4cFailed(NiccError):
    """p4c rejected the generated program (reported at the user's line)."""


def _version(tc: Toolchain) -> str:
    r = subprocess.run([tc.tool(P4C), "--version"], capture_output=True, text=True, env=tc.env())
    return (r.stdout + r.stderr).strip()


def run_p4c(tc: Toolchain, prog: P4Program, p4_path: str, pipeline_loc=None) -> dict:
    """Compile ``p4_path`` (the text of ``prog``); returns {"json", "p4info", "log", "seconds", "cached"}."""
    base = p4_path[:-3]
    outs = {"json": base + ".json", "p4info": base + ".p4info.p4c.txtpb", "log": base + ".p4c.log"}
    key = hashlib.sha256("\0".join([prog.text, _version(tc), " ".join(P4C_FLAGS)]).encode()).hexdigest()[:24]
    cached = os.path.join(CACHE, "bmv2", key)
    os.makedirs(os.path.dirname(cached), exist_ok=True)
    with open(cached + ".lock", "w") as lock:         # one build per source at a time; others wait and reuse it
        fcntl.flock(lock, fcntl.LOCK_EX)
        hit = os.path.exists(os.path.join(cached, "stats.json"))
        if not hit:
            _compile_into(tc, prog, p4_path, cached, pipeline_loc, outs["log"])
    for role, path in outs.items():
        shutil.copyfile(os.path.join(cached, os.path.basename({"json": "out.json", "p4info": "p4info.txtpb",
                                                                "log": "p4c.log"}[role])), path)
    with open(os.path.join(cached, "stats.json")) as f:
        stats = json.load(f)
    return {**outs, "seconds": stats["seconds"], "cached": hit}


def _compile_into(tc: Toolchain, prog: P4Program, p4_path: str, cached: str, pipeline_loc, log_path: str) -> None:
    os.makedirs(os.path.dirname(cached), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".p4c-", dir=os.path.dirname(cached))
    try:
        args = [tc.tool(P4C), *P4C_FLAGS, "--p4runtime-files", os.path.join(tmp, "p4info.txtpb"),
                "-o", os.path.join(tmp, "out.json"), p4_path]
        t0 = time.monotonic()
        r = subprocess.run(args, capture_output=True, text=True, env=tc.env())
        seconds = time.monotonic() - t0
        for path in (os.path.join(tmp, "p4c.log"), log_path):
            with open(path, "w") as f:
                f.write(r.stdout + r.stderr)
        if r.returncode != 0:
            raise p4c_error(prog, p4_path, r.stdout + r.stderr, pipeline_loc)
        with open(os.path.join(tmp, "stats.json"), "w") as f:
            json.dump({"seconds": round(seconds, 3), "p4c": " ".join(args[:-1])}, f)
        try:
            os.replace(tmp, cached)               # atomic; a concurrent build of the same source may win
        except OSError:
            if not os.path.exists(os.path.join(cached, "stats.json")):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def p4c_error(prog: P4Program, p4_path: str, log: str, pipeline_loc=None) -> NiccError:
    """p4c's first error in the generated file, at the user's line it was generated for."""
    lines = log.splitlines()
    name = os.path.basename(p4_path)
    for i, ln in enumerate(lines):
        m = _ERROR.match(ln.strip())
        if not m or os.path.basename(m["file"]) != name:
            continue
        p4_line = int(m["line"] or m["line2"])
        loc = prog.loc_of_line(p4_line, pipeline_loc)
        context = [s for s in lines[i + 1:i + 3] if s.strip()]
        return P4cFailed(f"bmv2 cannot compile this: p4c rejects the generated P4: {m['msg']}", loc,
                         notes=[f"{p4_path}:{p4_line}: generated from here; p4c says:"] + ["  " + c for c in context]
                         + [f"full p4c output: {p4_path[:-3]}.p4c.log"])
    tail = "\n".join(lines[-20:])
    return P4cFailed(f"bmv2 cannot compile this: p4c rejects the generated P4:\n{tail}", pipeline_loc)


def explain(json_path: str, seconds: float, cached: bool) -> tuple[list[dict], dict]:
    """Rows (one per table, register array, counter, action) and totals, from p4c's bmv2 JSON."""
    with open(json_path) as f:
        js = json.load(f)
    rows = []
    keyless, keyed_actions = [], set()
    for pipe in js.get("pipelines", []):
        for t in pipe.get("tables", []):
            if not t.get("key"):
                keyless.append(t)
                continue
            keys = ", ".join(f"{k['match_type']} {'.'.join(k['target'])}" for k in t["key"])
            keyed_actions |= set(t.get("actions", []))
            rows.append({"kind": "table", "name": t["name"], "size": t.get("max_size"),
                         "detail": f"{pipe['name']}, key {keys}, {len(t.get('actions', []))} action(s)"})
    if keyless:
        rows.append({"kind": "table", "name": f"({len(keyless)} keyless)", "size": None,
                     "detail": "p4c's wrappers that run straight-line code as actions"})
    for r in js.get("register_arrays", []):
        rows.append({"kind": "register", "name": r["name"], "size": r["size"],
                     "detail": f"{r['bitwidth']} bits per cell, {r['size'] * r['bitwidth'] // 8} bytes"})
    for c in js.get("counter_arrays", []):
        rows.append({"kind": "counter", "name": c["name"], "size": c["size"], "detail": "packets and bytes"})
    other, copies = [], {}
    for a in js.get("actions", []):
        if a["name"] in keyed_actions:
            copies.setdefault(a["name"], []).append(a)
        else:
            other.append(a)
    for name, acts in copies.items():
        a = acts[0]
        rows.append({"kind": "action", "name": name, "size": None,
                     "detail": f"{len(a.get('primitives', []))} primitive(s), {len(a.get('runtime_data', []))} "
                               f"parameter(s){f', {len(acts)} copies (one per table)' if len(acts) > 1 else ''}"})
    if other:
        rows.append({"kind": "action", "name": f"({len(other)} straight-line)", "size": None,
                     "detail": f"{sum(len(a.get('primitives', [])) for a in other)} primitive(s) in all"})
    states = sum(len(p.get("parse_states", [])) for p in js.get("parsers", []))
    conds = sum(len(p.get("conditionals", [])) for p in js.get("pipelines", []))
    resources = {
        "tables": sum(len(p.get("tables", [])) for p in js.get("pipelines", [])),
        "keyed_tables": sum(1 for p in js.get("pipelines", []) for t in p.get("tables", []) if t.get("key")),
        "primitives": sum(len(a.get("primitives", [])) for a in js.get("actions", [])),
        "registers": len(js.get("register_arrays", [])),
        "register_bytes": sum(r["size"] * r["bitwidth"] // 8 for r in js.get("register_arrays", [])),
        "counters": len(js.get("counter_arrays", [])),
        "actions": len(js.get("actions", [])),
        "conditionals": conds,
        "parser_states": states,
        "header_types": len(js.get("header_types", [])),
        "json_bytes": os.path.getsize(json_path),
        "p4c_seconds": seconds,
        "p4c_cached": cached,
    }
    return rows, resources

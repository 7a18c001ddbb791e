"""Finding the P4 toolchain: p4c's bmv2 back end, simple_switch(_grpc), bmv2's Thrift bindings.

Tools are looked up in ``$NICC_P4_PREFIX/bin`` first (a relocatable install such
as the project's ``../shared/p4``), then on ``PATH``. bmv2's Python Thrift
bindings (``bm_runtime``, ``sswitch_runtime``) come from the same install
(``lib/python3*/site-packages`` next to ``bin``) or from wherever Python finds
them; the ``thrift`` package itself is a nicc dependency.

    tc = Toolchain.find()
    tc.missing()                  # [] when nicc can compile and run on real bmv2 here
    tc.tool("simple_switch")      # absolute path, or None
"""
from __future__ import annotations

import glob
import importlib
import importlib.util
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from functools import lru_cache

P4C = "p4c-bm2-ss"
SWITCH = "simple_switch"
SWITCH_GRPC = "simple_switch_grpc"
THRIFT_PACKAGES = ("bm_runtime", "sswitch_runtime")


@dataclass
class Toolchain:
    prefix: str | None
    found: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def find(cls) -> "Toolchain":
        prefix = os.environ.get("NICC_P4_PREFIX") or None
        return _find(prefix, os.environ.get("PATH", ""))

    def tool(self, name: str) -> str | None:
        return self.found.get(name)

    # -- where things are ---------------------------------------------------------------------------
    def root_of(self, name: str) -> str | None:
        """The install prefix the tool ``name`` lives in (``bin/..``)."""
        path = self.tool(name)
        return os.path.dirname(os.path.dirname(os.path.realpath(path))) if path else None

    def p4include(self) -> str | None:
        """p4c's include directory (core.p4, v1model.p4) for a relocated p4c-bm2-ss."""
        root = self.root_of(P4C)
        d = os.path.join(root, "share", "p4c", "p4include") if root else None
        return d if d and os.path.isfile(os.path.join(d, "v1model.p4")) else None

    def site_packages(self) -> list[str]:
        """Directories holding bmv2's generated Thrift bindings, for this install."""
        roots = {r for r in (self.prefix, self.root_of(SWITCH), self.root_of(SWITCH_GRPC)) if r}
        return sorted(d for r in roots for d in glob.glob(os.path.join(r, "lib", "python3*", "site-packages"))
                      if os.path.isdir(os.path.join(d, "bm_runtime")))

    def env(self) -> dict[str, str]:
        """Environment for the tools' subprocesses (PATH with the prefix first, p4c's include path)."""
        e = dict(os.environ)
        if self.prefix:
            e["PATH"] = os.path.join(self.prefix, "bin") + os.pathsep + e.get("PATH", "")
        inc = self.p4include()
        if inc:
            e.setdefault("P4C_16_INCLUDE_PATH", inc)
        return e

    # -- what is missing ------------------------------------------------------------------------------
    def missing_compile(self) -> list[str]:
        return [] if self.tool(P4C) else [f"p4c ({P4C}){self._where()}"]

    def missing_run(self) -> list[str]:
        """What running on real bmv2 needs beyond p4c (empty when everything is here)."""
        miss = []
        if not (self.tool(SWITCH) or self.tool(SWITCH_GRPC)):
            miss.append(f"bmv2 ({SWITCH} or {SWITCH_GRPC}){self._where()}")
        else:
            why = thrift_problem(self)
            if why:
                miss.append(why)
        if not shutil.which("unshare"):
            miss.append("unshare (util-linux), to run each switch in its own network namespace")
        elif not netns_prefix():
            miss.append("a private network namespace (unshare -n needs root or user namespaces)")
        return miss

    def missing(self) -> list[str]:
        return self.missing_compile() + self.missing_run()

    def p4runtime_problem(self) -> str | None:
        """Why the P4Runtime control path (simple_switch_grpc + p4runtime-shell) is unavailable, or None."""
        if not self.tool(SWITCH_GRPC):
            return f"{SWITCH_GRPC} is not installed{self._where()}"
        try:
            importlib.import_module("p4runtime_sh.shell")
        except Exception as e:                       # noqa: BLE001  (any import failure: name it)
            return f"p4runtime-shell does not import ({type(e).__name__}: {e})"
        return None

    def _where(self) -> str:
        return f" in {self.prefix}/bin or on PATH" if self.prefix else " on PATH (or set NICC_P4_PREFIX)"


@lru_cache(maxsize=8)
def _find(prefix: str | None, path: str) -> Toolchain:
    found = {}
    for name in (P4C, SWITCH, SWITCH_GRPC):
        hit = None
        if prefix:
            cand = os.path.join(prefix, "bin", name)
            hit = cand if os.access(cand, os.X_OK) else None
        found[name] = hit or shutil.which(name, path=path)
    return Toolchain(os.path.abspath(prefix) if prefix else None, found)


def thrift_problem(tc: Toolchain) -> str | None:
    """Why bmv2's Thrift bindings cannot be loaded, or None."""
    try:
        importlib.import_module("thrift")
    except ImportError:
        return "the Python 'thrift' package (pip install thrift)"
    try:
        thrift_modules(tuple(tc.site_packages()))
    except ImportError as e:
        return f"bmv2's Python Thrift bindings (bm_runtime, sswitch_runtime): {e}"
    return None


@lru_cache(maxsize=4)
def thrift_modules(dirs: tuple[str, ...]) -> dict:
    """bmv2's generated Thrift client modules, loaded from ``dirs`` (without putting the rest of those
    site-packages, which carry their own protobuf modules, on sys.path)."""
    wanted = {"standard": "bm_runtime.standard.Standard", "standard_types": "bm_runtime.standard.ttypes",
              "pre": "bm_runtime.simple_pre_lag.SimplePreLAG", "pre_simple": "bm_runtime.simple_pre.SimplePre",
              "sswitch": "sswitch_runtime.SimpleSwitch"}
    for pkg in THRIFT_PACKAGES:
        if pkg in sys.modules:
            continue
        for d in dirs:
            init = os.path.join(d, pkg, "__init__.py")
            if os.path.isfile(init):
                spec = importlib.util.spec_from_file_location(pkg, init,
                                                              submodule_search_locations=[os.path.join(d, pkg)])
                mod = importlib.util.module_from_spec(spec)
                sys.modules[pkg] = mod
                spec.loader.exec_module(mod)
                break
    return {k: importlib.import_module(v) for k, v in wanted.items()}


@lru_cache(maxsize=1)
def netns_prefix() -> tuple[str, ...] | None:
    """``unshare`` arguments that give a private network namespace (None if the kernel refuses)."""
    cands = (("unshare", "-n"), ("unshare", "-rn")) if os.geteuid() == 0 else (("unshare", "-rn"),)
    for args in cands:
        try:
            if subprocess.run(list(args) + ["true"], capture_output=True, timeout=60).returncode == 0:
                return args
        except (OSError, subprocess.TimeoutExpired):
            pass
    return None

"""Match-action tables with bmv2 semantics (spec v1.2.4 section 14.2; bmv2
src/bm_sim/match_units.cpp).

Key kinds: ``exact``, ``lpm``, ``ternary``, ``range``, ``optional``.

* Tables whose keys are only exact: hash lookup.
* exact + one lpm key (no ternary/range/optional): longest prefix wins among
  the entries whose exact parts match.
* Any ternary/range/optional key: entries are priority-ordered.  Run-time
  entries use bmv2's convention (simple_switch_CLI ``table_add ... => ...
  PRIORITY``; bmv2 MatchUnitTernary picks the *smallest* priority value);
  const entries get priorities in source order, so the first matching
  const entry wins (spec 14.2.1.4).  Const entries rank before run-time
  entries of equal priority.

Key values for ``Switch.table_add``: exact -> int; lpm -> ``(value, prefix_len)``;
ternary -> ``(value, mask)``; range -> ``(lo, hi)`` inclusive; optional ->
int or None (wildcard).  A bare int is accepted for lpm/ternary/range as an
exact match.
"""
from __future__ import annotations

from .errors import P4RuntimeError


class Table:
    def __init__(self, name: str, kinds: list, widths: list, actions: dict, default, size=None):
        self.name = name
        self.kinds = kinds
        self.widths = widths
        self.actions = actions            # name -> (action Sym, n data params)
        self.default = default            # (action Sym, args tuple)
        self.size = size
        self.exact = {}                   # all-exact tables: key tuple -> (sym, args)
        self.entries = []                 # other tables: (sort key, matchers, sym, args)
        self.all_exact = all(k == "exact" for k in kinds)
        self.lpm_only = not self.all_exact and all(k in ("exact", "lpm") for k in kinds)
        self._seq = 0

    def _matcher(self, kind, width, v):
        full = (1 << width) - 1
        if kind == "exact":
            if isinstance(v, tuple):
                raise P4RuntimeError(f"table {self.name}: exact key takes an int, got {v!r}")
            return (v & full, full)
        if kind == "lpm":
            if isinstance(v, tuple):
                value, plen = v
            else:
                value, plen = v, width
            if not 0 <= plen <= width:
                raise P4RuntimeError(f"table {self.name}: prefix length {plen} out of range")
            mask = (full << (width - plen)) & full
            return (value & mask, mask)
        if kind == "ternary":
            value, mask = v if isinstance(v, tuple) else (v, full)
            return (value & mask & full, mask & full)
        if kind == "optional":
            return (0, 0) if v is None else (v & full, full)
        if kind == "range":
            lo, hi = v if isinstance(v, tuple) else (v, v)
            return ("range", lo, hi)
        raise P4RuntimeError(f"match kind {kind} is not supported")

    def add(self, keys, sym, args, priority=None, const=False):
        if len(keys) != len(self.kinds):
            raise P4RuntimeError(f"table {self.name}: {len(self.kinds)} key(s) expected, got {len(keys)}")
        matchers = tuple(self._matcher(k, w, v) for k, w, v in zip(self.kinds, self.widths, keys))
        if self.size is not None and len(self.exact) + len(self.entries) >= self.size:
            raise P4RuntimeError(f"table {self.name} is full ({self.size} entries)")
        if self.all_exact:
            key = tuple(m[0] for m in matchers)
            if key in self.exact:
                raise P4RuntimeError(f"table {self.name}: duplicate entry for key {key}")
            self.exact[key] = (sym, args)
            return
        self._seq += 1
        if self.lpm_only:
            plen = sum(bin(m[1]).count("1") for m, k in zip(matchers, self.kinds) if k == "lpm")
            order = (-plen, self._seq)
        else:
            if priority is None and not const:
                raise P4RuntimeError(f"table {self.name}: ternary/range entries need a priority")
            order = (-1, 0, self._seq) if const else (0, priority, self._seq)
        self.entries.append((order, matchers, sym, args))
        self.entries.sort(key=lambda e: e[0])

    def lookup(self, keys):
        """(action Sym, action args, hit)."""
        if self.all_exact:
            r = self.exact.get(tuple(keys))
            if r is not None:
                return r[0], r[1], True
            return self.default[0], self.default[1], False
        for _, matchers, sym, args in self.entries:
            for m, k in zip(matchers, keys):
                if m[0] == "range":
                    if not m[1] <= k <= m[2]:
                        break
                elif (k & m[1]) != m[0]:
                    break
            else:
                return sym, args, True
        return self.default[0], self.default[1], False

    def clear(self):
        self.exact.clear()
        self.entries.clear()

"""At most one application of a table per control path.

P4_16 (spec v1.2.4, section 14.2.2 "Table invocation", and p4c's
``--target bmv2`` front end, which rejects such programs): a table may be
applied at most once in any single execution of a control's ``apply`` block,
because its hit/action_run results and its place in the pipeline are unique.
Two applications on *different* branches are allowed.

The check enumerates the sets of tables applied along each control path
(statements in order; ``if``/``switch`` branch; ``exit``/``return`` end a
path).  Sets are deduplicated, so the work is bounded by the number of
distinct sets, small in practice.
"""
from __future__ import annotations

from . import ast as A
from .errors import P4Error


def _applies(e, checked, out):
    """Table-apply calls inside expression ``e``, in evaluation order."""
    if isinstance(e, A.Call):
        _applies(e.func, checked, out)
        for a in e.args:
            _applies(a, checked, out)
        k = checked.calls.get(e)
        if k and k[0] == "apply":
            out.append((k[1], e))
    elif isinstance(e, (A.Member, A.Unary)):
        _applies(e.expr, checked, out)
    elif isinstance(e, A.Binary):
        _applies(e.left, checked, out)
        _applies(e.right, checked, out)
    elif isinstance(e, A.Cond):
        for x in (e.cond, e.then, e.other):
            _applies(x, checked, out)
    elif isinstance(e, (A.Index, A.Slice, A.Cast)):
        _applies(e.expr, checked, out)
    return out


def _expr(e, states, checked):
    for sym, call in _applies(e, checked, []):
        new = set()
        for s in states:
            if sym in s:
                raise P4Error(call.loc, f"table '{sym.name}' is applied more than once on the same "
                                        f"control path (P4_16 spec 14.2.2)")
            new.add(s | {sym})
        states = new
    return states


def _stmt(s, states, checked):
    """States (frozensets of applied tables) after ``s``; paths that end are dropped."""
    if not states:
        return states
    if isinstance(s, A.Block):
        for x in s.stmts:
            states = _stmt(x, states, checked)
        return states
    if isinstance(s, A.Assign):
        return _expr(s.rhs, _expr(s.lhs, states, checked), checked)
    if isinstance(s, A.CallStmt):
        return _expr(s.call, states, checked)
    if isinstance(s, A.If):
        states = _expr(s.cond, states, checked)
        then = _stmt(s.then, states, checked)
        other = _stmt(s.other, states, checked) if s.other is not None else states
        return then | other
    if isinstance(s, A.Switch):
        states = _expr(s.expr, states, checked)
        out = set()
        has_default = False
        for c in s.cases:
            has_default |= c.label is None
            if c.body is not None:
                out |= _stmt(c.body, states, checked)
        if not has_default:
            out |= states
        return out
    if isinstance(s, (A.Exit, A.Return)):
        return set()
    if isinstance(s, A.VarDecl) and s.init is not None:
        return _expr(s.init, states, checked)
    return states


def check_single_apply(control: A.ControlDecl, checked) -> None:
    _stmt(control.body, {frozenset()}, checked)

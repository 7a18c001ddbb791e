"""v1model externs and functions at run time (v1model.p4; bmv2
targets/simple_switch/primitives.cpp), and table application.

* ``register.read(dst, i)``: bmv2's ``register_read`` leaves ``dst`` unchanged
  when ``i >= size`` (it logs "Dest field was not updated");
  ``register.write(i, v)`` with ``i >= size`` changes nothing.
* ``mark_to_drop(sm)``: ``egress_spec = 511`` (the drop port) and
  ``mcast_grp = 0`` (bmv2's ``drop`` / ``mark_to_drop`` primitive).
* ``hash(out r, algo, base, data, max)``: ``r = base + (H(data) % max)``
  reduced to r's width (bmv2 ``modify_field_with_hash_based_offset``).
* ``update_checksum(c, data, f, algo)``: if ``c``, ``f = H(data)``;
  ``verify_checksum(c, data, f, algo)``: if ``c`` and ``H(data) != f``,
  ``standard_metadata.checksum_error = 1``.  The ``_with_payload`` variants
  append the unparsed payload to the data.
* ``truncate(n)``: the packet leaving the deparser is cut to ``n`` bytes.
* ``random(r, lo, hi)``: a seeded, reproducible uniform draw in [lo, hi].
* counters count packets and bytes; meters always return GREEN (0).
"""
from __future__ import annotations

from ...compiler.errors import InternalError
from . import ast as A
from .builtins import DROP_PORT, STANDARD_METADATA
from .errors import P4RuntimeError
from .hashes import ALGORITHMS, pack_bits
from .types import Bits, BoolT, HeaderT, InfInt, ListT, StackT, StructT, wrap

ES = STANDARD_METADATA.index("egress_spec")
MG = STANDARD_METADATA.index("mcast_grp")
CSUM_ERR = STANDARD_METADATA.index("checksum_error")


class RegisterArray:
    def __init__(self, name, elem_type, size):
        self.name = name
        self.type = elem_type
        self.values = [False if isinstance(elem_type, BoolT) else 0] * size


class CounterArray:
    def __init__(self, name, size):
        self.name = name
        self.packets = [0] * size
        self.bytes = [0] * size


def data_items(comp, e):
    """fn(frame) -> [(value, width)] for a field list, skipping fields of invalid headers."""
    c = comp.c
    t = c.types[e]
    if isinstance(e, A.ListExpr):
        parts = [data_items(comp, x) for x in e.items]
        return lambda fr: [it for p in parts for it in p(fr)]
    if isinstance(t, (Bits, BoolT)):
        w = t.width if isinstance(t, Bits) else 1
        r = comp.rv(e)
        if isinstance(e, A.Member) and isinstance(c.types[e.expr], HeaderT):
            h = comp.rv(e.expr)
            return lambda fr: [(int(r(fr)), w)] if h(fr)[0] else []
        return lambda fr: [(int(r(fr)), w)]
    r = comp.rv(e)
    return value_items(t, r)


def value_items(t, r):
    def items(t, v, out):
        if isinstance(t, HeaderT):
            if v[0]:
                for (_, ft), x in zip(t.fields, v[1:]):
                    out.append((int(x), ft.width if isinstance(ft, Bits) else 1))
        elif isinstance(t, StructT):
            for (_, ft), x in zip(t.fields, v):
                items(ft, x, out)
        elif isinstance(t, StackT):
            for x in v.elems:
                items(t.elem, x, out)
        elif isinstance(t, Bits):
            out.append((v, t.width))
        elif isinstance(t, BoolT):
            out.append((int(v), 1))

    def f(fr):
        out = []
        items(t, r(fr), out)
        return out
    return f


def extern_call(comp, kind, info, e):
    sw = comp.sw
    args = e.args
    if kind == "mark_to_drop":
        sm = comp.rv(args[0]) if args else (lambda fr: fr[0].sm)

        def mark_to_drop(fr):
            s = sm(fr)
            s[ES] = DROP_PORT
            s[MG] = 0
        return mark_to_drop
    if kind == "reg_read":
        reg = sw.externs[info]
        vals, n = reg.values, len(reg.values)
        dst, idx = comp.lv(args[0]), comp.rv(args[1])

        def reg_read(fr):
            i = idx(fr)
            if i < n:
                dst(fr, vals[i])
        return reg_read
    if kind == "reg_write":
        reg = sw.externs[info]
        vals, n = reg.values, len(reg.values)
        idx, val = comp.rv(args[0]), comp.rv(args[1])

        def reg_write(fr):
            i = idx(fr)
            if i < n:
                vals[i] = val(fr)
        return reg_write
    if kind == "count":
        ctr = sw.externs[info]
        idx = comp.rv(args[0])

        def count(fr):
            i = idx(fr)
            if i < len(ctr.packets):
                ctr.packets[i] += 1
                ctr.bytes[i] += len(fr[0].data)
        return count
    if kind == "meter":
        dst = comp.lv(args[1])
        return lambda fr: dst(fr, 0)
    if kind == "noop":
        return lambda fr: None
    if kind == "hash":
        dst = comp.lv(args[0])
        ot = comp.c.types[args[0]]
        algo = ALGORITHMS[comp.c.consts[args[1]]]
        base, data, mx = comp.rv(args[2]), data_items(comp, args[3]), comp.rv(args[4])

        def hash_(fr):
            m = mx(fr)
            if m == 0:
                raise P4RuntimeError(f"{e.loc}: hash with max == 0")
            dst(fr, wrap(base(fr) + algo(pack_bits(data(fr))) % m, ot))
        return hash_
    if kind.startswith(("update_checksum", "verify_checksum")):
        cond, data = comp.rv(args[0]), data_items(comp, args[1])
        algo = ALGORITHMS[comp.c.consts[args[3]]]
        ft = comp.c.types[args[2]]
        payload = kind.endswith("with_payload")

        def compute(fr):
            buf = pack_bits(data(fr))
            if payload:
                buf += fr[0].payload
            return wrap(algo(buf), ft)
        if kind.startswith("update"):
            dst = comp.lv(args[2])

            def update(fr):
                if cond(fr):
                    dst(fr, compute(fr))
            return update
        field = comp.rv(args[2])

        def verify(fr):
            if cond(fr) and compute(fr) != field(fr):
                fr[0].sm[CSUM_ERR] = 1
        return verify
    if kind == "truncate":
        n = comp.rv(args[0])

        def truncate(fr):
            fr[0].trunc = n(fr)
        return truncate
    if kind == "random":
        dst, lo, hi = comp.lv(args[0]), comp.rv(args[1]), comp.rv(args[2])
        rng = sw.rng

        def random_(fr):
            a, b = lo(fr), hi(fr)
            dst(fr, rng.randint(a, b) if a <= b else a)
        return random_
    raise InternalError(f"p4sim has no evaluation rule for {kind}")


def table_apply(comp, sym):
    """fn(frame) -> (hit, action name): look the key up, run the action (spec 14.2.2)."""
    info = comp.c.tables[sym]
    table = comp.sw.tables[sym]
    keys = []
    for k, t in zip(info.decl.keys, info.key_types):
        r = comp.rv(k.expr)
        if isinstance(t, Bits) and t.signed:
            m = (1 << t.width) - 1
            keys.append(lambda fr, r=r, m=m: r(fr) & m)
        elif isinstance(t, Bits):
            keys.append(r)
        elif isinstance(t, BoolT):
            keys.append(lambda fr, r=r: int(r(fr)))
        else:
            names = comp.sw.enum_codes(t)
            keys.append(lambda fr, r=r, names=names: names[r(fr)])
    compiled = {}
    extra = [comp.c.noaction] if comp.c.noaction not in info.actions else []
    for a in list(info.actions) + extra:
        run, slots, params = comp.action(a)
        bound = info.bound_args.get(a.name, ())
        dir_call = comp.action_call(a, bound) if bound else None
        data_slots = [s for s, p in zip(slots, params) if not p.direction]
        compiled[a] = (run, data_slots, dir_call, a.name)

    def apply(fr):
        asym, args, hit = table.lookup([k(fr) for k in keys])
        run, data_slots, dir_call, name = compiled[asym]
        for s, v in zip(data_slots, args):
            fr[s] = v
        if dir_call is not None:
            dir_call(fr)
        else:
            run(fr)
        return (hit, name)
    return apply

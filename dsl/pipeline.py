"""``@nd.pipeline``: a user function traced into IR, and loading pipeline files."""
from __future__ import annotations

import linecache
import os
import runpy
import typing

from ..compiler.errors import NiccError, SourceLoc, user_code, user_loc
from ..compiler.ir import Block, Op, Pipeline
from ..compiler.passes.verify import verify
from ..compiler.types import Array, Scalar, U32
from .ops import Verdict
from .schema import ArraySpec, Record, _Rest
from .tracer import Tracer, Value, traced_value


class RecordView:
    """The traced record handed to a pipeline function: ``rec.field`` reads a payload field."""

    def __init__(self, tr: Tracer, schema: type[Record], loc: SourceLoc):
        self._tr, self._schema, self._cache, self._loc = tr, schema, {}, loc
        self._layout: dict[str, tuple[int, object]] = {}
        off = 0
        variable = None
        for name, spec in schema.__nicc_fields__:
            if variable is not None:
                raise NiccError(f"field '{name}' follows the variable-length part '{variable}': "
                                "only the last field of a record may vary in length", schema.__nicc_loc__)
            self._layout[name] = (off, spec)
            if isinstance(spec, Scalar):
                off += spec.nbytes
            elif isinstance(spec, ArraySpec):
                if spec.rest:
                    variable = name
                elif spec.count is not None:
                    if spec.count not in self._layout or not isinstance(self._layout[spec.count][1], Scalar):
                        raise NiccError(f"array '{name}' is counted by '{spec.count}', which is not an earlier "
                                        "integer field", spec.loc)
                    variable = name
                else:
                    off += spec.n * spec.elem.nbytes
            elif isinstance(spec, _Rest):
                variable = name
            else:
                raise NiccError(f"field '{name}' has unsupported type {spec!r}", schema.__nicc_loc__)
        self._fixed = off

    def _check_length(self) -> None:
        """Payload length checks: a payload that does not fit the schema is malformed."""
        tr, loc = self._tr, self._loc
        plen = tr.value(Op.PAYLOAD_LEN, (), (), None, loc)
        arrays = [(n, s) for n, (o, s) in self._layout.items() if isinstance(s, ArraySpec) and s.count]
        has_rest = any(isinstance(s, _Rest) for _, s in self._layout.values())
        rest_arrays = [s for _, s in self._layout.values() if isinstance(s, ArraySpec) and s.rest]
        if rest_arrays:
            spec = rest_arrays[0]
            esz = spec.elem.nbytes
            fixed = tr.const(self._fixed, plen.type, loc)
            tr.add(Op.REJECT_IF, (tr.value(Op.LT, (plen, fixed), loc=loc),), loc=loc)
            tail = tr.value(Op.SUB, (plen, fixed), {"overflow": "wrap"}, loc=loc)
            too_long = tr.value(Op.GT, (tail, tr.const(spec.max * esz, plen.type, loc)), loc=loc)
            tr.add(Op.REJECT_IF, (too_long,), loc=loc)
            if esz > 1:
                part = tr.value(Op.MOD, (tail, tr.const(esz, plen.type, loc)), loc=loc)
                tr.add(Op.REJECT_IF, (tr.value(Op.NE, (part, tr.const(0, plen.type, loc)), loc=loc),), loc=loc)
            self._rest_count = tail if esz == 1 else tr.value(Op.DIV, (tail, tr.const(esz, plen.type, loc)), loc=loc)
        elif arrays:
            name, spec = arrays[0]
            count = self._get(spec.count, loc)
            tr.add(Op.REJECT_IF, (tr.value(Op.GT, (count, tr.const(spec.max, count.type, loc)), loc=loc),), loc=loc)
            c32 = tr.value(Op.CAST, (count,), {"overflow": "wrap"}, U32, loc)
            size = tr.value(Op.MUL, (c32, tr.const(spec.elem.nbytes, U32, loc)), {"overflow": "wrap"}, loc=loc)
            total = tr.value(Op.ADD, (size, tr.const(self._fixed, U32, loc)), {"overflow": "wrap"}, loc=loc)
            p32 = tr.value(Op.CAST, (plen,), {"overflow": "wrap"}, U32, loc)
            tr.add(Op.REJECT_IF, (tr.value(Op.NE, (p32, total), loc=loc),), loc=loc)
        else:
            cmp = Op.LT if has_rest else Op.NE
            tr.add(Op.REJECT_IF, (tr.value(cmp, (plen, tr.const(self._fixed, plen.type, loc)), loc=loc),), loc=loc)

    def _get(self, name: str, loc: SourceLoc | None = None) -> Value:
        if name in self._cache:
            return self._cache[name]
        if name not in self._layout:
            raise NiccError(f"record {self._schema.__name__} has no field '{name}' "
                            f"(fields: {', '.join(self._layout)})", loc or user_loc())
        with self._tr.top():          # a payload read inside a map or scan body is made once, before it
            v = self._read(name, loc)
        self._cache[name] = v
        return v

    def _read(self, name: str, loc: SourceLoc | None) -> Value:
        off, spec = self._layout[name]
        tr = self._tr
        if isinstance(spec, Scalar):
            v = tr.value(Op.FIELD, (), {"name": name, "offset": off, "endian": "be"}, spec, loc)
        elif isinstance(spec, ArraySpec):
            if spec.rest:
                count = self._rest_count
            elif spec.count:
                count = self._get(spec.count, loc)
            else:
                count = tr.const(spec.n, Scalar("u", 16), loc)
            t = Array(spec.elem, spec.bound, dynamic=spec.count is not None or spec.rest)
            v = traced_value(tr.add(Op.ARRAY, (count,), {"name": name, "offset": off}, t, loc))
        else:
            raise NiccError(f"field '{name}' is the unparsed rest of the payload; it is carried unchanged "
                            "and cannot be read", loc or user_loc())
        return v

    def __getattr__(self, name: str) -> Value:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._get(name)


class PipelineDef:
    """A pipeline function with its UDP port and schema; ``trace()`` gives its IR."""

    def __init__(self, fn, port: int, schema: type[Record] | None, name: str | None, loc: SourceLoc,
                 traffic=None):
        self.fn, self.port, self.loc, self.traffic = fn, port, loc, traffic
        self.name = name or fn.__name__
        if schema is None:
            try:
                hints = typing.get_type_hints(fn)
            except Exception as e:
                raise NiccError(f"cannot resolve the annotations of pipeline '{self.name}': "
                                f"{type(e).__name__}: {e}", loc) from e
            params = list(fn.__code__.co_varnames[:fn.__code__.co_argcount])
            schema = hints.get(params[0]) if params else None
        if not (isinstance(schema, type) and issubclass(schema, Record)):
            raise NiccError(f"pipeline '{self.name}' needs a record schema: annotate its parameter "
                            "(def f(rec: MyRecord)) or pass schema=", loc)
        self.schema = schema
        self._ir: Pipeline | None = None

    def trace(self) -> Pipeline:
        if self._ir is None:
            self._ir = trace(self)
        return self._ir

    def __repr__(self) -> str:
        return f"<nicc pipeline {self.name} on UDP port {self.port}>"

    def _dot(self) -> str:
        from ..compiler.graph import to_dot
        from ..compiler.passes import run_passes
        return to_dot(run_passes(trace(self)))

    def _repr_mimebundle_(self, include=None, exclude=None):
        """Jupyter: the traced pipeline's data-flow graph after the passes (a mistake: its message)."""
        from ..compiler.graph import mimebundle
        try:
            return mimebundle(self._dot())
        except NiccError as e:
            import html
            return {"text/html": f"<pre>{html.escape(e.format())}</pre>", "text/plain": e.format()}

    def _repr_svg_(self) -> str | None:
        from ..compiler.graph import svg
        return svg(self._dot())

    def _repr_html_(self) -> str:
        from ..compiler.graph import html
        return html(self._dot())


def trace(pdef: PipelineDef) -> Pipeline:
    p = Pipeline(pdef.name, pdef.port, Block(), loc=pdef.loc, traffic=pdef.traffic)
    with Tracer(p) as tr:
        rec = RecordView(tr, pdef.schema, pdef.loc)
        rec._check_length()
        with user_code(f"tracing pipeline '{pdef.name}'"):
            result = pdef.fn(rec)
        if result is None:
            result = Verdict("pass", loc=pdef.loc)
        if not isinstance(result, Verdict):
            raise NiccError(f"pipeline '{pdef.name}' must return nd.to_host(...), nd.transmit(...), "
                            f"nd.multicast(...), nd.drop() or None, got {type(result).__name__}", pdef.loc)
        emits = [n for n in p.body if n.op is Op.EMIT]
        if len(emits) > 1:
            raise NiccError("the payload is emitted more than once", emits[1].loc)
        tr.add(Op.VERDICT, (), {"verdict": result.kind, "group": result.group}, loc=result.loc)
    verify(p)
    return p


def pipeline(port: int, schema: type[Record] | None = None, name: str | None = None, traffic=None):
    """Declare a pipeline for UDP packets to ``port`` (``traffic``: an optional model of its valid traffic,
    ``traffic(rng, count) -> [payload]``, that generated captures mix with broken frames):

        @nd.pipeline(port=9003)
        def dedup(rec: Msg):
            ...
    """
    loc = user_loc()
    if isinstance(port, bool) or not isinstance(port, int) or not (1 <= port <= 65535):
        raise NiccError(f"UDP port must be 1..65535, got {port!r}", loc)

    def deco(fn) -> PipelineDef:
        return PipelineDef(fn, port, schema, name, _def_loc(fn), traffic)
    return deco


def _def_loc(fn) -> SourceLoc:
    """Location of the ``def`` line (co_firstlineno is the first decorator's line)."""
    code = fn.__code__
    line = code.co_firstlineno
    for k in range(line, line + 20):
        text = linecache.getline(code.co_filename, k).lstrip()
        if text.startswith(("def ", "async def ")):
            return SourceLoc(code.co_filename, k)
    return SourceLoc(code.co_filename, line)


def load_all(path: str) -> dict[str, PipelineDef]:
    """Run a pipeline file and return every pipeline it defines, by name, in definition order."""
    if not os.path.exists(path):
        raise FileNotFoundError(path)
    with user_code("loading the pipeline file", os.path.abspath(path)):
        ns = runpy.run_path(path, run_name="__nicc_pipeline__")
    return {v.name: v for v in ns.values() if isinstance(v, PipelineDef)}


def load(path: str, name: str | None = None) -> PipelineDef:
    """Run a pipeline file and return its pipeline (``name`` picks one if it defines several)."""
    found = load_all(path)
    if not found:
        raise NiccError("no @nd.pipeline function in this file", SourceLoc(os.path.abspath(path), 1))
    if name is not None:
        if name not in found:
            raise NiccError(f"no pipeline named '{name}' (found: {', '.join(found)})", SourceLoc(path, 1))
        return found[name]
    if len(found) > 1:
        raise NiccError(f"several pipelines ({', '.join(found)}): choose one with FILE:NAME", SourceLoc(path, 1))
    return next(iter(found.values()))

"""The host part of a pipeline (``nd.host_if``): frames a NIC passed up with the ``host`` outcome are
finished here, with the pipeline's host function, exactly as the reference interpreter finishes them.

A NIC target cannot run a host function (E5's: the real HF ``tokenizers``); its program passes such a
frame unchanged and counts it as ``host`` (``NICC_HOST``, :mod:`nicc.compiler.contract`). The runtime
then calls the function on the frame's UDP payload and rewrites the frame with what it returns
(:func:`nicc.compiler.framing.rewrite`: lengths, IPv4 checksum, UDP checksum 0), so ``nicc run`` gives
the same bytes on every target.

    results = target.run(ir, frames, art)          # the NIC's outcomes; host frames still unchanged
    results = finish(ir, frames, results)           # host frames finished on the host

Frames also reach the host part unchanged when a target runs part of a pipeline only for some
packets (bmv2's growth guard, a scan cut at the switch; docs/partition.md): nothing was computed
for them on the NIC. A stateless pipeline's host part is then the pipeline's own reference
semantics from its initial state, which also covers ``host_if``; a stateful pipeline reaches the
host part only through ``host_if`` (the partition refuses other cuts of it), and its host
function makes the payload.

A pipeline has at most one host function on a NIC target (the outcome does not say which).
"""
from __future__ import annotations

from ..compiler import framing
from ..compiler.contract import Result
from ..compiler.errors import InternalError
from ..compiler.ir import Op, Pipeline


def host_function(ir: Pipeline):
    """``(function, args)`` of the pipeline's host part, or None when it has none."""
    names = {n.attr("host") for n in ir.body.walk() if n.op is Op.HOST_IF}
    if not names:
        return None
    if len(names) > 1:
        raise InternalError(f"{ir.name}: {len(names)} host functions; a NIC target marks a frame 'host', not which")
    h = ir.hosts[names.pop()]
    return h.resolve(), h.args


def complete_host(ir: Pipeline, frames, results: list[Result]) -> list[Result]:
    """``results`` with every ``host`` frame rewritten by the host function (in place; also returned)."""
    todo = [i for i, r in enumerate(results) if r.reason == "host"]
    if not todo:
        return results
    got = host_function(ir)
    if got is None:
        raise InternalError(f"{ir.name}: the target passed a frame to the host part, and the pipeline has none")
    fn, args = got
    for i in todo:
        f = bytes(frames[i])
        plen = framing.udp_payload_len(f, ir.port)
        if plen is None:
            raise InternalError(f"{ir.name}: frame {i} went to the host part but is not the pipeline's")
        out = fn(f[framing.PAYLOAD_OFFSET:framing.PAYLOAD_OFFSET + plen], *args)
        results[i] = Result("pass", "host", [framing.rewrite(f, out)])
    return results


def host_part_results(ir: Pipeline, frames: list[bytes], timestamps=None) -> list[Result]:
    """What the host part makes of ``frames``, which a NIC handed to it unchanged (see the module)."""
    if not ir.stateful:
        from ..compiler.interp import Reference
        return Reference(ir).run(list(frames), timestamps)
    return complete_host(ir, frames, [Result("pass", "host", [bytes(f)]) for f in frames])


def finish(ir: Pipeline, frames, results: list[Result], timestamps=None) -> list[Result]:
    """``results`` with every frame the NIC handed to the host part (outcome ``host``, unchanged)
    finished there; a new list."""
    todo = [i for i, r in enumerate(results) if r.reason == "host" and r.frames == [bytes(frames[i])]]
    out = list(results)
    if todo:
        ts = None if timestamps is None else [timestamps[i] for i in todo]
        for i, r in zip(todo, host_part_results(ir, [frames[i] for i in todo], ts)):
            out[i] = r
    return out

"""The host part of a pipeline (``nd.host_if``): frames a NIC passed up with the ``host`` outcome are
finished here, with the pipeline's host function, exactly as the reference interpreter finishes them.

A NIC target cannot run a host function (E5's: the real HF ``tokenizers``); its program passes such a
frame unchanged and counts it as ``host`` (``NICC_HOST``, :mod:`nicc.compiler.contract`). The runtime
then calls the function on the frame's UDP payload and rewrites the frame with what it returns
(:func:`nicc.compiler.framing.rewrite`: lengths, IPv4 checksum, UDP checksum 0), so ``nicc run`` gives
the same bytes on every target.

    results = target.run(ir, frames, art)          # the NIC's outcomes; host frames still unchanged
    results = complete_host(ir, frames, results)    # host frames rewritten by the host function

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

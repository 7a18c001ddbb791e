"""What simple_switch cannot do, refused at compile time at the user's line.

The packet growth limit (512 bytes) is not here: :func:`~.layout.partition_host_nic`
turns it into a host/NIC split where it can. The rules here have no split:

- a multicast group port must be a v1model port (9 bits) that is neither one of the
  host-facing verdict ports (64-67) nor bmv2's drop port (511);
- at most :data:`MAX_GROUPS` groups (``--max-mc-groups``, simple_switch_grpc's default).

(Register cells are at most 64 bits wide because nicc's types are, which is what
bmv2's Thrift ``register_write`` can load.)
"""
from __future__ import annotations

from ...compiler.errors import NiccError
from ...compiler.ir import Pipeline

PORT_BITS = 9
DROP_PORT = 511
MAX_GROUPS = 4096


def check_switch_limits(p: Pipeline) -> None:
    from . import HOST_PART_PORT, HOST_PORT, MALFORMED_PORT, UNSELECTED_PORT
    reserved = {HOST_PORT: "the host port", HOST_PART_PORT: "the host-part port", MALFORMED_PORT: "the malformed "
                "port", UNSELECTED_PORT: "the unselected port", DROP_PORT: "bmv2's drop port"}
    if len(p.groups) > MAX_GROUPS:
        g = sorted(p.groups.values(), key=lambda g: g.name)[MAX_GROUPS]
        raise NiccError(f"bmv2 cannot compile group '{g.name}': simple_switch holds at most {MAX_GROUPS} multicast "
                        "groups", g.loc)
    for g in p.groups.values():
        for port in g.ports:
            if not 0 <= port < 1 << PORT_BITS:
                raise NiccError(f"bmv2 cannot compile group '{g.name}': port {port} is not a v1model port "
                                f"(0..{(1 << PORT_BITS) - 1})", g.loc)
            if port in reserved:
                raise NiccError(f"bmv2 cannot compile group '{g.name}': port {port} is {reserved[port]} of the "
                                f"generated program; use another port", g.loc)

"""The P4 backend: P4_16 for v1model (bmv2 ``simple_switch``), its P4Info and run-time state.

:func:`render_program` lowers a pipeline with :class:`P4Renderer` (a Walker with
one rule per op kind, :data:`P4_RULES`; :data:`REFUSED` lists the kinds refused
with an error at the user's line) into jinja2 templates. The host/NIC split
pass :func:`partition_host_nic` keeps each packet within simple_switch's
512-byte growth limit.

Verdicts map to ports in this one table (also in the generated program):

    verdict                          bmv2 port                         leaves as
    -------------------------------  --------------------------------  ------------------------------
    pass (selected)                  HOST_PORT 64                      rewritten if the pipeline emits
    pass (malformed)                 MALFORMED_PORT 66                 unchanged
    pass (not selected)              UNSELECTED_PORT 67                unchanged
    host part (host/NIC split)       HOST_PART_PORT 65                 unchanged; the runtime completes it
    transmit                         the ingress port                  rewritten if the pipeline emits
    drop                             mark_to_drop (port 511)           -
    multicast                        mcast_grp = group id (1, 2, ...   one copy per group port
                                     in group-name order)

Ports 64-67 are all host-facing (the CPU port of a deployment); they are kept
apart so the runtime can tell the verdicts apart. Group ports must avoid them
(:mod:`.limits` refuses what the switch cannot do). Every verdict is counted in
the ``nicc_verdicts`` counter (slots in :data:`.rules.SLOTS`, then one per group).

    prog = render_program(ir)
    prog.text                        # the P4 source
    build_p4info(prog)               # p4.config.v1.P4Info
    runtime_state(ir, prog)          # registers, table entries, multicast groups (JSON-able)
"""
HOST_PORT = 64
HOST_PART_PORT = 65
MALFORMED_PORT = 66
UNSELECTED_PORT = 67

from .layout import GROWTH_LIMIT, Partition, partition_host_nic, payload_layout  # noqa: E402,F401
from .render import P4_RULES, REFUSED, P4Program, P4Renderer, render_floor, render_program  # noqa: E402,F401
from .p4info import build_p4info, p4info_text, runtime_state, cli_commands  # noqa: E402,F401

"""``nd.tree``: a dissemination tree declared in a pipeline file, and the roles run on it.

    class Quote(nd.Record):
        msg_id = nd.u64
        send_ns = nd.u64
        deadline_ns = nd.u64
        body = nd.rest

    market = nd.tree(message=Quote, receivers=1000, fanout=10, hedge=2,
                     release=nd.release(hold_us=25), repair=nd.repair(history=1024))

    @market.receiver                     # the role this pipeline plays on every receiver
    @nd.pipeline(port=market.port)
    def receive(msg: Quote):
        ...

The declaration is data: ``market.topology()`` builds the tree (sender, proxies,
receivers, per-child ports and addresses, parents for repair; see
``nicc.compiler.topology``), ``nicc sim FILE`` simulates it, and each role's pipeline
compiles like any other. Roles: ``sender``, ``proxy``, ``receiver``.
"""
from __future__ import annotations

import os
import runpy

from ..compiler.dissem import ReleasePolicy, RepairPolicy
from ..compiler.errors import NiccError, SourceLoc, user_loc
from ..compiler.topology import ROLES, Topology, TreeSpec, build_topology, unicast_topology
from .pipeline import PipelineDef
from .schema import Record


class Tree:
    """A declared dissemination tree: its shape (``spec``), policies, message record and role pipelines."""

    def __init__(self, spec: TreeSpec, release: ReleasePolicy, repair: RepairPolicy,
                 message: type[Record] | None, loc: SourceLoc):
        self.spec, self.release, self.repair, self.message, self.loc = spec, release, repair, message, loc
        self.roles: dict[str, PipelineDef] = {}

    @property
    def port(self) -> int:
        return self.spec.port

    def topology(self, **overrides) -> Topology:
        """Build the tree; ``receivers=``, ``hedge=``, ``fanout=``, ``depth=`` override the declaration."""
        return build_topology(self.spec.with_(**overrides))

    def unicast(self, **overrides) -> Topology:
        """The direct-unicast baseline with the same receivers."""
        return unicast_topology(self.spec.with_(**overrides))

    def node_pipeline(self, topo: Topology, node: int, host: tuple[int, int] | None = None,
                      state: dict | None = None):
        """The IR node ``node`` of ``topo`` runs: its role's pipeline with every sized multicast group bound
        to the node's copies (``topo.copies(node, host=host)``) and state arrays starting at ``state``."""
        from ..compiler.groups import bind_groups
        role = topo.nodes[node].role
        if role not in self.roles:
            raise NiccError(f"the tree has no pipeline for role '{role}' (roles: {', '.join(self.roles)})", self.loc)
        ir = self.roles[role].trace()
        members, src = topo.copies(node, host=host)
        return bind_groups(ir, {g.name: (members, src) for g in ir.groups.values() if g.sized},
                           state={k: v for k, v in (state or {}).items() if k in ir.states})

    def role(self, name: str):
        """Decorator: the pipeline below runs on every node of role ``name``."""
        loc = user_loc()
        if name not in ROLES:
            raise NiccError(f"unknown role {name!r} (roles: {', '.join(ROLES)})", loc)

        def deco(pdef):
            if not isinstance(pdef, PipelineDef):
                raise NiccError(f"@tree.{name} goes above @nd.pipeline(...): it takes a pipeline", loc)
            if name in self.roles:
                raise NiccError(f"role {name!r} already has pipeline '{self.roles[name].name}'", loc)
            if pdef.port != self.spec.port:
                raise NiccError(f"pipeline '{pdef.name}' listens on UDP port {pdef.port}, but the tree's "
                                f"traffic uses port {self.spec.port}", pdef.loc)
            if self.message is not None and pdef.schema is not self.message:
                raise NiccError(f"pipeline '{pdef.name}' reads {pdef.schema.__name__}, but the tree carries "
                                f"{self.message.__name__}", pdef.loc)
            self.roles[name] = pdef
            return pdef
        return deco

    @property
    def sender(self):
        return self.role("sender")

    @property
    def proxy(self):
        return self.role("proxy")

    @property
    def receiver(self):
        return self.role("receiver")

    def __repr__(self) -> str:
        s = self.spec
        return (f"<nicc tree: {s.receivers} receivers, fanout {s.fanout}, depth {s.depth or 'auto'}, "
                f"hedge {s.hedge}, roles {sorted(self.roles) or 'none yet'}>")


def tree(receivers: int, fanout: int = 10, depth: int | None = None, hedge: int = 0, *, port: int = 9100,
         message: type[Record] | None = None, release: ReleasePolicy | None = None,
         repair: RepairPolicy | None = None) -> Tree:
    """Declare a dissemination tree: N receivers, fan-out F, depth D (None: round(log_F N)), sibling hedging H."""
    loc = user_loc()
    if message is not None and not (isinstance(message, type) and issubclass(message, Record)):
        raise NiccError(f"message must be an nd.Record class, got {message!r}", loc)
    for name, v, cls in (("release", release, ReleasePolicy), ("repair", repair, RepairPolicy)):
        if v is not None and not isinstance(v, cls):
            raise NiccError(f"{name}= takes nd.{name}(...), got {v!r}", loc)
    spec = TreeSpec(receivers=receivers, fanout=fanout, depth=depth, hedge=hedge, port=port, loc=loc)
    return Tree(spec, release or ReleasePolicy(loc=loc), repair or RepairPolicy(loc=loc), message, loc)


def release(hold_us: float = 25.0, window_ms: float = 10.0, report_ms: float = 15.0, estimator: str = "oml",
            quantile: float | None = None, history_windows: int = 10) -> ReleasePolicy:
    """Hold-and-release: deadline = send time + global OWD (measured, aggregated up the tree) + hold_us."""
    return ReleasePolicy(hold_us, window_ms, report_ms, estimator, quantile, history_windows, loc=user_loc())


def repair(enabled: bool = True, history: int = 1024, reorder_us: float = 100.0,
           timeout_us: float = 500.0) -> RepairPolicy:
    """Gap detection by sequence number and repair from a parent's last ``history`` messages."""
    return RepairPolicy(enabled, history, reorder_us, timeout_us, loc=user_loc())


def load_tree(path: str) -> Tree:
    """Run a pipeline file and return the tree it declares (exactly one)."""
    if not os.path.exists(path):
        raise FileNotFoundError(path)
    ns = runpy.run_path(path, run_name="__nicc_pipeline__")
    found = [v for v in ns.values() if isinstance(v, Tree)]
    if not found:
        raise NiccError("no nd.tree(...) declared in this file", SourceLoc(os.path.abspath(path), 1))
    if len(found) > 1:
        raise NiccError(f"{len(found)} trees declared in this file; declare one", found[1].loc)
    return found[0]

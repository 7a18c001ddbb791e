"""One walker for every consumer of the IR (torch.fx's Interpreter).

A walker visits nodes in program order and dispatches on the op kind through a
rule table ``{Op: rule(walker, node, *arg_values)}``. The reference
interpreter (values are numpy arrays), the type checker (values are types) and
the backends' renderers (values are C/P4 expressions) are all walkers.

    >>> class CountOps(Walker):
    ...     rules = {op: (lambda w, n, *a: w.seen.append(n.op)) for op in Op}
    ...     def __init__(self, p): super().__init__(p); self.seen = []
"""
from __future__ import annotations

from typing import Any, Callable

from .errors import InternalError
from .ir import Block, Node, Op, Pipeline

Rule = Callable[..., Any]


class Walker:
    rules: dict[Op, Rule] = {}

    def __init__(self, pipeline: Pipeline):
        self.pipeline = pipeline
        self.env: dict[Node, Any] = {}
        self.map_inputs: list[tuple[Node, list[Any]]] = []   # stack of (map node, input values)

    def run_block(self, block: Block) -> None:
        for n in block.nodes:
            self.env[n] = self.run_node(n)

    def run_node(self, n: Node) -> Any:
        rule = self.rules.get(n.op)
        if rule is None:
            raise InternalError(f"{type(self).__name__} has no rule for op '{n.op.value}'")
        return rule(self, n, *[self.env[a] for a in n.args])

    def run(self) -> "Walker":
        self.run_block(self.pipeline.body)
        return self

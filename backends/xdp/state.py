"""Per-flow state on XDP: a BPF array map per state array, atomic updates.

Reads and writes look the slot up (``bpf_map_lookup_elem``, inlined by the verifier for array
maps); ``state_update_if`` compares and stores as one atomic step, a compare-and-exchange loop
(``-mcpu=v3``) that retries while another CPU changed the slot meanwhile. A packet whose update
loses :data:`CAS_TRIES` times in a row passes unchanged, ``unhandled`` (for duplicate
suppression a duplicate delivered is harmless, a message lost is not). Slots are 32 or 64 bits
wide: eBPF atomics work on those widths only.

:class:`BpfMapState` is a mixin of :class:`~nicc.backends.xdp.renderer.XdpRenderer`.
"""
from __future__ import annotations

from ...compiler.types import Scalar

CAS_TRIES = 16          # compare-and-exchange attempts of state_update_if before the packet is unhandled


def slot_type(t: Scalar) -> str:
    """State slots are 32 or 64 bits wide: eBPF atomics work on those widths only."""
    return "__u64" if t.bits == 64 else "__u32"


class BpfMapState:
    """r_state_read, r_state_write, r_state_update_if for the XDP dialect."""

    cas_tries = CAS_TRIES

    def state_map(self, n) -> tuple[str, int, str]:
        s = self.pipeline.states[n.attr("state")]
        return f"nicc_state_{s.name}", s.size, slot_type(s.elem)

    def r_state_read(self, n, idx):
        m, size, slot = self.state_map(n)
        v = self.var(self.ty(n.type), "0", self.value_name_base(n))
        key, p = self.fresh("key"), self.fresh("p")
        self.emit_line(f"if ((__u64){idx} < {size}U) {{")
        self.emit_line(f"    __u32 {key} = (__u32){idx};")
        self.emit_line(f"    {slot} *{p} = bpf_map_lookup_elem(&{m}, &{key});")
        self.emit_line("")
        self.emit_line(f"    if ({p})")
        self.emit_line(f"        {v} = ({self.ty(n.type)})*{p};")
        self.emit_line("}")
        return v

    def r_state_write(self, n, idx, val, cond):
        m, size, slot = self.state_map(n)
        key, p = self.fresh("key"), self.fresh("p")
        self.emit_line(f"if ({cond} && (__u64){idx} < {size}U) {{")
        self.emit_line(f"    __u32 {key} = (__u32){idx};")
        self.emit_line(f"    {slot} *{p} = bpf_map_lookup_elem(&{m}, &{key});")
        self.emit_line("")
        self.emit_line(f"    if ({p})")
        self.emit_line(f"        *{p} = ({slot}){val};")
        self.emit_line("}")
        return None

    def r_state_update_if(self, n, idx, val):
        m, size, slot = self.state_map(n)
        et = self.ty(self.pipeline.states[n.attr("state")].elem)
        cmp = n.attr("cmp")
        hit = self.var("__u8", "0", "hit")
        key, p = self.fresh("key"), self.fresh("p")
        self.emit_line(f"if ((__u64){idx} < {size}U) {{")
        self.emit_line(f"    __u32 {key} = (__u32){idx};")
        self.emit_line(f"    {slot} *{p} = bpf_map_lookup_elem(&{m}, &{key});")
        self.emit_line("")
        self.emit_line(f"    if ({p}) {{")
        if cmp == "always":
            self.emit_line(f"        *{p} = ({slot}){val};")
            self.emit_line(f"        {hit} = 1;")
        else:
            sym = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}[cmp]
            raw, t, busy = self.fresh("raw"), self.fresh("t"), self.fresh("busy")
            # compare and store as one atomic step: retry while another CPU changed the slot meanwhile;
            # a packet that loses every time passes unchanged, unhandled (never dropped as stale)
            self.emit_line(f"        int {busy} = 1;")
            self.emit_line("")
            self.emit_line(f"        for (int {t} = 0; {t} < {self.cas_tries}; {t}++) {{")
            self.emit_line(f"            {slot} {raw} = *(volatile {slot} *){p};")
            self.emit_line("")
            self.emit_line(f"            if (!({val} {sym} ({et}){raw})) {{")
            self.emit_line(f"                {busy} = 0;")
            self.emit_line("                break;")
            self.emit_line("            }")
            self.emit_line(f"            if (__sync_val_compare_and_swap({p}, {raw}, ({slot}){val}) == {raw}) {{")
            self.emit_line(f"                {hit} = 1;")
            self.emit_line(f"                {busy} = 0;")
            self.emit_line("                break;")
            self.emit_line("            }")
            self.emit_line("        }")
            self.emit_line(f"        if ({busy})")
            self.emit_line(f"            {self.ret_code('unhandled')}")
        self.emit_line("    }")
        self.emit_line("}")
        return hit


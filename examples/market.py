"""Fair market-data dissemination (Jasper, arXiv 2402.09527) as one nicc file.

A sender's messages reach N receivers through a tree of proxies (fan-out 10, depth
round(log10 N)); with sibling hedging H every node gets H+1 copies over paths of equal
length and keeps the first. The root proxy stamps every message with a deadline = its
own time + the measured global one-way delay + a small hold; every receiver releases it
to its application at that deadline, so all receivers see it at the same time. Receivers detect
gaps by sequence number and repair them from a parent's short history, so the
application sees every message once and in order.

    nicc sim examples/market.py                        # tree vs direct unicast, H = 0, 1, 2
    nicc sim examples/market.py --receivers 5000 --hedge 2 --json
    nicc ir examples/market.py                         # the receiver's data plane

Roles. Each role is a pipeline on the tree's UDP port, registered with ``@market.ROLE``:

- receiver: duplicate suppression on the NIC (16384 slots indexed by ``msg_id & 16383``,
  accept when the stored id is lower: E3); the host runtime then holds each message until
  ``deadline_ns`` and reports one-way delays up the tree.
- proxy (to come with multicast and per-child header rewrite on the targets): the same
  duplicate suppression, then one copy per child of ``market.topology().children(node)``
  in port order, each rewritten to that child's address, plus a short history for
  repair; the root proxy also writes ``deadline_ns`` (``nd.release(stamp="root")``).
- sender (to come): stamps ``msg_id`` and ``send_ns``.
"""
import nicc.dsl as nd

SLOTS = 16384        # receiver duplicate-suppression slots (a power of two)

FLAG_HEARTBEAT = 1   # no payload: carries the latest msg_id so idle receivers still detect gaps
FLAG_REPAIR = 2      # a retransmission answering a repair request


class MarketMsg(nd.Record):
    """One market-data message (UDP payload, big-endian)."""
    msg_id = nd.u64        # sequence number of the feed, from 1: duplicate suppression and gap detection
    send_ns = nd.u64       # sender's clock when sent (synchronized clocks, ns)
    deadline_ns = nd.u64   # release time at every receiver: stamp time + global OWD + hold
    flags = nd.u8          # FLAG_HEARTBEAT, FLAG_REPAIR
    symbol = nd.u32
    price = nd.u64         # fixed point, 1e-8
    qty = nd.u32
    body = nd.rest         # any further bytes, carried unchanged


market = nd.tree(
    message=MarketMsg,
    receivers=1000,        # 1000 receivers: 111 proxies (1 + 10 + 100)
    fanout=10,
    depth=None,            # round(log10 N)
    hedge=2,               # each node also gets copies from its parent's next 2 siblings
    port=9100,
    release=nd.release(hold_us=25, window_ms=10, report_ms=15, estimator="oml"),
    repair=nd.repair(history=1024),
)

seen = nd.state("seen", nd.u64, size=SLOTS)


@market.receiver
@nd.pipeline(port=market.port)
def receive(msg: MarketMsg):
    fresh = seen.update_if(msg.msg_id & (SLOTS - 1), msg.msg_id, "gt")   # first copy of each msg_id wins
    nd.drop_if(~fresh)
    return nd.to_host()    # hold-and-release happens in the host runtime, at msg.deadline_ns

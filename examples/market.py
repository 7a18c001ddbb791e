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
    nicc emulate --receivers 32 --hedge 2 --messages 10000 --loss 0.01 --slow-relay 1 --json
    nicc ir examples/market.py:relay                   # one role's data plane
    nicc compile examples/market.py --target tc -o out/       # every role: out/sender, out/proxy, out/receiver

Roles. Each role is a pipeline on the tree's UDP port, registered with ``@market.ROLE``;
the same compiled pipeline runs on every node of its role, and each node loads its own
multicast members (``market.topology().copies(node)``) and control state at run time:

- sender: the application hands it messages with ``send_ns = 0``; it stamps ``msg_id``
  from its sequence, ``send_ns`` from the clock (and ``deadline_ns`` when the release
  policy stamps at the sender), and sends them to the root proxy (and to its own host,
  which keeps every message for repairs). Copies it already stamped pass.
- proxy: duplicate suppression (E3), then one copy per child in port order (own children,
  then the hedged siblings' children, then the proxy's own host for its repair history),
  each rewritten to that child's addresses. The root proxy writes ``deadline_ns`` = its
  clock + ``stamp_ns``, which the control plane keeps at the global OWD + hold (0 at
  every other proxy: they leave the payload alone).
- receiver: duplicate suppression (E3); the host then holds each message until
  ``deadline_ns``, measures one-way delays and reports them up the tree.

Heartbeats (``FLAG_HEARTBEAT``, carrying the latest ``msg_id``) let idle nodes detect a
gap at the end of a burst; they are suppressed by their send time, not their id.
"""
import struct

import nicc.dsl as nd

SLOTS = 16384        # duplicate-suppression slots (a power of two)
MAX_COPIES = 64      # copies a node may send per message: F (H+1) children + its own host
MAX_BODY = 64        # bytes of message body after the fixed fields

FLAG_HEARTBEAT = 1   # no new message: carries the latest msg_id so idle receivers still detect gaps
FLAG_REPAIR = 2      # a retransmission answering a repair request


class MarketMsg(nd.Record):
    """One market-data message (UDP payload, big-endian)."""
    msg_id = nd.u64        # sequence number of the feed, from 1: duplicate suppression and gap detection
    send_ns = nd.u64       # sender's clock when sent (synchronized clocks, ns); 0 until the sender stamps it
    deadline_ns = nd.u64   # release time at every receiver: stamp time + global OWD + hold
    flags = nd.u8          # FLAG_HEARTBEAT, FLAG_REPAIR
    symbol = nd.u32
    price = nd.u64         # fixed point, 1e-8
    qty = nd.u32
    body = nd.array(nd.u8, rest=True, max=MAX_BODY)   # any further bytes, carried unchanged


def feed(rng, count):
    """Test traffic for every role (``nicc test``): what a node sees. Fresh messages (``send_ns`` 0, as the
    application hands them to the sender, or stamped), their H+1 hedged copies and late duplicates, ids
    that collide in the duplicate-suppression slots, heartbeats (repeated, or older), repairs, and bodies
    of 0 to MAX_BODY + 1 bytes."""
    out, next_id, now = [], 1, 10**15
    for _ in range(count):
        now += int(rng.integers(1, 50_000))
        k = rng.random()
        if k < 0.12:                                     # a heartbeat, sometimes a repeat of an older one
            msg_id, send, flags = next_id - 1, now if rng.random() < 0.7 else now - 10**6, FLAG_HEARTBEAT
        else:
            if k < 0.55:
                msg_id, next_id = next_id, next_id + 1
            elif k < 0.75:
                msg_id = max(1, next_id - int(rng.integers(1, 4)))          # a hedged copy or a late one
            elif k < 0.85:
                msg_id = next_id + SLOTS * int(rng.integers(-1, 2))         # same slot, other id
            else:
                msg_id = int(rng.integers(0, 2**63)) * 2 + int(rng.integers(2))
            send = 0 if rng.random() < 0.3 else now - int(rng.integers(0, 10**5))
            flags = FLAG_REPAIR if rng.random() < 0.05 else 0
        msg_id = max(0, min(msg_id, 2**64 - 1))
        body = rng.integers(0, 256, int(rng.integers(0, MAX_BODY + 2)), dtype="u1").tobytes()
        out.append(struct.pack("!QQQBIQI", msg_id, send, send + 500_000 if send else 0, flags,
                               int(rng.integers(0, 2**32)), int(rng.integers(0, 2**63)), int(rng.integers(0, 2**32)))
                   + body)
    return out


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

seen = nd.state("seen", nd.u64, size=SLOTS)      # E3: the newest msg_id per slot
beat = nd.state("beat", nd.u64, size=1)          # send_ns of the newest heartbeat
seq = nd.state("seq", nd.u64, size=1)            # sender: the last msg_id stamped
stamp = nd.state("stamp_ns", nd.u64, size=1)     # control plane: global OWD + hold where this node stamps, else 0
last = nd.state("last_deadline", nd.u64, size=1)  # deadlines never go backwards


def copies():
    """The node's copies: at most MAX_COPIES members, each rewritten to its destination's addresses."""
    return nd.group("copies", max=MAX_COPIES, rewrite="mac ip udp", source="mac ip")


def heartbeat(msg):
    """True for a heartbeat; a heartbeat seen before (an older or equal send time) is dropped."""
    hb = (msg.flags & FLAG_HEARTBEAT) != 0
    newer = beat.update_if(0, nd.where(hb, msg.send_ns, 0), "gt")
    nd.drop_if(hb & ~newer)
    return hb


def fresh(msg):
    """E3: the first copy of each msg_id wins (16384 slots, accept when the stored id is lower)."""
    return seen.update_if(msg.msg_id & (SLOTS - 1), msg.msg_id, "gt")


def deadline(now):
    """now + stamp_ns, but never before the previous deadline."""
    d = now + stamp[0]
    prev = last[0]
    d = nd.where(d > prev, d, prev)
    last[0] = d
    return d


@market.sender
@nd.pipeline(port=market.port, traffic=feed)
def send(msg: MarketMsg):
    out = copies()
    nd.pass_if(msg.send_ns != 0)                 # a copy this sender stamped, on its way out
    hb = (msg.flags & FLAG_HEARTBEAT) != 0
    msg_id = seq[0] + (~hb).cast(nd.u64)       # a heartbeat repeats the latest id
    seq[0] = msg_id
    now = nd.timestamp()
    dl = nd.where(stamp[0] != 0, deadline(now), msg.deadline_ns)
    return nd.multicast(out, msg_id, now, dl, msg.flags, msg.symbol, msg.price, msg.qty, msg.body)


@market.proxy
@nd.pipeline(port=market.port, traffic=feed)
def relay(msg: MarketMsg):
    out = copies()
    nd.multicast_if(heartbeat(msg), out)          # a new heartbeat goes on as it is
    nd.drop_if(~fresh(msg))
    nd.multicast_if(stamp[0] == 0, out)           # not the stamping node: the payload as it came
    return nd.multicast(out, msg.msg_id, msg.send_ns, deadline(nd.timestamp()), msg.flags, msg.symbol,
                        msg.price, msg.qty, msg.body)


@market.receiver
@nd.pipeline(port=market.port, traffic=feed)
def receive(msg: MarketMsg):
    nd.pass_if(heartbeat(msg))
    nd.drop_if(~fresh(msg))
    return nd.to_host()    # hold-and-release happens in the host runtime, at msg.deadline_ns

"""E3: duplicate suppression at a receiver of hedged multicast.

Payload (UDP port 9003): msg_id u64, then any bytes. 16384 slots remember the
highest msg_id seen per slot (msg_id & 16383); a packet passes to the host only
if its msg_id is higher than its slot's, which it then becomes. The compare
and store is one atomic step, so it holds when several CPUs receive packets.
"""
import nicc.dsl as nd

SLOTS = 16384


class Msg(nd.Record):
    msg_id = nd.u64
    body = nd.rest


seen = nd.state("seen", nd.u64, size=SLOTS)


@nd.pipeline(port=9003)
def dedup(rec: Msg):
    fresh = seen.update_if(rec.msg_id & (SLOTS - 1), rec.msg_id, "gt")
    nd.drop_if(~fresh)
    return nd.to_host()

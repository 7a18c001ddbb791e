"""Pieces of nicc emulate that need no kernel: the delivery report, the agents' history and gap repair,
the wire formats."""

import numpy as np

from nicc.runtime.emulate import protocol as P
from nicc.runtime.emulate.agent import Gaps, History, Loop
from nicc.runtime.emulate.report import summarize


def log(ids, release, deadline, avail, arrival=None):
    a = lambda v: np.asarray(v, np.int64)          # noqa: E731
    return {"id": a(ids), "release": a(release), "deadline": a(deadline), "avail": a(avail),
            "arrival": a(arrival if arrival is not None else avail)}


def test_report_counts_losses_duplicates_order_and_release_error():
    logs = {
        1: log([1, 2, 3], [100_000, 200_050, 300_000], [100_000, 200_000, 300_000], [50_000, 150_000, 250_000]),
        2: log([1, 3, 2, 3], [101_000, 300_000, 400_000, 400_100], [100_000, 300_000, 200_000, 300_000],
               [50_000, 250_000, 399_000, 399_000]),
        3: log([1], [100_000], [100_000], [90_000]),
    }
    out = summarize(logs, 3)
    assert (out["receivers"], out["delivered"], out["lost"], out["duplicated"], out["out_of_order"]) == (3, 8, 2, 1, 1)
    # errors (ns): 0, 50, 0 | 1000, 0, 1000, 1100 | 0 -> us
    assert out["release_error_us"]["max"] == 1.1 and out["release_error_us"]["p50"] == 0.0
    assert out["late"] == 2                              # receiver 2's id 2 and second 3 came after their deadline
    # message 1 is the only one every receiver had in time: released between 100 and 101 us
    assert out["release_spread_us"]["max"] == 1.0


class FakeNode:
    def __init__(self):
        self.loop, self.port, self.stats, self.sent = Loop(), 9100, {}, []

    def count(self, k, n=1):
        self.stats[k] = self.stats.get(k, 0) + n

    def answer(self, ip, payload):
        self.sent.append((ip, payload))

    def sock(self, offset):
        return FakeSock(self)

    def send(self, sock, data, addr):
        sock.sendto(data, addr)


class FakeSock:
    def __init__(self, node):
        self.node = node

    def sendto(self, data, addr):
        self.node.sent.append((addr, data))


def test_history_answers_waits_and_refuses():
    node = FakeNode()
    h = History(node, 4)
    for m in range(1, 7):
        h.add(m, b"m%d" % m)
    assert h.request("10.0.0.9", [6, 5, 1, 2, 9]) == [1, 2]          # 1, 2 left the last 4; 9 is to come
    assert [p for _, p in node.sent] == [b"m6", b"m5"]
    h.add(9, b"m9")
    assert node.sent[-1] == ("10.0.0.9", b"m9")                      # a waiting request is answered on arrival
    assert not h.add(5, b"again")


def test_gaps_ask_parents_in_order_then_the_sender():
    node = FakeNode()
    g = Gaps(node, ["10.1.0.1", "10.1.0.2"], "10.0.0.1", {"reorder_us": 0, "timeout_us": 0, "enabled": True})
    for m in (1, 2, 5):
        g.got(m)
        g.saw(m, 0)
    targets = []
    for _ in range(4):
        node.sent.clear()
        g.tick()
        targets.append(sorted({addr[0] for addr, _ in node.sent}))
        assert sorted(P.parse_ids(node.sent[0][1])) == [3, 4]
    assert targets == [["10.1.0.1"], ["10.1.0.2"], ["10.0.0.1"], ["10.1.0.1"]]
    g.got(3)
    g.got(4)
    node.sent.clear()
    g.tick()
    assert node.sent == []
    g.saw(7, 0, had=False)                 # a heartbeat naming 7: 6 and 7 are missing (the last ones lost)
    g.tick()
    assert sorted(P.parse_ids(node.sent[0][1])) == [6, 7]
    g.got(8)
    g.saw(9, 0)                            # 9 in hand, 8 had: nothing new is missing
    node.sent.clear()
    g.got(6)
    g.got(7)
    g.tick()
    assert node.sent == []


def test_wire_formats_round_trip():
    ids = list(range(1, 400))
    back = [i for d in P.ids_datagrams(b"Q", ids) for i in P.parse_ids(d)]
    assert back == ids and all(len(d) <= 1 + 8 * P.MAX_IDS for d in P.ids_datagrams(b"Q", ids))
    pairs = [(i, -i * 7) for i in range(200)]
    assert [p for d in P.report_datagrams(pairs) for p in P.parse_report(d)] == pairs
    m = P.message(5, 6, 7, 0, 8, 9, 10, b"body")
    assert P.header(P.with_flag(m, P.FLAG_REPAIR)) == (5, 6, 7, P.FLAG_REPAIR, 8, 9, 10)

"""Wire formats of the emulated tree's host side (stdlib only: the agents import nothing heavier).

UDP ports on every node (the data port is the tree's):

    port        what arrives                                   from
    data        market messages its data plane passed up      the tree (receivers), repair answers
    data + 1    its own copy of every message it forwarded    its data plane (the last group member)
    data + 2    repair requests, and refusals                 children (requests), parents (refusals)
    data + 3    OWD reports                                    children

A market message is examples/market.py's ``MarketMsg``: ``!QQQBIQI`` (msg_id, send_ns,
deadline_ns, flags, symbol, price, qty) and a body. A repair request is ``b"Q"`` then
msg_ids (``!Q`` each); a refusal ``b"R"`` then the msg_ids the parent no longer keeps. A
report is ``b"O"`` then (msg_id, OWD ns) pairs (``!Qq``): per message, the largest one-way
delay below the sender (the element-wise maximum of what its children reported).
"""
from __future__ import annotations

import struct

MSG = struct.Struct("!QQQBIQI")
FIXED = MSG.size                 # 41
FLAG_HEARTBEAT, FLAG_REPAIR = 1, 2
ID = struct.Struct("!Q")
PAIR = struct.Struct("!Qq")
MAX_IDS = 160                    # ids per request datagram (1281 bytes)
MAX_PAIRS = 80                   # pairs per report datagram (1281 bytes)
HISTORY_PORT, REPAIR_PORT, REPORT_PORT = 1, 2, 3     # offsets from the data port


def message(msg_id: int, send_ns: int, deadline_ns: int, flags: int, symbol: int, price: int, qty: int,
            body: bytes = b"") -> bytes:
    return MSG.pack(msg_id, send_ns, deadline_ns, flags, symbol, price, qty) + body


def header(payload: bytes) -> tuple:
    """(msg_id, send_ns, deadline_ns, flags, symbol, price, qty)."""
    return MSG.unpack_from(payload)


def with_flag(payload: bytes, flag: int) -> bytes:
    return payload[:24] + bytes([payload[24] | flag]) + payload[25:]


def ids_datagrams(kind: bytes, ids: list[int]) -> list[bytes]:
    return [kind + b"".join(ID.pack(i) for i in ids[k:k + MAX_IDS]) for k in range(0, len(ids), MAX_IDS)]


def parse_ids(data: bytes) -> list[int]:
    return [ID.unpack_from(data, 1 + 8 * k)[0] for k in range((len(data) - 1) // 8)]


def report_datagrams(pairs: list[tuple[int, int]]) -> list[bytes]:
    return [b"O" + b"".join(PAIR.pack(m, o) for m, o in pairs[k:k + MAX_PAIRS])
            for k in range(0, len(pairs), MAX_PAIRS)]


def parse_report(data: bytes) -> list[tuple[int, int]]:
    return [PAIR.unpack_from(data, 1 + 16 * k) for k in range((len(data) - 1) // 16)]

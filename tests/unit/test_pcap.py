"""Captures: pcap/pcapng reading, link types, nanosecond timestamps and snaplen-cut records, checked
against libpcap itself (through ctypes: the reader tcpdump and DPDK's pcap vdev use), and `nicc run`'s
handling of them end to end."""
import ctypes
import ctypes.util
import json
import os
import struct

import pytest

from nicc.cli import main
from nicc.compiler.interp import Reference
from nicc.compiler.passes import run_passes
from nicc.dsl import load
from nicc.runtime import pcap
from nicc.runtime.packets import generate

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EX = lambda n: os.path.join(ROOT, "examples", f"{n}.py")
PCAP_TSTAMP_PRECISION_NANO = 1


# -- libpcap, the reference reader ------------------------------------------------------------------
class _Hdr(ctypes.Structure):
    _fields_ = [("sec", ctypes.c_long), ("frac", ctypes.c_long), ("caplen", ctypes.c_uint32), ("len", ctypes.c_uint32)]


def libpcap_read(path):
    """(link type, [(data, ts_ns, wirelen)]) as libpcap reads the file, with nanosecond timestamps."""
    lib = ctypes.CDLL(ctypes.util.find_library("pcap") or "libpcap.so.0.8")
    lib.pcap_open_offline_with_tstamp_precision.restype = ctypes.c_void_p
    lib.pcap_open_offline_with_tstamp_precision.argtypes = [ctypes.c_char_p, ctypes.c_uint, ctypes.c_char_p]
    lib.pcap_next_ex.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    lib.pcap_datalink.argtypes = lib.pcap_close.argtypes = [ctypes.c_void_p]
    err = ctypes.create_string_buffer(512)
    h = lib.pcap_open_offline_with_tstamp_precision(str(path).encode(), PCAP_TSTAMP_PRECISION_NANO, err)
    if not h:
        raise ValueError(err.value.decode())
    hdr, data, out = ctypes.POINTER(_Hdr)(), ctypes.POINTER(ctypes.c_ubyte)(), []
    try:
        while (rc := lib.pcap_next_ex(h, ctypes.byref(hdr), ctypes.byref(data))) == 1:
            h0 = hdr.contents
            out.append((ctypes.string_at(data, h0.caplen), h0.sec * 1_000_000_000 + h0.frac, h0.len))
        if rc != -2:
            raise ValueError(f"libpcap: error {rc}")
        dlt = lib.pcap_datalink(h)
        return {12: 101}.get(dlt, dlt), out       # libpcap gives LINKTYPE_RAW (101) as Linux's DLT_RAW (12)
    finally:
        lib.pcap_close(h)


def ours(path):
    cap = pcap.read_capture(str(path))
    return cap.linktype, [(p.data, p.ts_ns, p.wirelen or len(p.data)) for p in cap.packets]


# -- capture files built byte by byte, as the formats define them ----------------------------------
def classic(records, linktype=1, nano=False, endian="<", snaplen=65535):
    """records: (data, sec, frac, wirelen or None)."""
    out = struct.pack(endian + "IHHiIII", 0xA1B23C4D if nano else 0xA1B2C3D4, 2, 4, 0, 0, snaplen, linktype)
    for data, sec, frac, wirelen in records:
        out += struct.pack(endian + "IIII", sec, frac, len(data), wirelen or len(data)) + data
    return out


def _block(btype, body, e="<"):
    body += b"\0" * (-len(body) % 4)
    return struct.pack(e + "II", btype, 12 + len(body)) + body + struct.pack(e + "I", 12 + len(body))


def pcapng(interfaces, packets, e="<"):
    """interfaces: (linktype, tsresol byte or None); packets: (ifid, ts units, data, wirelen or None)."""
    out = _block(0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1), e)
    for lt, res in interfaces:
        opts = b"" if res is None else struct.pack(e + "HH", 9, 1) + bytes([res, 0, 0, 0]) + struct.pack(e + "HH", 0, 0)
        out += _block(1, struct.pack(e + "HHI", lt, 0, 0) + opts, e)
    for ifid, ts, data, wirelen in packets:
        out += _block(6, struct.pack(e + "IIIII", ifid, ts >> 32, ts & 0xFFFFFFFF, len(data), wirelen or len(data))
                      + data, e)
    return out


FRAMES = [bytes(range(i, i + 60)) for i in range(5)] + [b"", b"\x01" * 9000]


@pytest.mark.parametrize("endian", "<>")
@pytest.mark.parametrize("nano", [False, True])
def test_classic_pcap_matches_libpcap(tmp_path, endian, nano):
    recs = [(f, 1_700_000_000 + i, (999_999_999 if nano else 999_999) - i, None) for i, f in enumerate(FRAMES)]
    recs[2] = (FRAMES[2][:30], 5, 7, 60)                     # a snaplen-cut record
    path = tmp_path / "a.pcap"
    path.write_bytes(classic(recs, nano=nano, endian=endian, linktype=101))
    assert ours(path) == libpcap_read(path)
    cap = pcap.read_capture(str(path))
    assert cap.nano == nano and cap.linktype == 101 and cap.cut == [2] and cap.format == "pcap"


@pytest.mark.parametrize("endian", "<>")
@pytest.mark.parametrize("tsresol", [None, 6, 9, 3, 0x80 | 20])
def test_pcapng_matches_libpcap(tmp_path, endian, tsresol):
    pk = [(0, 1_700_000_000_123_456_789 // 7 + 1000 * i, f, None) for i, f in enumerate(FRAMES)]
    pk.append((0, 12345, FRAMES[0][:20], 60))
    path = tmp_path / "a.pcapng"
    path.write_bytes(pcapng([(1, tsresol)], pk, endian))
    assert ours(path) == libpcap_read(path)
    cap = pcap.read_capture(str(path))
    assert cap.format == "pcapng" and cap.nano == (tsresol in (9, 0x80 | 20)) and cap.cut == [len(FRAMES)]


def test_written_captures_match_libpcap(tmp_path):
    pk = [pcap.Packet(f, 1_700_000_000_000_000_000 + 123_456_789 * i, 100 if i == 1 else None)
          for i, f in enumerate(FRAMES)]
    for nano in (False, True):
        path = tmp_path / f"w{nano}.pcap"
        pcap.write_pcap(str(path), pk, linktype=228, nano=nano)
        lt, recs = libpcap_read(path)
        assert lt == 228
        assert [r[0] for r in recs] == FRAMES
        assert [r[1] for r in recs] == [p.ts_ns if nano else p.ts_ns // 1000 * 1000 for p in pk]
        assert [r[2] for r in recs] == [100 if i == 1 else len(f) for i, f in enumerate(FRAMES)]
        assert open(path, "rb").read(4) == (b"\x4d\x3c\xb2\xa1" if nano else b"\xd4\xc3\xb2\xa1")


@pytest.mark.parametrize("damage", ["record cut", "header cut", "file header cut", "bad magic", "ng block cut",
                                    "ng bad interface", "ng mixed link types", "ng bad trailer"])
def test_damaged_captures_are_refused(tmp_path, damage):
    good = classic([(f, 1, 2, None) for f in FRAMES[:3]])
    ng = pcapng([(1, 9)], [(0, 5, f, None) for f in FRAMES[:3]])
    data = {"record cut": good[:-5], "header cut": good[:-60 - 8], "file header cut": good[:20],
            "bad magic": b"\x00\x01\x02\x03" + good[4:], "ng block cut": ng[:-10],
            "ng bad interface": pcapng([(1, 9)], [(3, 5, FRAMES[0], None)]),
            "ng mixed link types": pcapng([(1, 9), (101, 9)], [(0, 5, FRAMES[0], None), (1, 6, FRAMES[1], None)]),
            "ng bad trailer": ng[:-4] + b"\xff\xff\xff\xff"}[damage]
    path = tmp_path / "bad"
    path.write_bytes(data)
    with pytest.raises(pcap.PcapError):
        pcap.read_capture(str(path))
    with pytest.raises(ValueError):                 # libpcap refuses them too
        libpcap_read(path)


def test_link_adapters_round_trip():
    ip = bytes.fromhex("4500001c0000000040110000c0a80001c0a80002") + b"\x12\x34\x23\x29\x00\x08\x00\x00"
    raw = pcap.link_adapter(101)
    eth = raw.to_ethernet(ip)
    assert eth[12:14] == b"\x08\x00" and eth[14:] == ip and raw.from_ethernet(eth, ip) == ip
    assert raw.to_ethernet(b"\x60" + ip[1:])[12:14] == b"\x86\xdd"
    assert raw.to_ethernet(b"")[12:14] == b"\x00\x00"                 # not IP: stays unselected
    for lt, hdr in ((0, struct.pack("<I", 2)), (0, struct.pack(">I", 2)), (108, struct.pack(">I", 2))):
        a = pcap.link_adapter(lt)
        e = a.to_ethernet(hdr + ip)
        assert e[12:14] == b"\x08\x00" and e[14:] == ip and a.from_ethernet(e, hdr + ip) == hdr + ip
    assert pcap.link_adapter(1).to_ethernet(ip) == ip
    for lt, name in ((113, "LINUX_SLL"), (105, "IEEE802_11"), (4242, "unknown")):
        with pytest.raises(pcap.PcapError, match=name):
            pcap.link_adapter(lt)


# -- nicc run ---------------------------------------------------------------------------------------
def _frames(name, n=300, seed=3):
    ir = run_passes(load(EX(name)).trace())
    return ir, generate(ir, n, seed)


def test_run_keeps_nanoseconds_and_pcapng(tmp_path, capsys):
    ir, frames = _frames("criteo")
    ts = [1_700_000_000_000_000_001 + 7 * i for i in range(len(frames))]
    a, b = tmp_path / "a.pcapng", tmp_path / "b.pcap"
    a.write_bytes(pcapng([(1, 9)], [(0, t, f, None) for t, f in zip(ts, frames)]))
    assert main(["run", EX("criteo"), "--target", "interp", "--pcap-in", str(a), "--pcap-out", str(b)]) == 0
    ref = Reference(ir).run(frames)
    lt, recs = libpcap_read(b)
    assert lt == 1 and open(b, "rb").read(4) == b"\x4d\x3c\xb2\xa1"           # a nanosecond pcap
    assert recs == [(f, t, len(f)) for t, r in zip(ts, ref) for f in r.frames]


def test_run_raw_ip_capture_stays_raw_ip(tmp_path, capsys):
    ir, frames = _frames("criteo")
    ip = [f[14:] for f in frames if f[12:14] == b"\x08\x00"]
    a, b = tmp_path / "a.pcap", tmp_path / "b.pcap"
    a.write_bytes(classic([(d, i, 0, None) for i, d in enumerate(ip)], linktype=101))
    assert main(["run", EX("criteo"), "--target", "interp", "--pcap-in", str(a), "--pcap-out", str(b), "--json"]) == 0
    out = capsys.readouterr().out
    assert "RAW (raw IP) [101] run as Ethernet" in out
    ref = Reference(ir).run([bytes(12) + b"\x08\x00" + d for d in ip])
    assert sum(r.reason == "selected" for r in ref) > 20
    lt, recs = libpcap_read(b)
    assert lt == 101                                                           # never relabelled as Ethernet
    assert [r[0] for r in recs] == [f[14:] for r in ref for f in r.frames]


def test_run_refuses_link_types_it_cannot_run(tmp_path, capsys):
    a, b = tmp_path / "a.pcap", tmp_path / "b.pcap"
    a.write_bytes(classic([(b"\x00" * 60, 1, 0, None)], linktype=113))
    assert main(["run", EX("dedup"), "--target", "interp", "--pcap-in", str(a), "--pcap-out", str(b)]) == 2
    err = capsys.readouterr().err
    assert "link type LINUX_SLL (Linux cooked v1) [113] is not supported" in err and "Traceback" not in err


def test_run_reports_snaplen_cut_records(tmp_path, capsys):
    ir, frames = _frames("dedup", 200)
    sel = [i for i, r in enumerate(Reference(ir).run(frames)) if r.reason == "selected"][:3]
    recs = [(f[:40], i, 0, len(f)) if i in sel else (f, i, 0, None) for i, f in enumerate(frames)]
    a, b = tmp_path / "a.pcap", tmp_path / "b.pcap"
    a.write_bytes(classic(recs))
    assert main(["run", EX("dedup"), "--target", "interp", "--pcap-in", str(a), "--pcap-out", str(b), "--json"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert json.loads(out[-1])["snaplen_cut"] == 3
    assert f"3 of {len(frames)} records cut by the capture's snaplen" in out[1]
    assert ", ".join(map(str, sel)) in out[1]
    got = {r[0]: r[2] for r in libpcap_read(b)[1]}
    for i in sel:                                   # processed as captured: too short to select, passed as is
        assert got[frames[i][:40]] == len(frames[i])


@pytest.mark.parametrize("where", ["missing/dir/b.pcap", "."])
def test_run_output_path_errors_exit_2(tmp_path, capsys, where):
    a = tmp_path / "a.pcap"
    pcap.write_pcap(str(a), [])
    assert main(["run", EX("dedup"), "--target", "interp", "--pcap-in", str(a),
                 "--pcap-out", str(tmp_path / where)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nicc: error: --pcap-out") and "Traceback" not in err
    assert "does not exist" in err or "is a directory" in err


def test_run_damaged_capture_exit_2(tmp_path, capsys):
    a, b = tmp_path / "a.pcap", tmp_path / "b.pcap"
    a.write_bytes(classic([(b"\x00" * 60, 1, 0, None)] * 3)[:-7])
    assert main(["run", EX("dedup"), "--target", "interp", "--pcap-in", str(a), "--pcap-out", str(b)]) == 2
    assert "holds 60 bytes: only 53 are in the file" in capsys.readouterr().err

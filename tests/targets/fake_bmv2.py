"""Stand-ins for p4c-bm2-ss, simple_switch and simple_switch_CLI, to test nicc's real-bmv2 plumbing here.

They behave as the issue's facts say the real tools do, as far as nicc relies on
them: ``p4c-bm2-ss --p4runtime-files F -o X.json X.p4`` writes X.json;
``simple_switch --use-files N -i P@NAME ... X.json`` serves Thrift-port commands,
reads every ``NAME_in.pcap`` after N seconds, writes ``NAME_out.pcap`` with link
type 0 (DLT_NULL) -- 0 bytes for a port that sent nothing -- and runs until
killed. The packets go through nicc's P4 evaluator. ``simple_switch_CLI`` sends
its stdin to the switch. :func:`install` writes them into a directory for PATH.
"""
import os
import stat
import sys

P4C = r'''
import json, sys
a = sys.argv[1:]
out = a[a.index("-o") + 1]
src = a[-1]
open(a[a.index("--p4runtime-files") + 1], "w").write("# p4info\n")
json.dump({"program": open(src).read()}, open(out, "w"))
'''

SWITCH = r'''
import json, os, socket, sys, threading, time
from nicc.runtime import pcap
from nicc.runtime import p4sim
a = sys.argv[1:]
wait = float(a[a.index("--use-files") + 1])
tport = int(a[a.index("--thrift-port") + 1]) if "--thrift-port" in a else 9090
ifaces = [a[i + 1] for i, x in enumerate(a) if x == "-i"]
prog = p4sim.load(json.load(open(a[-1]))["program"], filename=a[-1])
sw = p4sim.Switch(prog)
t0 = time.time()
lock = threading.Lock()
mc_nodes = []

def command(line):
    w = line.split()
    if not w:
        return
    if w[0] == "register_write":
        sw.register_write(w[1], int(w[2]), int(w[3]))
    elif w[0] == "table_set_default":
        sw.set_default(w[1], w[2], [int(x) for x in w[3:]])
    elif w[0] == "table_add":
        arrow = w.index("=>")
        keys = [tuple(int(v) for v in k.split("->")) if "->" in k else int(k) for k in w[3:arrow]]
        rest = [int(x) for x in w[arrow + 1:]]
        sw.table_add(w[1], w[2], keys, rest[:-1], priority=rest[-1])
    elif w[0] == "mc_mgrp_create":
        pass
    elif w[0] == "mc_node_create":
        mc_nodes.append((int(w[1]), [int(p) for p in w[2:]]))
    elif w[0] == "mc_node_associate":
        rid, ports = mc_nodes[int(w[2])]
        sw.mc_group_set(int(w[1]), [(p, rid) for p in ports])
    else:
        raise SystemExit(f"fake simple_switch: unknown command {line!r}")

def serve():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", tport))
    s.listen()
    while True:
        c, _ = s.accept()
        data = b""
        while True:
            chunk = c.recv(65536)
            if not chunk:
                break
            data += chunk
        with lock:
            for line in data.decode().splitlines():
                command(line)
        c.close()

threading.Thread(target=serve, daemon=True).start()
time.sleep(max(0.0, wait - (time.time() - t0)))
with lock:
    names = {int(x.split("@")[0]): x.split("@")[1] for x in ifaces}
    outs = {p: [] for p in names}
    for p, name in names.items():
        for pk in pcap.read_pcap(f"{name}_in.pcap"):
            for op, f in sw.process(pk.data, p):
                outs[op].append(f)
    for p, name in names.items():
        if outs[p]:
            pcap.write_pcap(f"{name}_out.pcap", outs[p], linktype=pcap.LINKTYPE_NULL)
        else:
            open(f"{name}_out.pcap", "wb").close()
while True:
    time.sleep(3600)
'''

CLI = r'''
import socket, sys
a = sys.argv[1:]
if "--help" in a:
    print("usage: simple_switch_CLI [--thrift-port PORT]")
    sys.exit(0)
port = int(a[a.index("--thrift-port") + 1]) if "--thrift-port" in a else 9090
try:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
except OSError as e:
    print(f"Could not connect to thrift client on port {port}: {e}")
    sys.exit(1)
s.sendall(sys.stdin.read().encode())
s.shutdown(socket.SHUT_WR)
s.recv(1)
s.close()
'''


def install(d: str) -> str:
    os.makedirs(d, exist_ok=True)
    for name, body in (("p4c-bm2-ss", P4C), ("simple_switch", SWITCH), ("simple_switch_CLI", CLI)):
        path = os.path.join(d, name)
        with open(path, "w") as f:
            f.write(f"#!{sys.executable}\n{body}")
        os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return d

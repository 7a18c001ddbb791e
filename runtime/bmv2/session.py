"""One switch's life, run inside that switch's network namespace: ``python -m nicc.runtime.bmv2.session SPEC``.

The parent (:mod:`.runner`, :mod:`.live`) writes a JSON spec and starts this
module under ``unshare -n`` (a private namespace that disappears with it) or
inside the namespace of a live interface. Here:

1. start ``simple_switch`` (Thrift control) or ``simple_switch_grpc --no-p4``
   (P4Runtime control) with its ports; in file mode the wire port reads a FIFO,
   so no frame can reach the switch before it is configured;
2. configure it: over P4Runtime the pipeline, table entries, default actions and
   multicast groups; over Thrift the registers (and, without P4Runtime, the rest)
   and egress queues deep enough for a window of frames and their copies, so that
   the switch never drops a frame for lack of room (bmv2 drops silently when a
   64-packet egress queue is full);
3. file mode: feed the frames a window at a time; the next window goes in when the
   per-verdict counter has counted every frame so far and every port's output file
   holds exactly the frames those counts imply. No step waits for a fixed time: a
   slow machine gives a slower run, never a different one, and the switch never
   holds more than a window. A run that makes no progress for
   :data:`STALL_SECONDS` is reported as a fault, never as a result;
   live mode: serve until SIGINT/SIGTERM (or ``count`` frames);
4. stop the switch and write the result (counters, timings) as JSON.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import signal
import struct
import subprocess
import sys
import time

STALL_SECONDS = 600
PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
THRIFT_PORT = 9090
GRPC_ADDR = "127.0.0.1:9559"


class SessionError(RuntimeError):
    pass


class PcapCounter:
    """Counts the complete records of a pcap file that another process is appending to."""

    def __init__(self, path: str):
        self.path, self.offset, self.count = path, 24, 0

    def poll(self) -> int:
        try:
            size = os.path.getsize(self.path)
        except FileNotFoundError:
            return 0
        if size <= self.offset:
            return self.count
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            buf = f.read(size - self.offset)
        off = 0
        while off + 16 <= len(buf):
            incl = struct.unpack("<I", buf[off + 8:off + 12])[0]
            if off + 16 + incl > len(buf):
                break
            off += 16 + incl
            self.count += 1
        self.offset += off
        return self.count


class Watchdog:
    """Fails the session when nothing it watches has changed for STALL_SECONDS (a fault, not a result)."""

    def __init__(self, proc: subprocess.Popen, log: str):
        self.proc, self.log, self.last, self.t = proc, log, None, time.monotonic()

    def check(self, progress) -> None:
        if self.proc.poll() is not None:
            raise SessionError(f"the switch exited with status {self.proc.returncode} (see {self.log})")
        now = time.monotonic()
        if progress != self.last:
            self.last, self.t = progress, now
        elif now - self.t > STALL_SECONDS:
            raise SessionError(f"no progress for {STALL_SECONDS} s: {progress} (see {self.log})")


def switch_args(spec: dict) -> list[str]:
    work = spec["workdir"]
    args = [spec["switch"], "--device-id", "0", "--thrift-port", str(THRIFT_PORT),
            "--notifications-addr", f"ipc://{work}/notifications.ipc"]
    if spec["mode"] == "file":
        args += ["--use-files", "0"]
        args += [a for p in spec["ports"] for a in ("-i", f"{p}@{os.path.join(work, f'p{p}')}")]
    else:
        args += [a for p, iface in spec["ifaces"].items() for a in ("-i", f"{p}@{iface}")]
    if spec["grpc"]:
        args += ["--no-p4", "--", "--grpc-server-addr", GRPC_ADDR]
    else:
        args.append(spec["json"])
    return args


def open_fifo_writer(path: str, proc: subprocess.Popen) -> int:
    """Open the wire port's FIFO once the switch opens it for reading; write the pcap header."""
    delay = 0.01
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError as e:
            if e.errno != errno.ENXIO:
                raise
            if proc.poll() is not None:
                raise SessionError(f"the switch exited with status {proc.returncode} before reading its input")
            time.sleep(delay)
            delay = min(0.1, delay * 1.5)
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    os.write(fd, PCAP_HEADER)
    return fd


class Controls:
    """The switch's control channels: P4Runtime (when gRPC) and Thrift."""

    def __init__(self, spec: dict, proc: subprocess.Popen):
        from .thrift import ThriftControl
        self.spec = spec
        alive = lambda: proc.poll() is None          # noqa: E731
        self.p4rt = None
        t0 = time.monotonic()
        if spec["grpc"]:
            from .p4rt import P4RuntimeControl
            self.p4rt = P4RuntimeControl.connect(GRPC_ADDR, spec["p4info"], spec["json"], alive)
        self.thrift = ThriftControl.connect(spec["site_packages"], THRIFT_PORT, alive)
        self.seconds_pipeline = time.monotonic() - t0

    def configure(self) -> dict:
        spec, state = self.spec, self.spec["state"]
        t0 = time.monotonic()
        self.thrift.set_queue_depth(spec["queue_depth"])
        ops = {"registers (Thrift)": self.thrift.push_registers(state)}
        main = self.p4rt or self.thrift
        how = "P4Runtime" if self.p4rt else "Thrift"
        ops[f"table entries, default actions and copy rewrites ({how})"] = main.push_tables(state)
        main.push_multicast([(g, ports) for g, ports in spec["groups"]])
        ops[f"multicast groups ({how})"] = len(spec["groups"])
        done = {"ops": ops, "seconds": time.monotonic() - t0}
        if self.p4rt:
            done["read_back"] = self.p4rt.read_back(state, spec["groups"])
        return done

    def counters(self) -> list[int]:
        c = self.spec["counter"]
        return (self.p4rt or self.thrift).counter(c["name"], c["size"])

    def close(self) -> None:
        if self.p4rt:
            self.p4rt.close()
        self.thrift.close()


def pcap_records(path: str):
    """The raw records (16-byte header + data) of a classic little-endian pcap file."""
    with open(path, "rb") as f:
        data = f.read()
    off = 24
    while off + 16 <= len(data):
        incl = struct.unpack("<I", data[off + 8:off + 12])[0]
        yield data[off:off + 16 + incl]
        off += 16 + incl


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def expected_outputs(spec: dict, c: list[int]) -> dict[int, int]:
    """The frames each port must have let out, given the verdict counters ``c``."""
    expect = {int(p): 0 for p in spec["ports"]}
    for slot, ports in spec["expect"].items():
        for p in ports:
            expect[p] += c[int(slot)]
    return expect


def run_file_mode(spec: dict, proc: subprocess.Popen, log: str) -> dict:
    """Feed the input in windows of ``spec["window"]`` frames: each window goes in once the previous
    one has been counted by ``nicc_verdicts`` and every copy those counts imply is in the output
    files. The switch never queues more than a window (its egress queues are sized for one), and the
    run is done when the counts say so, never after a wait."""
    work = spec["workdir"]
    fd = open_fifo_writer(os.path.join(work, f"p{spec['wire_port']}_in.pcap"), proc)
    ctl = Controls(spec, proc)
    try:
        cfg = ctl.configure()
        n, window = spec["frames"], max(1, int(spec.get("window") or spec["frames"]))
        clock = spec.get("clock") if spec.get("timestamps") else None
        outs = {p: PcapCounter(os.path.join(work, f"p{p}_out.pcap")) for p in spec["ports"]}
        dog = Watchdog(proc, log)
        t0 = time.monotonic()
        records = list(pcap_records(spec["input"]))
        c, got = [0] * spec["counter"]["size"], {p: 0 for p in outs}
        if clock:
            ctl.thrift.write_register(clock["name"], 1, 0)     # cell 1 = 0: the fixed time in cell 0
        for start in range(0, len(records), window):
            chunk = records[start:start + window]
            if clock:                                 # one frame at a time, each after its timestamp
                for i, rec in enumerate(chunk, start):
                    ctl.thrift.write_register(clock["name"], 0, spec["timestamps"][i])
                    write_all(fd, rec)
                    c = wait_counted(ctl, dog, i + 1)
            else:
                write_all(fd, b"".join(chunk))
                c = wait_counted(ctl, dog, start + len(chunk))
            expect = expected_outputs(spec, c)
            while True:                               # every copy those counts imply, written out
                got = {p: o.poll() for p, o in outs.items()}
                if all(got[p] >= expect[p] for p in expect):
                    break
                dog.check(tuple(got.values()))
                time.sleep(0.002)
            over = {p: (got[p], expect[p]) for p in expect if got[p] != expect[p]}
            if over:
                raise SessionError(f"ports let out more frames than the counters imply: {over}")
        os.close(fd)
        fd = -1
        if sum(c) != n:
            raise SessionError(f"the switch counted {sum(c)} frames, {n} went in")
        t_done = time.monotonic() - t0
        return {"counters": c, "configure": cfg, "seconds": {"pipeline": ctl.seconds_pipeline,
                "traffic": t_done}, "outputs": got, "window": window}
    finally:
        if fd >= 0:
            os.close(fd)
        ctl.close()


def wait_counted(ctl: "Controls", dog: "Watchdog", n: int) -> list[int]:
    """The verdict counters once they have counted ``n`` frames (more is an error)."""
    while True:
        c = ctl.counters()
        if sum(c) >= n:
            break
        dog.check(sum(c))
        time.sleep(0.001)
    if sum(c) != n:
        raise SessionError(f"the switch counted {sum(c)} frames, {n} went in")
    return c


def _terminate(signum, frame):
    raise SystemExit(128 + signum)          # unwinds through the cleanup below (switch, veths, result)


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, _terminate)
    with open(argv[0]) as f:
        spec = json.load(f)
    work = spec["workdir"]
    result_path = os.path.join(work, "result.json")
    subprocess.run(["ip", "link", "set", "lo", "up"], capture_output=True)
    if spec["mode"] == "file":
        os.mkfifo(os.path.join(work, f"p{spec['wire_port']}_in.pcap"))
        for p in spec["ports"]:
            if p != spec["wire_port"]:
                with open(os.path.join(work, f"p{p}_in.pcap"), "wb") as f:
                    f.write(PCAP_HEADER)
    made: list[str] = []
    result: dict = {"ok": False}
    if spec["mode"] == "live":
        from .live import prepare
        try:
            prepare(spec, made)
        except Exception as e:                          # noqa: BLE001  (reported to the parent)
            from .live import cleanup
            cleanup(made)
            result["error"] = f"{type(e).__name__}: {e}"
            with open(result_path, "w") as f:
                json.dump(result, f)
            return 1
    log = os.path.join(work, "switch.log")
    with open(log, "wb") as lf:
        # the switch stays in this process group: the parent's killpg of the session ends it too
        proc = subprocess.Popen(switch_args(spec), stdout=lf, stderr=subprocess.STDOUT, cwd=work)
    try:
        if spec["mode"] == "file":
            result.update(run_file_mode(spec, proc, log))
        else:
            from .live import serve
            result.update(serve(spec, proc, log))
        result["ok"] = True
    except Exception as e:                              # noqa: BLE001  (reported to the parent)
        result["error"] = f"{type(e).__name__}: {e}"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if made:
            from .live import cleanup
            cleanup(made)
        with open(result_path, "w") as f:
            json.dump(result, f)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

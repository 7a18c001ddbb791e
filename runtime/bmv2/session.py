"""One switch's life, run inside that switch's network namespace: ``python -m nicc.runtime.bmv2.session SPEC``.

The parent (:mod:`.runner`, :mod:`.live`) writes a JSON spec and starts this
module under ``unshare -n`` (a private namespace that disappears with it) or
inside the namespace of a live interface. Here:

1. start ``simple_switch`` (Thrift control) or ``simple_switch_grpc --no-p4``
   (P4Runtime control) with its ports; in file mode the wire port reads a FIFO,
   so no frame can reach the switch before it is configured;
2. configure it: over P4Runtime the pipeline, table entries, default actions and
   multicast groups; over Thrift the registers (and, without P4Runtime, the rest)
   and egress queues deep enough that the switch never drops a frame for lack
   of room (bmv2 drops silently when a 64-packet egress queue is full);
3. file mode: feed the frames, then wait until the per-verdict counter has
   counted every frame and every port's output file holds exactly the frames
   those counts imply. No step waits for a fixed time: a slow machine gives a
   slower run, never a different one. A run that makes no progress for
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
import threading
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


def feed(fd: int, path: str, errors: list) -> None:
    try:
        with open(path, "rb") as f:
            f.seek(24)
            while True:
                chunk = f.read(1 << 16)
                if not chunk:
                    break
                os.write(fd, chunk)
    except OSError as e:
        errors.append(e)
    finally:
        os.close(fd)


def pcap_records(path: str):
    """The raw records (16-byte header + data) of a classic little-endian pcap file."""
    with open(path, "rb") as f:
        data = f.read()
    off = 24
    while off + 16 <= len(data):
        incl = struct.unpack("<I", data[off + 8:off + 12])[0]
        yield data[off:off + 16 + incl]
        off += 16 + incl


def feed_clocked(fd: int, spec: dict, ctl: "Controls", dog: "Watchdog") -> None:
    """One frame at a time, each after its timestamp is written into the program's clock register."""
    name = spec["clock"]["name"]
    try:
        ctl.thrift.write_register(name, 1, 0)         # cell 1 = 0: the fixed time in cell 0
        for i, (rec, ts) in enumerate(zip(pcap_records(spec["input"]), spec["timestamps"])):
            ctl.thrift.write_register(name, 0, ts)
            os.write(fd, rec)
            while sum(ctl.counters()) < i + 1:
                dog.check(("clocked", i, sum(ctl.counters())))
                time.sleep(0.001)
    finally:
        os.close(fd)


def run_file_mode(spec: dict, proc: subprocess.Popen, log: str) -> dict:
    work = spec["workdir"]
    fd = open_fifo_writer(os.path.join(work, f"p{spec['wire_port']}_in.pcap"), proc)
    ctl = Controls(spec, proc)
    try:
        cfg = ctl.configure()
        n = spec["frames"]
        errors: list = []
        t0 = time.monotonic()
        dog = Watchdog(proc, log)
        if spec.get("timestamps"):
            writer = threading.Thread(target=lambda: None)
            feed_clocked(fd, spec, ctl, dog)
        else:
            writer = threading.Thread(target=feed, args=(fd, spec["input"], errors), daemon=True)
        writer.start()
        while True:                                   # every frame through ingress
            c = ctl.counters()
            if sum(c) >= n:
                break
            dog.check(sum(c))
            time.sleep(0.005)
        t_ingress = time.monotonic() - t0
        if sum(c) != n:
            raise SessionError(f"the switch counted {sum(c)} frames, {n} went in")
        expect = {int(p): 0 for p in spec["ports"]}
        for slot, ports in spec["expect"].items():
            for p in ports:
                expect[p] += c[int(slot)]
        outs = {p: PcapCounter(os.path.join(work, f"p{p}_out.pcap")) for p in expect}
        while True:                                   # every copy those counts imply, written out
            got = {p: o.poll() for p, o in outs.items()}
            if all(got[p] >= expect[p] for p in expect):
                break
            dog.check(tuple(got.values()))
            time.sleep(0.005)
        t_done = time.monotonic() - t0
        over = {p: (got[p], expect[p]) for p in expect if got[p] != expect[p]}
        if over:
            raise SessionError(f"ports let out more frames than the counters imply: {over}")
        writer.join()
        if errors:
            raise SessionError(f"feeding the switch failed: {errors[0]}")
        return {"counters": c, "configure": cfg, "seconds": {"pipeline": ctl.seconds_pipeline,
                "ingress": t_ingress, "traffic": t_done}, "outputs": got}
    finally:
        ctl.close()


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

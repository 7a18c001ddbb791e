"""nicc emulate on this machine, small: the tree in namespaces with the compiled data planes (TC, and DPDK
for the slowed relay), 1% loss on every link, one relay slowed by 2 ms in its own data path.

Every receiver's application must get every message exactly once and in order, released after its
deadline and within a bound of it, and nothing may be left behind. The full size (N = 32, H = 2,
10,000 messages) is `make emulate`; the README has its numbers."""
import json
import os
import subprocess
import sys

import pytest

import nicc.dsl as nd
from nicc.runtime.emulate.net import leftovers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MARKET = os.path.join(ROOT, "examples", "market.py")
pytestmark = [pytest.mark.toolchain, pytest.mark.privileged]
RELEASE_P99_BOUND_US = 5000        # a 2-core VM shared with other work: see README (nicc emulate)


def need():
    from nicc.runtime.dpdk import DpdkTarget
    from nicc.runtime.tc import TcTarget
    for t in (TcTarget(), DpdkTarget(echo=False)):
        why = t.unavailable()
        if why:
            pytest.skip(f"{t.name} unavailable: {why}")


def test_small_tree_with_loss_and_a_slow_relay():
    need()
    from nicc.runtime.emulate import EmulateConfig, emulate
    tree = nd.load_tree(MARKET)
    out = emulate(tree, EmulateConfig(receivers=32, hedge=2, messages=800, seed=3, loss=0.01, slow_relay=1,
                                      rate=500, stall_s=30))
    assert (out["lost"], out["duplicated"], out["out_of_order"]) == (0, 0, 0), out
    assert out["delivered"] == 32 * 800
    assert out["link_dropped"] > 0 and out["repaired"] > 0          # loss happened and was repaired
    assert out["release_error_us"]["p50"] >= 0 and out["release_error_us"]["p99"] < RELEASE_P99_BOUND_US
    assert out["leftovers"] == []
    slow = out["slow_relays"][0]
    dp = out["nodes"][slow]["dataplane"]
    assert dp.get("dpdk") and dp["multicast"] >= 800 and dp["copies"] >= 800 * 2
    root = out["nodes"][tree.topology(receivers=32, hedge=2).level(1)[0]]
    assert root["agent"].get("stamp_writes", 0) > 0                  # the global OWD reached the root's data plane
    for n, d in out["nodes"].items():
        if d["role"] == "receiver":
            assert d["dataplane"]["pass"] >= 800 and d["dataplane"]["drop"] > 0   # E3 dropped the hedged copies


def test_cli_json_and_teardown():
    need()
    r = subprocess.run([sys.executable, "-m", "nicc.cli", "emulate", MARKET, "--receivers", "8", "--hedge", "1",
                        "--messages", "300", "--loss", "0.01", "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout)
    for k in ("receivers", "messages", "delivered", "lost", "duplicated", "out_of_order", "release_error_us"):
        assert k in out
    assert set(out["release_error_us"]) == {"p50", "p99", "max"}
    assert (out["receivers"], out["messages"], out["delivered"], out["lost"]) == (8, 300, 2400, 0)
    assert out["leftovers"] == []
    assert not [n for n in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
                if n.startswith("nicc") and "-" in n and n.split("-")[0][4:].isdigit()
                and not os.path.exists(f"/proc/{n.split('-')[0][4:]}")]
    assert leftovers(f"nicc{os.getpid()}") == []


def test_usage_errors():
    r = subprocess.run([sys.executable, "-m", "nicc.cli", "emulate", MARKET, "--receivers", "0"], capture_output=True,
                       text=True)
    assert r.returncode == 2 and "--receivers" in r.stderr

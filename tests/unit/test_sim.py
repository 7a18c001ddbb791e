"""``nicc sim``: the latency model against closed forms and an independent sampler, Jasper's shapes at
small N, loss and repair, duplicate suppression, the OWD control loop, the CLI; N = 5000 behind ``slow``."""
import json
import os

import numpy as np
import pytest

from nicc.cli import main
from nicc.compiler.dissem import ReleasePolicy, RepairPolicy
from nicc.compiler.topology import TreeSpec, build_topology, unicast_topology
from nicc.runtime.sim import LatencyModel, SimConfig, compare, simulate
from nicc.runtime.sim.report import JSON_KEYS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MARKET = os.path.join(ROOT, "examples", "market.py")
EXACT = LatencyModel(hop_sd_us=0, child_sd_us=0, tail_prob=0, clock_sd_us=0)   # every delay at its mean


def run(n, h, model=LatencyModel(), cfg=SimConfig(messages=2000), release=ReleasePolicy(), repair=RepairPolicy()):
    return simulate(build_topology(TreeSpec(receivers=n, hedge=h)), release, repair, model, cfg, tag=1 + h)


@pytest.mark.parametrize("h,oml", [(0, 3 * 30 + 2 * 9 * 2.7), (1, 3 * 30 + 9 * 2.7 + 19 * 2.7),
                                   (2, 3 * 30 + 9 * 2.7 + 29 * 2.7)])
@pytest.mark.parametrize("stamp", ["root", "sender"])
def test_exact_model_closed_form(h, oml, stamp):
    # N = 100: sender -> root proxy (10 copies, no siblings) -> 10 proxies ((H+1)*10 copies each, one burst)
    r = run(100, h, EXACT, release=ReleasePolicy(stamp=stamp))
    assert r["oml_us"]["p50"] == pytest.approx(oml, abs=0.01) and r["oml_us"]["p99"] == pytest.approx(oml, abs=0.01)
    assert r["window_us"]["p99"] == pytest.approx(0, abs=0.01)
    # the control loop learns the OWD exactly: deadline = stamp + OWD + hold, everyone fair
    assert r["pf"] == 1.0 and r["released_window_us"]["p99"] == 0
    assert r["release_latency_us"]["p50"] == pytest.approx(oml + 25, abs=0.01)
    assert r["global_owd_us"] == pytest.approx(oml - (30 if stamp == "root" else 0), abs=0.01)
    assert r["lost"] == r["duplicated"] == 0 and r["repair"]["requests"] == 0


@pytest.mark.parametrize("burst,window", [(32, (99 - 31) * 2.7), (1, 99 * 2.7), (100, 0.0)])
def test_exact_unicast_bursts(burst, window):
    m = LatencyModel(hop_sd_us=0, child_sd_us=0, tail_prob=0, clock_sd_us=0, burst=burst)
    r = simulate(unicast_topology(TreeSpec(receivers=100)), ReleasePolicy(), RepairPolicy(), m,
                 SimConfig(messages=1000), tag=0)
    assert r["oml_us"]["p50"] == pytest.approx(30 + 99 * 2.7, abs=0.01)
    assert r["window_us"]["p50"] == pytest.approx(window, abs=0.01)


def test_copies_sent_match_the_topology():
    t = build_topology(TreeSpec(receivers=250, hedge=2))
    cfg = SimConfig(messages=400)
    r = simulate(t, ReleasePolicy(), RepairPolicy(), EXACT, cfg, tag=9)
    edges = sum(len(t.children(n.id)) for n in t.nodes)
    assert r["copies_sent"] == (cfg.messages + cfg.heartbeats) * edges


def test_one_hop_matches_an_independent_sampler():
    m = LatencyModel(child_us=0, child_sd_us=0)
    r = simulate(unicast_topology(TreeSpec(receivers=1)), ReleasePolicy(), RepairPolicy(enabled=False), m,
                 SimConfig(messages=20000), tag=0, keep_arrays=True)
    got = r["_arrays"]["oml"]
    rng = np.random.default_rng(123)
    ref = np.maximum(rng.normal(30, 10, 200000), 5) + (rng.random(200000) < 0.03) * rng.exponential(70, 200000)
    for q in (10, 50, 90, 98, 99.5):
        assert np.percentile(got, q) == pytest.approx(np.percentile(ref, q), rel=0.06), q
    assert abs(got.mean() - ref.mean()) < 0.6


@pytest.mark.parametrize("seed", [0, 1])
def test_jasper_shapes_at_n100(seed):
    out = compare(TreeSpec(receivers=100), ReleasePolicy(), RepairPolicy(), LatencyModel(),
                  SimConfig(messages=3000, seed=seed))
    base, t = out["baseline"], out["runs"]
    for h in (0, 1, 2):                              # the tree beats direct unicast on OML
        assert t[h]["oml_us"]["p50"] < 0.85 * base["oml_us"]["p50"]
    w = [t[h]["window_us"]["p99"] for h in (0, 1, 2)]
    assert w[1] < 0.8 * w[0] and w[2] < 0.9 * w[1]  # hedging shrinks the window: H=0 > H=1 > H=2
    assert t[2]["pf"] >= 0.98 and t[2]["released_window_us"]["p99"] < 2   # clocks +-0.1 us
    for r in [base, *t.values()]:
        assert r["lost"] == 0 and r["duplicated"] == 0
        assert r["release_latency_us"]["p50"] >= r["oml_us"]["p50"]


def test_loss_with_and_without_repair():
    model = LatencyModel(loss=0.01)
    cfg = SimConfig(messages=2000)
    on = compare(TreeSpec(receivers=100), ReleasePolicy(), RepairPolicy(), model, cfg, hedges=(0, 2))
    off = compare(TreeSpec(receivers=100), ReleasePolicy(), RepairPolicy(enabled=False), model, cfg, hedges=(0, 2))
    for r in [on["baseline"], *on["runs"].values()]:
        assert r["lost"] == 0 and r["duplicated"] == 0 and r["repair"]["repaired"] > 0
        assert r["repair"]["unrecovered"] == 0
    for r in [off["baseline"], *off["runs"].values()]:
        assert r["lost"] > 0
    assert off["runs"][2]["lost"] < off["runs"][0]["lost"]          # hedging alone already masks some loss


def test_repair_history_refusals_go_to_the_sender():
    r = run(100, 0, LatencyModel(loss=0.01), repair=RepairPolicy(history=1))
    assert r["lost"] == 0 and r["repair"]["refused"] > 0 and r["repair"]["from_sender"] > 0


def test_duplicate_suppression():
    with_dedup = run(50, 2, EXACT)
    without = run(50, 2, EXACT, cfg=SimConfig(messages=2000, dedup=False))
    assert with_dedup["duplicated"] == 0
    assert without["duplicated"] == 2 * 50 * 2000                   # 3 copies each, none lost


def test_clock_error_is_the_released_window():
    exact_clock = run(100, 2, LatencyModel(clock_sd_us=0))
    assert exact_clock["pf"] > 0.98 and exact_clock["released_window_us"]["p50"] == 0
    loose = run(100, 2, LatencyModel(clock_sd_us=2.0))
    assert 3 < loose["released_window_us"]["p50"] < 25              # the spread of 100 receivers' clocks


def test_oml_estimator_beats_jaspers_as_n_grows():
    cfg = SimConfig(messages=2000)
    ours = run(1000, 2, cfg=cfg)
    jasper = run(1000, 2, cfg=cfg, release=ReleasePolicy(estimator="jasper", stamp="sender"))
    assert ours["pf"] >= 0.98 and jasper["pf"] < ours["pf"]
    assert ours["oml_us"]["p50"] < ours["global_owd_us"] + 30 < ours["oml_us"]["p99"] * 1.1


def test_seeded():
    a = run(100, 1, cfg=SimConfig(messages=800, seed=4))
    b = run(100, 1, cfg=SimConfig(messages=800, seed=4))
    c = run(100, 1, cfg=SimConfig(messages=800, seed=5))
    strip = lambda r: {k: v for k, v in r.items() if k != "seconds"}
    assert strip(a) == strip(b) and strip(a) != strip(c)


def test_cli_json_keys(capsys):
    assert main(["sim", MARKET, "--receivers", "60", "--messages", "500", "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    objs = [json.loads(x) for x in lines]
    assert [o["hedge"] for o in objs] == [0, 1, 2]
    for o in objs:
        assert set(o) == set(JSON_KEYS) | {"baseline"} and set(o["baseline"]) == set(JSON_KEYS)
        assert o["receivers"] == 60 and o["messages"] == 500 and o["baseline"]["hedge"] is None
        for k in ("oml_us", "window_us", "released_window_us", "release_latency_us"):
            assert set(o[k]) == {"p50", "p99"}


def test_cli_table_plot_and_errors(tmp_path, capsys):
    png = tmp_path / "cdf.png"
    assert main(["sim", MARKET, "--messages", "1000", "--hedge", "1", "--plot", str(png), "--loss", "0.01"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("1000 receivers: 111 proxies in 3 levels [1, 10, 100], fan-out 10")
    assert "tree H=1" in out and "unicast" in out and "tree H=0" not in out and "repair" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["sim", MARKET, "--hedge", "x"]) == 2
    assert main(["sim", str(tmp_path / "none.py")]) == 2
    assert main(["sim", MARKET, "--receivers", "10", "--burst", "0"]) == 2
    assert main(["sim", os.path.join(ROOT, "examples", "dedup.py")]) == 1
    assert "no nd.tree" in capsys.readouterr().err


@pytest.mark.slow
def test_n5000_fairness_and_cost():
    """Done-when: P(F) >= 99% at N = 5000 with H = 2, release p50 within 1.2x the tree's OML p50."""
    out = compare(TreeSpec(receivers=5000), ReleasePolicy(), RepairPolicy(), LatencyModel(), SimConfig(messages=3000))
    t = out["runs"]
    assert t[2]["pf"] >= 0.99
    assert t[2]["release_latency_us"]["p50"] <= 1.2 * t[2]["oml_us"]["p50"]
    w = [t[h]["window_us"]["p99"] for h in (0, 1, 2)]
    assert w[0] > w[1] > w[2]
    assert all(t[h]["oml_us"]["p50"] < out["baseline"]["oml_us"]["p50"] for h in (0, 1, 2))
    assert all(r["lost"] == 0 and r["duplicated"] == 0 for r in [out["baseline"], *t.values()])

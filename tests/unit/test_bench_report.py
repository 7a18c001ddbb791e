"""The README's benchmark table (benchmarks/report.py): host rows put the library a user would pick in
its column and both interpreter paths in theirs."""
from nicc.benchmarks.report import markdown

MACHINE = dict(load_average=[0.5, 0.5, 0.5], cpu="cpu", cpus=2, kernel="6", nicc_commit="abc", gcc="12",
               clang="14", dpdk="22.11")


def v(ns):
    return {"median_ns": ns, "pps": 1e9 / ns, "exact": True}


def test_host_rows():
    rows = [{"example": "criteo", "target": "host", "set": "full",
             "variants": {"numpy+zlib": v(3000), "interpreter": v(800), "interpreter, columnar": v(300)}},
            {"example": "criteo", "target": "host", "set": "mix",
             "variants": {"interpreter": v(700), "interpreter, columnar": v(250)}}]
    md = markdown({"date": "today", "machine": MACHINE, "rows": rows, "methods": {}})
    full, mix = [ln for ln in md.splitlines() if "host, one core" in ln]
    assert full.split("|")[-3].strip() == "numpy+zlib: 3,000 ns (0.33 Mpps)"
    assert full.split("|")[-2].strip() == "800 ns (1.25 Mpps); 300 ns (3.33 Mpps)"
    assert mix.split("|")[-3].strip() == "" and mix.split("|")[-2].strip() == "700 ns (1.43 Mpps); 250 ns (4.00 Mpps)"

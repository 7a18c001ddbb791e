"""`nicc run` and `nicc test` on the kernel and DPDK targets leave no /tmp/nicc-<target>-* folder
behind (issue 8): the artifact compiled for a run owns its temporary directory."""
import os
import subprocess

import pytest

from nicc.runtime import pcap
from nicc.runtime.target import get_target

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NICC = os.path.join(ROOT, ".venv", "bin", "nicc")

pytestmark = [pytest.mark.toolchain, pytest.mark.privileged]


@pytest.mark.parametrize("target", ["xdp", "dpdk"])
def test_runs_leave_no_temporary_directories(tmp_path, target):
    why = get_target(target).unavailable()
    if why:
        pytest.skip(f"{target} unavailable: {why}")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(tmp))
    a, b = tmp_path / "a.pcap", tmp_path / "b.pcap"
    pcap.write_pcap(str(a), [bytes(60)] * 3)
    for args in (["run", "--pcap-in", str(a), "--pcap-out", str(b)], ["test", "--count", "50"]):
        r = subprocess.run([NICC, args[0], os.path.join(ROOT, "examples", "dedup.py"), "--target", target, *args[1:]],
                           capture_output=True, text=True, env=env, cwd=ROOT)
        assert r.returncode == 0, r.stdout + r.stderr
        assert os.listdir(tmp) == [], args

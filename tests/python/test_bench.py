# SPDX-License-Identifier: Apache-2.0
"""python3 -m kvtier.bench runs end to end and reports every figure it names
(what it measures is the bench's business, never asserted here)."""
import json

from kvtier import bench


def test_bench_reports_every_goal_key(capsys):
    assert bench.main(["--reps", "1", "--rounds", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("py_over_c_get_ratio_1mib", "py_over_c_put_ratio_1mib",
                "py_overhead_us_per_batch64", "py_get_gbps", "c_get_gbps"):
        assert out[key] > 0 or key == "py_overhead_us_per_batch64", key

#!/usr/bin/env python3
"""scripts/scale_model.py: its mirror of the share rule and the tree (src/fast/reduce.cpp) and its
check against the measured bytes."""
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "scripts", "scale_model.py")
spec = importlib.util.spec_from_file_location("scale_model", SCRIPT)
sm = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sm)


def train_json():
    rows = []
    for m, ms in (("seed", 0.1), ("lenet5", 4.0)):
        rows.append({"name": f"BM_Fast/{m}/train_step/threads:1/real_time_median",
                     "aggregate_name": "median", "real_time": ms, "time_unit": "ms"})
    return {"benchmarks": rows}


def reduce_row(model, floats, ranks, most, total):
    return {"model": model, "ranks": ranks, "batch": 128, "chunks": 8, "floats": floats,
            "threads": 1, "bytes_sent_most": most, "bytes_sent_total": total,
            "broadcast_bytes": 4 * floats, "seconds_median": 1e-4, "seconds_min": 1e-4,
            "seconds_max": 2e-4, "same_bits_as_one_process": True}


class ShareRule(unittest.TestCase):
    def test_shares_as_the_library_tests_state_them(self):
        # tests/test_fast_structure.cpp, FastReduce.ChunkSharesAreEvenSharesOnTheGrain...
        self.assertEqual([sm.share_start(1000, 3, r) for r in range(4)], [0, 320, 640, 1000])
        self.assertEqual([sm.share_start(7, 3, r) for r in range(4)], [0, 2, 4, 7])

    def test_tree_messages_of_eight_chunks(self):
        # 3 ranks on 8 chunks: shares [0,2) [2,5) [5,8). Width 1: node 4+5 is split, rank 2
        # sends 5. Width 2: 0+2 (rank 1 sends 2) and 4+6 (rank 2 sends 6). Width 4: 0+4 (rank 1
        # sends 4). So rank 1 sends 2 arrays, rank 2 sends 2, over 3 levels (as measured: 494,080
        # bytes most and 988,160 in all for LeNet-5's 61,760 floats).
        levels, sends = sm.tree_messages(8, 3)
        self.assertEqual(sends, [0, 2, 2])
        self.assertEqual(levels, 3)


class Script(unittest.TestCase):
    def run_script(self, rows):
        with tempfile.TemporaryDirectory() as d:
            json.dump(train_json(), open(os.path.join(d, "train.json"), "w"))
            with open(os.path.join(d, "reduce_mpi.json"), "w") as f:
                for r in rows:
                    f.write(json.dumps(r) + "\n")
            out = os.path.join(d, "scale-out.md")
            p = subprocess.run([sys.executable, SCRIPT, d, out], capture_output=True, text=True)
            text = open(out).read() if os.path.exists(out) else ""
            return p, text

    def test_writes_the_measured_rows_and_the_model(self):
        f = 61760
        p, text = self.run_script([reduce_row("lenet5", f, 1, 0, 0),
                                   reduce_row("lenet5", f, 3, 2 * 4 * f, 4 * 4 * f)])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("| lenet5 | 61,760 floats | 128 | 3 | 494,080 | 988,160 |", text)
        self.assertIn("### lenet5 (61,760 parameters) over 10 Gbit/s", text)
        self.assertIn("Where it pays", text)
        # Each reported batch reaches 70% of the ideal speed-up, and the one below it does not.
        import re
        section = text.split("### lenet5 (61,760 parameters) over 10 Gbit/s")[1].split("###")[0]
        found = re.findall(r"(\d+) nodes: batch >= (\d+)", section)
        self.assertEqual(len(found), len(sm.NODES) - 1)
        per_sample, floats = 4.0e-3 / 128, 61760
        beta, alpha = sm.LINKS[0][1], sm.LINKS[0][2]
        def speedup(n, b):
            c, k = sm.step_time(per_sample, floats, b, n, beta, alpha)
            c1, k1 = sm.step_time(per_sample, floats, b, 1, beta, alpha)
            return (c1 + k1) / (c + k)
        for n, b in ((int(n), int(b)) for n, b in found):
            self.assertGreaterEqual(speedup(n, b), sm.EFFICIENCY * n, (n, b))
            if b > sm.CHUNK:
                self.assertLess(speedup(n, b // 2), sm.EFFICIENCY * n, (n, b))

    def test_refuses_measured_bytes_the_tree_does_not_send(self):
        f = 61760
        p, text = self.run_script([reduce_row("lenet5", f, 3, 4 * f, 3 * 4 * f)])
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("differ from the measured", p.stderr)
        self.assertEqual(text, "")


if __name__ == "__main__":
    unittest.main()

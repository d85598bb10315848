#!/usr/bin/python3
"""scripts/bench_report/: the floors, stated once, drive the table of floors and the verdicts.
Run by ctest (tests/CMakeLists.txt) or directly."""
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from bench_report import floors  # noqa: E402
from bench_report.load import Results  # noqa: E402
from bench_report.render import report  # noqa: E402

# The table as the report printed it before the floors became records (the old FLOORS_TEXT).
FLOORS_TABLE = """\
| Floor | Target |
|---|---|
| seed training step, batch 128, fast at 2 threads vs reference | >= 30x |
| seed training step, batch 128, fast at 2 threads: GFLOP/s over one core's FMA peak | >= 0.70 |
| LeNet-5 training step, batch 128, fast at 2 threads vs reference | >= 50x |
| sgemm 512^3, one thread | >= 0.90 of measured FMA peak, >= 1.05x OpenBLAS |
| LeNet-5's layers at batch 128, one thread: conv2 backward data; dense forward, backward data, backward weights \
| >= 0.70 of peak each |
| conv 32->64 3x3 28x28 batch 64, one thread: forward, backward data, backward weights | >= 0.85 of peak each |
| the same at 2 threads | >= 1.8x the one-thread rate each |
| vs PyTorch: LeNet-5 training at 1 and 2 threads, seed training (10 epochs) and LeNet-5 inference at 2 | >= 5x, >= 20x, >= 2x |
| vs PyTorch: fashion-cnn (batch norm, strided convolutions, gap, dropout) training and inference at 1 and 2 \
threads | >= 2x, >= 2x |
| vs oneDNN at 1 and 2 threads (its time / ours): conv 32->64 3x3 28x28 batch 64, every pass | >= 1.0x each |
| the same: conv 6->16 5x5 14x14 batch 128 (LeNet-5's second), forward; backward data and weights \
| >= 1.0x, >= 1.5x each |
| the same: conv 1->2 3x3 8x8 batch 128 (the seed model's first), every pass | >= 2x each |
| adaptive threads (the default) with 0, 1 and 2 busy processes, seed and LeNet-5 runs: the best fixed thread \
count's time / the default's (at most 10% slower) | >= 0.91x each |
"""


def row(name, ms, **counters):
    return dict({"name": name, "run_name": name, "run_type": "iteration", "real_time": ms, "cpu_time": ms,
                 "time_unit": "ms"}, **counters)


def results(folder, seed_fast_ms, sgemm_peak_fraction, load="0.00 0.00 0.00"):
    """A results folder: the seed step (reference 30 ms) and sgemm 512^3 at the given figures, the
    LeNet-5 step well above its floor (60x)."""
    train = [row("BM_Reference/seed/train_step/real_time", 30.0),
             row("BM_Fast/seed/train_step/threads:1/real_time", 2 * seed_fast_ms),
             row("BM_Fast/seed/train_step/threads:2/real_time", seed_fast_ms),
             row("BM_Reference/lenet5/train_step/real_time", 60.0),
             row("BM_Fast/lenet5/train_step/threads:2/real_time", 1.0)]
    gemm = [row("BM_Fast/square512/512x512x512_NN", 1.0, **{"GFLOP/s": 200.0,
                                                             "peak_fraction": sgemm_peak_fraction})]
    for name, rows in (("train.json", train), ("gemm.json", gemm)):
        with open(os.path.join(folder, name), "w") as f:
            json.dump({"context": {}, "benchmarks": rows}, f)
    with open(os.path.join(folder, "machine.json"), "w") as f:
        json.dump({"cores": 2, "load_before": load}, f)
    return Results(folder)


def verdicts(r):
    return {c.label: (c.target, c.verdict) for c in floors.all_checks(r)}


class Floors(unittest.TestCase):
    def test_table_of_floors_is_written_from_the_records(self):
        self.assertEqual(floors.floors_table(), FLOORS_TABLE)

    def test_verdicts_judge_against_the_same_records(self):
        step = "seed training step, batch 128: fast (2 threads) vs reference"
        sgemm = "sgemm 512^3, one thread: fraction of FMA peak"
        with tempfile.TemporaryDirectory() as d:
            v = verdicts(results(d, seed_fast_ms=1.0, sgemm_peak_fraction=0.90))  # 30x, 0.90: on the floor
            self.assertEqual(v[step], (">= 30x", "**met**"))
            self.assertEqual(v[sgemm], (">= 0.90", "**met**"))
            v = verdicts(results(d, seed_fast_ms=1.01, sgemm_peak_fraction=0.89))  # 29.7x, 0.89: just below
            self.assertEqual(v[step], (">= 30x", "**NOT met**"))
            self.assertEqual(v[sgemm], (">= 0.90", "**NOT met**"))
            self.assertEqual(v["seed training step, batch 128: fast (1 thread) vs reference"], ("", "-"))

    def test_a_loaded_machine_marks_two_thread_verdicts_only(self):
        with tempfile.TemporaryDirectory() as d:
            r = results(d, seed_fast_ms=1.0, sgemm_peak_fraction=0.95, load="1.50 1.00 1.00")
            v = verdicts(r)
            self.assertEqual(v["seed training step, batch 128: fast (2 threads) vs reference"][1],
                             "**met** (2 threads under load: unreliable)")
            self.assertEqual(v["sgemm 512^3, one thread: fraction of FMA peak"][1], "**met**")
            page = report(r, charts_made=[])
            self.assertIn("3 of 3 checks met", page)
            self.assertIn("Every floor is met.", page)
            self.assertTrue(page.rstrip("\n").endswith(FLOORS_TABLE.rstrip("\n")))


def onednn_json(folder, pairs):
    """onednn.json with, per (case, pass, threads), our time and oneDNN's in ms (GFLOP/s = 100 / ms)."""
    rows = []
    for (case, pas, t), (ours_ms, theirs_ms) in pairs.items():
        for impl, t_ms, label in (("BM_Ours", ours_ms, "direct"), ("BM_OneDNN", theirs_ms, "jit:avx512_core")):
            rows.append(dict(row(f"{impl}/{case}/{pas}/threads:{t}/real_time", t_ms,
                                 **{"GFLOP/s": 100.0 / t_ms, "peak_fraction": 1.0 / t_ms}), label=label))
    with open(os.path.join(folder, "onednn.json"), "w") as f:
        json.dump({"context": {"onednn_version": "2.6.3", "onednn_check_conv32x64_28": "1.2e-07"},
                   "benchmarks": rows}, f)


class OneDnn(unittest.TestCase):
    PAIRS = {("conv32x64_28", "forward", 1): (1.0, 1.0),            # 1.00x: on the 1.0x floor
             ("conv32x64_28", "backward_data", 1): (1.0, 0.95),     # 0.95x: below
             ("lenet5_conv2", "forward", 2): (1.0, 1.0),            # 1.00x, forward floor 1.0x
             ("lenet5_conv2", "backward_data", 1): (1.0, 1.5),      # 1.50x: on the 1.5x floor
             ("lenet5_conv2", "backward_weights", 1): (1.0, 1.49),  # 1.49x: below
             ("seed_conv1", "backward_weights", 2): (0.5, 1.0)}     # 2.00x: on the 2x floor

    def test_ratio_is_onednn_time_over_ours_judged_per_pass_and_thread_count(self):
        with tempfile.TemporaryDirectory() as d:
            results(d, seed_fast_ms=1.0, sgemm_peak_fraction=0.95)
            onednn_json(d, self.PAIRS)
            v = verdicts(Results(d))
            self.assertEqual(v["vs oneDNN, 1 thread: conv 32->64 3x3 28x28 batch 64 forward"], (">= 1.0x", "**met**"))
            self.assertEqual(v["vs oneDNN, 1 thread: conv 32->64 3x3 28x28 batch 64 backward data"],
                             (">= 1.0x", "**NOT met**"))
            self.assertEqual(v["vs oneDNN, 2 threads: conv 6->16 5x5 14x14 batch 128 forward"], (">= 1.0x", "**met**"))
            self.assertEqual(v["vs oneDNN, 1 thread: conv 6->16 5x5 14x14 batch 128 backward data"],
                             (">= 1.5x", "**met**"))
            self.assertEqual(v["vs oneDNN, 1 thread: conv 6->16 5x5 14x14 batch 128 backward weights"],
                             (">= 1.5x", "**NOT met**"))
            self.assertEqual(v["vs oneDNN, 2 threads: conv 1->2 3x3 8x8 batch 128 backward weights"],
                             (">= 2x", "**met**"))
            self.assertEqual(len([k for k in v if k.startswith("vs oneDNN")]), len(self.PAIRS))

    def test_the_page_shows_both_sides_the_check_and_why_a_floor_is_missed(self):
        with tempfile.TemporaryDirectory() as d:
            results(d, seed_fast_ms=1.0, sgemm_peak_fraction=0.95)
            onednn_json(d, self.PAIRS)
            page = report(Results(d), charts_made=[])
            self.assertIn("## Convolutions against oneDNN", page)
            self.assertIn("oneDNN 2.6.3", page)
            self.assertIn("conv32x64_28 1.2e-07", page)
            self.assertIn("| conv 6->16 5x5 14x14 batch 128 | backward weights | 1 | 1 | 1.49 | 100 | 67.1 | 100% | "
                          "1.49x [1.49-1.49] | direct / jit:avx512_core |", page)
            self.assertIn("conv 6->16 5x5 14x14 batch 128 backward weights at 1 thread: ours 100 GFLOP/s", page)
            self.assertIn("1.49x where the floor is 1.5x", page)
            self.assertNotIn("forward at 1 thread: ours", page)  # met floors need no why

    def test_without_onednn_results_there_is_no_section_and_no_check(self):
        with tempfile.TemporaryDirectory() as d:
            r = results(d, seed_fast_ms=1.0, sgemm_peak_fraction=0.95)
            self.assertNotIn("oneDNN", report(r, charts_made=[]).split("## How to reproduce")[0])
            self.assertFalse([k for k in verdicts(r) if "oneDNN" in k])


def threads_json(folder, cases):
    """threads.json: per (model, busy), the run time in ms of each setting ("threads:1", "adaptive", ...)."""
    rows = []
    for (model, busy), times in cases.items():
        for setting, ms in times.items():
            name = f"BM_Threads/{model}/busy:{busy}/{setting}/real_time"
            rows.append(row(name, ms, busy=busy, threads=1.0 if setting == "threads:1" else 1.5))
    with open(os.path.join(folder, "threads.json"), "w") as f:
        json.dump({"context": {"adaptive_most_threads": "2"}, "benchmarks": rows}, f)


class BusyMachine(unittest.TestCase):
    CASES = {("lenet5", 0): {"threads:1": 200.0, "threads:2": 110.0, "adaptive": 122.0},  # 0.90: below 0.91
             ("lenet5", 1): {"threads:1": 100.0, "threads:2": 180.0, "adaptive": 105.0},  # 0.952 of 1 thread
             ("seed", 2): {"threads:1": 30.0, "threads:2": 30.0, "adaptive": 30.0}}

    def test_the_default_is_judged_against_the_best_fixed_count_of_its_case(self):
        with tempfile.TemporaryDirectory() as d:
            results(d, seed_fast_ms=1.0, sgemm_peak_fraction=0.95)
            threads_json(d, self.CASES)
            r = Results(d)
            v = verdicts(r)
            self.assertEqual(v["adaptive threads, lenet5, 0 busy processes: best fixed (2 threads) time / adaptive"],
                             (">= 0.91x", "**NOT met**"))
            self.assertEqual(v["adaptive threads, lenet5, 1 busy process: best fixed (1 thread) time / adaptive"],
                             (">= 0.91x", "**met**"))
            self.assertEqual(v["adaptive threads, seed, 2 busy processes: best fixed (1 thread) time / adaptive"],
                             (">= 0.91x", "**met**"))
            self.assertEqual(len([k for k in v if k.startswith("adaptive threads")]), len(self.CASES))
            page = report(r, charts_made=[])
            self.assertIn("### Threads on a busy machine", page)
            self.assertIn("| lenet5 | 1 | 100 | 180 | 105 | 1.50 | 0.95x [0.95-0.95] |", page)
            # A missed case says what the default chose; met ones say nothing.
            self.assertIn("Adaptive threads, lenet5 with 0 busy: 122 ms against 110 ms for 2 threads fixed (0.90x)",
                          page)
            self.assertIn("a mean of 1.50 threads per step, away from the best count 2", page)
            self.assertNotIn("Adaptive threads, lenet5 with 1 busy", page)

    def test_a_loaded_machine_does_not_mark_them_unreliable(self):
        # The load is what they measure.
        with tempfile.TemporaryDirectory() as d:
            results(d, seed_fast_ms=1.0, sgemm_peak_fraction=0.95, load="1.50 1.00 1.00")
            threads_json(d, self.CASES)
            v = verdicts(Results(d))
            self.assertEqual(v["adaptive threads, lenet5, 1 busy process: best fixed (1 thread) time / adaptive"][1],
                             "**met**")


class SameBits(unittest.TestCase):
    def test_the_isa_table_says_which_levels_give_the_baselines_bits(self):
        with tempfile.TemporaryDirectory() as d:
            results(d, seed_fast_ms=1.0, sgemm_peak_fraction=0.95)
            for level in ("avx512f", "avx2", "sse4.2", "native"):
                with open(os.path.join(d, f"isa_{level}_train.json"), "w") as f:
                    json.dump({"context": {}, "benchmarks": [
                        row("BM_Fast/seed/train_step/threads:1/real_time", 1.0)]}, f)
            with open(os.path.join(d, "isa_bits.json"), "w") as f:
                json.dump({"baseline": "avx512f", "runs": ["seed, 2 epochs"],
                           "same": {"avx512f": True, "avx2": True, "sse4.2": False, "native": True}}, f)
            page = report(Results(d), charts_made=[])
            self.assertIn("| same bits as `avx512f` | yes | yes | no | yes | |", page)
            self.assertIn("*Same bits* compares the checkpoints of seed, 2 epochs", page)
            os.remove(os.path.join(d, "isa_bits.json"))
            self.assertNotIn("same bits as", report(Results(d), charts_made=[]))


if __name__ == "__main__":
    unittest.main()

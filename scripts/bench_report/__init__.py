"""Writes docs/benchmarks.md and its charts from the JSON that scripts/bench.sh leaves behind.

Inputs in --results: peak.json, gemm.json, layers.json, train.json (Google Benchmark JSON, one
entry per repetition), pytorch.json (scripts/bench_pytorch.py), machine.json (bench.sh), and
optionally onednn.json (bench_onednn, when oneDNN was found), train_passive.json,
layers_passive.json, pytorch_passive.json, isa_*.json and profile/*.txt. Every figure is the
median over repetitions; [min-max] is the spread. Ratios are ratios of medians; their spread pairs
the extremes (worst case to best case).
Needs matplotlib (Debian's python3-matplotlib): run it with /usr/bin/python3.

  load.py     the results folder -> Results (runs with medians and spreads)
  fmt.py      numbers and ratios as the report writes them
  floors.py   the floors, stated once, and the checks that judge a run against them
  why.py      measured facts behind missed floors
  charts.py   the PNG charts
  render.py   the Markdown page
The command is scripts/bench_report.py.
"""
import argparse
import os
import sys

from .charts import draw
from .load import Results
from .render import report


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results", required=True)
    ap.add_argument("--out", default="docs/benchmarks.md")
    ap.add_argument("--img", default="docs/img")
    args = ap.parse_args(argv)
    results = Results(args.results)
    made = draw(args.img, results)
    text = report(results, made)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text)
    print(f"bench_report: wrote {args.out} and {len(made)} charts in {args.img}", file=sys.stderr)

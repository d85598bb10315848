#!/usr/bin/python3
"""Writes docs/benchmarks.md and its charts from the JSON that scripts/bench.sh leaves behind:
   scripts/bench_report.py --results DIR [--out FILE.md] [--img DIR]
The work is done by the package scripts/bench_report/ (which Python imports here in preference to
this file: a package wins over a module of the same name)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_report import main  # noqa: E402

if __name__ == "__main__":
    main()

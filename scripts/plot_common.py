"""What scripts/plot_confusion.py and scripts/plot_metrics.py share: loading matplotlib and writing
a PNG, each failure a one-line error naming the script."""

import os
import sys


class PlotError(Exception):
    """A failure to report as `<script>: error: <message>` with exit status 1."""


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed); PlotError when it is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotError(f"matplotlib is not available to {sys.executable} (Debian: apt-get install "
                        "python3-matplotlib, then run this script with /usr/bin/python3)") from None
    return plt


def save_png(fig, path):
    """Writes fig to path, under a temporary name first, so that an interrupted run leaves no
    half-written PNG; PlotError naming the path when it cannot be written."""
    tmp = f"{path}.tmp"
    try:
        fig.savefig(tmp, format="png", dpi=120)
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise PlotError(f"{path}: cannot write: {e.strerror or e}") from None


def fail(script, error, status=1):
    """Prints `<script>: error: <error>` on stderr and returns status (for main's return)."""
    print(f"{script}: error: {error}", file=sys.stderr)
    return status

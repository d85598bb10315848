#!/usr/bin/env python3
"""Renders a confusion matrix written by `scratchcnn eval --json FILE` or `--csv FILE` as a PNG.

Rows are the true class, columns the predicted class. Each cell shows its count; the colour is
the share of its row (the recall of the row's class on the diagonal), so classes of different
sizes compare fairly.

Needs matplotlib. On Debian it is python3-matplotlib, which belongs to /usr/bin/python3, so run
    /usr/bin/python3 scripts/plot_confusion.py out/confusion.json -o out/confusion.png
when `python3` on PATH is another interpreter.
"""

import argparse
import json
import sys
from pathlib import Path

from plot_common import PlotError, fail, pyplot, save_png

FASHION_MNIST = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                 "Sneaker", "Bag", "Ankle boot"]


class BadInput(Exception):
    pass


class BadNames(Exception):
    pass


def read_json(path, text):
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise BadInput(f"{path}:{e.lineno}: not valid JSON: {e.msg}") from None
    if not isinstance(doc, dict) or "confusion" not in doc:
        raise BadInput(f"{path}: no \"confusion\" key (expected the output of scratchcnn eval --json)")
    return doc["confusion"], doc.get("accuracy")


def read_csv(path, text):
    lines = [l for l in text.splitlines() if l.strip()]
    if not lines:
        raise BadInput(f"{path}: empty file")
    header = [h.strip() for h in lines[0].split(",")]
    if header[0] != "true":
        raise BadInput(f"{path}:1: header starts with '{header[0]}', expected 'true' "
                       "(the output of scratchcnn eval --csv)")
    matrix = []
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split(",")
        if len(fields) != len(header):
            raise BadInput(f"{path}:{number}: {len(fields)} fields, the header has {len(header)}")
        try:
            matrix.append([int(f) for f in fields[1:]])
        except ValueError:
            raise BadInput(f"{path}:{number}: a count is not an integer: {line}") from None
    return matrix, None


def read_matrix(path):
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise BadInput(f"{path}: cannot read: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise BadInput(f"{path}: not a UTF-8 text file") from None
    matrix, accuracy = (read_json if text.lstrip().startswith("{") else read_csv)(path, text)
    k = len(matrix)
    if k == 0 or any(not isinstance(row, list) or len(row) != k for row in matrix):
        raise BadInput(f"{path}: the confusion matrix is not square")
    for row in matrix:
        for v in row:
            if not isinstance(v, int) or v < 0:
                raise BadInput(f"{path}: count {v!r} is not a non-negative integer")
    return matrix, accuracy


def class_names(option, k):
    """The names of k classes from --names (None: the class numbers); BadNames (exit 2) when the
    count differs."""
    if option is None:
        names = [str(i) for i in range(k)]
    elif option == "fashion-mnist":
        names = FASHION_MNIST
    else:
        names = [n.strip() for n in option.split(",")]
    if len(names) != k:
        raise BadNames(f"--names gives {len(names)} names for {k} classes")
    return names


def draw(plt, matrix, names, rotate, title):
    """The figure: cells coloured by the share of their row, each labelled with its count."""
    k = len(matrix)
    shares = []
    for row in matrix:
        total = sum(row)
        shares.append([v / total if total else 0.0 for v in row])
    size = max(5.0, 0.6 * k + 2.5)
    fig, ax = plt.subplots(figsize=(size, size * 0.9))
    image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    ax.set_xticklabels(names, rotation=45 if rotate else 0, ha="right" if rotate else "center")
    ax.set_yticklabels(names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    for t in range(k):
        for p in range(k):
            ax.text(p, t, str(matrix[t][p]), ha="center", va="center", fontsize=8,
                    color="white" if shares[t][p] > 0.5 else "black")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input", help="JSON or CSV written by scratchcnn eval")
    ap.add_argument("-o", "--output", help="PNG to write (default: the input with .png)")
    ap.add_argument("--names", help="class names, comma-separated, or 'fashion-mnist' "
                                    "(default: the class numbers)")
    ap.add_argument("--title", help="plot title (default: the input's file name, and the accuracy)")
    args = ap.parse_args(argv)

    output = args.output or str(Path(args.input).with_suffix(".png"))
    try:
        matrix, accuracy = read_matrix(args.input)
        names = class_names(args.names, len(matrix))
        title = args.title or Path(args.input).name
        if args.title is None and accuracy is not None:
            title += f" (accuracy {accuracy:.4f})"
        save_png(draw(pyplot(), matrix, names, bool(args.names), title), output)
    except BadNames as e:
        return fail("plot_confusion", e, 2)
    except (BadInput, PlotError) as e:
        return fail("plot_confusion", e)
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

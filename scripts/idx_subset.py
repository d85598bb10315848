#!/usr/bin/env python3
"""Writes a small MNIST-style IDX data folder for LeNet-5 runs in the test scripts: the first 2,000
training and 500 test samples of Fashion-MNIST (/usr/share/datasets/fashion-mnist) when the machine
has it, else synthetic 28x28 images with labels 0-9 in turn (seeded, the same bytes every time).
usage: scripts/idx_subset.py OUT_DIR [TRAIN_SAMPLES]   (OUT_DIR must not exist)"""
import gzip, os, random, struct, sys
out = sys.argv[1]
train_n = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
os.makedirs(out)
src = "/usr/share/datasets/fashion-mnist"

def read(name):
    for path in (os.path.join(src, name), os.path.join(src, name + ".gz")):
        if os.path.isfile(path):
            with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
                return f.read()
    return None

def write(prefix, n, images, labels):
    with open(os.path.join(out, prefix + "-images-idx3-ubyte"), "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, 28, 28) + images[:n * 784])
    with open(os.path.join(out, prefix + "-labels-idx1-ubyte"), "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + labels[:n])

sets = {"train": train_n, "t10k": 500}
files = {p: (read(p + "-images-idx3-ubyte"), read(p + "-labels-idx1-ubyte")) for p in sets}
if all(i is not None and l is not None for i, l in files.values()):
    for p, n in sets.items():
        write(p, n, files[p][0][16:], files[p][1][8:])
    print(f"IDX subset: Fashion-MNIST, {train_n:,} training and 500 test samples")
else:
    rng = random.Random(12)
    for p, n in sets.items():
        labels = bytes(i % 10 for i in range(n))
        images = bytes(rng.randrange(256) if rng.random() < 0.3 else 0 for _ in range(n * 784))
        write(p, n, images, labels)
    print(f"IDX subset: synthetic (no {src}), {train_n:,} training and 500 test samples")

#!/usr/bin/env python3
"""Write a small image folder from Fashion-MNIST: OUT/train/<class>/*.png and
OUT/test/<class>/*.png, grey 28x28 PNGs, the first TRAIN (and TEST) images of
each class in the IDX files' order. Python's standard library only (the PNGs
are written with zlib).

    scripts/make-image-folder.py examples/fashion-folder --train 60 --test 20

Reads /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist) or
--source DIR. The same arguments give the same bytes.
"""

import argparse
import gzip
import os
import struct
import sys
import zlib

CLASSES = [
    "tshirt_top", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle_boot",
]


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic = struct.unpack(">I", data[:4])[0]
    if magic & 0xFFFFFF00 != 0x800:
        sys.exit(f"{path}: not an IDX file of bytes (magic 0x{magic:08x})")
    ndims = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndims, data[4:4 + 4 * ndims])
    return dims, data[4 + 4 * ndims:]


def find(source, name):
    for candidate in (name, name + ".gz"):
        path = os.path.join(source, candidate)
        if os.path.isfile(path):
            return path
    sys.exit(f"{os.path.join(source, name)}: no such file (nor .gz); "
             "install Debian's dataset-fashion-mnist or give --source")


def png(width, height, pixels):
    """A grey 8-bit PNG, every row with filter 0, fixed zlib level."""
    raw = b"".join(b"\x00" + pixels[y * width:(y + 1) * width] for y in range(height))

    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def write_part(out, part, source, prefix, per_class):
    (count, rows, cols), images = read_idx(find(source, f"{prefix}-images-idx3-ubyte"))
    (labels_count,), labels = read_idx(find(source, f"{prefix}-labels-idx1-ubyte"))
    if labels_count != count:
        sys.exit(f"{prefix}: {count} images but {labels_count} labels")
    taken = [0] * len(CLASSES)
    size = rows * cols
    for i in range(count):
        label = labels[i]
        if taken[label] >= per_class:
            continue
        folder = os.path.join(out, part, CLASSES[label])
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, f"{i:05d}.png"), "wb") as f:
            f.write(png(cols, rows, images[i * size:(i + 1) * size]))
        taken[label] += 1
        if min(taken) >= per_class:
            break
    return sum(taken)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="the folder to write (train/ and test/ inside)")
    parser.add_argument("--train", type=int, default=60, help="training images per class")
    parser.add_argument("--test", type=int, default=20, help="test images per class")
    parser.add_argument("--source", default="/usr/share/datasets/fashion-mnist")
    args = parser.parse_args()
    n_train = write_part(args.out, "train", args.source, "train", args.train)
    n_test = write_part(args.out, "test", args.source, "t10k", args.test)
    print(f"{args.out}: {n_train} training and {n_test} test images in {len(CLASSES)} classes")


if __name__ == "__main__":
    main()

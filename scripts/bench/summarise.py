#!/usr/bin/env python3
"""Print the benchmark table from the JSON lines run.sh collected.

    python3 scripts/bench/summarise.py target/bench/speed.jsonl [--only a|b|c|d]

Standard library only. Each line is one record: {"bench": "machine", ...}
first, then one per benchmark, as printed by `cargo bench --bench speed` or by
torch_peers.py, with "side" (probstab or torch) and "load1" (the 1-minute load
average just before it ran) added by run.sh; a benchmark that failed is
{"bench": ..., "side": ..., "error": "..."}. Exits 1 if a figure the
requested sections need is missing.
"""

import argparse
import json
import sys

K = 64  # cells in (b)
RESNET_BATCH = 32  # (c)
SADDLE_POINTS = 400 * 400  # (d)

TARGET_B_ENSEMBLE = 2.0  # packed / torch ensemble
TARGET_B_LOOP = 10.0  # packed / torch per-cell loop
TARGET_C = 0.5  # burn / torch images/s; goal 1.0
GOAL_C = 1.0
TARGET_D_SECONDS = 5.0


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


class Figures:
    def __init__(self, records):
        self.records = records
        self.missing = []

    def find(self, label, **match):
        """The record whose fields include `match` and that has no error;
        None (and noted as missing) when there is none."""
        for r in self.records:
            if "error" not in r and all(r.get(k) == v for k, v in match.items()):
                return r
        failed = [r for r in self.records if all(r.get(k) == v for k, v in match.items())]
        why = failed[-1]["error"] if failed else "not run"
        self.missing.append(f"{label}: {why}")
        return None


def num(r, key, fmt):
    return "—" if r is None or key not in r else format(r[key], fmt)


def load_of(r):
    return "" if r is None or r.get("load1") is None else f"load {r['load1']:.2f}"


def ratio(top, bottom, key):
    if top is None or bottom is None or not bottom.get(key) or key not in top:
        return None
    return top[key] / bottom[key]


def verdict(value, target, higher_is_better=True):
    if value is None:
        return ""
    ok = value >= target if higher_is_better else value <= target
    return "meets target" if ok else "BELOW TARGET" if higher_is_better else "ABOVE TARGET"


def fmt_ratio(x):
    return "—" if x is None else f"{x:.2f}×"


def section_a(f):
    print("(a) two_layer 200→200→200 tanh, one SGD step incl. loss read-back: µs/step (lower is better)")
    print(f"    {'batch':>5}  {'burn µs':>10}  {'torch µs':>10}  {'torch/burn':>10}   load (burn; torch)")
    for batch in (1, 32):
        b = f.find(f"(a) burn batch {batch}", bench="two_layer_step", side="probstab", batch=batch)
        t = f.find(f"(a) torch batch {batch}", bench="two_layer_step", side="torch", batch=batch)
        r = ratio(t, b, "us_per_step")
        print(
            f"    {batch:>5}  {num(b, 'us_per_step', '.1f'):>10}  {num(t, 'us_per_step', '.1f'):>10}  {fmt_ratio(r):>10}"
            f"   {load_of(b)}; {load_of(t)}"
        )
    print("    torch/burn > 1 means probstab is faster.")


def section_b(f):
    print(f"(b) {K} cells, batch 1: cell-steps/s (higher is better)")
    p = f.find("(b) packed", bench="packed", side="probstab", cells=K)
    e = f.find("(b) torch ensemble", bench="ensemble", side="torch", cells=K)
    lp = f.find("(b) torch loop", bench="loop", side="torch", cells=K)
    print(f"    probstab packed     {num(p, 'cell_steps_per_s', '.0f'):>12}   {load_of(p)}")
    re, rl = ratio(p, e, "cell_steps_per_s"), ratio(p, lp, "cell_steps_per_s")
    print(
        f"    torch ensemble (bmm){num(e, 'cell_steps_per_s', '.0f'):>12}   {load_of(e)}"
        f"   packed/ensemble {fmt_ratio(re)} (target ≥ {TARGET_B_ENSEMBLE:g}×) {verdict(re, TARGET_B_ENSEMBLE)}"
    )
    print(
        f"    torch per-cell loop {num(lp, 'cell_steps_per_s', '.0f'):>12}   {load_of(lp)}"
        f"   packed/loop     {fmt_ratio(rl)} (target ≥ {TARGET_B_LOOP:g}×) {verdict(rl, TARGET_B_LOOP)}"
    )


def section_c(f):
    print(f"(c) ResNet-18 (CIFAR stem), batch {RESNET_BATCH}, training: images/s (higher is better)")
    b = f.find("(c) burn", bench="resnet18", side="probstab", batch=RESNET_BATCH)
    t = f.find("(c) torch", bench="resnet18", side="torch", batch=RESNET_BATCH)
    r = ratio(b, t, "images_per_s")
    print(f"    burn   {num(b, 'images_per_s', '.1f'):>8}   {load_of(b)}")
    print(f"    torch  {num(t, 'images_per_s', '.1f'):>8}   {load_of(t)}")
    print(
        f"    burn/torch {fmt_ratio(r)} (target ≥ {TARGET_C:g}, goal {GOAL_C:g}) {verdict(r, TARGET_C)}"
    )


def section_d(f):
    print(f"(d) saddle phase diagram, 400×400 = {SADDLE_POINTS} points (probstab only)")
    d = f.find("(d) saddle_phase_diagram", bench="saddle_phase_diagram", side="probstab")
    s = None if d is None else d.get("seconds")
    print(
        f"    {num(d, 'seconds', '.2f')} s (target ≤ {TARGET_D_SECONDS:g} s) "
        f"{verdict(s, TARGET_D_SECONDS, higher_is_better=False)}   max_abs_err {num(d, 'max_abs_err', '.2e')}"
        f"   {load_of(d)}"
    )
    if d is not None and d.get("points") != SADDLE_POINTS:
        print(f"    note: {d.get('points')} points, not {SADDLE_POINTS}")


SECTIONS = {"a": section_a, "b": section_b, "c": section_c, "d": section_d}


def main():
    p = argparse.ArgumentParser(description="Print the probstab vs PyTorch benchmark table.")
    p.add_argument("results", help="JSON lines written by scripts/bench/run.sh")
    p.add_argument("--only", choices=sorted(SECTIONS), help="one section")
    args = p.parse_args()
    records = load(args.results)
    f = Figures(records)

    machine = next((r for r in records if r.get("bench") == "machine"), {})
    print("== probstab vs PyTorch, CPU, float32")
    for key in ("date", "commit", "cpu", "nproc", "threads", "torch", "quick"):
        if key in machine:
            print(f"    {key:8} {machine[key]}")
    if machine.get("quick") == "1":
        print("    (--quick: a smoke test, not figures to quote)")
    if machine.get("torch") == "not installed":
        print("    (no PyTorch venv: probstab's figures only)")
    for name in [args.only] if args.only else sorted(SECTIONS):
        print()
        SECTIONS[name](f)
    if f.missing:
        print("\nmissing figures:")
        for m in f.missing:
            print(f"    {m}")
        sys.exit(1)


if __name__ == "__main__":
    main()

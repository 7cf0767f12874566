#!/usr/bin/env python3
"""Print the benchmark table from the JSON lines run.sh collected.

    python3 scripts/bench/summarise.py target/bench/speed.jsonl [--only a|b|c|d|e]

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
B_BATCHES = (1, 8, 32, 64)  # (b)'s batch sizes, each with SGD and Adam
RESNET_BATCH = 32  # (c) and (e)
TWIN_WIDTH = 0.0625  # (e)
SADDLE_POINTS = 400 * 400  # (d)

TARGET_B_ENSEMBLE = 2.0  # packed / torch ensemble
TARGET_B_LOOP = 10.0  # packed / torch per-cell loop
TARGET_B_FLOOR = 1.5  # packed within this factor of its floor ...
TARGET_B_PEAK = 0.6  # ... or at this fraction of peak where compute-bound
TARGET_C = 0.57  # burn / torch images/s; goal 1.0
GOAL_C = 1.0
TARGET_E = 1.0  # burn / torch images/s of the image twins' net
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


class Machine:
    """The `machine_peak` record: one core's peak FLOP/s and each level's
    bandwidth per core, all cores busy (benches/speed/machine.rs)."""

    def __init__(self, record):
        self.cores = record["cores"]
        self.peak = record["flops_per_s_per_core"]
        self.vector = record.get("vector", "?")
        self.levels = record["levels"]

    def level_for(self, working_set):
        """The innermost level a working set of this many bytes fits in."""
        for level in self.levels:
            size = level.get("bytes_per_core")
            if size is None or working_set <= size:
                return level
        return self.levels[-1]

    def floor(self, flops, nbytes, working_set):
        """(seconds of one unit of work on one core, what bounds it): the larger
        of its FLOP time at peak and its memory time at its level's bandwidth."""
        level = self.level_for(working_set)
        t_flop = flops / self.peak
        t_mem = nbytes / level["bytes_per_s_per_core"]
        if t_flop >= t_mem:
            return t_flop, "compute"
        return t_mem, f"memory ({level['name']})"


def machine_line(m):
    if m is None:
        return
    levels = ", ".join(
        f"{lv['name']} {lv['bytes_per_s_per_core'] / 1e9:.0f} GB/s"
        + (f" ({lv['bytes_per_core'] / 1024:.0f} KiB)" if lv.get("bytes_per_core") else "")
        for lv in m.levels
    )
    print(f"    floors from: {m.cores} cores, {m.peak / 1e9:.0f} GFLOP/s a core ({m.vector} FMA); per core {levels}")


def section_b(f):
    m = f.machine
    print(f"(b) {K} cells of 200→200→200 tanh: cell-steps/s (higher is better), all cores")
    machine_line(m)
    print(
        f"    {'batch':>5} {'opt':>4}  {'packed':>9}  {'floor':>9} {'bound':<13} {'of floor':>8}"
        f"  {'torch bmm':>9}  {'packed/bmm':>10}   verdict; load (packed; torch)"
    )
    for batch in B_BATCHES:
        for opt in ("sgd", "adam"):
            p = f.find(f"(b) packed batch {batch} {opt}", bench="packed", side="probstab", cells=K, batch=batch, optimizer=opt)
            e = f.find(
                f"(b) torch ensemble batch {batch} {opt}", bench="ensemble", side="torch", cells=K, batch=batch, optimizer=opt
            )
            floor_rate, bound, of_floor, of_peak = None, "", None, None
            if p is not None and m is not None and "flops_per_cell_step" in p:
                t, bound = m.floor(p["flops_per_cell_step"], p["bytes_per_cell_step"], p["working_set_bytes"])
                floor_rate = m.cores / t
                of_floor = p["cell_steps_per_s"] / floor_rate
                of_peak = p["cell_steps_per_s"] * p["flops_per_cell_step"] / (m.peak * m.cores)
            re = ratio(p, e, "cell_steps_per_s")
            near = of_floor is not None and (
                of_floor >= 1 / TARGET_B_FLOOR or (bound == "compute" and of_peak >= TARGET_B_PEAK)
            )
            fast = re is not None and re >= TARGET_B_ENSEMBLE
            verdicts = []
            if of_floor is not None:
                verdicts.append("near floor" if near else "FAR FROM FLOOR")
            if re is not None:
                verdicts.append(f"≥ {TARGET_B_ENSEMBLE:g}× bmm" if fast else f"BELOW {TARGET_B_ENSEMBLE:g}× bmm")
            floor_text = "—" if floor_rate is None else f"{floor_rate:.0f}"
            print(
                f"    {batch:>5} {opt:>4}  {num(p, 'cell_steps_per_s', '.0f'):>9}  {floor_text:>9} {bound:<13}"
                f" {'—' if of_floor is None else f'{of_floor:.0%}':>8}  {num(e, 'cell_steps_per_s', '.0f'):>9}"
                f"  {fmt_ratio(re):>10}   {', '.join(verdicts)}; {load_of(p)}; {load_of(e)}"
            )
    p = f.find("(b) packed batch 1 sgd", bench="packed", side="probstab", cells=K, batch=1, optimizer="sgd")
    lp = f.find("(b) torch loop", bench="loop", side="torch", cells=K)
    rl = ratio(p, lp, "cell_steps_per_s")
    print(
        f"    torch per-cell loop, batch 1 SGD: {num(lp, 'cell_steps_per_s', '.0f')}   {load_of(lp)}"
        f"   packed/loop {fmt_ratio(rl)} (target ≥ {TARGET_B_LOOP:g}×) {verdict(rl, TARGET_B_LOOP)}"
    )
    print(
        f"    target: within {TARGET_B_FLOOR:g}× of the floor (or ≥ {TARGET_B_PEAK:.0%} of peak where"
        f" compute-bound), and ≥ {TARGET_B_ENSEMBLE:g}× the bmm ensemble. The floor counts each weight"
        " and moment read and written once a step; packed times include drawing data, initialisation"
        " and a 1000-point test loss per cell."
    )


def resnet_rows(f, label, target, goal, **match):
    m = f.machine
    # Without `nets` in `match`: the one-net records (the grid's have nets).
    match.setdefault("nets", None)
    b = f.find(f"{label} burn", bench="resnet18", side="probstab", batch=RESNET_BATCH, **match)
    t = f.find(f"{label} torch", bench="resnet18", side="torch", batch=RESNET_BATCH, **match)
    r = ratio(b, t, "images_per_s")
    floor = ""
    if m is not None and b is not None and b.get("flops_per_image"):
        peak_rate = m.peak * m.cores / b["flops_per_image"]
        floor = f"   compute floor {peak_rate:.0f} images/s ({b['flops_per_image'] / 1e6:.1f} MFLOP an image)"
        for name, rec in (("burn", b), ("torch", t)):
            if rec is not None:
                floor += f"; {name} at {rec['images_per_s'] / peak_rate:.1%} of peak"
    machine_line(m)
    print(f"    burn   {num(b, 'images_per_s', '.1f'):>8}   {load_of(b)}")
    print(f"    torch  {num(t, 'images_per_s', '.1f'):>8}   {load_of(t)}")
    goal_text = "" if goal is None else f", goal {goal:g}"
    print(f"    burn/torch {fmt_ratio(r)} (target ≥ {target:g}{goal_text}) {verdict(r, target)}{floor}")


def section_c(f):
    print(f"(c) ResNet-18 (CIFAR stem, full width, 3×32×32), batch {RESNET_BATCH}, training: images/s (higher is better)")
    resnet_rows(f, "(c)", TARGET_C, GOAL_C, width=1.0)


def section_e(f):
    print(
        f"(e) the image twins' ResNet-18 (width {TWIN_WIDTH:g}, 4…32 channels, 1×28×28), batch {RESNET_BATCH},"
        " training: images/s (higher is better)"
    )
    resnet_rows(f, "(e)", TARGET_E, None, width=TWIN_WIDTH)
    grid = [r for r in f.records if r.get("bench") == "resnet18" and r.get("width") == TWIN_WIDTH and r.get("nets")]
    nets = max((r["nets"] for r in grid), default=None)
    if nets is None:
        f.missing.append("(e) grid: not run")
        return
    print(
        f"  a grid: {nets} nets at once, one a core (probstab: its runner's pool; PyTorch: a process a net,"
        " one thread each)"
    )
    resnet_rows(f, "(e) grid", TARGET_E, None, width=TWIN_WIDTH, nets=nets)


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


SECTIONS = {"a": section_a, "b": section_b, "c": section_c, "d": section_d, "e": section_e}


def main():
    p = argparse.ArgumentParser(description="Print the probstab vs PyTorch benchmark table.")
    p.add_argument("results", help="JSON lines written by scripts/bench/run.sh")
    p.add_argument("--only", choices=sorted(SECTIONS), help="one section")
    args = p.parse_args()
    records = load(args.results)
    f = Figures(records)
    peak = next((r for r in records if r.get("bench") == "machine_peak" and "error" not in r), None)
    f.machine = None if peak is None else Machine(peak)
    if f.machine is None:
        f.missing.append("machine peak and bandwidths (cargo bench --bench speed -- machine): no floors")

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

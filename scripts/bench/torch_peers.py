#!/usr/bin/env python3
"""PyTorch peers for probstab's speed benchmarks (the benchmark suite, issue 6).

Each subcommand times one workload on the CPU, in float32, and prints ONE JSON
line on stdout; progress and the per-repeat times go to stderr. run.sh puts
these lines next to the ones from `cargo bench --bench speed` and prints the
ratios. Run it with the venv that setup-torch.sh makes:

    py=$(scripts/bench/setup-torch.sh)
    $py scripts/bench/torch_peers.py two_layer_step --batch 32
    $py scripts/bench/torch_peers.py ensemble --cells 64
    $py scripts/bench/torch_peers.py loop --cells 64
    $py scripts/bench/torch_peers.py resnet18 --batch 32

How each figure is timed (time.perf_counter, after warm-up, median of repeats):

    two_layer_step  one repeat = --steps SGD steps of one d → h → d tanh net:
                    zero_grad, forward, MSE (mean), backward, step, loss.item()
                    us_per_step = median repeat time / steps
    ensemble        one repeat = --steps steps of K nets stacked as W1 [K,h,d],
                    W2 [K,d,h] and trained together with torch.bmm; loss = Σ_k
                    of each cell's mean MSE; per-cell lr [K,1,1]; manual SGD
                    (or, with --optimizer adam, Adam: in-place moments and
                    bias corrections, PyTorch's formula) under no_grad;
                    per-cell losses kept every step
                    cell_steps_per_s = K · steps / median repeat time
    loop            one repeat = the same K cells trained one after another,
                    each as in two_layer_step (model and optimizer built inside
                    the timed region), --steps steps each
                    cell_steps_per_s = K · steps / median repeat time
    resnet18        one repeat = ONE training step (forward, cross-entropy,
                    backward, SGD step, loss.item()) of a CIFAR ResNet-18 on a
                    random [B,3,32,32] batch; --steps repeats. --width 0.0625
                    --in-channels 1 --side 28: the quick image twins' net on
                    Fashion-MNIST's shape (section (e))
                    images_per_s = B / median step time

Data are x ~ N(0, I), y = μx + (1 − μ)·σ·ε with μ = 0.5, σ = 2 (the paper's
teacher, as in the `two_layer` kind), drawn before timing for every step.
"""

import argparse
import json
import math
import multiprocessing
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

MU = 0.5  # μ, teacher signal weight
NOISE_STD = 2.0  # σ, label-noise std
LR = 0.01  # λ of two_layer_step and resnet18
CELL_LR = (0.01, 0.001)  # per-cell λ_k = 0.01 + 0.001·k of ensemble and loop, as in benches/speed.rs
CLASSES = 10  # resnet18 head
BETA1, BETA2, EPS = 0.9, 0.999, 1e-8  # Adam's defaults (and probstab's)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


SPREAD = {}  # of the last timed(): repeats and min/median/max seconds of one repeat


def emit(record, args):
    record.update(impl="torch", threads=args.threads, torch=torch.__version__, **SPREAD)
    print(json.dumps(record), flush=True)


def timed(run, warmup, repeats, label):
    """Call run() `warmup` times untimed, then `repeats` times timed; return
    the median seconds of one timed call. The spread goes into the record
    (`emit`): on a busy machine the minimum is the better guess at idle speed."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    med = statistics.median(times)
    SPREAD.update(repeats=repeats, min_s=min(times), median_s=med, max_s=max(times))
    log(f"{label}: median {med:.4f} s over {repeats} repeats (min {min(times):.4f}, max {max(times):.4f})")
    return med


def teacher_data(shape, generator):
    """x ~ N(0, I), y = μx + (1 − μ)·σ·ε, both of `shape`."""
    x = torch.randn(shape, generator=generator)
    eps = torch.randn(shape, generator=generator)
    return x, MU * x + (1.0 - MU) * NOISE_STD * eps


def two_layer(dim, hidden):
    return nn.Sequential(nn.Linear(dim, hidden, bias=False), nn.Tanh(), nn.Linear(hidden, dim, bias=False))


def train_two_layer(net, opt, x, y):
    """The per-step loop a harness that records every loss runs."""
    loss_fn = nn.MSELoss()
    for i in range(x.shape[0]):
        opt.zero_grad()
        loss = loss_fn(net(x[i]), y[i])
        loss.backward()
        opt.step()
        loss.item()


def cell_lrs(cells):
    first, step = CELL_LR
    return first + step * torch.arange(cells, dtype=torch.float32)


def cell_adam_lrs(cells):
    """Adam's per-cell λ_k = 10⁻⁴·(1 + 0.1·k), as in benches/speed.rs."""
    return 1e-4 * (1 + 0.1 * torch.arange(cells, dtype=torch.float32))


# ---------------------------------------------------------------- (a) one net


def bench_two_layer_step(args):
    g = torch.Generator().manual_seed(args.seed)
    torch.manual_seed(args.seed)
    net = two_layer(args.dim, args.hidden)
    opt = torch.optim.SGD(net.parameters(), lr=LR)
    x, y = teacher_data((args.steps, args.batch, args.dim), g)
    med = timed(
        lambda: train_two_layer(net, opt, x, y),
        args.warmup,
        args.repeats,
        f"two_layer_step batch {args.batch}, {args.steps} steps",
    )
    emit({"bench": "two_layer_step", "batch": args.batch, "us_per_step": med / args.steps * 1e6}, args)


# ------------------------------------------------------ (b) K cells at once


def linear_init(cells, out_features, in_features, generator):
    """nn.Linear's default weights, U(−1/√fan_in, 1/√fan_in), for K cells."""
    bound = 1.0 / math.sqrt(in_features)
    return (torch.rand((cells, out_features, in_features), generator=generator) * 2 - 1) * bound


def bench_ensemble(args):
    k, d, h = args.cells, args.dim, args.hidden
    g = torch.Generator().manual_seed(args.seed)
    w1 = linear_init(k, h, d, g).requires_grad_()  # [K, h, d], PyTorch layout out × in
    w2 = linear_init(k, d, h, g).requires_grad_()  # [K, d, h]
    adam = args.optimizer == "adam"
    lr = (cell_adam_lrs(k) if adam else cell_lrs(k)).view(k, 1, 1)
    x, y = teacher_data((args.steps, k, args.batch, d), g)
    losses = []
    moments = {id(w): (torch.zeros_like(w), torch.zeros_like(w)) for w in (w1, w2)}
    t = [0]

    def update(w):
        if not adam:
            w -= lr * w.grad
            return
        m, v = moments[id(w)]
        m.mul_(BETA1).add_(w.grad, alpha=1 - BETA1)
        v.mul_(BETA2).addcmul_(w.grad, w.grad, value=1 - BETA2)
        step = t[0]
        denom = (v / (1 - BETA2**step)).sqrt_().add_(EPS)
        w -= lr / (1 - BETA1**step) * m / denom

    def run():
        losses.clear()
        for i in range(args.steps):
            hid = torch.tanh(torch.bmm(x[i], w1.transpose(1, 2)))  # [K, B, h]
            out = torch.bmm(hid, w2.transpose(1, 2))  # [K, B, d]
            cell_loss = ((out - y[i]) ** 2).mean(dim=(1, 2))  # [K], each cell's MSE (mean)
            cell_loss.sum().backward()
            t[0] += 1
            with torch.no_grad():
                for w in (w1, w2):
                    update(w)
                    w.grad.zero_()
            losses.append(cell_loss.detach())

    med = timed(run, args.warmup, args.repeats, f"ensemble K={k} batch {args.batch}, {args.steps} steps")
    assert torch.isfinite(torch.stack(losses)).all(), "an ensemble cell diverged"
    cell_steps = k * args.steps
    emit(
        {
            "bench": "ensemble",
            "cells": k,
            "batch": args.batch,
            "optimizer": args.optimizer,
            "us_per_cell_step": med / cell_steps * 1e6,
            "cell_steps_per_s": cell_steps / med,
        },
        args,
    )


def bench_loop(args):
    k = args.cells
    g = torch.Generator().manual_seed(args.seed)
    torch.manual_seed(args.seed)
    lrs = cell_lrs(k).tolist()
    x, y = teacher_data((k, args.steps, args.batch, args.dim), g)

    def run():
        for c in range(k):
            net = two_layer(args.dim, args.hidden)
            opt = torch.optim.SGD(net.parameters(), lr=lrs[c])
            train_two_layer(net, opt, x[c], y[c])

    med = timed(run, args.warmup, args.repeats, f"loop K={k} batch {args.batch}, {args.steps} steps per cell")
    cell_steps = k * args.steps
    emit(
        {
            "bench": "loop",
            "cells": k,
            "batch": args.batch,
            "us_per_cell_step": med / cell_steps * 1e6,
            "cell_steps_per_s": cell_steps / med,
        },
        args,
    )


# --------------------------------------------------------- (c) ResNet-18


def channels(width, stage):
    """round(64·2ˢ·width), at least 1, rounding halves up as Rust's f64::round
    does (crates/models/src/resnet.rs)."""
    return max(1, math.floor(64 * 2**stage * width + 0.5))


class BasicBlock(nn.Module):
    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        skip = x if self.downsample is None else self.downsample(x)
        return F.relu(out + skip)


class ResNet18(nn.Module):
    """CIFAR ResNet-18: 3×3 stride-1 stem, no max-pool, BasicBlocks [2, 2, 2, 2]
    of 64/128/256/512 channels (× width), BatchNorm, global average pool,
    linear head. Module names are torchvision's, as on the Rust side."""

    def __init__(self, width=1.0, in_channels=3, num_classes=CLASSES):
        super().__init__()
        c0 = channels(width, 0)
        self.conv1 = nn.Conv2d(in_channels, c0, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c0)
        c_in = c0
        for stage in range(4):
            c = channels(width, stage)
            stride = 1 if stage == 0 else 2
            setattr(self, f"layer{stage + 1}", nn.Sequential(BasicBlock(c_in, c, stride), BasicBlock(c, c, 1)))
            c_in = c
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c_in, num_classes)
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


def resnet18_trainer(args, seed, device="cpu"):
    """A fresh ResNet-18 of --width and --in-channels on fixed random images
    of --side; returns one SGD training step (which reads the loss back)."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = ResNet18(args.width, args.in_channels).to(device)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    images = torch.randn((args.batch, args.in_channels, args.side, args.side), generator=g).to(device)
    labels = torch.randint(0, CLASSES, (args.batch,), generator=g).to(device)
    log(f"resnet18 width {args.width}: {sum(p.numel() for p in model.parameters()):,} parameters")

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        opt.step()
        loss.item()

    return step


def resnet18_span(args, seed, barrier, spans):
    """(e), grid: one of --nets processes. Two untimed steps, then (once every
    process is ready) --steps timed ones; its start and end on the machine's
    monotonic clock go into `spans`."""
    torch.set_num_threads(args.threads)
    step = resnet18_trainer(args, seed)
    for _ in range(2):
        step()
    barrier.wait()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    spans.put((start, time.perf_counter()))


def bench_resnet18_grid(args):
    """--nets nets trained at once, one process each with --threads threads
    (what a PyTorch user runs for a grid on this many cores): images/s of all
    of them over the span from the first timed step's start to the last
    one's end."""
    ctx = multiprocessing.get_context("spawn")  # fork is unsafe once OpenMP has threads
    barrier, spans = ctx.Barrier(args.nets), ctx.Queue()
    procs = [ctx.Process(target=resnet18_span, args=(args, args.seed + k, barrier, spans)) for k in range(args.nets)]
    for proc in procs:
        proc.start()
    got = [spans.get() for _ in procs]
    for proc in procs:
        proc.join()
    span = max(end for _, end in got) - min(start for start, _ in got)
    log(f"resnet18 grid: {args.nets} nets × {args.steps} steps in {span:.3f} s")
    emit(
        {
            "bench": "resnet18",
            "device": "cpu",
            "batch": args.batch,
            "width": args.width,
            "in_channels": args.in_channels,
            "side": args.side,
            "nets": args.nets,
            "images_per_s": args.nets * args.steps * args.batch / span,
        },
        args,
    )


def bench_resnet18(args):
    if args.nets > 1:
        return bench_resnet18_grid(args)
    step = resnet18_trainer(args, args.seed, args.device)
    med = timed(step, args.warmup, args.steps, f"resnet18 batch {args.batch}, one step")
    emit(
        {
            "bench": "resnet18",
            "device": args.device,
            "batch": args.batch,
            "width": args.width,
            "in_channels": args.in_channels,
            "side": args.side,
            "images_per_s": args.batch / med,
        },
        args,
    )


# ------------------------------------------------------------------- CLI


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="bench", required=True)

    def command(name, fn, help, steps, warmup, repeats):
        s = sub.add_parser(name, help=help)
        s.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
        s.add_argument("--seed", type=int, default=0)
        s.add_argument("--steps", type=int, default=steps, help=f"steps per timed repeat, per cell (default {steps})")
        s.add_argument("--warmup", type=int, default=warmup, help=f"untimed repeats first (default {warmup})")
        if repeats is not None:
            s.add_argument("--repeats", type=int, default=repeats, help=f"timed repeats, median reported (default {repeats})")
        s.set_defaults(fn=fn)
        return s

    def net_args(s, batch):
        s.add_argument("--dim", type=int, default=200, help="d, input and output width")
        s.add_argument("--hidden", type=int, default=200, help="h, hidden width")
        s.add_argument("--batch", type=int, default=batch, help="S, minibatch size")

    s = command("two_layer_step", bench_two_layer_step, "(a) µs per SGD step of one d→h→d tanh net", 2000, 1, 5)
    net_args(s, 1)
    for name, fn, help, steps in [
        ("ensemble", bench_ensemble, "(b) K nets trained together with torch.bmm", 500),
        ("loop", bench_loop, "(b) K nets trained one after another", 300),
    ]:
        s = command(name, fn, help, steps, 1, 3)
        net_args(s, 1)
        s.add_argument("--cells", type=int, default=64, help="K, cells (default 64)")
        if name == "ensemble":
            s.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd")
    # resnet18: each of the --steps steps is one timed repeat.
    s = command("resnet18", bench_resnet18, "(c) CIFAR ResNet-18 training images/s", 20, 3, None)
    s.add_argument("--batch", type=int, default=32)
    s.add_argument("--width", type=float, default=1.0, help="channel multiplier (1.0: 64…512)")
    s.add_argument("--in-channels", type=int, default=3, help="image channels (3: CIFAR, 1: Fashion-MNIST)")
    s.add_argument("--side", type=int, default=32, help="image side in pixels (32: CIFAR, 28: Fashion-MNIST)")
    s.add_argument("--device", default="cpu", help="cpu, or cuda for scripts/gpu-check.sh (loss.item() each step syncs)")
    s.add_argument("--nets", type=int, default=1, help="nets trained at once, a process each (with --threads threads each; CPU)")

    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_default_dtype(torch.float32)
    log(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU, float32")
    args.fn(args)


if __name__ == "__main__":
    main()

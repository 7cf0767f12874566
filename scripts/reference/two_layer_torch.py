#!/usr/bin/env python3
"""PyTorch reference for the `two_layer` kind: a few SGD and Adam steps of a
d → h → d net from a fixed initialisation on a fixed batch.

Writes crates/train/tests/fixtures/torch_two_layer.json, which the Rust test
crates/train/tests/torch_reference.rs replays with burn (issue 3, item 7).
The script installs nothing; run it once by hand, from the repository root:

    python3 -m venv /tmp/torch-venv && /tmp/torch-venv/bin/pip install torch numpy \
        && /tmp/torch-venv/bin/python scripts/reference/two_layer_torch.py

and commit the fixture it writes. CPU only; a CUDA-less machine is fine.

Weights and data are closed-form (no random draws), so the Rust side computes
the same f32 numbers: each value is computed in double precision, in the
order written below, then rounded to f32 (indices from 0, i over a layer's
outputs, j over its inputs, b over the batch):

    W1[i][j] = 0.3 · sin(1 + 7i + 3j) / √d     [h, d]  (PyTorch layout, out × in)
    W2[i][j] = 0.3 · sin(2 + 5i + 11j) / √h    [d, h]
    b1[i]    = 0.1 · cos(3 + 2i)               [h]
    b2[i]    = 0.1 · cos(4 + 3i)               [d]
    x[b][j]  = cos(0.5 + 1.3b + 0.7j)          [batch, d]
    y[b][j]  = sin(0.2 + 0.9b − 0.4j)          [batch, d]

The fixture also holds these initial values, so the Rust test can check that
it rebuilt them bit for bit before comparing the trained ones.
"""

import json
import math
import re
from pathlib import Path

import numpy as np
import torch

DIM = 5  # d, input and output width
HIDDEN = 4  # h, hidden width
BATCH = 3  # rows of the one fixed batch, used at every step
STEPS = 4  # optimizer steps per case
LR = {"sgd": 0.1, "adam": 0.05}  # λ; large enough to move the weights visibly
BETAS = (0.9, 0.999)  # Adam β₁, β₂ (PyTorch's defaults, and probstab's)
EPS = 1e-8  # Adam ε (PyTorch's default, and probstab's `adam_eps`)

# (activation, bias, optimizer, loss). Each activation appears twice with
# opposite settings, so every activation meets both optimizers, both
# reductions and bias on and off; every pair of the three on/off settings
# occurs too (a covering array of strength 2).
CASES = [
    ("linear", False, "sgd", "mean"),
    ("linear", True, "adam", "half_sum"),
    ("tanh", False, "sgd", "half_sum"),
    ("tanh", True, "adam", "mean"),
    ("relu", True, "sgd", "mean"),
    ("relu", False, "adam", "half_sum"),
    ("swish", False, "adam", "mean"),
    ("swish", True, "sgd", "half_sum"),
]

OUT = Path(__file__).resolve().parents[2] / "crates/train/tests/fixtures/torch_two_layer.json"


def f32(rows, cols, value):
    """A [rows, cols] float32 array of value(r, c), computed in double."""
    return np.array([[value(r, c) for c in range(cols)] for r in range(rows)], dtype=np.float64).astype(np.float32)


def initial():
    d, h = DIM, HIDDEN
    return {
        "w1": f32(h, d, lambda i, j: 0.3 * math.sin(1 + 7 * i + 3 * j) / math.sqrt(d)),
        "w2": f32(d, h, lambda i, j: 0.3 * math.sin(2 + 5 * i + 11 * j) / math.sqrt(h)),
        "b1": f32(1, h, lambda _, i: 0.1 * math.cos(3 + 2 * i))[0],
        "b2": f32(1, d, lambda _, i: 0.1 * math.cos(4 + 3 * i))[0],
        "x": f32(BATCH, d, lambda b, j: math.cos(0.5 + 1.3 * b + 0.7 * j)),
        "y": f32(BATCH, d, lambda b, j: math.sin(0.2 + 0.9 * b - 0.4 * j)),
    }


ACTIVATIONS = {"linear": torch.nn.Identity, "tanh": torch.nn.Tanh, "relu": torch.nn.ReLU, "swish": torch.nn.SiLU}


def loss_fn(pred, y, reduction):
    if reduction == "mean":  # PyTorch's MSELoss(): mean over batch and outputs
        return torch.nn.functional.mse_loss(pred, y)
    # half_sum: ½ · Σ over outputs, mean over the batch (the paper's ½(f − y)²)
    return 0.5 * ((pred - y) ** 2).sum(dim=1).mean()


def run(init, activation, bias, optimizer, reduction):
    layer1 = torch.nn.Linear(DIM, HIDDEN, bias=bias)
    layer2 = torch.nn.Linear(HIDDEN, DIM, bias=bias)
    with torch.no_grad():
        layer1.weight.copy_(torch.from_numpy(init["w1"]))
        layer2.weight.copy_(torch.from_numpy(init["w2"]))
        if bias:
            layer1.bias.copy_(torch.from_numpy(init["b1"]))
            layer2.bias.copy_(torch.from_numpy(init["b2"]))
    net = torch.nn.Sequential(layer1, ACTIVATIONS[activation](), layer2)
    lr = LR[optimizer]
    if optimizer == "sgd":
        opt = torch.optim.SGD(net.parameters(), lr=lr)  # no momentum, no weight decay
    else:
        opt = torch.optim.Adam(net.parameters(), lr=lr, betas=BETAS, eps=EPS)
    x, y = torch.from_numpy(init["x"]), torch.from_numpy(init["y"])
    losses = []
    for _ in range(STEPS):  # the loss recorded is the one before each step, as in trainer.rs
        opt.zero_grad()
        loss = loss_fn(net(x), y, reduction)
        losses.append(loss.item())
        loss.backward()
        opt.step()
    flat = lambda t: [float(v) for v in t.detach().numpy().astype(np.float32).ravel()]
    return {
        "activation": activation,
        "bias": bias,
        "optimizer": optimizer,
        "loss": reduction,
        "lr": lr,
        "losses": losses,
        "w1": flat(layer1.weight),
        "w2": flat(layer2.weight),
        "b1": flat(layer1.bias) if bias else None,
        "b2": flat(layer2.bias) if bias else None,
    }


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    init = initial()
    flat = lambda a: [float(v) for v in a.ravel()]
    fixture = {
        "note": (
            "PyTorch reference for crates/train/tests/torch_reference.rs, written by "
            "scripts/reference/two_layer_torch.py (see its docstring). A d→h→d net "
            "nn.Linear(d,h,bias) → σ → nn.Linear(h,d,bias), σ in linear|tanh|relu|swish(SiLU), "
            "trained `steps` steps on the one fixed batch (x, y): SGD(lr) without momentum, or "
            "Adam(lr, betas, eps). Loss `mean` is MSELoss(); `half_sum` is 0.5·Σ_outputs (f−y)² "
            "averaged over the batch. `losses` are before each step; w1, w2, b1, b2 after the "
            "last, float32, row-major in PyTorch's layout (out × in). Initial values, each "
            "computed in double then rounded to f32 (i over outputs, j over inputs, b over rows): "
            "W1[i][j] = 0.3·sin(1+7i+3j)/√d; W2[i][j] = 0.3·sin(2+5i+11j)/√h; "
            "b1[i] = 0.1·cos(3+2i); b2[i] = 0.1·cos(4+3i); "
            "x[b][j] = cos(0.5+1.3b+0.7j); y[b][j] = sin(0.2+0.9b−0.4j)."
        ),
        "torch_version": torch.__version__,
        "dim": DIM,
        "hidden": HIDDEN,
        "batch": BATCH,
        "steps": STEPS,
        "beta1": BETAS[0],
        "beta2": BETAS[1],
        "eps": EPS,
        "init": {k: flat(v) for k, v in init.items()},
        "cases": [run(init, *case) for case in CASES],
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(fixture, indent=1, ensure_ascii=False)
    # One line per list of numbers, so the fixture reads (and diffs) by array.
    text = re.sub(r"\[[^\[\]{}\"]*\]", lambda m: " ".join(m.group(0).split()), text)
    OUT.write_text(text + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({len(CASES)} cases, torch {torch.__version__})")


if __name__ == "__main__":
    main()

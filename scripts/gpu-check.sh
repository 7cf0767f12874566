#!/usr/bin/env bash
# GPU check (issue 5): on a machine with a GPU, build in release and print
#  - the wgpu adapter burn picks,
#  - two_layer training throughput (steps/s) on wgpu against the CPU (flex),
#    for the paper's 200-wide net at batch 1 and 32,
#  - whether memory stays flat over many wgpu steps (peak RSS, and GPU memory
#    from nvidia-smi where present),
#  - ResNet-18 (CIFAR stem, full width) training images/s on wgpu at batch
#    32 and 128, against the CPU at 32 (benches/speed.rs),
#  - a grid of 64 two_layer cells: cell-steps/s on wgpu, packed (one stacked
#    model, train::packed_device) and one cell at a time (--no-pack), against
#    the CPU pack,
#  - the same in PyTorch on the same GPU when torch imports (the venv of
#    scripts/bench/setup-torch.sh, or python3).
#   scripts/gpu-check.sh [STEPS]        (default 2000)
# On a software adapter (lavapipe) the ResNet-18 steps take minutes each:
# PROBSTAB_GPU_CHECK_NO_RESNET=1 skips them.
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-2000}
cargo build --release -p probstab --quiet
bin=${CARGO_TARGET_DIR:-target}/release/probstab
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Mesa's software Vulkan complains on every start without it.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$work}"
# The adapter is printed once below; probstab's warning that a software
# adapter is no GPU would repeat on every run.
export RUST_LOG="${RUST_LOG:-error}"

echo "== machine"
nproc | sed 's/^/cpu cores: /'
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | sed 's/^/gpu: /' || echo "gpu: no nvidia-smi"

cell() { # BACKEND BATCH STEPS -> seconds for the run
    cat >"$work/cell.toml" <<TOML
name = "gpu_check"
kind = "two_layer"
backend = "$1"
[model]
activation = "tanh"
dim = 200
hidden = 200
[data]
mu = 0.5
[train]
lr = 0.01
batch_size = $2
steps = $3
TOML
    rm -rf "$work/out"
    local start end
    start=$(date +%s%N)
    "$bin" run "$work/cell.toml" --out "$work/out" --no-plot --jobs 1 >/dev/null
    end=$(date +%s%N)
    grep -q ',ok,' "$work/out/summary.csv" || { cat "$work/out/summary.csv"; exit 1; }
    echo $(( (end - start) / 1000000 ))
}

echo "== two_layer 200→200→200 tanh, SGD, $steps steps (one cell, wall time incl. start-up)"
for batch in 1 32; do
    cpu_ms=$(cell cpu "$batch" "$steps")
    gpu_ms=$(cell wgpu "$batch" "$steps")
    # The adapter the wgpu cell ran on, as its metrics.json records it.
    [ "$batch" = 1 ] && sed -n 's/^  "device": "\(.*\)",$/wgpu adapter: \1/p' "$work"/out/cells/*/metrics.json
    printf 'batch %3d: cpu %7.1f steps/s   wgpu %7.1f steps/s   wgpu/cpu %.2f\n' "$batch" \
        "$(echo "$steps * 1000 / $cpu_ms" | bc -l)" "$(echo "$steps * 1000 / $gpu_ms" | bc -l)" "$(echo "$cpu_ms / $gpu_ms" | bc -l)"
done

echo "== memory over wgpu steps (a leak grows with the step count)"
declare -a rss gpu_mem
for n in $((steps / 10)) "$steps"; do
    /usr/bin/time -f "%M" -o "$work/rss" "$bin" run "$work/cell.toml" train.steps="$n" --out "$work/mem$n" --no-plot >/dev/null &
    pid=$!
    peak_gpu=0
    while kill -0 "$pid" 2>/dev/null; do
        if command -v nvidia-smi >/dev/null; then
            used=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -1)
            [ "${used:-0}" -gt "$peak_gpu" ] && peak_gpu=$used
        fi
        sleep 0.2
    done
    wait "$pid"
    rss+=($(( $(cat "$work/rss") / 1024 )))
    gpu_mem+=("$peak_gpu")
    printf '%6d steps: peak RSS %d MiB' "$n" "${rss[-1]}"
    command -v nvidia-smi >/dev/null && printf ', peak GPU memory %d MiB' "$peak_gpu"
    echo
done
# Flat means: ten times the steps take at most 10% + 64 MiB more, on the host
# (lavapipe's "GPU" memory is host memory) and on the GPU.
flat() { [ "$2" -le $(( $1 + $1 / 10 + 64 )) ]; }
if flat "${rss[0]}" "${rss[1]}" && flat "${gpu_mem[0]}" "${gpu_mem[1]}"; then
    echo "memory: flat"
else
    echo "memory: GROWS with the step count (host ${rss[*]} MiB, GPU ${gpu_mem[*]} MiB)"
    memory_grew=1
fi

python=python3
venv_python=${PROBSTAB_TORCH_VENV:-$HOME/.cache/probstab/torch-venv}/bin/python
[ -x "$venv_python" ] && python=$venv_python

if [ -z "${PROBSTAB_GPU_CHECK_NO_RESNET:-}" ]; then
    echo "== ResNet-18 (CIFAR stem, full width), SGD training step incl. loss read-back: images/s"
    cargo bench --workspace --bench speed --no-run --quiet
    for batch in 32 128; do
        cargo bench --workspace --bench speed --quiet -- resnet18 "$batch" wgpu
    done
    cargo bench --workspace --bench speed --quiet -- resnet18 32
    if "$python" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
        for batch in 32 128; do
            "$python" scripts/bench/torch_peers.py resnet18 --batch "$batch" --device cuda --steps 20
        done
    else
        echo "(no PyTorch with CUDA here: no GPU peer for ResNet-18)"
    fi
fi

echo "== a grid of 64 two_layer cells (200→200→200 tanh, batch 1, $steps steps): cell-steps/s"
grid() { # BACKEND [FLAGS] -> milliseconds
    sed -e "s/^backend = .*/backend = \"$1\"/" -e "s/^batch_size = .*/batch_size = 1/" "$work/cell.toml" >"$work/grid.toml"
    printf '[grid]\n"train.lr" = { linspace = [0.005, 0.02, 64] }\n' >>"$work/grid.toml"
    rm -rf "$work/grid"
    local start end
    start=$(date +%s%N)
    "$bin" run "$work/grid.toml" --out "$work/grid" --no-plot "${@:2}" >/dev/null
    end=$(date +%s%N)
    echo $(( (end - start) / 1000000 ))
}
cpu_ms=$(grid cpu)
gpu_ms=$(grid wgpu)
gpu_single_ms=$(grid wgpu --no-pack)
rate() { echo "64 * $steps * 1000 / $1" | bc -l; }
printf 'cpu (packed) %9.0f   wgpu (packed) %9.0f   wgpu (one cell at a time) %9.0f cell-steps/s\n' \
    "$(rate "$cpu_ms")" "$(rate "$gpu_ms")" "$(rate "$gpu_single_ms")"

if "$python" -c "import torch" 2>/dev/null; then
    echo "== PyTorch peer on the same machine"
    "$python" - "$steps" <<'PY'
import sys, time, torch
steps = int(sys.argv[1])
dev = "cuda" if torch.cuda.is_available() else "cpu"
for batch in (1, 32):
    net = torch.nn.Sequential(torch.nn.Linear(200, 200, bias=False), torch.nn.Tanh(), torch.nn.Linear(200, 200, bias=False)).to(dev)
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    x = torch.randn(steps, batch, 200, device=dev); y = 0.5 * x + 0.5 * 2 * torch.randn_like(x)
    if dev == "cuda": torch.cuda.synchronize()
    t = time.perf_counter()
    for i in range(steps):
        loss = torch.nn.functional.mse_loss(net(x[i]), y[i])
        opt.zero_grad(); loss.backward(); opt.step()
        loss.item()  # probstab reads every loss (divergence check, trace)
    if dev == "cuda": torch.cuda.synchronize()
    print(f"batch {batch:3d}: torch ({dev}) {steps / (time.perf_counter() - t):7.1f} steps/s")
PY
else
    echo "== PyTorch peer: not installed (python3 -m venv /tmp/v && /tmp/v/bin/pip install torch; PATH=/tmp/v/bin:\$PATH $0)"
fi

[ -z "${memory_grew:-}" ] || { echo "FAIL: memory grew over steps" >&2; exit 1; }

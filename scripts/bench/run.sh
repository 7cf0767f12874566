#!/usr/bin/env bash
# The benchmark suite (issue 6): probstab against PyTorch on this machine's CPU.
#
#   scripts/bench/run.sh [--quick] [--only a|b|c|d|e] [--threads N] [--out FILE]
#
#   (a) µs per SGD step of the 200→200→200 tanh net, burn vs PyTorch, batch 1 and 32
#   (b) cell-steps/s of 64 packed cells at batch 1, 8, 32 and 64, SGD and Adam,
#       vs a PyTorch bmm ensemble (and, at batch 1, a per-cell loop), each
#       beside its floor
#   (c) ResNet-18 (CIFAR) training images/s at batch 32, burn / PyTorch
#   (d) seconds and accuracy of the 400×400 saddle phase diagram
#   (e) the image twins' ResNet-18 (1/16 width, 1×28×28) images/s at batch 32:
#       one net on every thread, and a grid (one net a core at once: probstab's
#       runner, or a PyTorch process a core with one thread each)
#
# First it measures the machine (`cargo bench --bench speed -- machine`: one
# core's peak FLOP/s and each cache level's bandwidth, all cores busy); a
# figure's floor is the larger of its FLOP time at that peak and its memory
# time at the bandwidth of the level its working set fits in.
#
# It installs PyTorch in a venv (scripts/bench/setup-torch.sh, once), builds
# probstab's benches, runs `cargo bench --bench speed -- NAME [ARGS]` and
# scripts/bench/torch_peers.py one at a time, collects their JSON lines with
# the load average in FILE (default target/bench/speed.jsonl), and prints the
# table (scripts/bench/summarise.py FILE prints it again).
#
#   --quick      fewer steps everywhere (a smoke test, not figures to quote);
#                the Rust side gets a trailing `quick` argument
#   --only X     one section
#   --threads N  threads for both sides: torch.set_num_threads(N) and
#                RAYON_NUM_THREADS=N for burn (default: nproc)
#
# Without a working venv it says so, skips the PyTorch side and still prints
# probstab's figures. Exits 1 if any figure is missing. Quote figures from an
# otherwise idle machine; the table shows the load before each one.
set -euo pipefail
cd "$(dirname "$0")/../.."
here=scripts/bench

quick=0
only=""
threads=$(nproc)
out=${CARGO_TARGET_DIR:-target}/bench/speed.jsonl
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
    case $1 in
        --quick) quick=1 ;;
        --only) only=${2:?--only needs a, b, c, d or e}; shift ;;
        --threads) threads=${2:?--threads needs a number}; shift ;;
        --out) out=${2:?--out needs a file}; shift ;;
        -h | --help) usage ;;
        *) echo "error: unknown argument '$1'" >&2; usage ;;
    esac
    shift
done
case $only in "" | a | b | c | d | e) ;; *) echo "error: --only takes a, b, c, d or e, not '$only'" >&2; exit 2 ;; esac
want() { [ -z "$only" ] || [ "$only" = "$1" ]; }

export RAYON_NUM_THREADS=$threads
mkdir -p "$(dirname "$out")"
: >"$out"

# Append a record (JSON object text) to $out with extra fields: SIDE LOAD JSON.
record() {
    python3 -c 'import json, sys; r = json.loads(sys.argv[3]); r.update(side=sys.argv[1], load1=float(sys.argv[2])); print(json.dumps(r))' \
        "$1" "$2" "$3" >>"$out"
}
failed() { # SIDE BENCH ERROR [FIELD=INT ...]: a record that says why a figure is missing
    python3 -c '
import json, sys
r = {"bench": sys.argv[2], "side": sys.argv[1], "error": sys.argv[3]}
r.update((k, int(v) if v.isdigit() else v) for k, v in (a.split("=") for a in sys.argv[4:]))
print(json.dumps(r))' "$@" >>"$out"
}
# Run one benchmark: SIDE BENCH FIELDS -- COMMAND...; FIELDS (e.g. batch=1)
# identify the figure in a failure record. Its stdout's JSON lines are kept.
bench() {
    local side=$1 name=$2 fields=() load lines line
    shift 2
    while [ "$1" != "--" ]; do fields+=("$1"); shift; done
    shift
    load=$(cut -d' ' -f1 /proc/loadavg)
    echo "-- $side: $name ${fields[*]} (load $load)" >&2
    if ! lines=$("$@"); then
        echo "error: $side $name ${fields[*]} failed: $*" >&2
        failed "$side" "$name" "exited non-zero: $*" "${fields[@]}"
        return 0
    fi
    lines=$(grep '^{' <<<"$lines" || true)
    if [ -z "$lines" ]; then
        echo "error: $side $name ${fields[*]} printed no JSON line" >&2
        failed "$side" "$name" "no JSON line from: $*" "${fields[@]}"
        return 0
    fi
    while IFS= read -r line; do record "$side" "$load" "$line"; done <<<"$lines"
}

echo "== machine" >&2
cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //' || echo unknown)
echo "cpu: $cpu; $(nproc) cores; $threads threads per benchmark; $(uptime | sed 's/.*load/load/')" >&2

echo "== (i) PyTorch venv" >&2
py=""
torch_version="not installed"
if py=$("$here/setup-torch.sh"); then
    torch_version=$("$py" -c 'import torch; print(torch.__version__)')
else
    py=""
    echo "warning: no PyTorch venv (see the error above); skipping the PyTorch side, probstab's figures only" >&2
fi
python3 -c '
import json, sys
keys = ("date", "commit", "cpu", "nproc", "threads", "torch", "quick")
print(json.dumps(dict(zip(keys, sys.argv[1:]), bench="machine")))' \
    "$(date -u +%FT%TZ)" "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
    "$cpu" "$(nproc)" "$threads" "$torch_version" "$quick" >>"$out"

echo "== (ii) building probstab's benches" >&2
rust=1
if ! cargo bench --workspace --no-run; then
    rust=0
    echo "error: cargo bench --workspace --no-run failed; skipping probstab's side" >&2
fi

echo "== (iii) probstab" >&2
rust_quick=""
[ "$quick" = 1 ] && rust_quick=quick
rust_bench() { # NAME [ARG] FIELDS...
    local name=$1 arg=${2:-} fields=("${@:3}")
    if [ "$rust" = 0 ]; then
        failed probstab "$name" "benches did not build" "${fields[@]}"
        return 0
    fi
    # shellcheck disable=SC2086 # ARG holds several words
    bench probstab "$name" "${fields[@]}" -- cargo bench --workspace --bench speed -- "$name" $arg ${rust_quick:+"$rust_quick"}
}
B_BATCHES=(1 8 32 64)
rust_bench machine ""
if want a; then
    rust_bench two_layer_step 1 batch=1
    rust_bench two_layer_step 32 batch=32
fi
if want b; then
    for batch in "${B_BATCHES[@]}"; do
        rust_bench packed "64 $batch" cells=64 batch="$batch" optimizer=sgd
        rust_bench packed "64 $batch adam" cells=64 batch="$batch" optimizer=adam
    done
fi
want c && rust_bench resnet18 32 batch=32
want d && rust_bench saddle_phase_diagram ""
if want e; then
    rust_bench resnet18 "32 twin" batch=32
    rust_bench resnet18 "32 grid" batch=32 nets="$threads"
fi

echo "== (iv) PyTorch" >&2
torch_bench() { # NAME FIELDS... -- ARGS...
    local name=$1 fields=()
    shift
    while [ "$1" != "--" ]; do fields+=("$1"); shift; done
    shift
    if [ -z "$py" ]; then
        failed torch "$name" "PyTorch venv missing (scripts/bench/setup-torch.sh failed)" "${fields[@]}"
        return 0
    fi
    bench torch "$name" "${fields[@]}" -- "$py" "$here/torch_peers.py" "$name" --threads "$threads" "$@"
}
if [ "$quick" = 1 ]; then
    a_steps=(--steps 300 --repeats 3) loop_steps=(--steps 50) c_steps=(--steps 5 --warmup 1) e_steps=(--steps 10 --warmup 2) e_grid_steps=10
else
    a_steps=() loop_steps=() c_steps=() e_steps=(--steps 60 --warmup 5) e_grid_steps=84
fi
if want a; then
    torch_bench two_layer_step batch=1 -- --batch 1 "${a_steps[@]}"
    torch_bench two_layer_step batch=32 -- --batch 32 "${a_steps[@]}"
fi
if want b; then
    for batch in "${B_BATCHES[@]}"; do
        # The ensemble draws its data before timing: fewer steps at larger batches.
        steps=$((500 / batch < 25 ? 25 : 500 / batch))
        [ "$quick" = 1 ] && steps=$((steps / 5))
        for opt in sgd adam; do
            torch_bench ensemble cells=64 batch="$batch" optimizer="$opt" -- --cells 64 --batch "$batch" --optimizer "$opt" --steps "$steps"
        done
    done
    torch_bench loop cells=64 -- --cells 64 "${loop_steps[@]}"
fi
want c && torch_bench resnet18 batch=32 -- --batch 32 "${c_steps[@]}"
if want e; then
    torch_bench resnet18 batch=32 -- --batch 32 --width 0.0625 --in-channels 1 --side 28 "${e_steps[@]}"
    # A grid: one net per core at once, a process each with one thread.
    torch_bench resnet18 batch=32 nets="$threads" -- --batch 32 --width 0.0625 --in-channels 1 --side 28 \
        --nets "$threads" --threads 1 --steps "${e_grid_steps}"
fi

echo "== (v) results ($out)" >&2
python3 "$here/summarise.py" "$out" ${only:+--only "$only"}

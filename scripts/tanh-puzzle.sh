#!/usr/bin/env bash
# The tanh puzzle (docs/tanh-puzzle.md): the 200-wide tanh net of
# configs/fig7_two_layer.toml keeps rank ~200 where the paper's Fig. 7 shows
# collapse. Runs the tanh half of Fig. 7 on its collapse corner (λ ≥ 0.1,
# μ ≤ 0.3: 4 × 4 cells, where the linear net collapses) under one changed
# setting at a time and prints a markdown table of what each gave.
#   scripts/tanh-puzzle.sh [OUT]        (OUT defaults to results/tanh-puzzle)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-results/tanh-puzzle}
cargo build --release -p probstab --quiet
bin=${CARGO_TARGET_DIR:-target}/release/probstab
defaults="model.activation=tanh grid.train.lr=[0.1,0.15,0.2,0.25] grid.data.mu=[0.0,0.1,0.2,0.3]"

# name | overrides (space-separated KEY=VALUE)
settings=(
  "paper's setup (20k steps, N(0, 4I) noise, MSE mean, default init, S = 1)|"
  "linear net, same setup (the reference)|model.activation=linear"
  "5× the steps (100k)|train.steps=100000"
  "caption's noise N(0, √2 I): σ = 2^¼|data.noise_std=1.189207"
  "noise σ = √2|data.noise_std=1.414214"
  "small init (init_scale 0.1)|model.init_scale=0.1"
  "tiny init (init_scale 0.01)|model.init_scale=0.01"
  "tiny init and 100k steps|model.init_scale=0.01 train.steps=100000"
  "loss ½·sum over outputs at λ/10: 10× the step of the mean loss (½·sum has 100× its gradient)|train.loss=half_sum grid.train.lr=[0.01,0.015,0.02,0.025]"
  "batch size 8|train.batch_size=8"
  "biases in both layers (PyTorch's nn.Linear default)|model.bias=true"
  "larger λ (0.3 to 0.6)|grid.train.lr=[0.3,0.4,0.5,0.6]"
  "a 50× looser rank tolerance (measure.rank_rtol = 0.05)|measure.rank_rtol=0.05"
)

printf '| setting | cells ok | collapsed (rank_w2 < 198) | rank_w2 min / median / max | time |\n|---|---|---|---|---|\n'
for entry in "${settings[@]}"; do
  name=${entry%%|*}
  overrides=${entry#*|}
  dir="$out/$(echo "$name" | tr -c 'A-Za-z0-9' '_' | cut -c1-40)"
  rm -rf "$dir"
  # The defaults, less the keys this setting overrides, then its overrides.
  args=()
  for d in $defaults; do
    case " $overrides" in *" ${d%%=*}="*) ;; *) args+=("$d") ;; esac
  done
  # shellcheck disable=SC2206
  args+=($overrides)
  start=$(date +%s)
  "$bin" run configs/fig7_two_layer.toml "${args[@]}" --out "$dir" --no-plot > /dev/null
  secs=$(( $(date +%s) - start ))
  python3 - "$dir/summary.csv" "$name" "$secs" <<'EOF'
import csv, statistics, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["status"] == "ok"]
ranks = sorted(float(r["rank_w2"]) for r in rows)
collapsed = sum(r < 198 for r in ranks)
print(f"| {sys.argv[2]} | {len(rows)} | {collapsed} | {ranks[0]:.0f} / {statistics.median(ranks):.0f} / {ranks[-1]:.0f} | {sys.argv[3]} s |")
EOF
done

#!/usr/bin/env bash
# Run every paper config in configs/ (theory and simulation kinds), render its
# [[plot]] figures, print the wall time of each, and with --gallery copy the
# README's figures into docs/gallery/; --quick runs the quick training twins
# in configs/quick/ instead.
#   scripts/figures.sh [--gallery | --quick] [OUT]     (OUT defaults to results/)
set -euo pipefail
cd "$(dirname "$0")/.."
gallery=0
configs="fig1b_bernoulli fig2_outlier fig3_lambda_mu fig3_lambda_s fig4_finite_n fig6_trajectories quick/folder_mlp"
if [ "${1:-}" = "--gallery" ]; then gallery=1; shift; fi
if [ "${1:-}" = "--quick" ]; then
  configs="quick/fig1a_tanh_neuron quick/fig5_from_a quick/fig5_from_b quick/fig7_two_layer quick/fig8_relu_swish quick/fig8_adam"
  shift
fi
out=${1:-results}
cargo build --release -p probstab --quiet
bin=${CARGO_TARGET_DIR:-target}/release/probstab
for name in $configs; do
  rm -rf "$out/$name"
  start=$(date +%s%N)
  "$bin" run "configs/$name.toml" --out "$out/$name" > /dev/null
  end=$(date +%s%N)
  cells=$(($(wc -l < "$out/$name/summary.csv") - 1))
  ms=$(( (end - start) / 1000000 ))
  printf '%-20s %6d cells  %3d.%01d s (run + plots, %s cores)\n' "$name" "$cells" $((ms / 1000)) $((ms % 1000 / 100)) "$(nproc)"
done
if [ "$gallery" = 1 ]; then
  mkdir -p docs/gallery
  cp "$out/fig1b_bernoulli/plots/phase.png" docs/gallery/fig1b_bernoulli_phase.png
  cp "$out/fig2_outlier/plots/stable__regression.n=10.png" docs/gallery/fig2_outlier_n10.png
  cp "$out/fig3_lambda_mu/plots/phase.png" docs/gallery/fig3_lambda_mu_phase.png
  cp "$out/fig3_lambda_s/plots/phase.png" docs/gallery/fig3_lambda_s_phase.png
  cp "$out/fig4_finite_n/plots/phase__saddle.n=8.png" docs/gallery/fig4_n8_phase.png
  cp "$out/fig4_finite_n/plots/phase__saddle.n=100.png" docs/gallery/fig4_n100_phase.png
  cp "$out/fig6_trajectories/plots/trace__regression.lr=0.3.png" docs/gallery/fig6_lr0.3_trace.png
  cp "$out/quick/folder_mlp/plots/rank.png" docs/gallery/quick_folder_mlp_rank.png
fi

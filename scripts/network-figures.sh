#!/usr/bin/env bash
# The paper's network figures at full scale on the CPU (docs/network-figures.md):
# Figs. 7 and 8 (800 cells of 20,000 steps of a 200-wide net each), their
# two_layer_theory twins and compare scores, the heatmaps with the κ line and
# the predicted-rank boundary, the Fashion-MNIST noise grid with error bars,
# and the tanh puzzle's table. Prints the wall time of each run; with
# --gallery copies the README's pictures into docs/gallery/.
#   scripts/network-figures.sh [--gallery] [OUT]     (OUT defaults to results/network)
set -euo pipefail
cd "$(dirname "$0")/.."
gallery=0
if [ "${1:-}" = "--gallery" ]; then gallery=1; shift; fi
out=${1:-results/network}
cargo build --release -p probstab --quiet
bin=${CARGO_TARGET_DIR:-target}/release/probstab
mkdir -p "$out"

timed() { # NAME, then the probstab arguments
  local name=$1
  shift
  local start end
  start=$(date +%s)
  "$bin" "$@" > /dev/null
  end=$(date +%s)
  printf '%-28s %5d s  (%s cores)\n' "$name" $((end - start)) "$(nproc)"
}

for c in fig7_two_layer fig8_relu_swish fig8_adam; do
  rm -rf "${out:?}/$c"
  timed "$c" run "configs/$c.toml" --out "$out/$c" --no-plot
done
for c in fig7_two_layer fig8_relu_swish; do
  rm -rf "${out:?}/${c}_theory"
  timed "$c theory" run "configs/$c.toml" kind=two_layer_theory --out "$out/${c}_theory" --no-plot
done
rm -rf "${out:?}/fmnist_mlp_noise"
timed fmnist_mlp_noise run configs/quick/fmnist_mlp_noise.toml --out "$out/fmnist_mlp_noise"

# Heatmaps: the κ line (the 1-D theory) and the network's own predicted
# boundary (ReLU and Adam cells are n/a to the network theory: none drawn).
plot() { "$bin" plot "$@" > /dev/null; }
for a in linear tanh; do
  plot "$out/fig7_two_layer" --metric rank_w2 --where model.activation=$a \
    --prediction "$out/fig7_two_layer_theory" --file "full_fig7_$a"
  plot "$out/fig8_adam" --metric rank_w2 --where model.activation=$a --file "full_fig8_adam_$a"
done
plot "$out/fig8_relu_swish" --metric rank_w2 --where model.activation=swish \
  --prediction "$out/fig8_relu_swish_theory" --file full_fig8_swish
plot "$out/fig8_relu_swish" --metric rank_w2 --where model.activation=relu --file full_fig8_relu

# Compare scores (per activation, in each theory directory's compare/).
"$bin" compare "$out/fig7_two_layer" "$out/fig7_two_layer_theory"
"$bin" compare "$out/fig8_relu_swish" "$out/fig8_relu_swish_theory"

scripts/tanh-puzzle.sh "$out/tanh-puzzle" | tee "$out/tanh-puzzle.md"

if [ "$gallery" = 1 ]; then
  mkdir -p docs/gallery
  for f in full_fig7_linear full_fig7_tanh full_fig8_swish full_fig8_relu; do
    src=$(ls "$out"/fig*/plots/"$f".png)
    cp "$src" "docs/gallery/$f.png"
  done
  cp "$out/fig8_adam/plots/full_fig8_adam_linear.png" docs/gallery/
  cp "$out/fig8_adam/plots/full_fig8_adam_tanh.png" docs/gallery/
  cp "$out/fmnist_mlp_noise/plots/rank.png" docs/gallery/fmnist_mlp_noise_rank.png
fi

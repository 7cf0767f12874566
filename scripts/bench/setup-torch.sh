#!/usr/bin/env bash
# Install the PyTorch peers' Python environment (the benchmark suite, issue 6).
# Creates a venv at $PROBSTAB_TORCH_VENV (default ~/.cache/probstab/torch-venv)
# if it is missing, installs the CPU build of torch and numpy from the default
# index (no version pin), and prints the venv's python path on stdout; all
# other output goes to stderr. A second run only checks the imports (~2 s).
# Needs ~1-5 GB of disk and ~2 min the first time.
#   scripts/bench/setup-torch.sh
set -euo pipefail
venv=${PROBSTAB_TORCH_VENV:-$HOME/.cache/probstab/torch-venv}
py=$venv/bin/python

if [ -x "$py" ] && "$py" -c "import torch, numpy" 2>/dev/null; then
    echo "torch $("$py" -c 'import torch; print(torch.__version__)') already in $venv" >&2
    echo "$py"
    exit 0
fi

if [ ! -x "$py" ]; then
    echo "creating venv $venv" >&2
    mkdir -p "$(dirname "$venv")"
    if ! python3 -m venv "$venv" >&2; then
        echo "error: could not create a venv at $venv (is python3-venv installed?)" >&2
        rm -rf "$venv"
        exit 1
    fi
fi
echo "installing torch and numpy into $venv (first time: ~2 min, 1-5 GB)" >&2
if ! "$py" -m pip install --quiet torch numpy >&2; then
    echo "error: pip install torch numpy failed in $venv" >&2
    exit 1
fi
echo "torch $("$py" -c 'import torch; print(torch.__version__)') installed in $venv" >&2
echo "$py"

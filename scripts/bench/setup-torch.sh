#!/usr/bin/env bash
# Install the PyTorch peers' Python environment (the benchmark suite, issue 6).
# Creates a venv at $PROBSTAB_TORCH_VENV (default ~/.cache/probstab/torch-venv)
# if it is missing, installs torch and numpy from the default index (no
# version pin), and prints the venv's python path on stdout; all other output
# goes to stderr. A second run only checks the imports (~2 s). On Linux x86-64
# the default index serves the CUDA build (5.4 GB installed, ~1.5 min here);
# the benchmarks only use its CPU side.
#   scripts/bench/setup-torch.sh
set -euo pipefail
venv=${PROBSTAB_TORCH_VENV:-$HOME/.cache/probstab/torch-venv}
py=$venv/bin/python

if [ -x "$py" ] && version=$("$py" -c 'import numpy, torch; print(torch.__version__)' 2>/dev/null); then
    echo "torch $version already in $venv" >&2
    echo "$py"
    exit 0
fi

if [ ! -x "$py" ]; then
    echo "creating venv $venv" >&2
    if ! { mkdir -p "$(dirname "$venv")" && python3 -m venv "$venv" >&2; }; then
        echo "error: could not create a venv at $venv (is python3-venv installed? is the path writable?)" >&2
        exit 1
    fi
fi
echo "installing torch and numpy into $venv (first time: ~2 min, ~5 GB)" >&2
if ! "$py" -m pip install --quiet torch numpy >&2; then
    echo "error: pip install torch numpy failed in $venv" >&2
    exit 1
fi
echo "torch $("$py" -c 'import torch; print(torch.__version__)') installed in $venv" >&2
echo "$py"

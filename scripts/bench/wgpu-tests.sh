#!/usr/bin/env bash
# Wall time of each wgpu test binary as `cargo test --workspace --release`
# runs it (its order, default test threads), on an empty Mesa shader cache
# and then again on the cache that run left (docs/performance.md, "wgpu
# tests on a cold cache"). Needs lavapipe (mesa-vulkan-drivers).
#
#   scripts/bench/wgpu-tests.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${HOME:-/root}/.cache/probstab/target}"
export PROBSTAB_REQUIRE_WGPU=1
cache=$(mktemp -d)
logs=$(mktemp -d)
trap 'rm -rf "$cache"' EXIT
export MESA_SHADER_CACHE_DIR="$cache"

# The test binaries' paths, from cargo's own listing.
list=$(cargo test --workspace --release --no-run --message-format=json-render-diagnostics |
    python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"]:
        print(m["target"]["name"], m["executable"])')
binary() { # the path after the name (paths may hold spaces)
    local path
    path=$(awk -v n="$1" '$1 == n {sub(/^[^ ]+ /, ""); print}' <<<"$list")
    [[ -n $path ]] || { echo "test binary $1 was not built" >&2; exit 1; }
    echo "$path"
}

run() { # name crate filter...
    local name=$1 crate=$2
    shift 2
    local start end path
    path=$(binary "$name") || exit 1
    start=$(date +%s.%N)
    (cd "crates/$crate" && "$path" "$@" >"$logs/$name.txt" 2>&1) ||
        { echo "$name failed: $logs/$name.txt" >&2; exit 1; }
    end=$(date +%s.%N)
    python3 -c "print(f'  {\"$name\":<12} {$end - $start:6.0f} s')"
}

for pass in "empty cache" "the last run's cache"; do
    echo "== $pass"
    start=$(date +%s.%N)
    run backends probstab
    run wgpu_layers train
    run wgpu_memory train
    run packed train wgpu
    end=$(date +%s.%N)
    python3 -c "print(f'  {\"all\":<12} {$end - $start:6.0f} s')"
done
echo "test output: $logs"

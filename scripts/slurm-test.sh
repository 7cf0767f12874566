#!/usr/bin/env bash
# A real test of `probstab slurm` on a one-node Slurm cluster on localhost.
#
#   scripts/slurm-test.sh            (as root, Debian 12; run by .ci/run)
#
# 1. Installs Debian's slurm-wlm and munge if they are missing (apt-get).
# 2. Starts munged, slurmctld and slurmd from a private directory: own munge
#    key and socket, own ports, a minimal slurm.conf (proctrack/linuxproc,
#    task/none, select/cons_tres, no accounting), so no cgroups are needed and
#    nothing on the machine is touched.
# 3. Submits two grids as job arrays with `probstab slurm --submit`:
#    A: Fig. 3's saddle theory shrunk to 20 x 10 = 200 cells, 50 per task, at
#       most 2 tasks at once;
#    C: 6 two_layer cells (burn training on the CPU), 3 per task.
#    B: 24 Monte Carlo cells of saddle_sim (u.w saddle trajectories), 12 per
#       task. B is cancelled with scancel once a few cells are done (Slurm
#       sends SIGTERM): it stops, is not requeued, and is submitted again,
#       which finishes the rest.
#    D: 2 image_classifier cells (Fashion-MNIST, a narrow ResNet-18), one per
#       task. Once both train, each task gets SIGUSR1 (`scancel --signal=USR1
#       --batch`: what `--signal=B:USR1@GRACE` sends before a time limit): it
#       checkpoints, stops and requeues itself; the requeued task resumes.
#       Its traces must equal a local run's byte for byte, and `status`
#       must count the 2 requeues.
# 4. Waits (polling `probstab status`, with a timeout), checks that every
#    array task COMPLETED, that `probstab status` shows every cell complete,
#    and that `probstab collect` gives a summary.csv (and trace.csv files)
#    equal byte for byte to a local `probstab run` of the same grid.
#
# 5. With PROBSTAB_SLURM_TIME_LIMIT=1 (not in CI: about 7 minutes more),
#    grid E: one image cell of ~2 minutes under a 2-minute limit with the
#    warning 60 s before it. Slurm itself sends SIGUSR1 (up to a minute
#    early), the task checkpoints and requeues itself, and Slurm holds a
#    requeued job ~2 minutes: the grid must finish alone, with the trace of
#    a local run (measured: 2 requeues, 7 min 7 s).
#
# --mem is not tested here: this cluster runs without a cgroup plugin, so
# Slurm would not enforce it (the memory check reads cgroup files: unit
# tests in crates/train/src/memory.rs).
#
# If a daemon does not start, a job fails or anything times out, it prints
# the daemon and job logs and exits non-zero. Set KEEP=1 to keep the work
# directory. PROBSTAB=path/to/probstab skips the cargo build.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
t0=$SECONDS
say() { echo "[slurm-test $((SECONDS - t0))s] $*"; }

# --- 1. packages -------------------------------------------------------------
if [ "$(id -u)" != 0 ]; then
    echo "slurm-test: must run as root (it installs packages and starts slurmd)" >&2
    exit 1
fi
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
    say "installing slurm-wlm and munge"
    export DEBIAN_FRONTEND=noninteractive
    install() { apt-get install -y -qq --no-install-recommends slurm-wlm munge >/tmp/slurm-test-apt.log 2>&1; }
    install || { apt-get update -qq && install; } || { cat /tmp/slurm-test-apt.log >&2; exit 1; }
fi

if [ -z "${PROBSTAB:-}" ]; then
    say "cargo build --release -p probstab (a no-op after the tests)"
    cargo build --release -p probstab --quiet
    PROBSTAB="${CARGO_TARGET_DIR:-target}/release/probstab"
fi
probstab=$(realpath "$PROBSTAB")
test -x "$probstab"

# --- 2. a one-node cluster -----------------------------------------------------
work=$(mktemp -d /tmp/probstab-slurm.XXXXXX)
mkdir -p "$work"/{munge-key,munge,state,spool,log,results,local}
chmod 700 "$work/munge-key"
chmod 755 "$work/munge"
export SLURM_CONF="$work/slurm.conf"

dump_logs() {
    for f in "$work"/log/* "$work"/results/*/slurm/*.out; do
        [ -f "$f" ] || continue
        echo "----- $f (last 40 lines)"
        tail -n 40 "$f"
    done
    echo "----- squeue"; squeue 2>&1 || true
    echo "----- sinfo"; sinfo -N -l 2>&1 || true
}
stop_daemons() { # by the pids they wrote: nothing else on the machine is touched
    local pids=() pid
    for pidfile in "$work/slurmd.pid" "$work/slurmctld.pid" "$work/munge/munged.pid"; do
        [ -s "$pidfile" ] && pid=$(cat "$pidfile") && kill "$pid" 2>/dev/null && pids+=("$pid")
    done
    for pid in "${pids[@]}"; do
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    done
}
finish() {
    status=$?
    if [ "$status" != 0 ]; then
        echo "slurm-test: FAILED (exit $status) after $((SECONDS - t0)) s; logs follow" >&2
        dump_logs >&2
    fi
    local stop=$SECONDS
    stop_daemons
    echo "slurm-test: daemons stopped in $((SECONDS - stop)) s, total $((SECONDS - t0)) s"
    if [ "${KEEP:-0}" = 1 ] || [ "$status" != 0 ]; then echo "slurm-test: work directory kept: $work" >&2; else rm -rf "$work"; fi
    exit "$status"
}
trap finish EXIT
fail() { echo "slurm-test: $*" >&2; exit 1; }

dd if=/dev/urandom of="$work/munge-key/key" bs=1024 count=1 status=none
chmod 600 "$work/munge-key/key"
munged --force --socket="$work/munge/socket" --key-file="$work/munge-key/key" \
    --log-file="$work/log/munged.log" --pid-file="$work/munge/munged.pid" --seed-file="$work/munge/seed" \
    || fail "munged did not start"

# The node line as slurmd itself sees this machine (real hostname, CPUs,
# sockets), without RealMemory: jobs ask for no memory, and a figure above
# what slurmd measures at start would drain the node.
node=$(slurmd -C | head -n 1 | sed 's/ RealMemory=[0-9]*//')
host=$(sed 's/^NodeName=\([^ ]*\).*/\1/' <<<"$node")
port=$((20000 + RANDOM % 20000))
cat >"$SLURM_CONF" <<EOF
ClusterName=probstab-test
SlurmctldHost=$host
SlurmUser=root
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$work/munge/socket
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
KillWait=10
SchedulerParameters=batch_sched_delay=0
$node State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
slurmctld -f "$SLURM_CONF" || fail "slurmctld did not start"
slurmd -f "$SLURM_CONF" || fail "slurmd did not start"
for i in $(seq 150); do
    state=$(sinfo -h -n "$host" -o %T 2>/dev/null || true)
    [ "$state" = idle ] && break
    [ "$i" = 150 ] && fail "node $host is not idle after 15 s (state: ${state:-none})"
    sleep 0.1
done
say "cluster up: $node"

# --- 3. submit ---------------------------------------------------------------
A_ARGS=(configs/fig3_lambda_mu.toml 'grid.saddle.lr={ linspace = [0.02, 4.0, 20] }' 'grid.saddle.mu={ linspace = [0.0, 1.0, 10] }')
cat >"$work/saddle_sim.toml" <<'EOF'
# u.w saddle trajectories (Fig. 6 settings for the saddle): 6 x 4 = 24 cells.
name = "saddle_sim"
kind = "saddle_sim"
seed = 0

[saddle]
mu = 0.5
lr = 0.1

[sim]
trajectories = 400
steps = 6000
trace_points = 20
trace_samples = 2

[grid]
"saddle.lr" = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
"saddle.mu" = [0.1, 0.3, 0.5, 0.7]
EOF
B_ARGS=("$work/saddle_sim.toml")
cat >"$work/two_layer.toml" <<'EOF'
# A small two_layer grid (burn training on the CPU): 2 x 3 = 6 cells.
name = "two_layer"
kind = "two_layer"

[model]
activation = "tanh"
dim = 8
hidden = 8

[data]
mu = 0.5

[train]
lr = 0.1
steps = 400

[grid]
"train.lr" = [0.05, 0.2]
"data.mu" = [0.1, 0.5, 0.9]
EOF
C_ARGS=("$work/two_layer.toml")
image_toml() { # NAME STEPS [GRID LINE]: image cells (Fashion-MNIST from Debian's package), ~100 steps/s
    cat <<EOF
name = "$1"
kind = "image_classifier"

[model]
width = 0.03125

[data]
dataset = "fashion_mnist"
train_size = 2000
test_size = 200
noise_prob = 0.2

[train]
lr = 0.05
batch_size = 16
steps = $2
eval_every = $(($2 / 3))
trace_points = 100

[measure]
rank_samples = 50
${3:+
[grid]
$3}
EOF
}
# Two image cells of some seconds each.
image_toml image 1500 '"data.noise_prob" = [0.0, 0.4]' >"$work/image.toml"
D_ARGS=("$work/image.toml")

submit() { # DIR ARGS... -> job id
    local dir=$1; shift
    local out
    out=$("$probstab" slurm "$@" --out "$work/results/$dir" --submit) || fail "probstab slurm failed: $out"
    echo "$out" >&2
    sed -n 's/^submitted job array \([0-9]*\);.*/\1/p' <<<"$out"
}
a=$(submit a "${A_ARGS[@]}" --cells-per-task 50 --max-parallel 2)
b=$(submit b "${B_ARGS[@]}" --cells-per-task 12)
c=$(submit c "${C_ARGS[@]}" --cells-per-task 3)
d=$(submit d "${D_ARGS[@]}" --cells-per-task 1 --max-requeues 2)
[ -n "$a" ] && [ -n "$b" ] && [ -n "$c" ] && [ -n "$d" ] || fail "no job id from probstab slurm --submit"
say "submitted A = job $a, B = job $b, C = job $c, D = job $d"

# Cancel B once a few cells are complete: Slurm sends SIGTERM to the task.
complete_cells() { find "$work/results/$1/cells" -name metrics.json 2>/dev/null | wc -l; }
for i in $(seq 600); do
    [ "$(complete_cells b)" -ge 2 ] && break
    [ "$i" = 600 ] && fail "no cell of B finished within 60 s"
    sleep 0.1
done
scancel "$b"
for i in $(seq 300); do
    [ -z "$(squeue -h -j "$b" 2>/dev/null)" ] && break
    [ "$i" = 300 ] && fail "job $b still in the queue 30 s after scancel"
    sleep 0.1
done
done_b=$(complete_cells b)
say "B cancelled with $done_b of 24 cells complete"
[ "$done_b" -lt 24 ] || fail "the cancel came after B had finished: make B's cells slower"
# `status` reads every metrics.json: a half-written one would be an error here.
if "$probstab" status "$work/results/b" >"$work/b-status.txt"; then fail "status says B is complete after the cancel"; fi
grep -q "missing   $((24 - done_b))\$" "$work/b-status.txt" || { cat "$work/b-status.txt"; fail "status of the cancelled B is wrong"; }
b2=$(submit b "${B_ARGS[@]}" --cells-per-task 12)
say "resubmitted B = job $b2"

# D: once both cells have trained 20 trace rows, the time-limit warning.
trace_rows() { # the fewest trace rows of D's two cells
    local n=0 min=1000000 f rows
    for f in "$work"/results/d/cells/*/trace.csv; do
        [ -f "$f" ] || continue
        n=$((n + 1)); rows=$(wc -l <"$f"); [ "$rows" -lt "$min" ] && min=$rows
    done
    [ "$n" = 2 ] && echo "$min" || echo 0
}
for i in $(seq 1800); do
    [ "$(trace_rows)" -ge 20 ] && break
    [ "$i" = 1800 ] && fail "D's cells did not both train within 180 s"
    sleep 0.1
done
scancel --signal=USR1 --batch "$d"
say "D: SIGUSR1 sent to both tasks (as before a time limit)"

# --- 4. wait and compare -------------------------------------------------------
all_complete() {
    for g in a b c d; do "$probstab" status "$work/results/$g" >/dev/null || return 1; done
}
for i in $(seq 3000); do
    if all_complete; then break; fi
    if [ -z "$(squeue -h -j "$a,$b2,$c,$d" 2>/dev/null)" ] && [ "$i" -gt 1 ]; then
        # Out of the queue: one more look, then the grid must be complete.
        all_complete && break
        fail "the jobs left the queue with cells missing"
    fi
    [ "$i" = 3000 ] && fail "the grids are not complete after 300 s"
    sleep 0.1
done
say "all four grids complete"
for id in "$a" "$b2" "$c" "$d"; do
    for _ in $(seq 50); do [ -z "$(squeue -h -j "$id" 2>/dev/null)" ] && break; sleep 0.1; done
    states=$(scontrol -o show job "$id" | grep -o 'JobState=[A-Z_]*' | sort | uniq -c)
    echo "job $id: $states"
    grep -q 'JobState=' <<<"$states" || fail "scontrol shows no tasks of job $id"
    ! grep -v -q 'JobState=COMPLETED' <<<"$states" || fail "a task of job $id did not complete"
done
grep -h "already complete" "$work"/results/b/slurm/*"-${b2}_"*.out | sed 's/^/resubmitted B: /' \
    || fail "no log of the resubmitted B tasks"

for g in a b c d; do
    "$probstab" status "$work/results/$g"
    "$probstab" collect "$work/results/$g"
done
# D requeued each task once, at the warning, and resumed from the checkpoints.
restarts=$(scontrol -o show job "$d" | grep -o 'Restarts=[0-9]*' | sort | uniq -c)
echo "job $d: $restarts"
grep -q '2 Restarts=1' <<<"$restarts" || fail "D's two tasks were not each requeued once"
"$probstab" status "$work/results/d" | grep -q "requeues at the time limit: 2" \
    || fail "status does not count D's 2 requeues"
grep -q '"resumed_at"' "$work"/results/d/cells/*/metrics.json || fail "D's cells did not resume from a checkpoint"

"$probstab" run "${A_ARGS[@]}" --out "$work/local/a" --no-plot >/dev/null
"$probstab" run "${B_ARGS[@]}" --out "$work/local/b" --no-plot >/dev/null
"$probstab" run "${C_ARGS[@]}" --out "$work/local/c" --no-plot >/dev/null
for g in a b c; do
    cmp "$work/results/$g/summary.csv" "$work/local/$g/summary.csv" || fail "grid $g: summary.csv differs from the local run"
    rows=$(($(wc -l <"$work/results/$g/summary.csv") - 1))
    say "grid $g: summary.csv ($rows cells) equals the local run byte for byte"
done
"$probstab" run "${D_ARGS[@]}" --out "$work/local/d" --no-plot >/dev/null
traces=0
for f in "$work"/local/d/cells/*/trace.csv; do
    cmp "$f" "$work/results/d/cells/$(basename "$(dirname "$f")")/trace.csv" || fail "D: trace differs after the requeue: $f"
    traces=$((traces + 1))
done
# The numbers of the summary, without the wall clock and the resume step.
numbers() { awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i != "images_per_second" && $i != "resumed_at") keep[i] = 1 }
    { line = ""; for (i = 1; i <= NF; i++) if (i in keep) line = line $i ","; print line }' "$1"; }
cmp <(numbers "$work/results/d/summary.csv") <(numbers "$work/local/d/summary.csv") || fail "D: summary differs from the local run"
say "grid d: $traces traces and the summary (less images_per_second and resumed_at) equal the local run after 2 requeues"
traces=0
for f in "$work"/local/b/cells/*/trace.csv; do
    cmp "$f" "$work/results/b/cells/$(basename "$(dirname "$f")")/trace.csv" || fail "trace differs: $f"
    traces=$((traces + 1))
done
say "grid b: $traces trace.csv files equal the local run"
say "memory limits: skipped (no cgroup plugin on this test cluster, so --mem is not enforced)"

if [ "${PROBSTAB_SLURM_TIME_LIMIT:-0}" = 1 ]; then
    image_toml long 15000 >"$work/long.toml"
    e=$(submit e "$work/long.toml" --time 2 --signal-grace 60 --max-requeues 10)
    say "submitted E = job $e: a cell of ~2 min under a 2 min limit"
    for i in $(seq 1500); do
        "$probstab" status "$work/results/e" >/dev/null && break
        [ "$i" = 1500 ] && fail "E is not complete after 25 min"
        sleep 1
    done
    for _ in $(seq 50); do [ -z "$(squeue -h -j "$e" 2>/dev/null)" ] && break; sleep 0.1; done
    scontrol -o show job "$e" | grep -o 'JobState=[A-Z_]*\|Restarts=[0-9]*' | tr '\n' ' '; echo
    "$probstab" status "$work/results/e" | grep "requeues at the time limit" || fail "E was not requeued"
    "$probstab" run "$work/long.toml" --out "$work/local/e" --no-plot >/dev/null
    for f in "$work"/local/e/cells/*/trace.csv; do
        cmp "$f" "$work/results/e/cells/$(basename "$(dirname "$f")")/trace.csv" || fail "E: trace differs"
    done
    say "grid e: finished through the time limit alone; trace equals the local run"
fi
say "PASS"

#!/usr/bin/env bash
# `cfm slurm` against a real Slurm: Debian's slurm-wlm and munge, a one-node cluster on
# localhost (munged, slurmctld, slurmd, configured in a temporary folder), the smoke profile.
#
# 1. The tables collected by the cluster equal those of a local `cfm reproduce --profile smoke`
#    byte for byte (efm_cost excluded: its numbers are wall-clock timings).
# 2. Again into a fresh cache, with one task cancelled (scancel) while it runs: the cache holds
#    no half-written cell, the collect job lists what is missing, a second `cfm slurm` submits
#    only those cells, and the tables are again identical.
# 3. A third `cfm slurm` finds every cell cached and submits nothing.
#
# The daemons this script starts are stopped by their pid files on exit, failure included.
# Needs root (it installs packages and starts daemons) and the release binary: $CFM, or the
# one `cargo build --release -p cfm-cli` makes (what the justfile's recipes run).
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$SECONDS
log() { echo "slurm.sh [$((SECONDS - t0)) s] $*" >&2; }
fail() {
    echo "slurm.sh: FAILED: $*" >&2
    exit 1
}
[[ $(id -u) == 0 ]] || fail "must run as root: it installs slurm-wlm and munge and starts their daemons"

# Figures whose numbers are wall-clock timings (Figure::timings): not comparable byte for byte.
timings=" efm_cost "

missing=()
command -v slurmctld >/dev/null || missing+=(slurm-wlm)
command -v munged >/dev/null || missing+=(munge)
command -v python3 >/dev/null || missing+=(python3)
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [[ -z ${CFM:-} ]]; then
    cargo build --release -q -p cfm-cli
    CFM=${CARGO_TARGET_DIR:-target}/release/cfm
fi
CFM=$(realpath "$CFM")

tmp=$(mktemp -d /tmp/cfm-slurm.XXXXXX)
started=() # pid files of the daemons started here, in start order
stop_daemons() {
    local rc=$?
    if [[ -n ${SLURM_CONF:-} ]] && [[ -f $tmp/slurmctld.pid ]]; then
        # Jobs left by a failure: cancelled, and given a moment to end, before slurmd stops.
        scancel --quiet --user=root 2>/dev/null || true
        for _ in $(seq 30); do
            [[ -z $(squeue -h -o %i 2>/dev/null) ]] && break
            sleep 0.5
        done
    fi
    local i pid
    for ((i = ${#started[@]} - 1; i >= 0; i--)); do
        pid=$(cat "${started[i]}" 2>/dev/null) || continue
        kill "$pid" 2>/dev/null || continue
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        echo "slurm.sh: stopped $(basename "${started[i]}" .pid) (pid $pid)" >&2
    done
    if ((rc == 0)); then
        rm -rf "$tmp"
    else
        for f in "$tmp"/*.log; do
            [[ -f $f ]] && { echo "--- $f (last lines)" >&2; tail -n 20 "$f" >&2; }
        done
        echo "slurm.sh: kept $tmp for inspection" >&2
    fi
    exit "$rc"
}
trap stop_daemons EXIT

# --- munge: a key, then munged as user munge, unless one already answers.
if ! munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
    key=/etc/munge/munge.key
    if [[ ! -s $key ]]; then
        dd if=/dev/urandom bs=1 count=1024 of="$key" status=none
    fi
    chown munge:munge "$key"
    chmod 400 "$key"
    install -d -o munge -g munge -m 0755 /run/munge
    install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
    runuser -u munge -- /usr/sbin/munged || fail "munged did not start: see /var/log/munge/munged.log"
    started+=(/run/munge/munged.pid)
    for _ in $(seq 50); do
        munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && break
        sleep 0.1
    done
    munge -n </dev/null | unmunge >/dev/null || fail "munged started but does not answer"
    log "munged started"
fi

# --- slurmctld and slurmd: one node, this machine, all its cores; ports of their own.
host=$(hostname -s)
cpus=$(nproc)
mkdir -p "$tmp/state" "$tmp/spool"
cat >"$tmp/slurm.conf" <<EOF
ClusterName=cfmci
SlurmctldHost=$host
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/slurmctld.log
SlurmdLogFile=$tmp/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
SlurmdParameters=config_overrides
MpiDefault=none
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MinJobAge=600
NodeName=$host CPUs=$cpus State=UNKNOWN
PartitionName=ci Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$tmp/slurm.conf
slurmctld -f "$SLURM_CONF" || fail "slurmctld did not start: see $tmp/slurmctld.log"
started+=("$tmp/slurmctld.pid")
slurmd -f "$SLURM_CONF" || fail "slurmd did not start: see $tmp/slurmd.log"
started+=("$tmp/slurmd.pid")
for _ in $(seq 60); do
    [[ $(sinfo -h -N -o %T 2>/dev/null) == idle ]] && break
    sleep 1
done
[[ $(sinfo -h -N -o %T 2>/dev/null) == idle ]] ||
    fail "the node is not idle after 60 s: sinfo says '$(sinfo -h -N -o '%T %E' 2>&1)'"
log "slurmctld and slurmd up: node $host idle, $cpus CPUs"

# Waits until the queue is empty (at most $1 seconds).
wait_queue() {
    local until=$((SECONDS + $1))
    while [[ -n $(squeue -h -o %i) ]]; do
        ((SECONDS < until)) || fail "jobs still queued after $1 s: $(squeue -h -o '%i %j %T %r' | tr '\n' ';')"
        sleep 1
    done
}

# The state of job (or array task) $1, while slurmctld remembers it (MinJobAge).
state() { scontrol -o show job "$1" | grep -o 'JobState=[A-Z_]*' | cut -d= -f2; }

# Compares every results table of $1 with $2's, byte for byte (timing figures excluded).
same_tables() {
    local f name n=0
    [[ $(ls "$1/data") == $(ls "$2/data") ]] || fail "$2/data has other tables than $1/data: $(ls "$2/data" | tr '\n' ' ')"
    for f in "$1"/data/*.csv; do
        name=$(basename "$f" .csv)
        [[ $timings == *" $name "* ]] && continue
        cmp "$f" "$2/data/$name.csv" || fail "$2/data/$name.csv differs from the local run's"
        n=$((n + 1))
    done
    log "$n tables identical byte for byte to the local run's (not${timings% }: wall-clock timings)"
}

# The number of cells `cfm slurm` submitted (its output $1; 0 when it submitted nothing).
submitted() { grep -Eo '^[0-9]+ cells? to compute' "$1" | cut -d' ' -f1 || echo 0; }

# Every cell file in cache $1 verifies (no half-written cell): the cached cells `cfm cells`
# reports, one per namespace and id, are as many as the tables in the cache.
whole_cells() {
    local cached files
    cached=$("$CFM" cells --profile smoke --cache "$1" --json | python3 -c '
import json, sys
rows = json.load(sys.stdin)
print(len({(r["cell_of"] or r["figure"], r["id"]) for r in rows if r["cached"]}))')
    files=$(find "$1/cells" -name '*.csv' | wc -l)
    [[ $cached == "$files" ]] || fail "$1: $files cell tables but $cached verified cells"
    echo "$cached"
}

smoke=(--profile smoke --cpus-per-task=1)

log "local run: cfm reproduce --profile smoke"
"$CFM" reproduce --profile smoke --out "$tmp/A" --cache "$tmp/CA" --quiet 2>"$tmp/local.txt" ||
    fail "local run failed: $(tail -n 5 "$tmp/local.txt")"
total=$("$CFM" cells --profile smoke --cache "$tmp/CA" --json | python3 -c '
import json, sys
print(len({(r["cell_of"] or r["figure"], r["id"]) for r in json.load(sys.stdin)}))')

log "cluster run: cfm slurm ($total cells)"
"$CFM" slurm "${smoke[@]}" --out "$tmp/B" --cache "$tmp/CB" >"$tmp/submit-1.txt"
cat "$tmp/submit-1.txt" >&2
[[ $(submitted "$tmp/submit-1.txt") == "$total" ]] || fail "submitted $(submitted "$tmp/submit-1.txt") cells of $total"
wait_queue 900
collect=$(awk '/collect: job/ {print $3}' "$tmp/submit-1.txt")
[[ $(state "$collect") == COMPLETED ]] || fail "the collect job ended $(state "$collect"): see $tmp/CB/slurm/*/logs"
same_tables "$tmp/A" "$tmp/B"

log "cluster run with a task cancelled mid-run"
# The victim: the cell that took longest in the local run. Its task is held at the start (this
# script holds the cell's lock, which `cfm cell` takes before computing), released, then
# cancelled half a second into its computation.
read -r ns id secs < <(python3 -c '
import json, pathlib, sys
metas = [(json.loads(p.read_text())["compute_s"], p.parent.name, p.stem) for p in pathlib.Path(sys.argv[1]).glob("cells/*/*.json")]
s, ns, id = max(metas)
print(ns, id, s)' "$tmp/CA")
mkdir -p "$tmp/CC/cells/$ns"
exec 9>"$tmp/CC/cells/$ns/$id.lock"
flock 9
"$CFM" slurm "${smoke[@]}" --out "$tmp/C" --cache "$tmp/CC" >"$tmp/submit-2.txt"
collect=$(awk '/collect: job/ {print $3}' "$tmp/submit-2.txt")
list=$(grep -l " $id\$" "$tmp"/CC/slurm/*/cells-*.txt)
k=$(basename "$list" .txt | cut -d- -f2)
victim=$(awk -v k="$k" '$1 == "array" && $2 == k":" {print $4}' "$tmp/submit-2.txt")_$(($(grep -n " $id\$" "$list" | cut -d: -f1) - 1))
until=$((SECONDS + 300))
until [[ $(squeue -h -j "$victim" -o %T 2>/dev/null) == RUNNING ]]; do
    ((SECONDS < until)) || fail "task $victim ($ns $id) did not start in 300 s"
    sleep 0.2
done
flock -u 9
exec 9>&-
sleep 0.5
scancel "$victim"
sleep 1
[[ $(state "$victim") == CANCELLED ]] ||
    fail "task $victim ($ns $id, ${secs} s locally) ended $(state "$victim") before it could be cancelled"
log "cancelled task $victim ($ns $id) half a second into its computation"
wait_queue 900
[[ $(state "$collect") != COMPLETED ]] || fail "the collect job succeeded although task $victim was cancelled"
grep -q '^missing: ' "$tmp"/CC/slurm/*/logs/cfm-smoke-collect-"$collect".out ||
    fail "the collect job's log lists no missing cell"
whole=$(whole_cells "$tmp/CC")
log "after the cancel: $whole of $total cells cached, none half-written; the collect job listed the others"

"$CFM" slurm "${smoke[@]}" --out "$tmp/C" --cache "$tmp/CC" >"$tmp/submit-3.txt"
cat "$tmp/submit-3.txt" >&2
again=$(submitted "$tmp/submit-3.txt")
[[ $again == $((total - whole)) ]] || fail "resubmitted $again cells, $((total - whole)) were missing"
wait_queue 900
same_tables "$tmp/A" "$tmp/C"

"$CFM" slurm "${smoke[@]}" --out "$tmp/C" --cache "$tmp/CC" >"$tmp/submit-4.txt"
grep -q '^nothing to submit' "$tmp/submit-4.txt" || fail "a third submission submitted: $(cat "$tmp/submit-4.txt")"
[[ -z $(squeue -h -o %i) ]] || fail "a third submission queued jobs"
log "a third submission submits nothing; done"

#!/usr/bin/env bash
# The reference workload: `segflow run` over 1M users / 10M events, timed N times.
#
#   benches/reference_workload.sh [--workers N] [--catalog FILE]... [--runs N]
#                                 [--data DIR] [--out DIR]
#
# Builds the release binary, generates the reference data set into $DATA unless it is
# there already (`segflow gen --users $USERS --events $EVENTS --seed $SEED`), then runs
#   segflow run --catalog dataflows/ecommerce.seg --data $DATA --out $OUT -w $WORKERS
# $RUNS times under GNU time, and prints one row per run (wall, user and sys seconds,
# peak RSS) with segflow's summary line, which splits the run into load and finish.
#
# Environment (options win over it):
#   DATA=/tmp/segflow-ref  OUT=/tmp/segflow-ref-out  RUNS=3  WORKERS=2
#   USERS=1000000  EVENTS=10000000  SEED=1   (used only when generating $DATA)
# A small trial: USERS=2000 EVENTS=20000 DATA=/tmp/segflow-small benches/reference_workload.sh
# Existing data is never regenerated: use another DATA (or delete it) to change sizes.

set -euo pipefail

usage() {
    sed -n '2,/^$/s/^# \{0,1\}//p' "$0"
}

die() {
    echo "error: $*" >&2
    exit 1
}

cd "$(dirname "${BASH_SOURCE[0]}")/.."

DATA=${DATA:-/tmp/segflow-ref}
OUT=${OUT:-/tmp/segflow-ref-out}
RUNS=${RUNS:-3}
WORKERS=${WORKERS:-2}
USERS=${USERS:-1000000}
EVENTS=${EVENTS:-10000000}
SEED=${SEED:-1}
CATALOGS=()

while [[ $# -gt 0 ]]; do
    case $1 in
    -w | --workers)
        [[ $# -ge 2 ]] || die "$1 needs a value"
        WORKERS=$2
        shift 2
        ;;
    --catalog)
        [[ $# -ge 2 ]] || die "$1 needs a value"
        CATALOGS+=("$2")
        shift 2
        ;;
    -n | --runs)
        [[ $# -ge 2 ]] || die "$1 needs a value"
        RUNS=$2
        shift 2
        ;;
    --data)
        [[ $# -ge 2 ]] || die "$1 needs a value"
        DATA=$2
        shift 2
        ;;
    --out)
        [[ $# -ge 2 ]] || die "$1 needs a value"
        OUT=$2
        shift 2
        ;;
    -h | --help)
        usage
        exit 0
        ;;
    *) die "unknown argument '$1' (see --help)" ;;
    esac
done
[[ ${#CATALOGS[@]} -gt 0 ]] || CATALOGS=(dataflows/ecommerce.seg)

for name in WORKERS RUNS USERS EVENTS SEED; do
    [[ ${!name} =~ ^[0-9]+$ ]] || die "$name must be a non-negative integer, not '${!name}'"
done
[[ $WORKERS -ge 1 ]] || die "--workers must be at least 1"
[[ $RUNS -ge 1 ]] || die "--runs must be at least 1"
for catalog in "${CATALOGS[@]}"; do
    [[ -f $catalog ]] || die "catalog file '$catalog' not found"
done

TIME=/usr/bin/time
if [[ ! -x $TIME ]]; then
    die "$TIME not found: GNU time is needed for user/sys time and peak RSS; install it with 'apt-get install time'"
fi
if ! "$TIME" -f '%M' -o /dev/null true 2>/dev/null; then
    die "$TIME does not take -f/-o (it is not GNU time); install it with 'apt-get install time'"
fi

# The machine, so the figures carry it.
cpu=$(grep -m1 '^model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//')
mem=$(free -g | awk '/^Mem:/ { print $2 }')
rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git status --porcelain --untracked-files=no 2>/dev/null) ]]; then
    rev="$rev (with uncommitted changes)"
fi
echo "machine: nproc $(nproc), memory ${mem} GiB total, cpu ${cpu:-unknown}"
echo "segflow: $rev"

echo "building: cargo build --release"
cargo build --release --quiet
BIN=${CARGO_TARGET_DIR:-target}/release/segflow
[[ -x $BIN ]] || die "built binary $BIN not found"

if [[ -f $DATA/users.csv && -f $DATA/events.csv && -f $DATA/scores.csv ]]; then
    echo "data: $DATA exists, not regenerated ($(du -sh "$DATA" | cut -f1))"
else
    [[ ! -e $DATA || -d $DATA ]] || die "'$DATA' exists and is not a directory"
    echo "data: generating $USERS users, $EVENTS events (seed $SEED) into $DATA"
    # Into a fresh directory first, so an interrupted run leaves no partial data set.
    rm -rf "$DATA.partial"
    "$BIN" gen --users "$USERS" --events "$EVENTS" --seed "$SEED" --out "$DATA.partial"
    mkdir -p "$DATA"
    mv "$DATA.partial"/users.csv "$DATA.partial"/events.csv "$DATA.partial"/scores.csv "$DATA"/
    rmdir "$DATA.partial"
fi

catalog_args=()
for catalog in "${CATALOGS[@]}"; do
    catalog_args+=(--catalog "$catalog")
done
echo "command: $BIN run ${catalog_args[*]} --data $DATA --out $OUT -w $WORKERS"
echo

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

summaries=()
printf '%-4s %9s %9s %9s %13s\n' run "wall s" "user s" "sys s" "peak RSS MiB"
for ((run = 1; run <= RUNS; run++)); do
    if ! "$TIME" -f '%e %U %S %M' -o "$logs/time.$run" \
        "$BIN" run "${catalog_args[@]}" --data "$DATA" --out "$OUT" -w "$WORKERS" \
        >"$logs/out.$run" 2>&1; then
        cat "$logs/out.$run" >&2
        die "run $run failed"
    fi
    read -r wall user sys rss_kib <"$logs/time.$run"
    rss_mib=$(awk -v k="$rss_kib" 'BEGIN { printf "%.0f", k / 1024 }')
    printf '%-4s %9s %9s %9s %13s\n' "$run" "$wall" "$user" "$sys" "$rss_mib"
    summaries+=("$(grep -m1 '^as of ' "$logs/out.$run" || echo '(no summary line)')")
done

echo
awk '{ print $1 }' "$logs"/time.* | sort -n | awk '
    { wall[NR] = $1 }
    END {
        median = NR % 2 ? wall[(NR + 1) / 2] : (wall[NR / 2] + wall[NR / 2 + 1]) / 2
        printf "wall s: best %s, median %s over %d run(s)\n", wall[1], median, NR
    }'
echo
for ((run = 1; run <= RUNS; run++)); do
    echo "run $run: ${summaries[run - 1]}"
done

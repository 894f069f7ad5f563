#!/usr/bin/env bash
# How the cost of a catalog grows with users, events and segments.
#
#   benches/scaling.sh [-w N] [--out DIR]
#
# Runs `segflow bench --no-peers` (release build) over generated data at three sizes
# along each axis, the others held fixed:
#   users:    10k, 100k, 1M users with 1M events
#   events:   300k, 1M, 3M events with 100k users
#   segments: 3, 12 and 48 segments (the first 3 of dataflows/ecommerce.seg, all 12,
#             and 36 more in three copies with other thresholds over the same
#             features; a copy without a threshold, like `active_30d`, is shared)
#             over 100k users / 1M events
# and prints one table row per run: backfill time and events/s, peak RSS, closed-loop
# p50/p99, and the throughput of batches of 10,000. The JSON reports stay in DIR
# (default: a temporary directory). Takes about 15 minutes on 2 cores.

set -euo pipefail

usage() {
    sed -n '2,/^$/s/^# \{0,1\}//p' "$0"
}

WORKERS=2
OUT=
while [[ $# -gt 0 ]]; do
    case $1 in
    -w | --workers) WORKERS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --help) usage; exit 0 ;;
    *) echo "error: unknown argument '$1' (see --help)" >&2; exit 1 ;;
    esac
done

cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release --quiet
BIN=${CARGO_TARGET_DIR:-target}/release/segflow
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"

# The catalogs of the segments axis.
python3 - "$OUT" <<'PY'
import re, sys
out = sys.argv[1]
text = open("dataflows/ecommerce.seg").read()
head = [l for l in text.splitlines() if not l.startswith("segment ")]
segments = [l for l in text.splitlines() if l.startswith("segment ")]
names = [l.split()[1] for l in segments]

def copy(i):
    """Segment lines renamed `name_i`, integer thresholds above 1 raised by i and
    decimal ones lowered by i/100 (windows unchanged: the features stay shared)."""
    lines = []
    for line in segments:
        for name in names:
            line = re.sub(rf"\b{name}\b", f"{name}_{i}", line)
        line = re.sub(r"(?<![\w.])(\d+\.\d+)(?![\w.])", lambda m: f"{float(m.group(1)) - i / 100:.2f}", line)
        line = re.sub(r"(?<![\w.])(\d+)(?![\w.])", lambda m: str(int(m.group(1)) + i) if int(m.group(1)) > 1 else m.group(1), line)
        lines.append(line)
    return lines

open(f"{out}/segments-3.seg", "w").write("\n".join(head + segments[:3]) + "\n")
open(f"{out}/segments-12.seg", "w").write(text)
open(f"{out}/segments-48.seg", "w").write("\n".join(head + segments + copy(1) + copy(2) + copy(3)) + "\n")
PY

run() { # name users events catalog
    echo "bench: $1" >&2
    "$BIN" bench --catalog "$4" --gen-users "$2" --gen-events "$3" --no-peers -w "$WORKERS" \
        --out "$OUT/$1.json" >"$OUT/$1.txt" 2>&1 || { cat "$OUT/$1.txt" >&2; exit 1; }
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for users in 10000 100000 1000000; do run "users-$users" "$users" 1000000 dataflows/ecommerce.seg; done
for events in 300000 1000000 3000000; do run "events-$events" 100000 "$events" dataflows/ecommerce.seg; done
for segments in 3 12 48; do run "segments-$segments" 100000 1000000 "$OUT/segments-$segments.seg"; done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
print("| run | users | events | segments | backfill s | events/s | peak RSS MiB | p50 µs | p99 µs | batch 10k events/s |")
print("|---|---|---|---|---|---|---|---|---|---|")
for axis, sizes in (("users", (10000, 100000, 1000000)), ("events", (300000, 1000000, 3000000)), ("segments", (3, 12, 48))):
    for size in sizes:
        r = json.load(open(f"{out}/{axis}-{size}.json"))
        s, b, c = r["setup"], r["backfill"], r["closed_loop"]["latency"]
        segments = size if axis == "segments" else 12
        batch = next(x for x in r["batch_sweep"] if x["batch"] == 10000)
        print(f"| {axis} | {s['users']:,} | {s['events']:,} | {segments} | {b['seconds']:.2f} | {b['events_per_second']:,.0f} "
              f"| {b['peak_rss_bytes'] / 2**20:,.0f} | {c['p50_us']:,.0f} | {c['p99_us']:,.0f} | {batch['events_per_second']:,.0f} |")
PY
echo "reports: $OUT"

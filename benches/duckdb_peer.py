#!/usr/bin/env python3
"""segflow's from-scratch peer: a catalog compiled by `segflow sql`, run by DuckDB.

Loads a data directory's CSV files into DuckDB tables typed as `segflow sql --tables`
prints them, runs the query of `segflow sql` as of a time, and writes
OUT/members/<segment>.csv and OUT/sizes.csv in the format of `segflow run`, so that the
two outputs can be compared byte for byte. With --repeat K it evaluates the query K
times from scratch and prints the timings as JSON (the peer column of a benchmark).
With --features FILE it also writes every user's values, the query's `features` table,
as CSV: why each user is, or is not, in each segment.

    python3 benches/duckdb_peer.py --segflow target/release/segflow \\
        --data datasets/sample --as-of 1767000000 --out out-duckdb dataflows/ecommerce.seg

Needs `pip install duckdb`. Input is assumed valid (`segflow run` reports bad rows);
what DuckDB cannot read exactly (numbers with more than 9 decimal places) stops the run.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb

TABLES = ("users", "events", "scores", "models")
# Columns a file may leave out: NULL in the table (an event without an id, a score
# without a model version).
OPTIONAL = {"events": {"event_id"}, "scores": {"version"}}
# The row-order column of the users and models tables, filled with the row's position
# in the file: the last row of a user wins, and of a model's switches at one time.
ROW = "_row"
ORDERED = {"users", "models"}
# Decimal places of `segflow sql` numbers, DECIMAL(38, 9).
SCALE = 9


def segflow(binary, *args):
    """The standard output of a segflow command; its error ends the run."""
    done = subprocess.run([binary, *args], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"error: `{binary} {' '.join(args)}` failed:\n{done.stderr}")
    return done.stdout


def segments_of(query):
    """The segment names, in catalog order, from the query's `-- segments:` line."""
    for line in query.splitlines():
        if line.startswith("-- segments:"):
            names = line[len("-- segments:"):].strip()
            return [n.strip() for n in names.split(",")] if names else []
    sys.exit("error: the query has no `-- segments:` line; is it from `segflow sql`?")


def sql_str(text):
    return "'" + text.replace("'", "''") + "'"


def sql_ident(name):
    return '"' + name.replace('"', '""') + '"'


def cast(column, sql_type):
    """The SQL turning a text cell into a value of the column's type, as segflow
    parses it: an empty cell is missing; numbers and times may have spaces around them;
    bools are true/false/t/f/1/0 in any case."""
    cell = f"nullif({sql_ident(column)}, '')"
    if sql_type == "VARCHAR":
        return cell
    if sql_type == "BOOLEAN":
        return (
            f"CASE WHEN lower({cell}) IN ('true', 't', '1') THEN TRUE "
            f"WHEN lower({cell}) IN ('false', 'f', '0') THEN FALSE "
            f"WHEN {cell} IS NOT NULL THEN error('column {column}: not a bool: ' || {cell}) END"
        )
    return f"CAST(trim({cell}) AS {sql_type})"


def decimal_places(cell):
    """SQL for an upper bound of the decimal places a number cell needs: the fraction's
    digits without trailing zeros, less the exponent (`1.50` → 1, `2.5e-3` → 4)."""
    text = f"trim({cell})"
    fraction = f"rtrim(regexp_extract({text}, '\\.([0-9]*)', 1), '0')"
    exponent = f"coalesce(TRY_CAST(regexp_extract({text}, '[eE]([+-]?[0-9]+)$', 1) AS INTEGER), 0)"
    return f"length({fraction}) - {exponent}"


def load(con, data):
    """Fills the typed tables from DATA/{users,events,scores,models}.csv; returns row
    counts."""
    present = [t for t in TABLES if (data / f"{t}.csv").is_file()]
    if not present:
        sys.exit(f"error: {data} holds none of users.csv, events.csv, scores.csv, models.csv")
    counts = {}
    for table in present:
        path = data / f"{table}.csv"
        raw = f"raw_{table}"
        # Every cell as text, no type guessing, no comment lines: as segflow reads it.
        con.execute(
            f"CREATE TEMP TABLE {raw} AS SELECT * FROM read_csv({sql_str(str(path))}, "
            "header=true, all_varchar=true, delim=',', quote='\"', escape='\"', "
            "comment='', skip=0, strict_mode=true)"
        )
        header = [r[0] for r in con.execute(f"DESCRIBE {raw}").fetchall()]
        typed = [(r[0], r[1]) for r in con.execute(f"DESCRIBE {table}").fetchall()]
        wanted = [(name, ty) for name, ty in typed if not (table in ORDERED and name == ROW)]
        known = {name for name, _ in wanted}
        for name in header:
            if table == "users" and name == "ts":
                sys.exit(
                    f"error: {path}: users rows with a time of their own (a `ts` column) "
                    "are not expressed by segflow sql yet"
                )
            if name not in known:
                sys.exit(f"error: {path}: unknown column `{name}`")
        for name, _ in wanted:
            if name not in header and name not in OPTIONAL.get(table, set()):
                sys.exit(f"error: {path}: the header lacks column `{name}`")
        for name, ty in wanted:
            if ty.startswith("DECIMAL"):
                cell = f"nullif({sql_ident(name)}, '')"
                bad = con.execute(
                    f"SELECT {sql_ident(name)} FROM {raw} "
                    f"WHERE {cell} IS NOT NULL AND {decimal_places(cell)} > {SCALE} LIMIT 1"
                ).fetchone()
                if bad:
                    sys.exit(
                        f"error: {path}: column `{name}`: `{bad[0]}` has more than {SCALE} "
                        f"decimal places, more than {ty} holds"
                    )
        values = [
            cast(name, ty) if name in header else f"CAST(NULL AS {ty})" for name, ty in wanted
        ]
        if table in ORDERED:
            # rowid follows the file's order: DuckDB preserves insertion order.
            values.append("rowid")
        con.execute(f"INSERT INTO {table} SELECT {', '.join(values)} FROM {raw}")
        counts[table] = con.execute(f"SELECT count(*) FROM {raw}").fetchone()[0]
        con.execute(f"DROP TABLE {raw}")
    return counts


def features_query(query):
    """The query's CTEs, ending with `SELECT * FROM features` (every value as text, one
    row per user) instead of the query's final SELECT: its first line that starts with
    `SELECT` (the lines of CTEs are indented, or name a CTE, or are comments)."""
    lines = query.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("SELECT "):
            ctes = "\n".join(lines[:i])
            return f"{ctes}\nSELECT COLUMNS(*)::VARCHAR FROM features ORDER BY user_id"
    sys.exit("error: the query has no final SELECT; is it from `segflow sql`?")


def write_features(con, query, params, path):
    """PATH: the `features` table as CSV, NULL as an empty field."""
    result = con.execute(features_query(query), params)
    header = [d[0] for d in result.description]
    lines = [",".join(csv_field(h) for h in header)]
    for row in result.fetchall():
        lines.append(",".join("" if v is None else csv_field(v) for v in row))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def csv_field(text):
    """A field as segflow's CSV writer writes it: quoted only when it must be."""
    if any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


MANIFEST = ".segflow-manifest"
MANIFEST_HEADER = (
    "# written by `segflow run`: the files below; the next run replaces this directory"
)


def write_results(out, segments, rows):
    """OUT/members/<segment>.csv (header `user_id`, members in query order),
    OUT/sizes.csv (`segment,size` in catalog order) and the manifest listing them, as
    `segflow run` writes them. The files the previous manifest lists are removed first
    (nothing else), so the directory describes this run only."""
    members = {name: [] for name in segments}
    for segment, user in rows:
        members[segment].append(user)
    manifest = out / MANIFEST
    if manifest.exists():
        for line in manifest.read_text(encoding="utf-8").splitlines():
            if line and not line.startswith("#") and (out / line).is_file():
                (out / line).unlink()
    directory = out / "members"
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name in segments:
        lines = ["user_id"] + [csv_field(u) for u in members[name]]
        (directory / f"{name}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        written.append(f"members/{name}.csv")
    sizes = ["segment,size"] + [f"{csv_field(n)},{len(members[n])}" for n in segments]
    (out / "sizes.csv").write_text("\n".join(sizes) + "\n", encoding="utf-8")
    written.append("sizes.csv")
    manifest.write_text("\n".join([MANIFEST_HEADER] + written) + "\n", encoding="utf-8")
    return members


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("catalogs", nargs="+", metavar="CATALOG")
    parser.add_argument("--segflow", default=os.environ.get("SEGFLOW", "segflow"),
                        help="the segflow binary (default: $SEGFLOW or `segflow`)")
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--as-of", type=int,
                        help="logical time; default: the greatest ts in events, scores and models")
    parser.add_argument("--out", type=Path, help="write members/ and sizes.csv here")
    parser.add_argument("--repeat", type=int, default=0, metavar="K",
                        help="evaluate K times from scratch and print the timings as JSON")
    parser.add_argument("--threads", type=int, help="DuckDB threads (default: all cores)")
    parser.add_argument("--features", type=Path, metavar="FILE",
                        help="also write every user's values (the features table) as CSV")
    args = parser.parse_args()

    query = segflow(args.segflow, "sql", *map(str, args.catalogs))
    tables = segflow(args.segflow, "sql", "--tables", *map(str, args.catalogs))
    segments = segments_of(query)

    con = duckdb.connect()
    if args.threads:
        con.execute(f"SET threads = {args.threads}")
    # A query nesting deeper than DuckDB's default says what it needs in a comment.
    for line in query.splitlines():
        if line.startswith("-- DuckDB: SET "):
            con.execute(line[len("-- DuckDB: "):])
    started = time.perf_counter()
    con.execute(tables)
    counts = load(con, args.data)
    load_seconds = time.perf_counter() - started

    # Each evaluation materialises the whole answer, as a warehouse job would.
    evaluate = f"CREATE OR REPLACE TEMP TABLE segflow_result AS\n{query}"
    params = {"as_of": args.as_of}
    timings = []
    for _ in range(max(args.repeat, 1)):
        started = time.perf_counter()
        con.execute(evaluate, params)
        timings.append(time.perf_counter() - started)
    rows = con.execute(
        "SELECT segment, user_id FROM segflow_result ORDER BY segment, user_id"
    ).fetchall()

    members = write_results(args.out, segments, rows) if args.out else None
    if args.features:
        write_features(con, query, params, args.features)
    if args.repeat:
        print(json.dumps({
            "peer": "duckdb",
            "duckdb": duckdb.__version__,
            "threads": con.execute("SELECT current_setting('threads')").fetchone()[0],
            "as_of": args.as_of,
            "rows": counts,
            "members": len(rows),
            "load_seconds": round(load_seconds, 6),
            "query_seconds": [round(t, 6) for t in timings],
        }))
    elif members is not None:
        print(f"duckdb {duckdb.__version__}: loaded {counts} in {load_seconds:.2f}s, "
              f"evaluated in {timings[0]:.2f}s; members written to {args.out / 'members'}")


if __name__ == "__main__":
    main()

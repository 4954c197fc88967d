#!/usr/bin/env bash
# The fraud-detection shape: a spine of transactions AS OF joined to two
# feature groups, fstore against DuckDB's ASOF LEFT JOIN on the same Parquet
# files, both with 2 threads, measured in the same run.
#
#   bash bench/asof_vs_duckdb.sh [SPINE_ROWS] [KEYS] [GROUP_A_ROWS] [GROUP_B_ROWS]
#   # defaults: 1000000 100000 500000 2000000
#
# The data is generated once as Parquet. DuckDB reads those files directly;
# fstore loads them into a table (the spine) and two offline feature groups
# (CREATE … AS SELECT from external tables) and runs the same SQL over its
# own Delta tables. Every output column is consumed (sums over all features)
# so the join result is fully computed. Reports the median of 3 warm runs,
# rows/s, peak RSS of each engine during the query, and the ratio.
set -euo pipefail
cd "$(dirname "$0")/.."

SPINE="${1:-1000000}"
KEYS="${2:-100000}"
ROWS_A="${3:-500000}"
ROWS_B="${4:-2000000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fstore-release}"
WORK="$(mktemp -d /tmp/fstore-asof-bench.XXXXXX)"
FS_PID=""
cleanup() {
    [ -n "$FS_PID" ] && kill "$FS_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "building fstore (release)…" >&2
cargo build --release --quiet --bin fstore
FSTORE="$CARGO_TARGET_DIR/release/fstore"

VENV="${FSTORE_BENCH_VENV:-$HOME/.cache/fstore-bench-venv}"
if [ ! -x "$VENV/bin/python" ]; then python3 -m venv "$VENV"; fi
"$VENV/bin/pip" install -q -r bench/requirements.txt

echo "generating Parquet: spine $SPINE rows over $KEYS keys, groups of $ROWS_A and $ROWS_B rows…" >&2
"$VENV/bin/python" - "$WORK" "$SPINE" "$KEYS" "$ROWS_A" "$ROWS_B" <<'PY'
import sys, numpy as np, pyarrow as pa, pyarrow.parquet as pq
work, spine, keys, rows_a, rows_b = sys.argv[1], *map(int, sys.argv[2:])
rng = np.random.default_rng(42)
year = 365 * 24 * 3600 * 1_000_000
start = 1_767_225_600_000_000  # 2026-01-01
def times(n):
    return pa.array(start + rng.integers(0, year, n), pa.timestamp("us"))
def table(n, names):
    columns = {"cc_num": pa.array(rng.integers(0, keys, n), pa.int64()), "ts": times(n)}
    for name in names:
        columns[name] = pa.array(rng.random(n) * 1000)
    return pa.table(columns)
pq.write_table(table(spine, ["amount"]), f"{work}/spine.parquet")
pq.write_table(table(rows_a, ["a1", "a2", "a3"]), f"{work}/group_a.parquet")
pq.write_table(table(rows_b, ["b1", "b2", "b3"]), f"{work}/group_b.parquet")
PY

QUERY="SELECT count(*) AS n, sum(s.amount) AS amount, sum(a.a1) AS a1, sum(a.a2) AS a2, sum(a.a3) AS a3,
       sum(b.b1) AS b1, sum(b.b2) AS b2, sum(b.b3) AS b3, count(a.ts) AS a_matched, count(b.ts) AS b_matched
FROM spine s
ASOF LEFT JOIN group_a a ON s.cc_num = a.cc_num AND s.ts >= a.ts
ASOF LEFT JOIN group_b b ON s.cc_num = b.cc_num AND s.ts >= b.ts"

# --- DuckDB -------------------------------------------------------------------
echo "running DuckDB…" >&2
DUCK=$("$VENV/bin/python" - "$WORK" "$QUERY" <<'PY'
import sys, time, resource, statistics, duckdb
work, query = sys.argv[1], sys.argv[2]
con = duckdb.connect()
con.execute("SET threads = 2")
for name in ["spine", "group_a", "group_b"]:
    con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{work}/{name}.parquet')")
times = []
result = None
for _ in range(4):
    t0 = time.perf_counter()
    result = con.execute(query).fetchall()
    times.append(time.perf_counter() - t0)
rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{statistics.median(times[1:]):.3f} {rss_mib:.0f} {result[0][0]} {result[0][8]} {result[0][9]}")
PY
)
read -r DUCK_S DUCK_RSS DUCK_N DUCK_A DUCK_B <<<"$DUCK"

# --- fstore -------------------------------------------------------------------
PORT=$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$FSTORE" serve --data-dir "$WORK/fstore-data" --listen "127.0.0.1:$PORT" --allow-file-access \
    --memory-limit-mb 8192 >"$WORK/fstore.log" 2>&1 &
FS_PID=$!
PSQL=(psql -h 127.0.0.1 -p "$PORT" -U bench -d fstore -X -q -v ON_ERROR_STOP=1)
for _ in $(seq 50); do "${PSQL[@]}" -c "SELECT 1" >/dev/null 2>&1 && break; sleep 0.2; done
echo "loading fstore…" >&2
"${PSQL[@]}" >/dev/null <<SQL
CREATE EXTERNAL TABLE spine_src STORED AS PARQUET LOCATION '$WORK/spine.parquet';
CREATE EXTERNAL TABLE group_a_src STORED AS PARQUET LOCATION '$WORK/group_a.parquet';
CREATE EXTERNAL TABLE group_b_src STORED AS PARQUET LOCATION '$WORK/group_b.parquet';
CREATE TABLE spine AS SELECT * FROM spine_src;
CREATE FEATURE GROUP group_a (cc_num BIGINT NOT NULL, ts TIMESTAMP NOT NULL, a1 DOUBLE PRECISION,
    a2 DOUBLE PRECISION, a3 DOUBLE PRECISION, PRIMARY KEY (cc_num), EVENT TIME (ts)) OFFLINE
    AS SELECT * FROM group_a_src;
CREATE FEATURE GROUP group_b (cc_num BIGINT NOT NULL, ts TIMESTAMP NOT NULL, b1 DOUBLE PRECISION,
    b2 DOUBLE PRECISION, b3 DOUBLE PRECISION, PRIMARY KEY (cc_num), EVENT TIME (ts)) OFFLINE
    AS SELECT * FROM group_b_src;
SQL
# Restart so that the peak RSS measured is the queries', not the load's.
kill -TERM "$FS_PID"; wait "$FS_PID" 2>/dev/null || true
"$FSTORE" serve --data-dir "$WORK/fstore-data" --listen "127.0.0.1:$PORT" \
    --memory-limit-mb 8192 >>"$WORK/fstore.log" 2>&1 &
FS_PID=$!
for _ in $(seq 50); do "${PSQL[@]}" -c "SELECT 1" >/dev/null 2>&1 && break; sleep 0.2; done
echo "running fstore…" >&2
FS_TIMES=()
FS_RESULT=""
for i in 1 2 3 4; do
    t0=$(date +%s.%N)
    FS_RESULT=$("${PSQL[@]}" -t -A -F ' ' -c "$QUERY")
    t1=$(date +%s.%N)
    [ "$i" -gt 1 ] && FS_TIMES+=("$(echo "$t1 - $t0" | bc -l)")
done
FS_S=$(printf '%s\n' "${FS_TIMES[@]}" | sort -n | sed -n 2p)
FS_RSS=$(awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$FS_PID/status")
read -r FS_N _ _ _ _ _ _ _ FS_A FS_B <<<"$FS_RESULT"

if [ "$FS_N $FS_A $FS_B" != "$DUCK_N $DUCK_A $DUCK_B" ]; then
    echo "results differ: fstore rows/matches $FS_N $FS_A $FS_B, DuckDB $DUCK_N $DUCK_A $DUCK_B" >&2
    exit 1
fi
RATIO=$(echo "$DUCK_S / $FS_S" | bc -l)
printf 'spine %d rows, %d keys; groups %d and %d rows; matches %s and %s\n' \
    "$SPINE" "$KEYS" "$ROWS_A" "$ROWS_B" "$FS_A" "$FS_B"
printf '%-8s %8s %14s %10s\n' engine seconds "spine rows/s" "peak RSS"
printf '%-8s %8.3f %14.0f %7s MiB\n' fstore "$FS_S" "$(echo "$SPINE / $FS_S" | bc -l)" "$FS_RSS"
printf '%-8s %8.3f %14.0f %7s MiB\n' duckdb "$DUCK_S" "$(echo "$SPINE / $DUCK_S" | bc -l)" "$DUCK_RSS"
printf 'fstore is %.2fx DuckDB (DuckDB seconds / fstore seconds)\n' "$RATIO"

#!/usr/bin/env bash
# Online serving: pgbench against fstore's online store and PostgreSQL 15,
# the same data and the same custom scripts, -M prepared, in one run.
#
#   bash bench/online_vs_postgres.sh [ROWS] [SECONDS]   # defaults 1000000 15
#
# Data: a 1M-row feature group (key, event time, 10 features) and two more
# groups of 2 features each over the same keys; in PostgreSQL three tables
# with primary keys. Workloads:
#   1. one key per query, 1 client: mean and p99 latency (pgbench -l);
#   2. one key per query, 8 clients / 2 threads: transactions per second;
#   3. 100 random keys per query (= ANY(ARRAY[…])), 8 clients: queries/s
#      and rows/s;
#   4. a 3-group feature-view vector (online.<view>) against the equivalent
#      3-way primary-key join in PostgreSQL, 1 client and 8 clients.
# Prints a Markdown table with fstore / PostgreSQL ratios. Installs the
# PostgreSQL 15 server from Debian if needed and runs it on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS="${1:-1000000}"
SECONDS_PER_RUN="${2:-15}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fstore-release}"
WORK="$(mktemp -d /tmp/fstore-online-bench.XXXXXX)"
chmod 755 "$WORK"
PG_STARTED=""
FS_PID=""
cleanup() {
    [ -n "$FS_PID" ] && kill "$FS_PID" 2>/dev/null || true
    if [ -n "$PG_STARTED" ]; then runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$WORK/pg" -m immediate stop >/dev/null 2>&1 || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

if ! ls /usr/lib/postgresql/15/bin/postgres >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 postgresql-contrib >/dev/null
fi
PG_BIN=/usr/lib/postgresql/15/bin
PGBENCH="$PG_BIN/pgbench"
[ -x "$PGBENCH" ] || PGBENCH="$(command -v pgbench)"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "building fstore (release)…" >&2
cargo build --release --quiet --bin fstore
FSTORE="$CARGO_TARGET_DIR/release/fstore"

echo "generating $ROWS rows per group…" >&2
awk -v n="$ROWS" -v dir="$WORK" 'BEGIN {
    srand(7);
    for (i = 1; i <= n; i++) {
        d = 1 + (i % 28); h = i % 24; m = i % 60;
        printf "%d,2026-01-%02d %02d:%02d:00,%.4f,%d,%s,%d,%.2f,%s,%d,%.6f,cat%d,%d\n",
            i, d, h, m, rand() * 1000, int(rand() * 100000), (i % 2 ? "true" : "false"),
            int(rand() * 50), rand() * 10, "merchant_" (i % 997), i % 13, rand(), i % 31, int(rand() * 1e9) > (dir "/features.csv");
        printf "%d,2025-12-01 00:00:00,%d,seg%d\n", i, 18 + i % 60, i % 7 > (dir "/profiles.csv");
        printf "%d,2025-12-15 00:00:00,%d,%.2f\n", i, int(rand() * 500), rand() * 900 > (dir "/activity.csv");
    }
}'
chmod 644 "$WORK"/*.csv

FEATURES="id BIGINT NOT NULL, ts TIMESTAMP NOT NULL, amount DOUBLE PRECISION, qty BIGINT,
    online_flag BOOLEAN, age INT, score DOUBLE PRECISION, merchant TEXT, bucket INT,
    ratio DOUBLE PRECISION, category TEXT, counter BIGINT"
PROFILES="id BIGINT NOT NULL, updated_at TIMESTAMP NOT NULL, years INT, segment TEXT"
ACTIVITY="id BIGINT NOT NULL, window_end TIMESTAMP NOT NULL, clicks BIGINT, spend DOUBLE PRECISION"

# --- PostgreSQL 15 -----------------------------------------------------------
PG_PORT=$(free_port)
mkdir -p "$WORK/pg" && chown postgres "$WORK/pg" && chmod 700 "$WORK/pg"
touch "$WORK/pg.log" && chown postgres "$WORK/pg.log"
runuser -u postgres -- "$PG_BIN/initdb" -D "$WORK/pg" -A trust -U postgres >/dev/null
# Sized for this box (2 cores, 24 GiB): the whole data set stays in shared
# buffers, as fstore's stays in the page cache.
cat >> "$WORK/pg/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PG_PORT
max_connections = 200
shared_buffers = 4GB
effective_cache_size = 16GB
work_mem = 16MB
maintenance_work_mem = 1GB
max_wal_size = 8GB
wal_level = minimal
max_wal_senders = 0
CONF
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pg.log" -w start >/dev/null
PG_STARTED=1
PSQL_PG=(psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1)
echo "loading PostgreSQL…" >&2
"${PSQL_PG[@]}" -c "CREATE TABLE features ($FEATURES, PRIMARY KEY (id))" \
    -c "CREATE TABLE profiles ($PROFILES, PRIMARY KEY (id))" \
    -c "CREATE TABLE activity ($ACTIVITY, PRIMARY KEY (id))"
for t in features profiles activity; do
    "${PSQL_PG[@]}" -c "\\copy $t FROM '$WORK/$t.csv' (FORMAT csv)"
done
"${PSQL_PG[@]}" -c "VACUUM ANALYZE" -c "CREATE EXTENSION IF NOT EXISTS pg_prewarm" \
    -c "SELECT pg_prewarm(c) FROM unnest(ARRAY['features','profiles','activity','features_pkey','profiles_pkey','activity_pkey']) c" >/dev/null

# --- fstore ------------------------------------------------------------------
FS_PORT=$(free_port)
RUST_LOG=warn,buoyant_kernel=off "$FSTORE" serve --data-dir "$WORK/fstore" --listen "127.0.0.1:$FS_PORT" &
FS_PID=$!
for _ in $(seq 1 100); do
    psql -X -q -h 127.0.0.1 -p "$FS_PORT" -d fstore -c "SELECT 1" >/dev/null 2>&1 && break
    sleep 0.1
done
PSQL_FS=(psql -X -q -h 127.0.0.1 -p "$FS_PORT" -d fstore -v ON_ERROR_STOP=1)
echo "loading fstore…" >&2
"${PSQL_FS[@]}" -c "CREATE FEATURE GROUP features ($FEATURES, PRIMARY KEY (id), EVENT TIME (ts)) ONLINE" \
    -c "CREATE FEATURE GROUP profiles ($PROFILES, PRIMARY KEY (id), EVENT TIME (updated_at)) ONLINE" \
    -c "CREATE FEATURE GROUP activity ($ACTIVITY, PRIMARY KEY (id), EVENT TIME (window_end)) ONLINE"
for t in features profiles activity; do
    "${PSQL_FS[@]}" -c "\\copy $t FROM '$WORK/$t.csv' (FORMAT csv)"
done
"${PSQL_FS[@]}" -c "CREATE FEATURE VIEW customer_vector AS
    SELECT f.*, p.years, p.segment, a.clicks, a.spend
    FROM features f
    ASOF LEFT JOIN profiles p ON f.id = p.id AND f.ts >= p.updated_at
    ASOF LEFT JOIN activity a ON f.id = a.id AND f.ts >= a.window_end"

# Both answer the same row for the same key.
check_sql_fs="SELECT id, amount, merchant, years, clicks FROM online.customer_vector WHERE id = 4242"
check_sql_pg="SELECT f.id, f.amount, f.merchant, p.years, a.clicks FROM features f LEFT JOIN profiles p USING (id) LEFT JOIN activity a USING (id) WHERE f.id = 4242"
fs_row=$("${PSQL_FS[@]}" -At -c "$check_sql_fs" | sed 's/\.0|/|/g')
pg_row=$("${PSQL_PG[@]}" -At -c "$check_sql_pg")
echo "check: fstore [$fs_row] PostgreSQL [$pg_row]" >&2

# --- pgbench scripts ---------------------------------------------------------
cat > "$WORK/one_fs.sql" <<SQL
\\set id random(1, $ROWS)
SELECT * FROM online.features WHERE id = :id;
SQL
cat > "$WORK/one_pg.sql" <<SQL
\\set id random(1, $ROWS)
SELECT * FROM features WHERE id = :id;
SQL
python3 - "$WORK" "$ROWS" <<'PY'
import sys
work, rows = sys.argv[1], int(sys.argv[2])
sets = "".join(f"\\set k{i} random(1, {rows})\n" for i in range(100))
# Typed elements: Postgres would read ARRAY[$1, …] of untyped parameters
# as text[].
keys = ", ".join(f":k{i}::bigint" for i in range(100))
for name, table in (("many_fs", "online.features"), ("many_pg", "features")):
    with open(f"{work}/{name}.sql", "w") as f:
        f.write(sets + f"SELECT * FROM {table} WHERE id = ANY(ARRAY[{keys}]);\n")
PY
cat > "$WORK/view_fs.sql" <<SQL
\\set id random(1, $ROWS)
SELECT * FROM online.customer_vector WHERE id = :id;
SQL
cat > "$WORK/view_pg.sql" <<SQL
\\set id random(1, $ROWS)
SELECT f.*, p.years, p.segment, a.clicks, a.spend FROM features f LEFT JOIN profiles p USING (id) LEFT JOIN activity a USING (id) WHERE f.id = :id;
SQL

# run NAME SYSTEM SCRIPT CLIENTS THREADS -> prints "tps mean_ms p99_ms"
run() {
    local name=$1 system=$2 script=$3 clients=$4 threads=$5 port user db
    if [ "$system" = fs ]; then port=$FS_PORT; db=fstore; user=bench; else port=$PG_PORT; db=postgres; user=postgres; fi
    local logdir="$WORK/log_${name}_$system"
    mkdir -p "$logdir"
    (cd "$logdir" && "$PGBENCH" -h 127.0.0.1 -p "$port" -U "$user" -n -M prepared \
        -f "$WORK/$script" -c "$clients" -j "$threads" -T "$SECONDS_PER_RUN" -l "$db" > out.txt 2> err.txt) || {
        cat "$logdir/err.txt" >&2; exit 1; }
    python3 - "$logdir" <<'PY'
import glob, re, sys
d = sys.argv[1]
out = open(f"{d}/out.txt").read()
tps = float(re.search(r"tps = ([0-9.]+)", out).group(1))
failed = int(re.search(r"number of failed transactions: (\d+)", out).group(1))
assert failed == 0, out
lat = []
for path in glob.glob(f"{d}/pgbench_log.*"):
    for line in open(path):
        lat.append(int(line.split()[2]))
lat.sort()
mean = sum(lat) / len(lat) / 1000
p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] / 1000
print(f"{tps:.0f} {mean:.3f} {p99:.3f}")
PY
}

echo "running pgbench ($SECONDS_PER_RUN s per run)…" >&2
declare -A R
for sys in pg fs; do
    R[one1_$sys]=$(run one1 $sys one_$sys.sql 1 1)
    R[one8_$sys]=$(run one8 $sys one_$sys.sql 8 2)
    R[many8_$sys]=$(run many8 $sys many_$sys.sql 8 2)
    R[view1_$sys]=$(run view1 $sys view_$sys.sql 1 1)
    R[view8_$sys]=$(run view8 $sys view_$sys.sql 8 2)
done
fs_rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$FS_PID/status")

python3 - "$ROWS" "$SECONDS_PER_RUN" "$fs_rss_kb" \
    "${R[one1_pg]}" "${R[one1_fs]}" "${R[one8_pg]}" "${R[one8_fs]}" \
    "${R[many8_pg]}" "${R[many8_fs]}" "${R[view1_pg]}" "${R[view1_fs]}" \
    "${R[view8_pg]}" "${R[view8_fs]}" <<'PY'
import sys
rows, secs, rss = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
vals = [tuple(map(float, a.split())) for a in sys.argv[4:]]
(one1_pg, one1_fs, one8_pg, one8_fs, many8_pg, many8_fs, view1_pg, view1_fs, view8_pg, view8_fs) = vals
def lower_better(pg, fs): return f"{pg / fs:.2f}x"
def higher_better(pg, fs): return f"{fs / pg:.2f}x"
print(f"rows per group: {rows:,}; {secs} s per run; pgbench -M prepared; fstore RSS after the runs {rss / 1024:.0f} MiB")
print()
print("| workload | PostgreSQL 15 | fstore | fstore / PostgreSQL |")
print("| --- | ---: | ---: | ---: |")
print(f"| 1 key, 1 client: mean latency | {one1_pg[1]:.3f} ms | {one1_fs[1]:.3f} ms | {lower_better(one1_pg[1], one1_fs[1])} faster |")
print(f"| 1 key, 1 client: p99 latency | {one1_pg[2]:.3f} ms | {one1_fs[2]:.3f} ms | {lower_better(one1_pg[2], one1_fs[2])} faster |")
print(f"| 1 key, 8 clients / 2 threads: TPS | {one8_pg[0]:,.0f} | {one8_fs[0]:,.0f} | {higher_better(one8_pg[0], one8_fs[0])} |")
print(f"| 100 keys (= ANY), 8 clients: queries/s | {many8_pg[0]:,.0f} | {many8_fs[0]:,.0f} | {higher_better(many8_pg[0], many8_fs[0])} |")
print(f"| 100 keys (= ANY), 8 clients: rows/s | {many8_pg[0] * 100:,.0f} | {many8_fs[0] * 100:,.0f} | {higher_better(many8_pg[0], many8_fs[0])} |")
print(f"| 3-group vector, 1 client: mean latency | {view1_pg[1]:.3f} ms | {view1_fs[1]:.3f} ms | {lower_better(view1_pg[1], view1_fs[1])} faster |")
print(f"| 3-group vector, 1 client: p99 latency | {view1_pg[2]:.3f} ms | {view1_fs[2]:.3f} ms | {lower_better(view1_pg[2], view1_fs[2])} faster |")
print(f"| 3-group vector, 8 clients: TPS | {view8_pg[0]:,.0f} | {view8_fs[0]:,.0f} | {higher_better(view8_pg[0], view8_fs[0])} |")
PY

#!/usr/bin/env bash
# COPY … FROM STDIN of N rows (a key, an event time, 10 mixed features) into
# an online fstore feature group, against the same load into PostgreSQL 15
# (a table with a primary key), measured in the same run.
#
#   bash bench/copy_vs_postgres.sh [ROWS]      # default 10000000
#
# Prints rows/s for both, the ratio, and fstore's peak RSS. Installs the
# PostgreSQL 15 server from Debian if needed and runs it on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS="${1:-10000000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fstore-release}"
WORK="$(mktemp -d /tmp/fstore-bench.XXXXXX)"
chmod 755 "$WORK"
PG_PID=""
FS_PID=""
cleanup() {
    [ -n "$FS_PID" ] && kill "$FS_PID" 2>/dev/null || true
    if [ -n "$PG_PID" ]; then runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$WORK/pg" -m immediate stop >/dev/null 2>&1 || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

if ! ls /usr/lib/postgresql/15/bin/postgres >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null
fi
PG_BIN=/usr/lib/postgresql/15/bin

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "building fstore (release)…" >&2
cargo build --release --quiet --bin fstore
FSTORE="$CARGO_TARGET_DIR/release/fstore"

echo "generating $ROWS rows…" >&2
awk -v n="$ROWS" 'BEGIN {
    srand(42);
    for (i = 1; i <= n; i++) {
        d = 1 + (i % 28); h = i % 24; m = i % 60;
        printf "%d,2026-01-%02d %02d:%02d:00,%.4f,%d,%s,%d,%.2f,%s,%d,%.6f,cat%d,%d\n",
            i, d, h, m, rand() * 1000, int(rand() * 100000), (i % 2 ? "true" : "false"),
            int(rand() * 50), rand() * 10, "merchant_" (i % 997), i % 13, rand(), i % 31, int(rand() * 1e9);
    }
}' > "$WORK/rows.csv"
chmod 644 "$WORK/rows.csv"

COLUMNS_SQL="id BIGINT NOT NULL, ts TIMESTAMP NOT NULL, amount DOUBLE PRECISION, qty BIGINT,
    online_flag BOOLEAN, age INT, score DOUBLE PRECISION, merchant TEXT, bucket INT,
    ratio DOUBLE PRECISION, category TEXT, counter BIGINT"

# --- PostgreSQL 15 -----------------------------------------------------------
PG_PORT=$(free_port)
mkdir -p "$WORK/pg" && chown postgres "$WORK/pg" && chmod 700 "$WORK/pg"
touch "$WORK/pg.log" && chown postgres "$WORK/pg.log"
runuser -u postgres -- "$PG_BIN/initdb" -D "$WORK/pg" -A trust -U postgres >/dev/null
cat >> "$WORK/pg/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PG_PORT
shared_buffers = 2GB
maintenance_work_mem = 1GB
max_wal_size = 8GB
checkpoint_timeout = 30min
wal_level = minimal
max_wal_senders = 0
CONF
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pg.log" -w start >/dev/null
PG_PID=1
PSQL_PG=(psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1)
"${PSQL_PG[@]}" -c "CREATE TABLE events ($COLUMNS_SQL)"
pg_start=$(date +%s.%N)
"${PSQL_PG[@]}" -c "\\copy events FROM '$WORK/rows.csv' (FORMAT csv)"
"${PSQL_PG[@]}" -c "ALTER TABLE events ADD PRIMARY KEY (id)"
pg_end=$(date +%s.%N)
pg_count=$("${PSQL_PG[@]}" -At -c "SELECT count(*) FROM events")

# --- fstore ------------------------------------------------------------------
FS_PORT=$(free_port)
RUST_LOG=warn,buoyant_kernel=off "$FSTORE" serve --data-dir "$WORK/fstore" --listen "127.0.0.1:$FS_PORT" &
FS_PID=$!
for _ in $(seq 1 100); do
    psql -X -q -h 127.0.0.1 -p "$FS_PORT" -d fstore -c "SELECT 1" >/dev/null 2>&1 && break
    sleep 0.1
done
PSQL_FS=(psql -X -q -h 127.0.0.1 -p "$FS_PORT" -d fstore -v ON_ERROR_STOP=1)
"${PSQL_FS[@]}" -c "CREATE FEATURE GROUP events ($COLUMNS_SQL, PRIMARY KEY (id), EVENT TIME (ts)) ONLINE"
fs_start=$(date +%s.%N)
"${PSQL_FS[@]}" -c "\\copy events FROM '$WORK/rows.csv' (FORMAT csv)"
fs_end=$(date +%s.%N)
fs_rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$FS_PID/status")
fs_count=$("${PSQL_FS[@]}" -At -c "SELECT count(*) FROM events")
fs_online=$("${PSQL_FS[@]}" -At -c "SELECT count(*) FROM online.events WHERE id IN (1, $((ROWS / 2)), $ROWS)")

python3 - "$ROWS" "$pg_start" "$pg_end" "$fs_start" "$fs_end" "$fs_rss_kb" "$pg_count" "$fs_count" "$fs_online" <<'PY'
import sys
rows, pg_start, pg_end, fs_start, fs_end, rss_kb, pg_count, fs_count, fs_online = sys.argv[1:]
rows = int(rows)
pg_s = float(pg_end) - float(pg_start)
fs_s = float(fs_end) - float(fs_start)
assert int(pg_count) == rows and int(fs_count) == rows and int(fs_online) == 3, (pg_count, fs_count, fs_online)
print(f"rows                      {rows:,}")
print(f"PostgreSQL 15 COPY + PK   {pg_s:8.2f} s  {rows / pg_s:12,.0f} rows/s")
print(f"fstore COPY (both stores) {fs_s:8.2f} s  {rows / fs_s:12,.0f} rows/s")
print(f"ratio fstore / PostgreSQL {pg_s / fs_s:8.2f}x")
print(f"fstore peak RSS           {int(rss_kb) / 1024:8.0f} MiB")
PY

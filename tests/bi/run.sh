#!/usr/bin/env bash
# Apache Superset on fstore in a real browser (tests/bi/superset_browser.py).
# .ci/run calls this when FSTORE_BI_TESTS=1; by hand: bash tests/bi/run.sh.
# First run about 6 minutes (Superset's install, Debian's Chromium), later
# runs about 2; bounded by BI_TEST_TIMEOUT seconds (default 900).
# Screenshots go to $FSTORE_BI_ARTIFACTS (default $CARGO_TARGET_DIR/tmp/bi-artifacts).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fstore-target}"
export DEBIAN_FRONTEND=noninteractive
artifacts="${FSTORE_BI_ARTIFACTS:-$CARGO_TARGET_DIR/tmp/bi-artifacts}"
budget="${BI_TEST_TIMEOUT:-900}"

# Debian's Chromium and its driver; ecpg for SQL Lab's syntax check
# (Superset's PostgreSQL validator runs it).
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ] || ! command -v ecpg >/dev/null; then
    apt-get update -qq
    apt-get install -y -qq chromium chromium-driver libecpg-dev >/dev/null
fi

# Superset pins its own stack (SQLAlchemy 1.4, Flask 2): a virtualenv of
# its own, from exact versions, rebuilt when they change.
venv="$CARGO_TARGET_DIR/tmp/superset-venv"
wanted="$root/tests/bi/requirements.txt"
if ! cmp -s "$wanted" "$venv/installed-requirements.txt" 2>/dev/null; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$wanted"
    cp "$wanted" "$venv/installed-requirements.txt"
fi

cargo build --quiet --features failpoints --bin fstore
fstore="$CARGO_TARGET_DIR/debug/fstore"

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_until() { # seconds, command...
    local deadline=$((SECONDS + $1)); shift
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 1
    done
}

fstore_port=$(free_port)
"$fstore" serve --data-dir "$work/fstore-data" --listen "127.0.0.1:$fstore_port" \
    --unix-socket-dir "" >"$work/fstore.log" 2>&1 &
pids+=($!)
psql_fstore() { psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$fstore_port" -U seed -d fstore "$@"; }
wait_until 60 psql_fstore -c "SELECT 1" || { cat "$work/fstore.log"; exit 1; }
psql_fstore <<'SQL'
CREATE FEATURE GROUP rides (
    ride_id BIGINT NOT NULL, pickup_at TIMESTAMP NOT NULL, city TEXT, fare DOUBLE PRECISION,
    PRIMARY KEY (ride_id), EVENT TIME (pickup_at)
) ONLINE COMMENT 'rides taken';
INSERT INTO rides VALUES
    (1, '2026-01-01 10:00:00', 'Paris', 12.5), (2, '2026-01-01 11:00:00', 'Lyon', 8),
    (3, '2026-01-02 09:00:00', 'Paris', 20), (4, '2026-01-02 12:00:00', 'Nice', 15.25);
-- A second version: listings show the group once, under its name.
CREATE FEATURE GROUP rides VERSION 2 (
    ride_id BIGINT NOT NULL, pickup_at TIMESTAMP NOT NULL, city TEXT, fare DOUBLE PRECISION,
    PRIMARY KEY (ride_id), EVENT TIME (pickup_at)
) ONLINE COMMENT 'rides taken';
INSERT INTO rides VALUES
    (1, '2026-01-01 10:00:00', 'Paris', 12.5), (2, '2026-01-01 11:00:00', 'Lyon', 8),
    (3, '2026-01-02 09:00:00', 'Paris', 20), (4, '2026-01-02 12:00:00', 'Nice', 15.25);
SQL

export SUPERSET_CONFIG_PATH="$work/superset_config.py"
export FLASK_APP=superset
cat >"$SUPERSET_CONFIG_PATH" <<EOF
SECRET_KEY = "fstore-bi-test-only-$(date +%s%N)"
SQLALCHEMY_DATABASE_URI = "sqlite:///$work/superset.db"
# The test calls Superset's API from the logged-in page without a CSRF token.
WTF_CSRF_ENABLED = False
TALISMAN_ENABLED = False
EOF
superset="$venv/bin/superset"
timeout 300 "$superset" db upgrade >"$work/superset-setup.log" 2>&1
timeout 120 "$superset" fab create-admin --username admin --firstname BI --lastname Test \
    --email bi@example.com --password admin >>"$work/superset-setup.log" 2>&1
timeout 300 "$superset" init >>"$work/superset-setup.log" 2>&1
superset_port=$(free_port)
"$superset" run -h 127.0.0.1 -p "$superset_port" --with-threads >"$work/superset.log" 2>&1 &
pids+=($!)
wait_until 120 curl -sf "http://127.0.0.1:$superset_port/health" \
    || { tail -50 "$work/superset.log"; exit 1; }

status=0
timeout "$budget" "$venv/bin/python" "$root/tests/bi/superset_browser.py" \
    "http://127.0.0.1:$superset_port" "$fstore_port" "$artifacts" || status=$?
if [ "$status" -ne 0 ]; then
    echo "--- superset log (tail)"; tail -60 "$work/superset.log"
    echo "--- fstore log (tail)"; tail -30 "$work/fstore.log"
fi
exit "$status"

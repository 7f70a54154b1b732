#!/usr/bin/env bash
# The README's demo: the chat project on daphne at http://127.0.0.1:PORT/ (first argument, default 8000).
# Uses the Redis at REDIS_URL (default redis://127.0.0.1:6379/0), starting a private redis-server there if none
# answers and it is on this machine; migrates the database (DATABASE_URL, default the SQLite file db.sqlite3),
# creates the demo users and rooms and prints their logins and tokens. Run it again with another port, in
# another terminal, for a second daphne process on the same Redis and database: it installs nothing when the
# virtualenv is up to date, and sets up Redis and the database one start at a time.
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"

PORT="${1:-8000}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
make_venv tests
cd "$ROOT"

cleanup() {
    # Stop what this script started, whether it ends by Ctrl-C, a kill, an error or daphne exiting.
    if [ -n "${daphne_pid:-}" ]; then kill "$daphne_pid" 2>/dev/null || true; wait "$daphne_pid" 2>/dev/null || true; fi
    if [ -n "${redis_pid:-}" ]; then kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; fi
    if [ -n "${redis_dir:-}" ]; then rm -rf "$redis_dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

redis_answers() {
    "$VENV/bin/python" -c 'import sys, redis; redis.Redis.from_url(sys.argv[1], socket_timeout=1).ping()' "$REDIS_URL" 2>/dev/null
}

# One start at a time from here to daphne, so that two started together neither both start a redis-server nor
# migrate and create the demo users at once.
exec {setup_lock}>"$VENV/.demo-setup.lock"
flock "$setup_lock"
if ! redis_answers; then
    read -r host port < <("$VENV/bin/python" -c 'import sys, urllib.parse; u = urllib.parse.urlsplit(sys.argv[1]); print(u.hostname, u.port or 6379)' "$REDIS_URL")
    if [ "$host" != "127.0.0.1" ] && [ "$host" != "localhost" ]; then
        echo "Nothing answers at REDIS_URL=$REDIS_URL; start that Redis, or unset REDIS_URL for a local one." >&2
        exit 1
    fi
    apt_install redis-server:redis-server
    redis_dir="$(mktemp -d)"
    # Without the lock's descriptor: redis-server outlives the setup, and would hold the lock for its lifetime.
    redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no --dir "$redis_dir" --logfile "$redis_dir/redis.log" {setup_lock}>&- &
    redis_pid=$!
    for _ in $(seq 100); do redis_answers && break; sleep 0.1; done
    redis_answers || { echo "redis-server did not start on port $port; see $redis_dir/redis.log" >&2; exit 1; }
    echo "Started a private redis-server at $REDIS_URL (it stops with this script)."
fi

"$VENV/bin/python" manage.py migrate --verbosity 0
"$VENV/bin/python" manage.py setup_demo --url "http://127.0.0.1:$PORT"
exec {setup_lock}>&-
echo
echo "Serving on http://127.0.0.1:$PORT/ with Redis at $REDIS_URL; Ctrl-C stops."
"$VENV/bin/python" -m daphne -b 127.0.0.1 -p "$PORT" testproject.asgi:application &
daphne_pid=$!
wait "$daphne_pid"

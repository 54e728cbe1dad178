# Shared by scripts/setup, scripts/run and scripts/test. Source it; do not run it.
# Everything installed or cached lives outside the clone, so fresh clones (CI) build incrementally.

HN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HN_CACHE="${HUB_NOTIFY_CACHE:-$HOME/.cache/hub-notify}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HN_CACHE/target}"
export PATH="$HOME/.cargo/bin:$HN_CACHE/tools/node_modules/binaryen/bin:$PATH"
mkdir -p "$HN_CACHE/logs"

# Pinned tool versions (wasm-bindgen is read from Cargo.lock).
CARGO_LEPTOS_VERSION="0.3.11"
BINARYEN_VERSION="132.0.0"

step() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
note() { printf '    %s\n' "$*" >&2; }
die() {
  printf '\033[1;31merror:\033[0m %s\n' "$1" >&2
  [ -n "${2:-}" ] && printf '       %s\n' "$2" >&2
  exit 1
}

# Runs a long command with its output in a log file, printing the log's tail if it fails.
# usage: run_logged NAME "what to do if it fails" cmd args...
run_logged() {
  local name="$1" hint="$2"
  shift 2
  local log="$HN_CACHE/logs/$name.log"
  note "log: $log"
  if ! "$@" >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    die "step '$name' failed (full log: $log)" "$hint"
  fi
}

elapsed() { echo "$(($(date +%s) - $1))s"; }

wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$HN_ROOT/Cargo.lock"
}

# The toolchain that has a wasm32 std, chosen by scripts/setup (empty = rustup default).
load_toolchain() {
  if [ -f "$HN_CACHE/toolchain" ]; then
    local tc
    tc="$(cat "$HN_CACHE/toolchain")"
    if [ -n "$tc" ]; then export RUSTUP_TOOLCHAIN="$tc"; fi
  fi
}

# PostgreSQL and Redis: use what is configured; start the local services when they are down.
ensure_services() {
  if [ -z "${DATABASE_URL:-}" ]; then
    if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
      step "starting local PostgreSQL"
      command -v pg_ctlcluster >/dev/null || die "PostgreSQL is not running and not installed" \
        "install it (apt-get install postgresql) or set DATABASE_URL"
      pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n 1)" main start
      for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
      pg_isready -q -h 127.0.0.1 -p 5432 || die "PostgreSQL did not come up on 127.0.0.1:5432"
    fi
  fi
  if [ -z "${REDIS_URL:-}" ]; then
    if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
      step "starting local Redis"
      command -v redis-server >/dev/null || die "Redis is not running and not installed" \
        "install it (apt-get install redis-server) or set REDIS_URL"
      mkdir -p /var/lib/redis /var/log/redis
      redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/ci.log
      for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 1; done
      redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || die "Redis did not come up on 127.0.0.1:6379"
    fi
  fi
}

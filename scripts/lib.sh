# Shared by scripts/setup, scripts/run and scripts/test. Source it; do not run it.
# Everything installed or cached lives outside the clone, so fresh clones (CI) build incrementally.

HN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HN_CACHE="${HUB_NOTIFY_CACHE:-$HOME/.cache/hub-notify}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HN_CACHE/target}"
export PATH="$HOME/.cargo/bin:$HN_CACHE/tools/node_modules/binaryen/bin:$PATH"
mkdir -p "$HN_CACHE/logs"
# Leptos reads it at compile time and cargo-leptos sets it: plain cargo builds (tests, clippy,
# bench) get the same value, or cargo would rebuild Leptos and every crate above it in turn.
export LEPTOS_OUTPUT_NAME=hub-notify

# Pinned tool versions (wasm-bindgen is read from Cargo.lock).
CARGO_LEPTOS_VERSION="0.3.11"
BINARYEN_VERSION="132.0.0"
# The LiteLLM proxy the connector's tests run (scripts/setup --tests), and where it lives.
LITELLM_VERSION="1.108.7"
LITELLM_VENV="$HN_CACHE/litellm"

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

# A new SECRETS_KEY: 32 random bytes in base64 (what `openssl rand -base64 32` prints).
new_secrets_key() {
  head -c 32 /dev/urandom | base64 | tr -d '\n'
}

# --- The release site: what scripts/run serves, scripts/test browser-tests, scripts/bench measures
# and the Dockerfile ships. `cargo leptos build --release --split` writes the site to target/site (in
# this clone) and the server to the shared $CARGO_TARGET_DIR; the server and its hash file are
# copied into this clone's target/ so that another clone sharing the target directory cannot
# swap them. cargo-leptos re-runs wasm-bindgen and wasm-opt on every call, so a build whose
# inputs are unchanged is skipped: the stamp hashes every tracked or untracked (not ignored)
# input file and the tools that turn them into the site.
SITE_ROOT="$HN_ROOT/target/site"
SITE_SERVER="$HN_ROOT/target/release-server/server"
SITE_STAMP="$HN_ROOT/target/release-server/inputs.sha256"

site_input_files() {
  (cd "$HN_ROOT" && git ls-files -z --cached --others --exclude-standard -- \
    app frontend server style public migrations Cargo.toml Cargo.lock .cargo scripts/lib.sh 2>/dev/null) || true
}

site_inputs_hash() {
  {
    site_input_files | (cd "$HN_ROOT" && xargs -0 -r sha256sum 2>/dev/null) || true
    rustc -V
    cargo leptos --version 2>/dev/null || true
    wasm-bindgen --version 2>/dev/null || true
    wasm-opt --version 2>/dev/null || true
    printf 'RUSTFLAGS=%s\n' "${RUSTFLAGS:-}"
  } | sha256sum | cut -d' ' -f1
}

# .br and .gz twins of the front end's files, served in their place (leptos_axum's file handler
# picks them by Accept-Encoding): compressed once at the strongest level instead of per request.
# Not `cargo leptos build --precompress`: its gzip (libflate) made the wasm 17 % larger than
# gzip -9 does (646,996 against 552,904 bytes, 2026-12-02); its brotli is the same.
precompress_site() {
  local f
  for f in "$SITE_ROOT"/pkg/*.wasm "$SITE_ROOT"/pkg/*.js "$SITE_ROOT"/pkg/*.css; do
    [ -f "$f" ] || continue
    gzip -9 -n -k -f "$f"
    brotli -q 11 -k -f "$f"
  done
}

# Builds the release site unless it is up to date. Progress goes to stderr.
build_release_site() {
  local want
  want="$(site_inputs_hash)"
  if [ -f "$SITE_STAMP" ] && [ "$(cat "$SITE_STAMP")" = "$want" ] && [ -x "$SITE_SERVER" ] &&
    compgen -G "$SITE_ROOT/pkg/*.wasm" >/dev/null; then
    note "release site up to date (no input changed since it was built)"
    return
  fi
  local t0 out
  t0=$(date +%s)
  out="$(dirname "$SITE_SERVER")"
  rm -rf "$out" "$SITE_ROOT/pkg"
  step "cargo leptos build --release --split (server + wasm front end, one part per page)"
  # The layout given explicitly: cargo-leptos also reads a .env of the checkout or a parent (a
  # user's, for running the server), whose LEPTOS_SITE_ROOT would move the site elsewhere; the
  # environment wins over it.
  local layout
  mapfile -t layout < <(site_layout)
  (cd "$HN_ROOT" && env "${layout[@]}" LEPTOS_SITE_ADDR=127.0.0.1:3000 cargo leptos build --release --split) >&2 ||
    die "cargo leptos build --release --split failed"
  mkdir -p "$out"
  cp "$CARGO_TARGET_DIR/release/server" "$CARGO_TARGET_DIR/release/hash.txt" "$out/"
  precompress_site
  printf '%s\n' "$want" >"$SITE_STAMP"
  note "release site built in $(elapsed "$t0")"
}

# Where the site is and how its files are named, one VAR=value a line: what cargo-leptos builds
# it with and what the server serves it by (hashed file names, read from the hash file next to
# the binary).
site_layout() {
  printf '%s\n' LEPTOS_OUTPUT_NAME=hub-notify "LEPTOS_SITE_ROOT=$SITE_ROOT" LEPTOS_SITE_PKG_DIR=pkg LEPTOS_HASH_FILES=true
}

# What the built server needs outside cargo-leptos: the layout, and Leptos in production mode.
site_env() {
  printf '%s\n' LEPTOS_ENV=PROD
  site_layout
}

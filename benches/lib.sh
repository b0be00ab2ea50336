# Sourced by the bench scripts (load.sh, soak.sh, idle_conns.sh): a scratch folder
# removed on exit together with every process started (by PID), installing a missing
# tool, and the nginx backend cognigate is put in front of.

RUN=$(mktemp -d)
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$RUN"; }
trap cleanup EXIT

# need COMMAND PACKAGE: apt-get installs PACKAGE when COMMAND is missing.
need() { command -v "$1" >/dev/null 2>&1 || { apt-get install -y -qq "$2" >/dev/null; }; }

# start_backend PORT CONNECTIONS [CPU]: a one-worker nginx answering 200 "ok" on
# 127.0.0.1:PORT, sized for CONNECTIONS connections, pinned to CPU when given.
start_backend() {
  local port=$1 files=$(($2 + 1000)) cpu=${3:-}
  cat >"$RUN/nginx.conf" <<NGINX
worker_processes 1;
worker_rlimit_nofile $files;
daemon off;
pid $RUN/nginx.pid;
error_log /dev/null;
events { worker_connections $files; }
http {
  access_log off;
  server { listen 127.0.0.1:$port; keepalive_requests 10000000; location / { return 200 "ok\n"; } }
}
NGINX
  if [ -n "$cpu" ]; then
    taskset -c "$cpu" nginx -c "$RUN/nginx.conf" -p "$RUN" &
  else
    nginx -c "$RUN/nginx.conf" -p "$RUN" &
  fi
  PIDS+=($!)
}

# write_nginx_proxy_config: "$RUN/nginx-proxy.conf", nginx as the peer bench's plain
# "nginx" row (one worker, keep-alive upstream pool, no log) on $PROXY in front of
# $BACKEND; `master_process off`, so the process started is the one serving requests.
write_nginx_proxy_config() {
  cat >"$RUN/nginx-proxy.conf" <<NGINX
worker_processes 1;
master_process off;
daemon off;
pid $RUN/nginx-proxy.pid;
error_log /dev/null;
events { worker_connections 4096; }
http {
  access_log off;
  large_client_header_buffers 4 16k;
  upstream app { server 127.0.0.1:$BACKEND; keepalive 128; }
  server {
    listen 127.0.0.1:$PROXY;
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
NGINX
}

# write_config ISSUER CLIENT GROUP [CACHE_SIZE]: "$RUN/cognigate.toml" for cognigate
# on $PROXY (admin $ADMIN) in front of $BACKEND, tokens of ISSUER for CLIENT checked
# against "$RUN/jwks.json": `/public/**` public, everything else for members of GROUP.
write_config() {
  cat > "$RUN/cognigate.toml" <<TOML
listen = "127.0.0.1:$PROXY"
admin_listen = "127.0.0.1:$ADMIN"
[upstream]
url = "http://127.0.0.1:$BACKEND"
[token]
cache_size = ${4:-100000}
[[issuers]]
name = "bench"
issuer = "$1"
jwks_uri = "file://$RUN/jwks.json"
client_ids = ["$2"]
[[routes]]
path = "/public/**"
auth = "public"
[[routes]]
path = "/**"
groups_any = ["$3"]
TOML
}

# start_proxy ADMIN_PORT [CPU]: "$BIN" on "$RUN/cognigate.toml" (RUST_LOG default warn),
# pinned to CPU when given, its log in "$RUN/proxy.log"; sets PROXY_PID once /readyz
# answers 200, or shows the log and exits.
start_proxy() {
  local admin=$1 cpu=${2:-}
  local pin=()
  [ -n "$cpu" ] && pin=(taskset -c "$cpu")
  RUST_LOG=${RUST_LOG:-warn} "${pin[@]}" "$BIN" run --config "$RUN/cognigate.toml" 2>"$RUN/proxy.log" &
  PROXY_PID=$!
  PIDS+=($PROXY_PID)
  wait_ready "http://127.0.0.1:$admin/readyz" || { echo "cognigate did not become ready" >&2; cat "$RUN/proxy.log" >&2; exit 1; }
}

# wait_ready URL: succeeds once URL answers 2xx, fails after 10 s.
wait_ready() {
  for _ in $(seq 100); do
    curl -fs "$1" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

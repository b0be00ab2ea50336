#!/usr/bin/env bash
# Instructions per request in cognigate's own process (user space), counted by
# valgrind's callgrind: for the same binary and requests the count repeats within ~0.1 %
# whatever else the machine is doing, so an A/B of a change to the request path resolves
# a 1 % difference that load.sh's CPU times (10-20 % run-to-run noise here) cannot.
# It counts instructions, not time: memory stalls and the kernel's share are not in it.
#
#   bash benches/instructions.sh                      # WORKLOADS="public same" LEVELS="warn info"
#   BIN=/path/to/other/cognigate bash benches/instructions.sh   # the other side of an A/B
#   WORKLOADS=baseline bash benches/instructions.sh   # hyper alone (examples/hyper_baseline.rs)
#   WORKLOADS=nocache bash benches/instructions.sh    # one token, [token] cache_size = 0
#   WORKLOADS=nginx bash benches/instructions.sh      # nginx as the peer bench's plain proxy
#   VALGRIND_OPTS="--cache-sim=yes --branch-sim=yes" bash benches/instructions.sh
#       # also simulated cache misses and branch mispredictions, in the kept profiles
#
# Under valgrind the RSA verify of `nocache` runs without the CPU's ADX and SHA
# extensions, so its count overstates that part; the rest of the path is counted as is.
#
# The proxy runs pinned to one CPU (so on tokio's current-thread runtime, as in the
# peer bench) in front of a one-worker nginx; REQUESTS keep-alive GETs over 16
# connections, one at a time, are counted after 500 unmeasured ones. Profiles are kept
# in benches/.callgrind/ for `callgrind_annotate --inclusive=yes FILE`.
#
# Needs: valgrind, nginx, curl, python3 (apt-get installs the first two when missing).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

REQUESTS=${REQUESTS:-4000}
WORKLOADS=${WORKLOADS:-"public same"}
LEVELS=${LEVELS:-"warn info"}
CPU=${CPU:-1}
PORT_BASE=${PORT_BASE:-19380}
OUT=${OUT:-$PWD/benches/.callgrind}
source benches/lib.sh

need valgrind valgrind
need nginx nginx-light
BIN=${BIN:-$PWD/target/release/cognigate}
[ -x "$BIN" ] || cargo build --release --quiet
mkdir -p "$OUT"

BACKEND=$PORT_BASE
PROXY=$((PORT_BASE + 1))
ADMIN=$((PORT_BASE + 2))
ISSUER=https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Count
CLIENT=countclient

"$BIN" token --generate-key "$RUN/key.pem" --jwks "$RUN/jwks.json" >/dev/null
"$BIN" token --key "$RUN/key.pem" --issuer "$ISSUER" --client-id "$CLIENT" --sub counted-user \
  --groups count-users --scope openid >"$RUN/token.txt"

# client.py PORT PATH N TOKEN_FILE: N sequential keep-alive GETs over 16 connections;
# exits non-zero unless every answer is a 200.
cat >"$RUN/client.py" <<'PY'
import socket, sys
port, path, n, token = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), open(sys.argv[4]).read().strip()
conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(16)]
request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: count\r\n"
           f"Authorization: Bearer {token}\r\n\r\n").encode()
for i in range(n):
    s = conns[i % len(conns)]
    s.sendall(request)
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            sys.exit("connection closed")
        buf += chunk
    head, body = buf.split(b"\r\n\r\n", 1)
    if not head.startswith(b"HTTP/1.1 200"):
        sys.exit(head.split(b"\r\n")[0].decode())
    length = next((int(l.split(b":")[1]) for l in head.split(b"\r\n")[1:]
                   if l.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        body += s.recv(65536)
PY

start_backend "$BACKEND" 1000

# count LABEL PATH READY_URL COMMAND...: instructions per request of COMMAND's process.
count() {
  local label=$1 path=$2 ready=$3
  shift 3
  local file=$OUT/$label.callgrind
  rm -f "$file"
  taskset -c "$CPU" valgrind --tool=callgrind --callgrind-out-file="$file" "$@" 2>"$RUN/$label.log" &
  local pid=$!
  PIDS+=($pid)
  for _ in $(seq 300); do curl -fs "$ready" >/dev/null 2>&1 && break; sleep 0.2; done
  python3 "$RUN/client.py" "$PROXY" "$path" 500 "$RUN/token.txt"
  callgrind_control --zero "$pid" >/dev/null 2>&1
  python3 "$RUN/client.py" "$PROXY" "$path" "$REQUESTS" "$RUN/token.txt"
  callgrind_control --dump "$pid" >/dev/null 2>&1
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  # The dump holds what ran since --zero; the file written at exit holds the rest.
  local dump; dump=$(ls -t "$file".* | head -1)
  local total; total=$(callgrind_annotate "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
  mv "$dump" "$file"
  rm -f "$file".*
  printf '| %-14s | %8d |\n' "$label" $((total / REQUESTS))
}

echo "| workload | instructions/request |"
echo "|---|---:|"
for w in $WORKLOADS; do
  case $w in
    nginx)
      write_nginx_proxy_config
      count nginx /public/x "http://127.0.0.1:$PROXY/" nginx -c "$RUN/nginx-proxy.conf" -p "$RUN" ;;
    baseline)
      bin=$PWD/target/release/examples/hyper_baseline
      [ -x "$bin" ] || cargo build --release --quiet --example hyper_baseline
      count baseline /public/x "http://127.0.0.1:$PROXY/" "$bin" "127.0.0.1:$PROXY" "127.0.0.1:$BACKEND" ;;
    public | same | nocache)
      path=/public/x cache=100000
      [ "$w" != public ] && path=/api/x
      [ "$w" = nocache ] && cache=0
      write_config "$ISSUER" "$CLIENT" count-users "$cache"
      for level in $LEVELS; do
        RUST_LOG=$level count "$w-$level" "$path" "http://127.0.0.1:$ADMIN/readyz" \
          "$BIN" run --config "$RUN/cognigate.toml"
      done ;;
  esac
done

#!/usr/bin/env bash
# Load test of the release binary on loopback: cognigate in front of a one-worker nginx
# `return 200`, driven by wrk. Prints req/s, p50/p99 latency and the proxy's CPU time
# per request (utime+stime from /proc, the steadiest figure on a shared machine; and its
# user-space part alone, what changes to cognigate's own code move) and its resident
# memory at the end of the run (for `rotate`: with all the tokens cached) for:
#   public     a public route (no token work: the cost of proxying)
#   same       a required route, one valid token on every request (verified-token cache)
#   rotate     10,000 distinct valid tokens, rotated per request
#   nocache    one token, [token] cache_size = 0 (an RS256 verify on every request)
#   baseline   not cognigate: examples/hyper_baseline.rs, hyper's server and client
#              alone (`WORKLOADS="baseline public same"`), what cognigate adds to hyper
#   nginx      not cognigate: nginx as the peer bench's plain proxy, same token header
#              (`WORKLOADS="nginx baseline same"`: the three side by side in one run)
# Pinning: wrk + nginx on CPU 0, cognigate on CPU 1 (override LOAD_CPU / PROXY_CPU).
#
#   bash benches/load.sh              # DURATION=10 CONNS=64 TOKENS=10000 by default
#
# Needs: wrk, nginx (apt-get installs them when missing), python3 with `cryptography`
# (pip installs it when missing) to mint the 10,000 tokens quickly.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-64}
TOKENS=${TOKENS:-10000}
LOAD_CPU=${LOAD_CPU:-0}
PROXY_CPU=${PROXY_CPU:-1}
PORT_BASE=${PORT_BASE:-19080}
WORKLOADS=${WORKLOADS:-"public same rotate nocache"}
source benches/lib.sh

need wrk wrk
need nginx nginx-light
python3 -c 'import cryptography' 2>/dev/null || python3 -m pip install --quiet cryptography
BIN=${BIN:-$PWD/target/release/cognigate}   # or another build, for an A/B run
[ -x "$BIN" ] || cargo build --release --quiet

BACKEND=$PORT_BASE
PROXY=$((PORT_BASE + 1))
ADMIN=$((PORT_BASE + 2))
ISSUER=https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Load
CLIENT=loadclient

# The key, its JWKS (served to cognigate as a file) and the tokens.
"$BIN" token --generate-key "$RUN/key.pem" --jwks "$RUN/jwks.json" >/dev/null
python3 - "$RUN" "$TOKENS" "$ISSUER" "$CLIENT" <<'PY'
import base64, json, sys, time, uuid
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
run, n, iss, client = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
key = serialization.load_pem_private_key(open(f"{run}/key.pem", "rb").read(), None)
kid = json.load(open(f"{run}/jwks.json"))["keys"][0]["kid"]
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
head = b64(json.dumps({"alg": "RS256", "kid": kid}).encode())
now = int(time.time())
with open(f"{run}/tokens.txt", "w") as out:
    for i in range(n):
        claims = {"sub": str(uuid.uuid4()), "iss": iss, "client_id": client, "token_use": "access",
                  "scope": "openid", "username": f"user{i}", "cognito:groups": ["load-users"],
                  "iat": now, "auth_time": now, "exp": now + 3600, "jti": str(uuid.uuid4())}
        signing_input = f"{head}.{b64(json.dumps(claims).encode())}"
        sig = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        out.write(f"{signing_input}.{b64(sig)}\n")
PY

start_backend "$BACKEND" 3000 "$LOAD_CPU"

config() { write_config "$ISSUER" "$CLIENT" load-users "$1"; } # $1 = cache_size

stop_proxy() { kill "$PROXY_PID"; wait "$PROXY_PID" 2>/dev/null || true; }

start_nginx_proxy() {
  write_nginx_proxy_config
  taskset -c "$PROXY_CPU" nginx -c "$RUN/nginx-proxy.conf" -p "$RUN" &
  PROXY_PID=$!
  PIDS+=($PROXY_PID)
  wait_ready "http://127.0.0.1:$PROXY/" || { echo "nginx proxy did not answer" >&2; exit 1; }
}

start_baseline() {
  local bin=$PWD/target/release/examples/hyper_baseline
  [ -x "$bin" ] || cargo build --release --quiet --example hyper_baseline
  taskset -c "$PROXY_CPU" "$bin" "127.0.0.1:$PROXY" "127.0.0.1:$BACKEND" &
  PROXY_PID=$!
  PIDS+=($PROXY_PID)
  wait_ready "http://127.0.0.1:$PROXY/" || { echo "hyper_baseline did not answer" >&2; exit 1; }
}

ticks() { awk '{print $14 + $15}' "/proc/$PROXY_PID/stat"; }
uticks() { awk '{print $14}' "/proc/$PROXY_PID/stat"; }

cat > "$RUN/wrk.lua" <<'LUA'
local reqs, n, idx = {}, 0, 0
function init(args)
  local path, limit, target = args[1], tonumber(args[2]), args[3]
  for line in io.lines(path) do
    n = n + 1
    reqs[n] = wrk.format("GET", target, { ["Authorization"] = "Bearer " .. line })
    if n >= limit then break end
  end
end
function request() idx = idx % n + 1; return reqs[idx] end
function done(s, lat, _)
  io.write(string.format("RESULT %d %d %d %d %d\n", s.requests, s.duration, lat:percentile(50), lat:percentile(99),
    s.errors.connect + s.errors.read + s.errors.write + s.errors.status + s.errors.timeout))
end
LUA

run() { # $1 = label, $2 = tokens to rotate, $3 = path
  local url="http://127.0.0.1:$PROXY"
  taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${WARMUP}s" -s "$RUN/wrk.lua" "$url" -- "$RUN/tokens.txt" "$2" "$3" >/dev/null
  local before; before=$(ticks)
  local ubefore; ubefore=$(uticks)
  local out; out=$(taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" -s "$RUN/wrk.lua" "$url" -- "$RUN/tokens.txt" "$2" "$3" | grep '^RESULT')
  local after; after=$(ticks)
  local uafter; uafter=$(uticks)
  local rss; rss=$(awk '/^VmRSS/ {print $2}' "/proc/$PROXY_PID/status")
  read -r _ reqs dur p50 p99 errs <<<"$out"
  local hz; hz=$(getconf CLK_TCK)
  awk -v l="$1" -v r="$reqs" -v d="$dur" -v p50="$p50" -v p99="$p99" -v e="$errs" -v t=$((after - before)) \
    -v u=$((uafter - ubefore)) -v hz="$hz" -v rss="$rss" \
    'BEGIN { printf "| %-8s | %9.0f | %6.2f | %6.2f | %7.1f | %6.2f | %6.1f | %6d |\n", l, r / (d / 1e6), p50 / 1000, p99 / 1000, t / hz * 1e6 / r, u / hz * 1e6 / r, rss / 1024, e }'
}

echo "| workload | req/s | p50 ms | p99 ms | proxy CPU-µs/req | of it user | RSS MB | errors |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for w in $WORKLOADS; do
  case $w in
    public)  config 100000; start_proxy "$ADMIN" "$PROXY_CPU"; run public 1 /public/x; stop_proxy ;;
    same)    config 100000; start_proxy "$ADMIN" "$PROXY_CPU"; run same 1 /api/x; stop_proxy ;;
    rotate)  config 100000; start_proxy "$ADMIN" "$PROXY_CPU"; run rotate "$TOKENS" /api/x; stop_proxy ;;
    nocache) config 0; start_proxy "$ADMIN" "$PROXY_CPU"; run nocache 1 /api/x; stop_proxy ;;
    baseline) start_baseline; run baseline 1 /public/x; stop_proxy ;;
    nginx)   start_nginx_proxy; run nginx 1 /api/x; stop_proxy ;;
  esac
done

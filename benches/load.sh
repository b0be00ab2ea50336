#!/usr/bin/env bash
# Load test of the release binary on loopback: cognigate in front of a one-worker nginx
# `return 200`, driven by wrk. Prints req/s, p50/p99 latency and the proxy's CPU time
# per request (utime+stime from /proc, the steadiest figure on a shared machine; and its
# user-space part alone, what changes to cognigate's own code move) and its resident
# memory at the end of the run (for `rotate`: with all the tokens cached) for:
#   public     a public route (no token work: the cost of proxying)
#   same       a required route, one valid token on every request (verified-token cache)
#   rotate     10,000 distinct valid tokens, rotated per request
#   bounded    the same under the default bound, cache_size = "64MiB" (with TOKENS=100000
#              more tokens than fit: RSS shows the bound holds while entries are evicted)
#   nocache    one token, [token] cache_size = 0 (an RS256 verify on every request)
#   session    a [login] browser session instead of a bearer token: the same access token,
#              an id token and a Cognito-sized refresh token sealed in two cookies (sealed
#              here in Python from the documented format: HKDF-SHA256 + AES-256-GCM);
#              compare with `same` in one run (`WORKLOADS="same session"`)
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

# A [login] session for the first token, sealed as cognigate seals it (src/login/seal.rs):
# AES-256-GCM under HKDF-SHA256(salt "cognigate cookie sealing v1", the secret, info
# "aes-256-gcm"), the cookie name's purpose "session" as associated data, base64url of
# nonce | ciphertext | tag, split into 3,800-byte cookies.
SECRET=$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')
python3 - "$RUN" "$SECRET" "$ISSUER" "$CLIENT" <<'PY'
import base64, json, os, sys, time, uuid
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
run, secret, iss, client = sys.argv[1], base64.b64decode(sys.argv[2]), sys.argv[3], sys.argv[4]
access = open(f"{run}/tokens.txt").readline().strip()
key = serialization.load_pem_private_key(open(f"{run}/key.pem", "rb").read(), None)
kid = json.load(open(f"{run}/jwks.json"))["keys"][0]["kid"]
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
now = int(time.time())
claims = {"sub": str(uuid.uuid4()), "iss": iss, "aud": client, "token_use": "id", "email": "load@example.com",
          "cognito:username": "user0", "iat": now, "auth_time": now, "exp": now + 3600}
signing_input = f"{b64(json.dumps({'alg': 'RS256', 'kid': kid}).encode())}.{b64(json.dumps(claims).encode())}"
id_token = f"{signing_input}.{b64(key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256()))}"
session = {"a": access, "i": id_token, "r": b64(os.urandom(1335)), "e": "load@example.com", "t": now}
k = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"cognigate cookie sealing v1", info=b"aes-256-gcm").derive(secret)
nonce = os.urandom(12)
sealed = b64(nonce + AESGCM(k).encrypt(nonce, json.dumps(session).encode(), b"session"))
chunks = [sealed[i:i + 3800] for i in range(0, len(sealed), 3800)]
names = ["cognigate_session"] + [f"cognigate_session_{i}" for i in range(1, len(chunks))]
open(f"{run}/session.txt", "w").write("; ".join(f"{n}={c}" for n, c in zip(names, chunks)) + "\n")
PY

start_backend "$BACKEND" 3000 "$LOAD_CPU"

config() { write_config "$ISSUER" "$CLIENT" load-users "$1"; } # $1 = cache_size

login_config() { # the same, with [login] (its provider is never called: the token is fresh)
  config 100000
  cat >> "$RUN/cognigate.toml" <<TOML
[login]
domain = "http://127.0.0.1:1"
client_id = "$CLIENT"
cookie_secrets = ["$SECRET"]
cookie_secure = false
TOML
}

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
  local path, limit, target, cookie = args[1], tonumber(args[2]), args[3], args[4]
  for line in io.lines(path) do
    n = n + 1
    if cookie then
      reqs[n] = wrk.format("GET", target, { ["Cookie"] = line })
    else
      reqs[n] = wrk.format("GET", target, { ["Authorization"] = "Bearer " .. line })
    end
    if n >= limit then break end
  end
end
function request() idx = idx % n + 1; return reqs[idx] end
function done(s, lat, _)
  io.write(string.format("RESULT %d %d %d %d %d\n", s.requests, s.duration, lat:percentile(50), lat:percentile(99),
    s.errors.connect + s.errors.read + s.errors.write + s.errors.status + s.errors.timeout))
end
LUA

run() { # $1 = label, $2 = tokens to rotate, $3 = path, $4 = "cookie": session cookies
  local url="http://127.0.0.1:$PROXY"
  local source="$RUN/tokens.txt" cookie=()
  [ "${4:-}" = cookie ] && { source="$RUN/session.txt"; cookie=(cookie); }
  taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${WARMUP}s" -s "$RUN/wrk.lua" "$url" -- "$source" "$2" "$3" "${cookie[@]}" >/dev/null
  local before; before=$(ticks)
  local ubefore; ubefore=$(uticks)
  local out; out=$(taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" -s "$RUN/wrk.lua" "$url" -- "$source" "$2" "$3" "${cookie[@]}" | grep '^RESULT')
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
    bounded) config '"64MiB"'; start_proxy "$ADMIN" "$PROXY_CPU"; run bounded "$TOKENS" /api/x; stop_proxy ;;
    nocache) config 0; start_proxy "$ADMIN" "$PROXY_CPU"; run nocache 1 /api/x; stop_proxy ;;
    session) login_config; start_proxy "$ADMIN" "$PROXY_CPU"; run session 1 /api/x cookie; stop_proxy ;;
    baseline) start_baseline; run baseline 1 /public/x; stop_proxy ;;
    nginx)   start_nginx_proxy; run nginx 1 /api/x; stop_proxy ;;
  esac
done

#!/usr/bin/env bash
# Memory soak of the release binary on loopback: REQUESTS (default 1,000,000) requests
# mixing 50% valid tokens (500 distinct), 20% invalid ones (expired, tampered signature,
# unknown key, wrong issuer, wrong client, alg none), 20% random junk (1-1200 chars)
# and 10% no token, driven by wrk + benches/soak.lua against cognigate in front of a
# one-worker nginx `return 200`. Prints requests, answers by status and error code,
# wrk's socket errors, and cognigate's RSS (VmRSS) after warm-up, after each round, and at
# the end. Memory is flat when the end RSS is close to the warm-up RSS. wrk runs in
# CHUNK-second rounds until REQUESTS have been made (the last round overshoots a bit).
#
#   bash benches/soak.sh              # REQUESTS=1000000 CONNS=64 THREADS=2
#
# Needs wrk and nginx (apt-get installs them when missing). Uses fixed loopback ports
# from PORT_BASE (default 19180). Everything it starts is stopped by PID on exit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

REQUESTS=${REQUESTS:-1000000}
WARMUP=${WARMUP:-5}
CHUNK=${CHUNK:-20}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
VALID=${VALID:-500}
PORT_BASE=${PORT_BASE:-19180}
source benches/lib.sh

need wrk wrk
need nginx nginx-light
cargo build --release --quiet
BIN=$PWD/target/release/cognigate

BACKEND=$PORT_BASE
PROXY=$((PORT_BASE + 1))
ADMIN=$((PORT_BASE + 2))
ISSUER=https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Soak
CLIENT=soakclient

# Keys: the issuer's (published as a file:// JWKS) and a stranger's.
"$BIN" token --generate-key "$RUN/key.pem" --jwks "$RUN/jwks.json" >/dev/null 2>&1
"$BIN" token --generate-key "$RUN/other.pem" --jwks "$RUN/other.json" >/dev/null 2>&1
mint() { "$BIN" token --issuer "${ISS:-$ISSUER}" --client-id "${CID:-$CLIENT}" --groups soak "$@"; }
for i in $(seq "$VALID"); do mint --key "$RUN/key.pem" --sub "user$i" --ttl 4h; done >"$RUN/valid.txt"
{
  mint --key "$RUN/key.pem" --sub expired --ttl 1s
  mint --key "$RUN/other.pem" --sub stranger
  ISS=https://evil.example mint --key "$RUN/key.pem" --sub wrongiss
  CID=someoneelse mint --key "$RUN/key.pem" --sub wrongclient
  # Tampered: the payload of one valid token with the signature of another.
  paste -d. <(head -1 "$RUN/valid.txt" | cut -d. -f1,2) <(sed -n 2p "$RUN/valid.txt" | cut -d. -f3)
  # alg none, unsigned.
  printf '%s.%s.\n' "$(printf '{"alg":"none","kid":"x"}' | base64 -w0 | tr '+/' '-_' | tr -d =)" \
    "$(head -1 "$RUN/valid.txt" | cut -d. -f2)"
} >"$RUN/invalid.txt"
sleep 2 # let the 1 s token expire (leeway is 0 below)

start_backend "$BACKEND" 3000

cat >"$RUN/cognigate.toml" <<TOML
listen = "127.0.0.1:$PROXY"
admin_listen = "127.0.0.1:$ADMIN"
[upstream]
url = "http://127.0.0.1:$BACKEND"
[token]
leeway = "0s"
[[issuers]]
name = "soak"
issuer = "$ISSUER"
jwks_uri = "file://$RUN/jwks.json"
client_ids = ["$CLIENT"]
[[routes]]
path = "/**"
groups_any = ["soak"]
TOML
start_proxy "$ADMIN"

rss() { awk '/^VmRSS/ {print $2}' "/proc/$PROXY_PID/status"; }
drive() { # $1 = seconds; prints the SOAK lines of benches/soak.lua
  wrk -t"$THREADS" -c"$CONNS" -d"$1"s -s benches/soak.lua "http://127.0.0.1:$PROXY" \
    -- "$RUN/valid.txt" "$RUN/invalid.txt" | grep '^SOAK'
}

echo "RSS at start: $(rss) KiB"
drive "$WARMUP" >/dev/null
START_RSS=$(rss)
echo "RSS after ${WARMUP}s warm-up: $START_RSS KiB"
: >"$RUN/soak.txt"
total=0
started=$(date +%s)
while [ "$total" -lt "$REQUESTS" ]; do
  drive "$CHUNK" >>"$RUN/soak.txt"
  total=$(awk '$2 == "requests" {n += $3} END {print n + 0}' "$RUN/soak.txt")
  echo "  $total requests, RSS $(rss) KiB"
done
elapsed=$(($(date +%s) - started))
END_RSS=$(rss)
echo "== $total requests in ${elapsed}s (wrk chunks of ${CHUNK}s, $THREADS threads, $CONNS connections)"
awk '$2 == "errors" {c += $3; r += $4; w += $5; t += $6}
     END {printf "wrk socket errors: connect %d, read %d, write %d, timeout %d\n", c, r, w, t}' "$RUN/soak.txt"
awk '$2 == "sent" {n[$3] += $4} END {for (k in n) printf "sent %-8s %d\n", k, n[k]}' "$RUN/soak.txt" | sort
awk '$2 == "answered" {k = $3; for (i = 4; i < NF; i++) k = k " " $i; n[k] += $NF}
     END {for (k in n) printf "answered %-22s %d\n", k, n[k]}' "$RUN/soak.txt" | sort
echo "RSS after warm-up $START_RSS KiB, at end $END_RSS KiB (change $((END_RSS - START_RSS)) KiB)"
echo "cognigate log lines at warn or above: $(grep -c . "$RUN/proxy.log" || true)"
grep -v '"JWKS' "$RUN/proxy.log" | head -5 || true

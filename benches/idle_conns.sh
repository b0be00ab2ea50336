#!/usr/bin/env bash
# Memory per idle keep-alive client connection: the release binary in front of a
# one-worker nginx `return 200`, CONNECTIONS (default 10,000) client connections opened
# and left idle, then one request sent on each (CONCURRENCY at a time, default 100) and
# all of them left open and idle again. Prints cognigate's RSS (VmRSS) at start, with
# the connections open before any request, after one request on each, and SETTLE
# seconds later (default 12: freed memory goes back to the OS with some delay).
#
#   bash benches/idle_conns.sh                    # CONNECTIONS=10000 CONCURRENCY=100
#   CONCURRENCY=10000 bash benches/idle_conns.sh  # every request at once (a burst)
#
# Needs nginx (apt-get installs it when missing), python3, and an open-files limit of
# at least CONNECTIONS + 1000 (each process holds a socket per connection; in a burst
# the proxy also opens upstream connections, up to its limit).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CONNECTIONS=${CONNECTIONS:-10000}
CONCURRENCY=${CONCURRENCY:-100}
SETTLE=${SETTLE:-12}
PORT_BASE=${PORT_BASE:-19280}
source benches/lib.sh

need nginx nginx-light
NEED_FILES=$((CONNECTIONS + 1000))
if [ "$(ulimit -n)" -lt "$NEED_FILES" ]; then
  ulimit -n "$NEED_FILES" 2>/dev/null || {
    echo "open-files limit $(ulimit -n) is below $NEED_FILES: raise it (ulimit -n)" >&2
    exit 1
  }
fi
BIN=${BIN:-$PWD/target/release/cognigate}
[ -x "$BIN" ] || cargo build --release --quiet

BACKEND=$PORT_BASE
PROXY=$((PORT_BASE + 1))
ADMIN=$((PORT_BASE + 2))

"$BIN" token --generate-key "$RUN/key.pem" --jwks "$RUN/jwks.json" >/dev/null 2>&1
start_backend "$BACKEND" "$CONNECTIONS"

cat > "$RUN/cognigate.toml" <<TOML
listen = "127.0.0.1:$PROXY"
admin_listen = "127.0.0.1:$ADMIN"
[upstream]
url = "http://127.0.0.1:$BACKEND"
[limits]
max_connections = $((CONNECTIONS + 100))
[[issuers]]
name = "idle"
issuer = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Idle"
jwks_uri = "file://$RUN/jwks.json"
client_ids = ["idleclient"]
[[routes]]
path = "/**"
auth = "public"
TOML
start_proxy "$ADMIN"

python3 - "$PROXY" "$PROXY_PID" "$CONNECTIONS" "$CONCURRENCY" "$SETTLE" <<'PY'
import asyncio, sys
port, pid, n, conc, settle = (int(a) for a in sys.argv[1:])

def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return f"{int(line.split()[1]) / 1024:.1f} MB"

async def main():
    print(f"| just started | {rss()} |")
    conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(n)]
    await asyncio.sleep(1)
    print(f"| {n:,} idle connections, before any request | {rss()} |")
    request = b"GET /idle HTTP/1.1\r\nHost: t\r\n\r\n"
    gate, failed = asyncio.Semaphore(conc), 0
    async def one(r, w):
        nonlocal failed
        async with gate:
            w.write(request)
            await w.drain()
            head = await r.readuntil(b"\r\n\r\n")
            failed += not head.startswith(b"HTTP/1.1 200")
            length = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
            await r.readexactly(int(length[0].split(b":")[1]) if length else 0)
    await asyncio.gather(*(one(r, w) for r, w in conns))
    await asyncio.sleep(2)
    print(f"| the same, after one request each ({conc:,} at a time; {failed} not 200) | {rss()} |")
    await asyncio.sleep(settle)
    closed = sum(r.at_eof() for r, _ in conns)
    print(f"| the same, {settle} s later ({closed} closed by the proxy) | {rss()} |")
    for _, w in conns:
        w.close()

asyncio.run(main())
PY

#!/usr/bin/env python3
"""One-shot compose service: provision Cognito in moto, render cognigate's config, print tokens.

1. Runs tests/support/moto_cognito.py (mounted at /setup) against $MOTO_ENDPOINT: it
   creates a user pool, an app client, a group `admin` and two users (plain-user,
   admin-user), logs both in and prints their real moto-issued tokens as JSON.
2. Renders /setup/cognigate.compose.toml with the pool id and client id in place of
   its placeholders and writes it atomically to $OUT_DIR/cognigate.toml (the volume
   cognigate reads /etc/cognigate from), plus $OUT_DIR/tokens.json.
3. Prints ready-to-paste curl commands (see `docker compose logs moto-setup`).
Exits non-zero on any failure, so cognigate (depends_on ...completed_successfully)
never starts with a config that names no real pool.

Runs in the moto image (python + boto3 already there): nothing is installed at run time.
Tokens live one hour: `docker compose run --rm moto-setup` prints fresh ones. moto runs
with MOTO_COGNITO_IDP_USER_POOL_ID_STRATEGY=HASH (and ..._CLIENT_ID_STRATEGY=HASH), so
the ids, and therefore the rendered config, are the same on every run.
"""
import json
import os
import subprocess
import sys
import tempfile

ENDPOINT = os.environ.get("MOTO_ENDPOINT", "http://moto:5000")
OUT_DIR = os.environ.get("OUT_DIR", "/config")
PROXY_URL = os.environ.get("PROXY_URL", "http://localhost:8080")
SETUP_DIR = os.environ.get("SETUP_DIR", "/setup")  # holds the two files compose mounts
TEMPLATE = os.path.join(SETUP_DIR, "cognigate.compose.toml")
PROVISION = os.path.join(SETUP_DIR, "moto_cognito.py")
POOL_PLACEHOLDER = "us-east-1_MOTOPOOLID"
CLIENT_PLACEHOLDER = "MOTOCLIENTID"


def fail(msg):
    print(f"moto-setup: error: {msg}", file=sys.stderr)
    sys.exit(1)


def provision():
    run = subprocess.run(
        [sys.executable, PROVISION, "--endpoint", ENDPOINT, "--wait", "60"],
        capture_output=True, text=True, check=False,
    )
    if run.returncode != 0:
        fail(f"{PROVISION} exited {run.returncode}: {run.stderr.strip()}")
    return json.loads(run.stdout)


def render(info):
    with open(TEMPLATE, encoding="utf-8") as f:
        text = f.read()
    for placeholder in (POOL_PLACEHOLDER, CLIENT_PLACEHOLDER):
        if placeholder not in text:
            fail(f"{TEMPLATE} no longer contains the placeholder {placeholder}")
    text = text.replace(POOL_PLACEHOLDER, info["pool_id"]).replace(CLIENT_PLACEHOLDER, info["client_id"])
    # The template derives iss from region + pool and names the JWKS on moto: check both
    # against what moto actually issued, so a drift fails here and not as 401s later.
    derived = f"https://cognito-idp.{info['region']}.amazonaws.com/{info['pool_id']}"
    if info["issuer"] != derived:
        fail(f"moto's iss {info['issuer']!r} is not the derived {derived!r}")
    if f'jwks_uri = "{info["jwks_uri"]}"' not in text:
        fail(f"rendered config does not point at moto's JWKS {info['jwks_uri']}")
    return text


def write_atomically(name, text):
    """Write then rename in the same directory: cognigate's file watcher never sees half a file."""
    fd, tmp = tempfile.mkstemp(dir=OUT_DIR, prefix=f".{name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, 0o644)  # cognigate runs as uid 65532
    os.replace(tmp, os.path.join(OUT_DIR, name))


def main():
    info = provision()
    write_atomically("cognigate.toml", render(info))
    write_atomically("tokens.json", json.dumps(info, indent=2) + "\n")
    plain, admin = info["plain"]["access"], info["admin"]["access"]
    print(f"moto-setup: pool {info['pool_id']}, client {info['client_id']}")
    print(f"moto-setup: wrote {OUT_DIR}/cognigate.toml and {OUT_DIR}/tokens.json")
    print("Try (tokens valid for 1 hour):")
    print(f"  curl -i {PROXY_URL}/health")
    print(f"  curl -i {PROXY_URL}/hello                                  # 401")
    print(f"  curl -i -H 'Authorization: Bearer {plain}' {PROXY_URL}/hello")
    print(f"  curl -i -H 'Authorization: Bearer {plain}' {PROXY_URL}/admin/x   # 403")
    print(f"  curl -i -H 'Authorization: Bearer {admin}' {PROXY_URL}/admin/x")


if __name__ == "__main__":
    main()

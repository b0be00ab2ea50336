#!/usr/bin/env python3
"""Provision a Cognito user pool in a running moto_server and print real tokens.

Usage: moto_cognito.py --endpoint http://127.0.0.1:PORT [--wait SECONDS]
Prints one JSON line: {"pool_id", "region", "client_id", "issuer", "jwks_uri",
"plain": {"access", "id"}, "admin": {"access", "id"}}. Exits 1 (message on
stderr) on any failure. Does not start moto; start it with
    moto_server -H 127.0.0.1 -p PORT
and poll GET http://127.0.0.1:PORT/moto-api/ until 200 (about 0.3 s here).

What moto 5.x (checked with 5.2.1) puts in its tokens (USER_PASSWORD_AUTH):
  header: {"typ": "JWT", "kid": "dummy", "alg": "RS256"}. One static 2048-bit
    RSA key that ships in moto's package, kid "dummy", same for every pool.
  both: iss = "https://cognito-idp.us-east-1.amazonaws.com/<pool_id>", a fixed
    string built from the region. It does NOT depend on the Host or port used,
    so it never points at moto. sub (uuid), token_use, iat/auth_time/exp (int
    seconds, exp = iat + 3600), jti, origin_jti. cognito:groups is a JSON array
    and is absent (not []) when the user is in no group.
  access: client_id (no aud), username, scope = "aws.cognito.signin.user.admin".
  id: aud = client id (a string), cognito:username. email and email_verified
    only when the app client's ReadAttributes lists them (set below).
    email_verified is the string "true", not a boolean.
JWKS: GET <endpoint>/<pool_id>/.well-known/jwks.json gives
  {"keys": [{"kty": "RSA", "alg": "RS256", "use": "sig", "kid": "dummy", ...}]}.
  It answers 200 with that key for any path segment, even an unknown pool.
  /.well-known/openid-configuration is not served (500).
Differences from real Cognito that matter to a verifier:
  - iss names the real AWS host, so the verifier must be given jwks_uri
    explicitly (the emulator URL); deriving it from iss would reach AWS.
  - pool ids look like us-east-1_<32 hex> (real: us-east-1_<9 alnum>).
  - header has typ "JWT" (real Cognito omits typ); kid is not a real key id.
  - no version, event_id, at_hash claims; no email unless ReadAttributes.
  - the private key is public knowledge: test-only, never trust it elsewhere.
"""
import argparse
import base64
import json
import os
import sys
import time
import urllib.request

REGION = "us-east-1"
PASSWORD = "Moto-Test-Passw0rd!"


def fail(msg):
    print(f"moto_cognito.py: error: {msg}", file=sys.stderr)
    sys.exit(1)


def claims(token, part=1):
    seg = token.split(".")[part]
    return json.loads(base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4)))


def wait_ready(endpoint, seconds):
    deadline, last = time.monotonic() + seconds, "no answer"
    while True:
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2) as r:
                if r.status == 200:
                    return
                last = f"HTTP {r.status}"
        except Exception as e:  # noqa: BLE001 - any error means "not yet"
            last = e
        if time.monotonic() >= deadline:
            fail(f"moto_server at {endpoint} not ready after {seconds}s: {last}")
        time.sleep(0.1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--endpoint", required=True, help="http://127.0.0.1:PORT")
    ap.add_argument("--wait", type=float, default=10.0, help="readiness wait, s")
    args = ap.parse_args()
    endpoint = args.endpoint.rstrip("/")
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        os.environ[k] = "testing"
    os.environ.pop("AWS_PROFILE", None)
    try:
        import boto3
    except ImportError:
        fail("boto3 is not installed (pip install 'moto[server]')")
    wait_ready(endpoint, args.wait)

    try:
        idp = boto3.client("cognito-idp", endpoint_url=endpoint, region_name=REGION)
        pool_id = idp.create_user_pool(PoolName="cognigate-e2e")["UserPool"]["Id"]
        client_id = idp.create_user_pool_client(
            UserPoolId=pool_id,
            ClientName="cognigate-e2e",
            GenerateSecret=False,
            ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
            ReadAttributes=["email", "email_verified"],  # else no email in id token
        )["UserPoolClient"]["ClientId"]
        idp.create_group(UserPoolId=pool_id, GroupName="admin")
        users = {"plain": "plain-user", "admin": "admin-user"}
        tokens = {}
        for role, name in users.items():
            idp.admin_create_user(
                UserPoolId=pool_id,
                Username=name,
                MessageAction="SUPPRESS",
                UserAttributes=[
                    {"Name": "email", "Value": f"{name}@example.com"},
                    {"Name": "email_verified", "Value": "true"},
                ],
            )
            idp.admin_set_user_password(
                UserPoolId=pool_id, Username=name, Password=PASSWORD, Permanent=True
            )
            if role == "admin":
                idp.admin_add_user_to_group(
                    UserPoolId=pool_id, Username=name, GroupName="admin"
                )
            res = idp.initiate_auth(
                ClientId=client_id,
                AuthFlow="USER_PASSWORD_AUTH",
                AuthParameters={"USERNAME": name, "PASSWORD": PASSWORD},
            )["AuthenticationResult"]
            tokens[role] = {"access": res["AccessToken"], "id": res["IdToken"]}
    except Exception as e:  # noqa: BLE001
        fail(f"Cognito setup against {endpoint} failed: {type(e).__name__}: {e}")

    try:
        issuer = claims(tokens["plain"]["access"])["iss"]
        jwks_uri = f"{endpoint}/{pool_id}/.well-known/jwks.json"
        with urllib.request.urlopen(jwks_uri, timeout=5) as r:
            kids = {k.get("kid") for k in json.load(r)["keys"]}
        for role, pair in tokens.items():
            for kind, tok in pair.items():
                if claims(tok)["iss"] != issuer:
                    fail(f"{role} {kind} token has a different iss")
                if claims(tok, 0).get("kid") not in kids:
                    fail(f"{role} {kind} token kid not in {jwks_uri}")
        if claims(tokens["admin"]["access"]).get("cognito:groups") != ["admin"]:
            fail("admin access token lacks cognito:groups ['admin']")
    except (KeyError, ValueError, OSError) as e:  # noqa: BLE001
        fail(f"token/JWKS check failed: {type(e).__name__}: {e}")

    print(json.dumps({"pool_id": pool_id, "region": REGION, "client_id": client_id,
                      "issuer": issuer, "jwks_uri": jwks_uri, **tokens}))


if __name__ == "__main__":
    main()

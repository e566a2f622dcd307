#!/usr/bin/env python3
"""Prints the SQL that registers the benchmark's HS256 key and one staff
token per host 0..63 (pgbench client ids) in bench.staff_token; the reward
workload sets its client's token in the session."""
import base64
import hashlib
import hmac
import json
import time

SECRET = b"bench shared secret"
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "bench-hs"}).encode())
print("INSERT INTO loyalty.trusted_key (kid, algorithm, key) VALUES ('bench-hs', 'HS256', '%s');" % SECRET.decode())
print("CREATE TABLE bench.staff_token (client integer PRIMARY KEY, token text NOT NULL);")
for c in range(64):
    claims = {"sub": "00000000-0000-4000-8000-%012d" % (900000 + c), "exp": int(time.time()) + 86400}
    body = head + "." + b64(json.dumps(claims).encode())
    sig = b64(hmac.new(SECRET, body.encode(), hashlib.sha256).digest())
    print(f"INSERT INTO bench.staff_token VALUES ({c}, '{body}.{sig}');")

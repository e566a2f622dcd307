"""Fixtures: a database with loyalty_ext on the test server (direct, for
set-up and checks) and clients through the test command's PgBouncer in
transaction mode (LOYALTY_TEST_PGBOUNCER), as an application would run."""

import base64
import hashlib
import hmac
import json
import os
import time
import uuid

import psycopg
import pytest

from loyalty_client import LoyaltyClient, connect

DB = "loyalty_python_client"
KID = "py-hs"
SECRET = "python client test secret"
DEFAULT_CASINO = "00000000-0000-0000-0000-000000000000"


def direct(db: str = DB) -> psycopg.Connection:
    return psycopg.connect(f"{os.environ['LOYALTY_TEST_PG']} dbname={db}", autocommit=True)


@pytest.fixture(scope="session")
def admin():
    with direct("postgres") as c:
        c.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        c.execute(f"CREATE DATABASE {DB}")
    c = direct()
    c.execute("CREATE EXTENSION loyalty_ext")
    c.execute("INSERT INTO loyalty.trusted_key (kid, algorithm, key) VALUES (%s, 'HS256', %s)", (KID, SECRET))
    c.execute(f"ALTER DATABASE {DB} SET loyalty.lock_timeout = 300")
    yield c
    c.close()


def token(staff: str, casino: str = None) -> str:
    """An HS256 staff token signed with the test key."""
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    claims = {"sub": staff, "exp": int(time.time()) + 3600}
    if casino:
        claims["casino"] = casino
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": KID}).encode())
    body = b64(json.dumps(claims).encode())
    sig = hmac.new(SECRET.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


def pooled() -> psycopg.Connection:
    return connect(f"{os.environ['LOYALTY_TEST_PGBOUNCER']} user=postgres dbname={DB}")


@pytest.fixture
def client(admin):
    with pooled() as conn:
        yield LoyaltyClient(conn)


def new_id() -> str:
    return str(uuid.uuid4())


def staff(admin, *caps: str) -> str:
    s = new_id()
    admin.execute("INSERT INTO loyalty.staff_permission (staff_id, capabilities) VALUES (%s, %s)", (s, list(caps)))
    return s

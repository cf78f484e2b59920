"""API keys under the operator's control: a revoked key, a key removed from
PROMPTQ_API_KEYS and the development key used from afar are all refused; a tenant can
hold several keys; `promptq keys create|list|revoke` works through the real command."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import requests
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from promptq.api.app import create_app
from promptq.api.auth import hash_key
from promptq.settings import DEV_API_KEY, Settings
from promptq.store.engine import engine_for
from promptq.store.models import ApiKey, Tenant
from support import fresh_database, served_api, wait_until

DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
BODY = json.dumps({"task": "invoice_extraction", "input": {"text": "Invoice INV-7, total 70 USD"}})
K1, K2, K3 = "acme-first-key-0123456789", "acme-second-key-0123456789", "globex-key-abcdefghijklmnop"


@pytest.fixture(params=DATABASES)
def db_url(request, tmp_path):
    with fresh_database(request.param, tmp_path) as url:
        yield url


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "content-type": "application/json"}


def _status(api, key: str) -> tuple[int, int]:
    """(a GET's status, a POST-with-body's status): the routes' check and the check made
    before the body is read."""
    got = api.get("/v1/jobs/job_missing", headers=_auth(key)).status_code  # 404 once authenticated
    posted = api.post("/v1/jobs/job_missing/cancel", content="{}", headers=_auth(key)).status_code
    return got, posted


def keys_cli(*args: str, db: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "promptq.cli", "keys", *args], capture_output=True, text=True,
                          env={**os.environ, "PROMPTQ_DATABASE_URL": db}, timeout=120)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def test_a_key_removed_from_promptq_api_keys_stops_working_at_the_next_start(db_url):
    with TestClient(create_app(Settings(database_url=db_url, api_keys=f"acme:{K1},acme:{K2},globex:{K3}"))) as api:
        assert _status(api, K1) == _status(api, K2) == _status(api, K3) == (404, 404)  # two keys of acme
    with TestClient(create_app(Settings(database_url=db_url, api_keys=f"acme:{K2}"))) as api:
        assert _status(api, K1) == (401, 401)
        assert _status(api, K3) == (401, 401)
        assert _status(api, K2) == (404, 404)
    # listed again later: revocation is for good (a key once removed may have leaked)
    with TestClient(create_app(Settings(database_url=db_url, api_keys=f"acme:{K1},acme:{K2}"))) as api:
        assert _status(api, K1) == (401, 401)
        assert _status(api, K2) == (404, 404)


def test_a_key_revoked_by_the_cli_stops_working_on_a_running_api(db_url, tmp_path):
    with served_api(tmp_path, PROMPTQ_DATABASE_URL=db_url, PROMPTQ_API_KEYS=f"acme:{K1}") as url:
        created = keys_cli("create", "--tenant", "acme", db=db_url)
        new_key = created.stdout.strip()
        key_id = created.stderr.split()[1]
        http = requests.Session()

        def status(key: str) -> tuple[int, int]:
            got = http.get(f"{url}/v1/jobs/job_missing", headers=_auth(key), timeout=10).status_code
            posted = http.post(f"{url}/v1/jobs/job_missing/cancel", data="{}", headers=_auth(key),
                               timeout=10).status_code
            return got, posted

        assert status(new_key) == (404, 404)  # a new key works at once, without a restart
        listed = keys_cli("list", "--tenant", "acme", db=db_url).stdout
        row = next(line.split("\t") for line in listed.splitlines() if line.startswith(key_id))
        assert row[1:3] == ["acme", "cli"] and row[4] != "-" and row[5] == "-"  # used, not revoked
        assert keys_cli("revoke", key_id, db=db_url).stdout.strip() == f"revoked {key_id}"
        # the API remembered the key as good: it must stop trusting it within seconds
        wait_until(lambda: status(new_key) == (401, 401), timeout_s=60, what="the revoked key to be refused")
        assert status(K1) == (404, 404)  # the other key of the tenant is unaffected


def test_cli_keys_survive_a_restart_and_env_keys_revoked_by_the_cli_stay_revoked(db_url):
    settings = Settings(database_url=db_url, api_keys=f"acme:{K1}")
    with TestClient(create_app(settings)) as api:
        assert _status(api, K1) == (404, 404)
    env_id = next(k for k in keys_cli("list", db=db_url).stdout.splitlines() if "\tenv\t" in k).split("\t")[0]
    cli_key = keys_cli("create", "--tenant", "initech", db=db_url).stdout.strip()
    keys_cli("revoke", env_id, db=db_url)
    with TestClient(create_app(settings)) as api:  # K1 still in PROMPTQ_API_KEYS
        assert _status(api, K1) == (401, 401)
        assert _status(api, cli_key) == (404, 404)  # CLI keys are not PROMPTQ_API_KEYS' business


def test_keys_create_list_revoke_through_the_real_command(db_url):
    first = keys_cli("create", "--tenant", "acme", db=db_url)
    second = keys_cli("create", "--tenant", "acme", db=db_url)
    keys = [first.stdout.strip(), second.stdout.strip()]
    assert keys[0] != keys[1]
    for key in keys:  # >= 128 random bits: 32 random bytes, URL-safe base64, after a recognisable prefix
        assert key.startswith("pq_") and len(key) == 3 + 43 and "\n" not in key
    engine = engine_for(db_url)
    with Session(engine) as s:
        rows = s.exec(select(ApiKey)).all()
        assert {r.key_hash for r in rows} == {hash_key(k) for k in keys}  # only hashes are stored
        assert s.get(Tenant, "acme").webhook_secret.startswith("whsec_")
    listing = keys_cli("list", db=db_url).stdout
    for key in keys:
        assert key not in listing and hash_key(key) not in listing
    ids = [line.split("\t")[0] for line in listing.splitlines()[1:]]
    assert len(ids) == 2 and all(i.startswith("key_") for i in ids)
    assert keys_cli("revoke", ids[0], db=db_url).stdout.strip() == f"revoked {ids[0]}"
    assert "already revoked" in keys_cli("revoke", ids[0], db=db_url).stdout
    unknown = keys_cli("revoke", "key_nope", db=db_url, check=False)
    assert unknown.returncode == 1 and "no key" in unknown.stderr
    rows = {line.split("\t")[0]: line.split("\t") for line in keys_cli("list", "--tenant", "acme", db=db_url).stdout.splitlines()[1:]}
    assert rows[ids[0]][5] != "-" and rows[ids[1]][5] == "-"
    assert keys_cli("list", "--tenant", "globex", db=db_url).stdout.splitlines()[1:] == []
    bad = keys_cli("create", "--tenant", "a b;drop", db=db_url, check=False)
    assert bad.returncode == 2


@pytest.mark.parametrize("client_host, api_keys, accepted", [
    ("127.0.0.1", "", True),
    ("::1", "", True),
    ("10.0.0.5", "", False),                       # not from this machine
    ("192.168.1.20", "", False),
    ("testclient", "", False),                     # not an address at all
    ("127.0.0.1", f"acme:{K1}", False),           # keys configured: the dev key is off
])
def test_the_development_key_works_only_in_development_without_keys_from_loopback(
        tmp_path, client_host, api_keys, accepted):
    with fresh_database("sqlite", tmp_path) as url:
        app = create_app(Settings(database_url=url, api_keys=api_keys))
        with TestClient(app, client=(client_host, 50000)) as api:
            expected = (404, 404) if accepted else (401, 401)
            assert _status(api, DEV_API_KEY) == expected
        with Session(engine_for(url)) as s:
            assert s.get(ApiKey, hash_key(DEV_API_KEY)) is None  # never stored


def test_the_development_key_is_refused_in_production_even_from_loopback(tmp_path):
    with fresh_database("sqlite", tmp_path) as url:
        settings = Settings(database_url=url, env="production", api_keys=f"acme:{K1}")
        with TestClient(create_app(settings), client=("127.0.0.1", 50000)) as api:
            assert _status(api, DEV_API_KEY) == (401, 401)
            assert _status(api, K1) == (404, 404)


def test_a_development_key_an_older_version_stored_is_revoked(tmp_path):
    with fresh_database("sqlite", tmp_path) as url:
        with Session(engine_for(url)) as s:  # as the bootstrap of an older promptq left it
            s.add(Tenant(id="dev", webhook_secret="whsec_x"))
            s.flush()
            s.add(ApiKey(key_hash=hash_key(DEV_API_KEY), tenant_id="dev", source=None))
            s.commit()
        with TestClient(create_app(Settings(database_url=url, api_keys=f"acme:{K1}")),
                        client=("127.0.0.1", 50000)) as api:
            assert _status(api, DEV_API_KEY) == (401, 401)


def test_no_key_nor_hash_is_logged(tmp_path, caplog):
    with fresh_database("sqlite", tmp_path) as url:
        with TestClient(create_app(Settings(database_url=url, api_keys=f"acme:{K1}"))) as api:
            _status(api, K1)
            _status(api, "pq_unknown_key_0123456789")
        with TestClient(create_app(Settings(database_url=url, api_keys=f"acme:{K2}"))):
            pass
    text = caplog.text
    for secret in (K1, K2, hash_key(K1), hash_key(K2), "pq_unknown_key_0123456789"):
        assert secret not in text

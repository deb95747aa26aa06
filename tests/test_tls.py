"""TLS to PostgreSQL with libpq's parameters, one URL for every command and the Store.

Issue 10, defect 9: ``?sslmode=require`` used to work for the CLI (psycopg)
but fail in ``open_store`` (asyncpg: ``unexpected keyword argument
'sslmode'``), and ``?ssl=`` the other way round. The shared server has no
TLS, which is the case for ``disable``/``prefer`` and for ``require``
failing; a private cluster with a certificate of its own shows the modes
that verify.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from sqlalchemy import text

from flightlog import open_store
from flightlog.db.engine import create_async_db_engine, create_sync_engine
from flightlog.db.urls import DatabaseUrl
from flightlog.errors import ConfigurationError, MigrationError
from flightlog.settings import Settings
from pg_cluster import PrivateCluster
from postgres_server import PostgresServer

FLIGHTLOG = str(Path(sys.executable).parent / "flightlog")
USES_SSL = text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")


def _with_query(url: DatabaseUrl, query: str) -> str:
    return f"{url.url.render_as_string(hide_password=False)}?{query}"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FLIGHTLOG, *args], capture_output=True, text=True, timeout=120, check=False
    )


async def _tls_in_use(url: str, settings: Settings) -> tuple[bool, bool]:
    """Whether the Store's async connection and the sync (CLI) connection use TLS."""
    async with open_store(url, settings=settings) as store, store.reader() as session:
        async_tls = bool(await session.scalar(USES_SSL))
    engine = create_sync_engine(
        settings, url=settings.model_copy(update={"database_url": url}).database
    )
    try:
        with engine.connect() as connection:
            sync_tls = bool(connection.scalar(USES_SSL))
    finally:
        engine.dispose()
    return async_tls, sync_tls


@pytest.fixture
def server_db(postgres_server: PostgresServer | None) -> Iterator[DatabaseUrl]:
    if postgres_server is None:
        pytest.skip("PostgreSQL server unreachable: see the warning at the start of the run")
    url = postgres_server.create_database("flightlog_tls")
    yield url
    postgres_server.drop_database(url)


def _running(cluster: PrivateCluster) -> Iterator[PrivateCluster]:
    """Start the cluster with a database named flightlog; remove it all afterwards."""
    try:
        cluster.start()
        cluster.create_database("flightlog")
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture(scope="module")
def tls_cluster() -> Iterator[PrivateCluster]:
    yield from _running(PrivateCluster(tls=True))


@pytest.mark.parametrize("query", ["sslmode=disable", "sslmode=prefer", "ssl=false"])
async def test_modes_that_allow_plain_connections_work_everywhere(
    server_db: DatabaseUrl, test_settings: Settings, query: str
) -> None:
    url = _with_query(server_db, query)
    assert await _tls_in_use(url, test_settings) == (False, False)
    done = _cli("db", "current", "--database-url", url)
    assert done.returncode == 0, done.stderr
    assert "(head)" in done.stdout


@pytest.mark.parametrize("query", ["sslmode=require", "ssl=true"])
async def test_require_against_a_server_without_tls_is_one_sentence(
    server_db: DatabaseUrl, test_settings: Settings, query: str
) -> None:
    url = _with_query(server_db, query)
    with pytest.raises(MigrationError, match="does not support SSL") as raised:
        async with open_store(url, settings=test_settings):
            pass
    assert "\n" not in raised.value.message
    done = _cli("db", "current", "--database-url", url)
    assert done.returncode == 1
    assert "does not support SSL" in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


async def test_settings_give_the_mode_when_the_url_does_not(
    server_db: DatabaseUrl, test_settings: Settings
) -> None:
    settings = test_settings.model_copy(update={"ssl_mode": "require"})
    with pytest.raises(MigrationError, match="does not support SSL"):
        async with open_store(_with_query(server_db, ""), settings=settings):
            pass
    # The URL is the more specific place: its sslmode wins over the setting.
    url = _with_query(server_db, "sslmode=disable")
    assert await _tls_in_use(url, settings) == (False, False)


async def test_verify_full_with_the_servers_ca_encrypts_both_drivers(
    tls_cluster: PrivateCluster, test_settings: Settings
) -> None:
    url = _with_query(
        tls_cluster.url("flightlog"),
        f"sslmode=verify-full&sslrootcert={tls_cluster.ca_certificate}",
    )
    assert await _tls_in_use(url, test_settings) == (True, True)
    done = _cli("db", "current", "--database-url", url)
    assert done.returncode == 0, done.stderr


async def test_require_encrypts_without_a_ca_and_settings_can_name_the_ca(
    tls_cluster: PrivateCluster, test_settings: Settings
) -> None:
    plain = tls_cluster.url("flightlog").redacted()
    assert await _tls_in_use(f"{plain}?sslmode=require", test_settings) == (True, True)
    settings = test_settings.model_copy(
        update={"ssl_mode": "verify-ca", "ssl_root_cert": tls_cluster.ca_certificate}
    )
    assert await _tls_in_use(plain, settings) == (True, True)


@pytest.fixture
def stranger_ca(tmp_path: Path) -> Path:
    """A CA certificate that did not sign the cluster's certificate."""
    certificate = tmp_path / "other-ca.crt"
    key = tmp_path / "other-ca.key"
    subject = ["-subj", "/CN=Someone else", "-keyout", str(key), "-out", str(certificate)]
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", *subject],
        check=True,
        capture_output=True,
    )
    return certificate


async def test_verify_full_with_another_ca_is_refused_by_both_drivers(
    tls_cluster: PrivateCluster, test_settings: Settings, stranger_ca: Path
) -> None:
    stranger = stranger_ca
    url = _with_query(tls_cluster.url("flightlog"), f"sslmode=verify-full&sslrootcert={stranger}")
    with pytest.raises(MigrationError, match="certificate verify failed"):
        async with open_store(url, settings=test_settings):
            pass
    # The async driver alone (what the API server uses per request) refuses it too.
    engine = create_async_db_engine(
        test_settings, url=test_settings.model_copy(update={"database_url": url}).database
    )
    try:
        with pytest.raises(Exception, match="certificate verify failed"):
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    finally:
        await engine.dispose()


def test_url_forms(tmp_path: Path) -> None:
    base = "postgresql://u:secret@db.internal/flightlog"
    ca = tmp_path / "ca.pem"
    ca.write_text("a CA bundle")
    assert DatabaseUrl.parse(f"{base}?ssl=true").tls_parameters == {"sslmode": "require"}
    assert DatabaseUrl.parse(f"{base}?ssl=false").tls_parameters == {"sslmode": "disable"}
    url = DatabaseUrl.parse(f"{base}?sslmode=verify-full&sslrootcert={ca}&sslpassword=pw")
    assert "sslmode" not in url.async_url.query
    assert url.async_connect_args() == {
        "dsn": f"postgresql://?{urlencode({'sslmode': 'verify-full', 'sslrootcert': str(ca)})}"
        "&sslpassword=pw"
    }
    assert url.sync_url.query["sslmode"] == "verify-full"
    assert "pw" not in url.redacted()
    assert "secret" not in url.redacted()
    with pytest.raises(ConfigurationError, match="Unknown sslmode 'on'"):
        DatabaseUrl.parse(f"{base}?sslmode=on")
    with pytest.raises(ConfigurationError, match="keep one of them"):
        DatabaseUrl.parse(f"{base}?ssl=true&sslmode=disable")
    with pytest.raises(ConfigurationError, match="SQLite has no TLS"):
        DatabaseUrl.parse("sqlite:///./x.db?sslmode=require")
    assert DatabaseUrl.parse(base).async_connect_args() == {}
    shown = DatabaseUrl.parse(f"{base}?password=hunter2").redacted()
    assert "hunter2" not in shown


@pytest.mark.parametrize("parameter", ["sslrootcert", "sslcert", "sslkey", "sslcrl"])
def test_a_tls_file_that_does_not_exist_is_one_sentence_for_every_driver(
    parameter: str, tmp_path: Path, test_settings: Settings
) -> None:
    """psycopg ignored a missing client certificate while asyncpg failed without naming it."""
    missing = tmp_path / "nowhere.pem"
    url = f"postgresql://postgres@127.0.0.1/flightlog?sslmode=prefer&{parameter}={missing}"
    with pytest.raises(ConfigurationError, match=f"The {parameter} file .* does not exist"):
        DatabaseUrl.parse(url)
    settings = test_settings.model_copy(
        update={"database_url": "postgresql://postgres@127.0.0.1/x", "ssl_cert": missing}
    )
    with pytest.raises(ConfigurationError, match="does not exist"):
        assert settings.database is None  # the property raises first
    done = _cli("db", "current", "--database-url", url)
    assert done.returncode != 0
    assert f"The {parameter} file" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.fixture(scope="module")
def client_certificate_cluster() -> Iterator[PrivateCluster]:
    yield from _running(PrivateCluster(client_certificates=True))


async def test_client_certificates_reach_both_drivers(
    client_certificate_cluster: PrivateCluster, test_settings: Settings
) -> None:
    """Mutual TLS: the server refuses any loopback client without a certificate it signed."""
    cluster = client_certificate_cluster
    server = f"sslmode=verify-full&sslrootcert={cluster.ca_certificate}"
    url = _with_query(
        cluster.url("flightlog"),
        f"{server}&sslcert={cluster.client_certificate}&sslkey={cluster.client_key}",
    )
    assert await _tls_in_use(url, test_settings) == (True, True)
    done = _cli("db", "current", "--database-url", url)
    assert done.returncode == 0, done.stderr
    settings = test_settings.model_copy(
        update={"ssl_cert": cluster.client_certificate, "ssl_key": cluster.client_key}
    )
    assert await _tls_in_use(_with_query(cluster.url("flightlog"), server), settings) == (
        True,
        True,
    )
    with pytest.raises(MigrationError, match="certificate"):
        async with open_store(
            _with_query(cluster.url("flightlog"), server), settings=test_settings
        ):
            pass

"""A PostgreSQL cluster of a test's own, on a free port in a temporary directory.

Tests that must stop a server, restart it or turn on TLS cannot touch the
shared server at 127.0.0.1:5432. This builds a throwaway cluster with the
binaries of the installed PostgreSQL (``pg_config --bindir``). ``initdb``
refuses to run as root, so as root the cluster commands run as the
``postgres`` user, and the directory is handed to that user.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from flightlog.db.urls import DatabaseUrl
from waiting import wait_until


def _bindir() -> Path:
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        raise RuntimeError("pg_config is not on PATH: install PostgreSQL's server package")
    return Path(subprocess.check_output([pg_config, "--bindir"], text=True).strip())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


class PrivateCluster:
    """initdb, start, stop and remove one cluster; trust authentication on loopback."""

    def __init__(self, *, tls: bool = False, client_certificates: bool = False) -> None:
        """``client_certificates``: TLS, and loopback clients must present a certificate
        signed by the cluster's CA whose name is their user's (``clientcert=verify-full``).
        """
        self.bindir = _bindir()
        self.root = Path(tempfile.mkdtemp(prefix="flightlog-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self.tls = tls
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        settings = [
            f"port = {self.port}",
            "listen_addresses = '127.0.0.1'",
            f"unix_socket_directories = '{self.root}'",
            "fsync = off",
            "max_connections = 100",
        ]
        if tls or client_certificates:
            settings += self._make_certificates()
        if client_certificates:
            settings.append(f"ssl_ca_file = '{self.ca_certificate}'")
            self._make_client_certificate()
            (self.data / "pg_hba.conf").write_text(
                "local all all trust\nhostssl all all 127.0.0.1/32 trust clientcert=verify-full\n"
            )
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\n".join(settings) + "\n")

    @property
    def ca_certificate(self) -> Path:
        """The CA that signed the server's certificate (TLS clusters only)."""
        return self.root / "ca.crt"

    @property
    def client_certificate(self) -> Path:
        """A certificate for the user ``postgres``, signed by the CA (client-cert clusters)."""
        return self.root / "client.crt"

    @property
    def client_key(self) -> Path:
        return self.root / "client.key"

    def url(self, database: str = "postgres", query: str = "") -> DatabaseUrl:
        suffix = f"?{query}" if query else ""
        return DatabaseUrl.parse(f"postgresql://postgres@127.0.0.1:{self.port}/{database}{suffix}")

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def create_database(self, name: str) -> DatabaseUrl:
        # Over the cluster's own socket, which needs no certificate whatever TCP asks for.
        self._run("createdb", "-h", str(self.root), "-p", str(self.port), "-U", "postgres", name)
        return self.url(name)

    def remove(self) -> None:
        """Stop the server if it runs, and delete every file of the cluster."""
        status = subprocess.run(
            self._command("pg_ctl", "-D", str(self.data), "status"),
            capture_output=True,
            check=False,
        )
        if status.returncode == 0:
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def _make_certificates(self) -> list[str]:
        """A CA and a server certificate for 127.0.0.1 and localhost, made with openssl."""
        ca_key, ca_crt = self.root / "ca.key", self.ca_certificate
        key, crt = self.root / "server.key", self.root / "server.crt"
        _openssl(
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=Flightlog test CA",
            "-keyout",
            str(ca_key),
            "-out",
            str(ca_crt),
        )
        extensions = self.root / "san.cnf"
        extensions.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        self._sign("127.0.0.1", key, crt, "-extfile", str(extensions))
        if self._as_postgres:
            for path in (key, crt):
                shutil.chown(path, "postgres", "postgres")
        return ["ssl = on", f"ssl_cert_file = '{crt}'", f"ssl_key_file = '{key}'"]

    def _make_client_certificate(self) -> None:
        """The client's key stays the current user's, readable by it alone, as libpq demands."""
        self._sign("postgres", self.client_key, self.client_certificate)

    def _sign(self, name: str, key: Path, certificate: Path, *extra: str) -> None:
        """A new key and a certificate for ``name`` signed by the cluster's CA; the key 0600."""
        request = certificate.with_suffix(".csr")
        _openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            f"/CN={name}",
            "-keyout",
            str(key),
            "-out",
            str(request),
        )
        _openssl(
            "x509",
            "-req",
            "-in",
            str(request),
            "-CA",
            str(self.ca_certificate),
            "-CAkey",
            str(self.root / "ca.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            str(certificate),
            *extra,
        )
        key.chmod(0o600)

    def _command(self, program: str, *args: str) -> Sequence[str]:
        command = [str(self.bindir / program), *args]
        return ["runuser", "-u", "postgres", "--", *command] if self._as_postgres else command

    def _run(self, program: str, *args: str) -> None:
        done = subprocess.run(self._command(program, *args), capture_output=True, text=True)
        if done.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{program} failed: {done.stderr.strip()}\n{log[-2000:]}")


class StandbyCluster(PrivateCluster):
    """A hot standby of ``primary``: ``pg_basebackup -R -X stream`` into a directory of its own.

    ``-R`` writes ``standby.signal`` and the ``primary_conninfo`` to stream from;
    the copied ``postgresql.conf`` names the primary's port and socket directory,
    so ``postgresql.auto.conf`` (read last, it wins) gives the standby its own.
    """

    def __init__(self, primary: PrivateCluster) -> None:
        # Not PrivateCluster.__init__: a standby is copied from its primary, not initdb-ed.
        self.bindir = primary.bindir
        self.root = Path(tempfile.mkdtemp(prefix="flightlog-pg-standby-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self.tls = False
        self._as_postgres = primary._as_postgres
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(
            "pg_basebackup",
            *("-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres"),
            *("-D", str(self.data), "-R", "-X", "stream", "-c", "fast"),
        )
        with (self.data / "postgresql.auto.conf").open("a") as conf:
            conf.write(f"port = {self.port}\nunix_socket_directories = '{self.root}'\n")


class ReplicatedPair:
    """A primary and one streaming hot standby of it, both on loopback, both throwaway.

    The primary has ``wal_level = replica``, WAL senders and a ``host replication``
    trust line for 127.0.0.1; the standby is a base backup of it that streams from
    it. :meth:`wait_replayed` is how a test knows the standby has caught up.
    """

    def __init__(self) -> None:
        self.primary = PrivateCluster()
        self.standby: StandbyCluster | None = None
        try:
            with (self.primary.data / "postgresql.conf").open("a") as conf:
                conf.write("wal_level = replica\nmax_wal_senders = 4\nhot_standby = on\n")
            with (self.primary.data / "pg_hba.conf").open("a") as hba:
                hba.write("host replication all 127.0.0.1/32 trust\n")
            self.primary.start()
            self.standby = StandbyCluster(self.primary)
            self.standby.start()
        except BaseException:
            self.remove()
            raise

    @property
    def replica(self) -> StandbyCluster:
        assert self.standby is not None
        return self.standby

    def create_database(self, name: str) -> tuple[DatabaseUrl, DatabaseUrl]:
        """A database on the primary, and the URL of the same database on the standby."""
        return self.primary.create_database(name), self.replica.url(name)

    def primary_position(self) -> str:
        """The primary's WAL insert position now (every commit so far is before it)."""
        return self._scalar(self.primary, "SELECT pg_current_wal_insert_lsn()::text")

    def wait_replayed(self, timeout: float = 30.0) -> None:
        """Until the standby has replayed everything the primary had written when called."""
        target = self.primary_position()
        self._wait(f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn", timeout, "replay")

    def wait_received(self, timeout: float = 30.0) -> None:
        """Until the standby has received (not necessarily replayed) all the primary wrote."""
        target = self.primary_position()
        self._wait(f"SELECT pg_last_wal_receive_lsn() >= '{target}'::pg_lsn", timeout, "receive")

    def pause_replay(self, timeout: float = 30.0) -> None:
        """Stop the standby replaying (it still receives WAL): a replica that lags, on demand.

        A commit is replayed first, so that the standby's lag (the age of the last
        transaction it replayed) counts from now, not from the last test's write.
        """
        self._scalar(self.primary, "SELECT pg_current_xact_id()")  # a commit, in autocommit
        self.wait_replayed(timeout)
        self._scalar(self.replica, "SELECT pg_wal_replay_pause()")
        query = "SELECT pg_get_wal_replay_pause_state() = 'paused'"
        self._wait(query, timeout, "pause replay")

    def resume_replay(self) -> None:
        self._scalar(self.replica, "SELECT pg_wal_replay_resume()")

    def _wait(self, query: str, timeout: float, what: str) -> None:
        caught_up = lambda: self._scalar(self.replica, query) == "True"  # noqa: E731
        wait_until(caught_up, timeout, f"the standby to {what}")

    def remove(self) -> None:
        """Stop and delete both clusters (the standby first)."""
        if self.standby is not None:
            self.standby.remove()
        self.primary.remove()

    @staticmethod
    def _scalar(cluster: PrivateCluster, sql: str) -> str:
        import psycopg

        with psycopg.connect(
            cluster.url().url.render_as_string(hide_password=False), autocommit=True
        ) as conn:
            row = conn.execute(sql).fetchone()
        return str(row[0]) if row else ""

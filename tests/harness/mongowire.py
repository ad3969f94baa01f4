"""Loopback MongoDB stand-ins: nx-27017 (wire protocol over SQLite) and a silent TCP blackhole.

nx-27017 deviates from MongoDB in ways that matter for queries; `tests/test_harness.py`
pins down exactly how, so read it before relying on operator semantics.
"""

from __future__ import annotations

import contextlib
import importlib.util
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pymongo
from pymongo.errors import PyMongoError

from tests.harness.prometheus import free_port, spawn_logged, stop_process, wait_ready

# What the `nx-27017` console script runs; `-m nx_27017.nx_27017` would import it twice.
_MAIN = "import sys; from nx_27017.nx_27017 import main; sys.exit(main())"


def nx_available() -> bool:
    """Return True when nx-27017 is importable by this interpreter, which is what runs it."""
    return importlib.util.find_spec("nx_27017") is not None


class MongoWireServer:
    """An nx-27017 server on 127.0.0.1 that pymongo talks to over a real socket.

    Storage is in-memory by default, so `restart()` LOSES ALL DATA; pass
    `persistent=True` to keep SQLite files in `workdir` and survive restarts.
    `workdir` also receives `nx-27017.log` (server output) and its pid file.
    """

    def __init__(self, workdir: Path, *, persistent: bool = False, port: int | None = None):
        self.workdir = workdir
        self.persistent = persistent
        self.port = port if port is not None else free_port()
        self.log_path = workdir / "nx-27017.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs (the benchmark reads its CPU time)."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    @property
    def uri(self) -> str:
        """Connection string, e.g. `mongodb://127.0.0.1:40123/`."""
        return f"mongodb://127.0.0.1:{self.port}/"

    def start(self) -> None:
        """Launch nx-27017 and block until a `ping` succeeds (RuntimeError otherwise)."""
        if self._proc is not None and self._proc.poll() is None:
            raise RuntimeError("MongoWireServer already running")
        self.workdir.mkdir(parents=True, exist_ok=True)
        storage = str(self.workdir / "data") if self.persistent else "memory"
        command = [
            # This interpreter rather than the console script: no PATH or venv-layout lookup.
            sys.executable, "-c", _MAIN,
            # --data-dir gives each logical database its own SQLite db, as MongoDB isolates them.
            "--data-dir", storage,
            "--host", "127.0.0.1",
            "--port", str(self.port),
            # The default pid file is global (/tmp/nx_27017.pid) and makes a second server
            # refuse to start, so each instance gets its own.
            "--pid-file", str(self.workdir / "nx-27017.pid"),
            # Logging also goes to stderr, which is captured below; avoid a second copy.
            "--log-file", "/dev/null",
        ]  # fmt: skip
        self._proc = spawn_logged(command, self.log_path, cwd=self.workdir)
        wait_ready(self._proc, self._ping, "nx-27017", self.log_path)

    def _ping(self) -> bool:
        # A refused TCP connect fails at once, whereas pymongo would sit out its whole
        # server-selection timeout; so only ask pymongo once the port is listening.
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
        except OSError:
            return False
        client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
            self.uri, serverSelectionTimeoutMS=250, connectTimeoutMS=250
        )
        try:
            client.admin.command("ping")
            return True
        except PyMongoError:
            return False
        finally:
            client.close()

    def stop(self) -> None:
        """Stop the server (SIGTERM, repeated, then SIGKILL after 5 s); safe to call repeatedly."""
        proc, self._proc = self._proc, None
        # nx-27017 exits by raising SystemExit in its SIGTERM handler; raised inside a
        # finaliser (an asyncio StreamWriter's __del__, as connections close) it is
        # printed and ignored. So the signal is sent again until it takes.
        deadline = time.monotonic() + 5.0
        while proc is not None and proc.poll() is None and time.monotonic() < deadline:
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.5)
        stop_process(proc, grace_s=0.0)  # reaps it, or kills it after all

    def restart(self) -> None:
        """Stop and start again on the same port (in-memory data is lost, see class doc)."""
        self.stop()
        self.start()

    def __enter__(self) -> MongoWireServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class BlackholeServer:
    """A 127.0.0.1 TCP listener that accepts connections and never replies (timeout tests).

    It starts listening on construction; call `close()` (or use `with`) to release it.
    """

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        # A short accept timeout lets the thread notice close() promptly.
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self._held: list[socket.socket] = []
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._accept_forever, daemon=True)
        self._thread.start()

    @property
    def uri(self) -> str:
        """Connection string, e.g. `mongodb://127.0.0.1:40123/`."""
        return f"mongodb://127.0.0.1:{self.port}/"

    def _accept_forever(self) -> None:
        while not self._closing.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # listener closed underneath us
            # Keep a reference so the peer sees an open, silent connection, not a reset.
            self._held.append(conn)

    def close(self) -> None:
        """Stop accepting and close the listener and every held connection."""
        self._closing.set()
        self._thread.join(timeout=5)
        self._listener.close()
        for conn in self._held:
            conn.close()
        self._held.clear()

    def __enter__(self) -> BlackholeServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

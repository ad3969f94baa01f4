"""A loopback TCP proxy that holds back its upstream's replies on purpose.

`FaultyProxy` sits in front of a real server (nx-27017 in the fault matrix) and
passes every byte both ways until told to fail (see `FAULTS`). Requests always
reach the upstream; only the replies are delayed or withheld, as with a server
that is overloaded or stuck, or a network that drops one direction. Withheld
replies go out once the fault is lifted, as a healed network would deliver them;
a client that gave up on them has closed its connection by then.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

FAULTS = {
    "ok": "passes every byte both ways",
    "slow": "holds what the upstream sends `slow_seconds` before sending it on",
    "hang": "accepts and forwards requests, sends no reply until the fault is lifted",
}
_CHUNK = 65536


class FaultyProxy:
    """Listens on 127.0.0.1 and forwards to ``upstream_port``; set `.fault` at any time."""

    def __init__(self, upstream_port: int, slow_seconds: float = 3.0) -> None:
        self.upstream_port = upstream_port
        self.slow_seconds = slow_seconds
        self._fault = "ok"
        self._changed = threading.Condition()
        self._closing = False
        self._sockets: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_forever, daemon=True)
        self._thread.start()

    @property
    def uri(self) -> str:
        """Connection string, e.g. `mongodb://127.0.0.1:40123/`."""
        return f"mongodb://127.0.0.1:{self.port}/"

    @property
    def fault(self) -> str:
        return self._fault

    @fault.setter
    def fault(self, fault: str) -> None:
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}: one of {', '.join(FAULTS)}")
        with self._changed:
            self._fault = fault
            self._changed.notify_all()  # held replies are looked at again

    def close(self) -> None:
        """Stop accepting, release held replies and close every connection."""
        with self._changed:
            self._closing = True
            self._changed.notify_all()
            sockets, self._sockets = self._sockets, []
        _hang_up(self._listener)
        for sock in sockets:
            _hang_up(sock)
        self._thread.join(timeout=5)

    def __enter__(self) -> FaultyProxy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _accept_forever(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError:
                client.close()  # the upstream is down: so is the proxy, for this client
                continue
            with self._changed:
                if self._closing:
                    client.close()
                    upstream.close()
                    return
                self._sockets += [client, upstream]
            for source, sink, held in ((client, upstream, False), (upstream, client, True)):
                threading.Thread(target=self._pump, args=(source, sink, held), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, held: bool) -> None:
        """Copy ``source`` to ``sink`` until either closes; replies (``held``) wait on the fault."""
        try:
            while data := source.recv(_CHUNK):
                if held and not self._release(time.monotonic()):
                    break
                sink.sendall(data)
        except OSError:
            pass  # either side hung up
        finally:
            _hang_up(source)
            _hang_up(sink)

    def _release(self, arrived: float) -> bool:
        """Wait until a reply that ``arrived`` may go on (True), or the proxy closes (False)."""
        with self._changed:
            while not self._closing:
                if self._fault == "ok":
                    return True
                if self._fault == "hang":
                    self._changed.wait()
                    continue
                left = arrived + self.slow_seconds - time.monotonic()
                if left <= 0:
                    return True
                self._changed.wait(left)
            return False


def _hang_up(sock: socket.socket) -> None:
    """Close ``sock``, waking a thread blocked reading it (close alone would not)."""
    with contextlib.suppress(OSError):  # not connected any more
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()

"""The watchdog cuts the socket of a call past its deadline, and only then."""

from __future__ import annotations

import socket
import threading
import time

from hydracache_sync.tiers._watchdog import Watchdog


def test_blocked_recv_returns_at_the_deadline() -> None:
    """A recv blocked on a silent peer returns (EOF) within tick + 0.5 s of its
    deadline; disarm tells that the socket was cut."""
    watchdog = Watchdog("test", tick=0.05)
    left, right = socket.socketpair()
    try:
        started = time.monotonic()
        token = watchdog.arm(left.fileno(), started + 0.3)
        data = left.recv(10)  # the peer never writes
        elapsed = time.monotonic() - started
        assert b"" == data
        assert 0.3 <= elapsed < 0.85, elapsed
        assert watchdog.disarm(token)
    finally:
        left.close()
        right.close()
        watchdog.close()


def test_disarmed_in_time_is_never_cut() -> None:
    """Calls that end before their deadline keep their socket, under threads."""
    watchdog = Watchdog("test", tick=0.01)
    left, right = socket.socketpair()
    cut: list[bool] = []

    def calls() -> None:
        for _ in range(200):
            token = watchdog.arm(left.fileno(), time.monotonic() + 5)
            cut.append(watchdog.disarm(token))

    try:
        threads = [threading.Thread(target=calls) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        time.sleep(0.05)
        right.sendall(b"ok")
        assert b"ok" == left.recv(10)
        assert [False] * 800 == cut
    finally:
        left.close()
        right.close()
        watchdog.close()

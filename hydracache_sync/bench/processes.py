"""Helper interpreters for the coherence scenarios, driven by a line protocol."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

__all__ = ["LOADER_CHILD", "VISIBILITY_CHILD", "Child"]

VISIBILITY_CHILD = """
import json, sys, time
from hydracache_sync import HydraCache, RedisStore, TierTTLs
url, prefix, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
cache = HydraCache(shared=RedisStore.from_url(url, prefix=prefix),
                   promotion=TierTTLs(local=60))
deadline = time.monotonic() + 5
while not cache.listening and time.monotonic() < deadline:
    time.sleep(0.002)
print("ready", cache.listening, flush=True)
for r in range(rounds):
    sys.stdin.readline()
    old = f"v{r}"
    # The parent's set() announced the key (two messages per earlier round, one
    # now): wait for it, so the copy promoted below is not dropped by it.
    deadline = time.monotonic() + 2
    while (cache.stats().remote_invalidations < 2 * r + 1
           and time.monotonic() < deadline):
        time.sleep(0.0005)
    value = cache.get("k")
    print("loaded", json.dumps([value == old, "k" in cache.local_store.entries]),
          flush=True)
    while cache.get("k") == old:
        time.sleep(0.0005)
    print("seen", json.dumps(time.time()), flush=True)
cache.close()
"""

LOADER_CHILD = """
import json, sys, threading, time
from hydracache_sync import HydraCache, RedisStore
url, prefix = sys.argv[1], sys.argv[2]
threads, delay = int(sys.argv[3]), float(sys.argv[4])
store = RedisStore.from_url(url, prefix=prefix)
client = store.client
cache = HydraCache(shared=store)
deadline = time.monotonic() + 5
while not cache.listening and time.monotonic() < deadline:
    time.sleep(0.002)
print("ready", flush=True)
for line in sys.stdin:
    key, mode = line.split()
    lock = "redis" if mode == "redis" else None

    def loader():
        client.incr(prefix + "runs:" + key)
        time.sleep(delay)
        return "value:" + key

    barrier = threading.Barrier(threads)
    results = []

    def work():
        barrier.wait()
        results.append(cache.get_or_load(key, loader, lock=lock))

    before = cache.stats()
    workers = [threading.Thread(target=work) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    after = cache.stats()
    print("done", json.dumps({
        "served": sum(1 for r in results if r == "value:" + key),
        "loads": after.loads - before.loads,
        "lock_waits": after.lock_waits - before.lock_waits,
        "lock_timeouts": after.lock_timeouts - before.lock_timeouts,
    }), flush=True)
cache.close()
"""


class Child:
    """A helper interpreter speaking a line protocol on its stdin/stdout."""

    def __init__(self, code: str, *args: str) -> None:
        root = str(Path(__file__).resolve().parents[2])
        path = os.environ.get("PYTHONPATH")
        env = dict(os.environ, PYTHONPATH=root + (os.pathsep + path if path else ""))
        # This interpreter running this module's own helper code: nothing untrusted.
        self.proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "-c", textwrap.dedent(code), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
            env=env,
        )

    def send(self, line: str) -> None:
        """Write one line to the child."""
        stdin = self.proc.stdin
        if stdin is None:
            raise RuntimeError("the helper process has no stdin")
        stdin.write(line + "\n")
        stdin.flush()

    def expect(self, word: str, timeout: float = 20.0) -> str:
        """Return the rest of the next line starting with ``word``."""
        stdout = self.proc.stdout
        if stdout is None:
            raise RuntimeError("the helper process has no stdout")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = stdout.readline()
            if not line:
                err = self.proc.stderr.read() if self.proc.stderr else ""
                raise RuntimeError(
                    f"helper process ended before {word!r}: {err[-800:]}"
                )
            if line.startswith(word):
                return line[len(word) :].strip()
        raise RuntimeError(f"no {word!r} from the helper process in {timeout} s")

    def close(self) -> None:
        """End the child (closing its stdin ends its loop) and reap it."""
        with contextlib.suppress(Exception):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        with contextlib.suppress(Exception):
            self.proc.communicate(timeout=5)

"""RedisStore on a real Redis: the tier contract plus Redis-specific behaviour."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hydracache_sync.errors import ConfigError, MissingDependencyError, TierError
from hydracache_sync.testing import TierContract
from hydracache_sync.tiers.base import StoreItem

redis = pytest.importorskip("redis")

from hydracache_sync.tiers.redis import RedisStore  # noqa: E402

from .test_redis_fault import PrivateRedis  # noqa: E402

pytestmark = pytest.mark.redis


@pytest.fixture
def store(redis_url: str, redis_prefix: str) -> Iterator[RedisStore]:
    """A store of its own under the test's unique prefix."""
    tier = RedisStore.from_url(redis_url, prefix=redis_prefix)
    yield tier
    tier.close()


class TestRedisStore(TierContract):
    """RedisStore passes the remote-tier contract."""

    @pytest.fixture
    def tier(self, store: RedisStore) -> RedisStore:
        """The store under test."""
        return store


class TestKeyLayout:
    """Where the store puts its keys."""

    def test_every_key_starts_with_the_prefix_in_one_slot(
        self, store: RedisStore, redis_client: Any, redis_prefix: str
    ) -> None:
        """Values, side records and tag sets share the prefix and one hash slot."""
        store.set("a", b"1", None, ("t1", "t2"))
        store.set("b:c", b"2", 60, ("t1",))
        keys = list(redis_client.scan_iter(match=redis_prefix + "*", count=1000))
        from redis.crc import key_slot

        assert 6 == len(keys)  # 2 values, 2 side records, tag sets t1 and t2
        assert {key_slot(store.value_key("a").encode())} == {
            key_slot(key) for key in keys
        }
        assert store.value_key("a").startswith(redis_prefix)

    def test_value_key_holds_the_bytes(
        self, store: RedisStore, redis_client: Any
    ) -> None:
        """``value_key`` names the plain Redis string holding the envelope."""
        store.set("k", b"\x00bytes", None, ())
        assert b"\x00bytes" == redis_client.get(store.value_key("k"))

    def test_ttl_becomes_milliseconds(
        self, store: RedisStore, redis_client: Any
    ) -> None:
        """Seconds become PX milliseconds, at least 1 ms; ``None`` never expires."""
        store.set("long", b"1", 1.5, ())
        store.set("never", b"2", None, ())
        assert 1400 < redis_client.pttl(store.value_key("long")) <= 1500
        assert -1 == redis_client.pttl(store.value_key("never"))
        store.set("tiny", b"3", 0.00001, ())
        assert redis_client.pttl(store.value_key("tiny")) in (-2, 0, 1)


class TestTransport:
    """The store moves bytes and never judges them."""

    def test_foreign_bytes_come_back_unchanged(
        self, store: RedisStore, redis_client: Any
    ) -> None:
        """Garbage written by another program is returned as is (the core decides)."""
        garbage = b"\x80\x04\x95not an envelope\xff"
        redis_client.set(store.value_key("k"), garbage)
        assert garbage == store.get("k")
        assert [garbage, None] == store.get_many(["k", "absent"])

    def test_wrong_type_is_a_tier_error(
        self, store: RedisStore, redis_client: Any
    ) -> None:
        """A server-side error (WRONGTYPE) is a TierError chained from redis-py."""
        redis_client.sadd(store.value_key("k"), "member")
        with pytest.raises(TierError) as info:
            store.get("k")
        assert "redis" == info.value.tier
        assert isinstance(info.value.__cause__, redis.ResponseError)

    def test_script_error_is_a_tier_error(
        self, store: RedisStore, redis_client: Any
    ) -> None:
        """An error inside a script (WRONGTYPE on a tag set) is a TierError."""
        tag_set = store.value_key("x").replace("}v:x", "}t:tag")
        redis_client.set(tag_set, b"not a set")
        with pytest.raises(TierError) as info:
            store.set("k", b"1", None, ("tag",))
        assert isinstance(info.value.__cause__, redis.ResponseError)


class TestIsolation:
    """Stores with different prefixes never see each other's keys."""

    def test_two_prefixes(self, redis_url: str, redis_prefix: str) -> None:
        """Reads, tags, patterns and clear stay inside their own prefix."""
        one = RedisStore.from_url(redis_url, prefix=redis_prefix + "one:")
        two = RedisStore.from_url(redis_url, prefix=redis_prefix + "two:")
        try:
            one.set("k", b"1", None, ("t",))
            two.set("k", b"2", None, ("t",))
            two.set("other", b"3", None, ())
            assert [b"1", b"2"] == [one.get("k"), two.get("k")]
            assert one.get("other") is None
            assert 1 == one.invalidate_tag("t")
            assert b"2" == two.get("k")
            one.set("k", b"1", None, ())
            assert 1 == one.invalidate_pattern("*")
            one.set("k", b"1", None, ())
            assert 1 == one.clear()
            assert [b"2", b"3"] == two.get_many(["k", "other"])
            assert 2 == two.clear()
        finally:
            one.close()
            two.close()

    def test_nested_prefixes(self, redis_url: str, redis_prefix: str) -> None:
        """``clear()`` of ``p:`` leaves the keys of ``p:x:`` alone."""
        outer = RedisStore.from_url(redis_url, prefix=redis_prefix)
        inner = RedisStore.from_url(redis_url, prefix=redis_prefix + "x:")
        try:
            inner.set("k", b"inner", None, ("t",))
            outer.set("x:k", b"outer", None, ("t",))
            assert 1 == outer.invalidate_pattern("*")
            outer.set("x:k", b"outer", None, ("t",))
            assert 1 == outer.invalidate_tag("t")
            outer.set("x:k", b"outer", None, ("t",))
            assert 1 == outer.clear()
            assert b"inner" == inner.get("k")
            assert 1 == inner.invalidate_tag("t")
        finally:
            outer.close()
            inner.close()

    def test_nested_prefixes_with_hash_tags(self, redis_url: str) -> None:
        """A prefix that brings its own hash tag is used as is, still isolated."""
        tag = f"hctest-{uuid.uuid4().hex[:12]}"
        outer = RedisStore.from_url(redis_url, prefix=f"{{{tag}}}:")
        inner = RedisStore.from_url(redis_url, prefix=f"{{{tag}}}:x:")
        try:
            assert f"{{{tag}}}:v:k" == outer.value_key("k")
            inner.set("k", b"inner", None, ("t",))
            outer.set("k", b"outer", None, ("t",))
            assert 1 == outer.clear()
            assert b"inner" == inner.get("k")
        finally:
            # clear() keeps the generation counters (they expire in an hour):
            # remove every key under the test's own hash tag.
            client = outer.client
            leftovers = list(client.scan_iter(match=f"{{{tag}}}*", count=1000))
            if leftovers:
                client.delete(*leftovers)
            outer.close()
            inner.close()


class TestConstruction:
    """Arguments, ownership of the client and the optional dependency."""

    @pytest.mark.parametrize("prefix", ["", "a{b:", "a}b:", "a{}b:"])
    def test_bad_prefix(self, redis_client: Any, prefix: str) -> None:
        """An empty prefix or braces that are no hash tag raise ConfigError."""
        with pytest.raises(ConfigError):
            RedisStore(redis_client, prefix=prefix)

    def test_decoding_client_is_refused(self, redis_url: str) -> None:
        """A client that decodes replies to ``str`` cannot carry bytes."""
        client = redis.Redis.from_url(redis_url, decode_responses=True)
        try:
            with pytest.raises(ConfigError):
                RedisStore(client)
        finally:
            client.close()

    def test_bad_url(self) -> None:
        """A URL redis-py cannot parse is a ConfigError."""
        with pytest.raises(ConfigError):
            RedisStore.from_url("nosuchscheme://127.0.0.1")

    def test_name(self, redis_url: str, redis_prefix: str) -> None:
        """The name shows in ``name``, errors and ``repr``."""
        tier = RedisStore.from_url(redis_url, prefix=redis_prefix, name="sessions")
        try:
            assert "sessions" == tier.name
            assert f"RedisStore(prefix={redis_prefix!r}, name='sessions')" == repr(tier)
            assert "redis" == RedisStore.name
            assert tier.trusted is False
        finally:
            tier.close()

    @staticmethod
    def _connections_named(client: Any, name: str) -> int:
        return sum(1 for info in client.client_list() if info["name"] == name)

    def test_close_keeps_a_callers_client_open(
        self, redis_url: str, redis_client: Any, redis_prefix: str
    ) -> None:
        """``close()`` on a store given a client leaves that client connected."""
        name = f"hctest-given-{uuid.uuid4().hex[:8]}"
        client = redis.Redis.from_url(redis_url, client_name=name)
        try:
            tier = RedisStore(client, prefix=redis_prefix)
            tier.set("k", b"1", None, ())
            tier.close()
            assert 1 == self._connections_named(redis_client, name)
            assert b"1" == client.get(tier.value_key("k"))
        finally:
            client.close()

    def test_close_disconnects_an_owned_client(
        self, redis_url: str, redis_client: Any, redis_prefix: str
    ) -> None:
        """``close()`` on a store built by ``from_url`` disconnects its pool."""
        name = f"hctest-owned-{uuid.uuid4().hex[:8]}"
        tier = RedisStore.from_url(redis_url, prefix=redis_prefix, client_name=name)
        tier.set("k", b"1", None, ())
        assert 1 == self._connections_named(redis_client, name)
        tier.close()
        deadline = time.monotonic() + 2
        while self._connections_named(redis_client, name) and (
            time.monotonic() < deadline
        ):
            time.sleep(0.01)
        assert 0 == self._connections_named(redis_client, name)

    def test_missing_redis(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without redis-py, construction names the extra to install."""
        monkeypatch.setitem(sys.modules, "redis", None)
        with pytest.raises(MissingDependencyError) as info:
            RedisStore(object())  # type: ignore[arg-type]
        assert "RedisStore needs redis-py: pip install 'hydracache_sync[redis]'" == str(
            info.value
        )
        assert isinstance(info.value, ImportError)
        assert isinstance(info.value.__cause__, ImportError)
        with pytest.raises(MissingDependencyError):
            RedisStore.from_url("redis://127.0.0.1")

    def test_module_does_not_import_redis(self) -> None:
        """Importing the module (and the package) loads no redis-py."""
        code = (
            "import sys, hydracache_sync.tiers.redis; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'redis'))"
        )
        root = str(Path(__file__).resolve().parents[2])
        result = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            cwd=root,
            env={"PYTHONPATH": root},
        )
        assert "[]" == result.stdout.strip()


class TestTagSets:
    """Tag bookkeeping stays correct and bounded."""

    @staticmethod
    def _tag_set(store: RedisStore, tag: str) -> str:
        return store.value_key("x").replace("}v:x", "}t:" + tag)

    def test_deleted_then_retagged_key_survives_old_tag(
        self, store: RedisStore
    ) -> None:
        """A key deleted and set again with other tags ignores its old tag."""
        store.set("k", b"1", None, ("old",))
        assert store.delete("k") is True
        store.set("k", b"2", None, ("new",))
        assert 0 == store.invalidate_tag("old")
        assert b"2" == store.get("k")

    def test_invalidated_key_leaves_its_other_tags(
        self, store: RedisStore, redis_client: Any
    ) -> None:
        """Invalidating one tag removes the entry from its other tag sets too."""
        store.set("k", b"1", None, ("a", "b"))
        assert 1 == store.invalidate_tag("a")
        assert 0 == redis_client.exists(self._tag_set(store, "b"))
        assert 0 == store.invalidate_tag("b")

    def test_tag_set_expires_after_its_longest_member(
        self, store: RedisStore, redis_client: Any
    ) -> None:
        """A tag set's expiry follows the longest TTL of its members."""
        store.set("short", b"1", 0.2, ("t",))
        store.set("long", b"2", 0.4, ("t",))
        store.set("shorter", b"3", 0.1, ("t",))
        assert 300 < redis_client.pttl(self._tag_set(store, "t")) <= 400
        time.sleep(0.45)
        assert 0 == redis_client.exists(self._tag_set(store, "t"))

    def test_member_without_expiry_makes_the_set_persistent(
        self, store: RedisStore, redis_client: Any
    ) -> None:
        """An entry that never expires keeps its tag set from expiring."""
        store.set("short", b"1", 0.2, ("t",))
        store.set("forever", b"2", None, ("t",))
        store.set("later", b"3", 0.2, ("t",))
        assert -1 == redis_client.pttl(self._tag_set(store, "t"))
        time.sleep(0.25)
        assert 1 == store.invalidate_tag("t")

    def test_persistent_tag_set_stays_bounded(
        self, store: RedisStore, redis_client: Any
    ) -> None:
        """Expired members are pruned as new ones arrive: the set does not grow."""
        store.set("anchor", b"a", None, ("t",))
        writes = 200
        for i in range(writes):
            store.set(f"k{i}", b"v", 0.001, ("t",))
            time.sleep(0.002)
        size = redis_client.scard(self._tag_set(store, "t"))
        assert size <= 25, size
        assert 1 == store.invalidate_tag("t")


class TestRoundTrips:
    """Batch forms cost one command each (counted on a private server)."""

    @pytest.fixture
    def private(self, tmp_path: Path) -> Iterator[PrivateRedis]:
        """A private server whose command statistics only this test moves."""
        server = PrivateRedis(tmp_path / "redis")
        try:
            server.start()
            yield server
        finally:
            server.stop()

    @staticmethod
    def _calls(client: Any) -> dict[str, int]:
        stats = client.info("commandstats")
        return {
            name.removeprefix("cmdstat_"): value["calls"]
            for name, value in stats.items()
        }

    def _delta(self, client: Any, action: Any) -> dict[str, int]:
        before = self._calls(client)
        action()
        after = self._calls(client)
        changed = {
            name: after[name] - before.get(name, 0)
            for name in after
            if after[name] != before.get(name, 0)
        }
        changed["info"] -= 1  # the second INFO counts the first one
        return {name: count for name, count in changed.items() if count}

    def test_batches_are_one_command(self, private: PrivateRedis) -> None:
        """get is one GET; get_many one MGET; set_many and delete_many one EVALSHA."""
        tier = RedisStore.from_url(private.url, prefix="rt:")
        client = redis.Redis.from_url(private.url)
        try:
            items = [StoreItem(f"k{i}", b"v", 60, ("t",)) for i in range(3)]
            tier.set_many(items)  # loads the script once
            tier.delete_many(["k0"])
            assert {"get": 1} == self._delta(client, lambda: tier.get("k1"))
            assert {"mget": 1} == self._delta(
                client, lambda: tier.get_many(["k0", "k1", "k2"])
            )
            set_many = self._delta(client, lambda: tier.set_many(items))
            assert 1 == set_many.pop("evalsha")
            assert "get" not in set_many
            delete_many = self._delta(client, lambda: tier.delete_many(["k1", "k2"]))
            assert 1 == delete_many.pop("evalsha")
        finally:
            tier.close()
            client.close()


class TestThreads:
    """One store shared by many threads."""

    def test_concurrent_use(self, store: RedisStore) -> None:
        """Eight threads reading, writing and invalidating raise nothing."""
        errors: list[BaseException] = []
        barrier = threading.Barrier(8)

        def work(worker: int) -> None:
            try:
                barrier.wait()
                for i in range(100):
                    key = f"k{i % 10}"
                    store.set(key, f"{worker}".encode(), 5, (f"t{i % 3}",))
                    value = store.get(key)
                    assert value is None or value.isdigit()
                    if i % 25 == 0:
                        store.invalidate_tag(f"t{worker % 3}")
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert [] == errors
        store.clear()
        assert [None] * 10 == store.get_many([f"k{i}" for i in range(10)])


class TestPatterns:
    """Wildcard removal escapes every Redis glob metacharacter."""

    def test_glob_characters_next_to_a_star(self, store: RedisStore) -> None:
        """``a[b]*`` matches keys starting with ``a[b]``, not ``ab...``."""
        for key in ["a[b]1", "a[b]2", "ab1", "a\\b]1", "a?x"]:
            store.set(key, b"v", None, ())
        assert 2 == store.invalidate_pattern("a[b]*")
        assert 1 == store.invalidate_pattern("a?*")
        assert [b"v", b"v"] == store.get_many(["ab1", "a\\b]1"])

    def test_many_keys_in_batches(self, store: RedisStore) -> None:
        """More keys than one SCAN batch are all removed and counted."""
        store.set_many([StoreItem(f"bulk:{i}", b"v", 60, ()) for i in range(2500)])
        store.set("other", b"v", None, ())
        assert 2500 == store.invalidate_pattern("bulk:*")
        assert b"v" == store.get("other")


class TestUsage:
    """usage(): key counts by kind and memory, for ``hydracache stats``."""

    def test_counts_and_exact_memory(self, store: RedisStore) -> None:
        """Two entries (one tagged): 2 values, 1 tag record, 2 tag sets."""
        store.set("a", b"1" * 100, None, ("t1", "t2"))
        store.set("b", b"2", 60, ())
        usage = store.usage()
        counts = (usage.entries, usage.tagged_entries, usage.tag_sets, usage.keys)
        assert (2, 1, 2, 5) == counts
        assert True is usage.memory_exact
        assert 5 == usage.memory_sampled_keys
        assert usage.memory_bytes is not None
        assert usage.memory_bytes > 100

    def test_sampled_memory_and_empty(self, store: RedisStore) -> None:
        """A sample smaller than the keys extrapolates; an empty prefix is 0."""
        assert 0 == store.usage().memory_bytes
        store.set_many([StoreItem(f"k{i}", b"x", None, ()) for i in range(6)])
        usage = store.usage(sample=2)
        assert (6, 2, False) == (
            usage.keys,
            usage.memory_sampled_keys,
            usage.memory_exact,
        )
        assert usage.memory_bytes is not None
        assert usage.memory_bytes > 0
        assert 6 == usage.as_dict()["entries"]

    def test_bad_sample(self, store: RedisStore) -> None:
        """A negative sample is a ConfigError."""
        with pytest.raises(ConfigError, match="sample"):
            store.usage(-1)

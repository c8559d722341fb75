"""RedisStore on a private three-node Redis Cluster: the contract and slot spread."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import free_port

from hydracache_sync.testing import TierContract

redis = pytest.importorskip("redis")
redis_cluster = pytest.importorskip("redis.cluster")

from redis.backoff import NoBackoff  # noqa: E402
from redis.retry import Retry  # noqa: E402

from hydracache_sync.tiers.redis import RedisStore  # noqa: E402

from .test_redis_fault import PrivateRedis  # noqa: E402

pytestmark = [pytest.mark.redis, pytest.mark.fault]


def _cluster_ok(port: int) -> bool:
    client = redis.Redis(
        host="127.0.0.1",
        port=port,
        socket_connect_timeout=0.5,
        retry=Retry(NoBackoff(), 0),
    )
    try:
        info = client.execute_command("CLUSTER", "INFO")
    except redis.RedisError:
        return False
    finally:
        client.close()
    text = info.decode() if isinstance(info, bytes) else str(info)
    return "cluster_state:ok" in text


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[int]]:
    """Three cluster-enabled redis-servers joined into one cluster (ports)."""
    cli = shutil.which("redis-cli")
    if cli is None or shutil.which("redis-server") is None:
        pytest.skip("redis-server and redis-cli are needed for a private cluster")
    root = tmp_path_factory.mktemp("cluster")
    nodes: list[PrivateRedis] = []
    try:
        for _ in range(3):
            directory = root / uuid.uuid4().hex[:8]
            node = PrivateRedis(directory, "--cluster-enabled", "yes")
            node.extra += (
                # An explicit bus port: the default, port + 10000, fails for
                # ephemeral ports above 55535.
                "--cluster-port",
                str(free_port()),
                "--cluster-config-file",
                str(directory / f"nodes-{node.port}.conf"),
                "--cluster-node-timeout",
                "2000",
            )
            nodes.append(node)
            node.start()
        addresses = [f"127.0.0.1:{node.port}" for node in nodes]
        create = [cli, "--cluster", "create", *addresses, "--cluster-replicas", "0"]
        subprocess.run(
            [*create, "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=30,
        )
        deadline = time.monotonic() + 15
        while not all(_cluster_ok(node.port) for node in nodes):
            if time.monotonic() > deadline:
                pytest.fail("the private cluster never reached cluster_state:ok")
            time.sleep(0.1)
        yield [node.port for node in nodes]
    finally:
        for node in nodes:
            node.stop()


@pytest.fixture(scope="module")
def cluster_client(cluster: list[int]) -> Iterator[Any]:
    """A RedisCluster client on the private cluster (closed at the end)."""
    client = redis_cluster.RedisCluster(host="127.0.0.1", port=cluster[0])
    yield client
    client.close()


class TestRedisStoreOnCluster(TierContract):
    """RedisStore passes the remote-tier contract on a Redis Cluster."""

    @pytest.fixture
    def tier(self, cluster_client: Any) -> Iterator[RedisStore]:
        """A store with a fresh prefix on the cluster client."""
        store = RedisStore(cluster_client, prefix=f"hcc:{uuid.uuid4().hex[:8]}:")
        yield store
        store.clear()


def test_stores_on_every_node(cluster_client: Any) -> None:
    """Stores whose slot lives on each of the three nodes all work, scans too."""
    owners: dict[str, RedisStore] = {}
    attempt = 0
    while len(owners) < 3:
        attempt += 1
        assert attempt < 1000
        store = RedisStore(cluster_client, prefix=f"spread{attempt}:")
        node = cluster_client.get_node_from_key(store.value_key("k"))
        owners.setdefault(node.name, store)
    for store in owners.values():
        store.set("users:1", b"1", None, ("users",))
        store.set("users:2", b"2", 60, ("users",))
        store.set("teams:1", b"3", None, ("teams",))
        assert [b"1", b"2", b"3"] == store.get_many(["users:1", "users:2", "teams:1"])
    for store in owners.values():
        assert 2 == store.invalidate_pattern("users:*")
        assert 1 == store.invalidate_tag("teams")
        store.set("again", b"4", None, ())
        assert 1 == store.clear()
        assert store.get("again") is None


def test_decoding_cluster_client_is_refused(cluster: list[int]) -> None:
    """A cluster client that decodes replies to ``str`` is a ConfigError."""
    from hydracache_sync.errors import ConfigError

    client = redis_cluster.RedisCluster(
        host="127.0.0.1", port=cluster[0], decode_responses=True
    )
    try:
        with pytest.raises(ConfigError):
            RedisStore(client)
    finally:
        client.close()

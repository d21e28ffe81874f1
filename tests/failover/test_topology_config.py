"""chatsite/redis_topology.py: how the Redis settings read, and what each topology
gives channels-redis (no server needed)."""

import pytest

from chatsite import redis_topology
from chatsite.redis_topology import Sentinels


def test_sentinels_read_host_port_pairs_and_the_master_name() -> None:
    parsed = redis_topology.sentinels_parse("10.0.0.1:26379, [::1]:26380", "chat")
    assert parsed == Sentinels((("10.0.0.1", 26379), ("::1", 26380)), "chat")
    assert redis_topology.sentinels_parse("", "") is None


@pytest.mark.parametrize(
    ("addresses", "master"),
    [("10.0.0.1:26379", ""), ("", "chat"), ("10.0.0.1", "chat"), ("10.0.0.1:x", "chat")],
)
def test_a_half_or_malformed_sentinel_setting_is_refused(addresses: str, master: str) -> None:
    with pytest.raises(ValueError, match="REDIS_SENTINEL"):
        redis_topology.sentinels_parse(addresses, master)


def test_under_sentinel_redis_url_gives_password_and_db_but_not_the_address() -> None:
    options = redis_topology.server_options("redis://:s3cret@chat/2")
    assert options == {"password": "s3cret", "db": 2}
    assert redis_topology.server_options("rediss://chat/0")["ssl"] is True
    with pytest.raises(ValueError, match="REDIS_URL"):
        redis_topology.server_options("unix:///run/redis.sock")


def test_the_channel_layer_gets_one_host_per_shard_or_the_sentinels() -> None:
    sentinels = Sentinels((("10.0.0.1", 26379),), "chat")
    plain = redis_topology.layer_hosts("redis://r/0", None, [], max_connections=9)
    assert plain == [{"address": "redis://r/0", "max_connections": 9}]
    shards = ["redis://a:6379/0", "redis://b:6379/0"]
    sharded = redis_topology.layer_hosts("redis://r/0", None, shards, max_connections=9)
    assert [host["address"] for host in sharded] == shards
    (host,) = redis_topology.layer_hosts("redis://:pw@chat/1", sentinels, [], max_connections=9)
    assert host["sentinels"] == [("10.0.0.1", 26379)]
    assert (host["master_name"], host["password"], host["db"]) == ("chat", "pw", 1)
    assert "address" not in host
    assert host["max_connections"] == 9


def test_layer_urls_must_be_redis_urls() -> None:
    assert redis_topology.layer_urls_parse(" redis://a/0 ,redis://b/0,") == [
        "redis://a/0",
        "redis://b/0",
    ]
    with pytest.raises(ValueError, match="CHAT_LAYER_REDIS_URLS"):
        redis_topology.layer_urls_parse("a:6379")

"""Operations: metrics and logs, health probes, the Redis client factory. Called from
every layer; calls none of them."""

"""Limits against floods and abuse: frame and connection caps, rate buckets (memory or
Redis) for async and blocking callers. Policy and storage only, no business rules."""

"""The load generator's figures: this process's CPU time, percentiles, and the merge of the
workers' raw reports into one connect summary, one phase summary, one set of counters."""

import math
import resource
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from bench.loadgen_specs import ClientSpec, PhaseSpec, asked_deliveries_per_s, sender_count


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(sorted_values: Sequence[int], pct: float) -> int:
    if not sorted_values:
        return 0
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def distribution_ms(values_us: Iterable[int]) -> dict[str, float | None]:
    ordered = sorted(values_us)
    if not ordered:
        return {"count": 0, "p50": None, "p90": None, "p99": None, "max": None, "mean": None}
    return {
        "count": len(ordered),
        "p50": percentile(ordered, 50) / 1000,
        "p90": percentile(ordered, 90) / 1000,
        "p99": percentile(ordered, 99) / 1000,
        "max": ordered[-1] / 1000,
        "mean": round(sum(ordered) / len(ordered) / 1000, 3),
    }


def distribution(values: Iterable[int]) -> dict[str, float | None]:
    ordered = sorted(values)
    if not ordered:
        return {"count": 0, "min": None, "p50": None, "max": None, "mean": None}
    return {
        "count": len(ordered),
        "min": ordered[0],
        "p50": percentile(ordered, 50),
        "max": ordered[-1],
        "mean": round(sum(ordered) / len(ordered), 1),
    }


def merge_connects(reports: Sequence[dict[str, Any]], wall_s: float) -> dict[str, Any]:
    failures: Counter[str] = Counter()
    durations: list[int] = []
    hello_bytes: list[int] = []
    hello_rooms: list[int] = []
    for report in reports:
        failures.update(report["failures"])
        durations.extend(report["connect_us"])
        hello_bytes.extend(report.get("hello_bytes", ()))
        hello_rooms.extend(report.get("hello_rooms", ()))
    connected = sum(r["connected"] for r in reports)
    cpu = sum(r["cpu_s"] for r in reports)
    return {
        "attempted": sum(r["attempted"] for r in reports),
        "connected": connected,
        "failures": dict(failures),
        "wall_s": round(wall_s, 3),
        "connects_per_s": round(connected / wall_s, 1) if wall_s > 0 else 0.0,
        "connect_ms": distribution_ms(durations),
        "hello_bytes": distribution(hello_bytes),
        "hello_rooms": distribution(hello_rooms),
        "generator_cpu_s": round(cpu, 3),
    }


def merge_counters(reports: Sequence[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for report in reports:
        for key, value in report.items():
            if isinstance(value, dict):
                merged[key] = dict(Counter(merged.get(key, {})) + Counter(value))
            elif isinstance(value, list):
                merged[key] = [*merged.get(key, []), *value]
            else:
                merged[key] = merged.get(key, 0) + value
    return merged


def summarize_phase(
    specs: Sequence[ClientSpec], phase: PhaseSpec, t0_ns: int, reports: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    """One phase's figures over all workers."""
    latencies: list[int] = []
    lags: list[int] = []
    by_server: dict[str, list[int]] = {}
    for report in reports:
        latencies.extend(report["lat_us"])
        for origin, values in report["lat_by_server"].items():
            by_server.setdefault(origin, []).extend(values)
        lags.extend(report["send_lag_us"])

    def total(key: str) -> int:
        return int(sum(r[key] for r in reports))

    expected, received = total("expected"), total("received")
    last_recv = max((r["last_recv_ns"] for r in reports), default=0)
    span_s = max(phase.duration_s, (last_recv - t0_ns) / 1e9)
    cpu = sum(r["cpu_s"] for r in reports)
    return {
        "tag": phase.tag,
        "duration_s": phase.duration_s,
        "rate_per_sender": phase.rate_per_sender,
        "senders": sender_count(specs),
        "clients": len(specs),
        "send_rate_per_s": round(sender_count(specs) * phase.rate_per_sender, 1),
        "asked_deliveries_per_s": round(asked_deliveries_per_s(specs, phase), 1),
        "achieved_deliveries_per_s": round(received / span_s, 1) if received else 0.0,
        "planned_sends": total("planned_sends"),
        "sent": total("sent"),
        "send_failures": total("send_failures"),
        "send_deferred": total("send_deferred"),
        "expected": expected,
        "received": received,
        "loss": expected - received,
        "loss_pct": round(100 * (expected - received) / expected, 4) if expected else 0.0,
        "dups": total("dups"),
        "sender_order_violations": total("sender_order_violations"),
        "seq_violations": total("seq_violations"),
        "late": total("late"),
        "incomplete_receivers": total("incomplete_receivers"),
        "not_connected_receivers": total("not_connected_receivers"),
        "disconnects": total("disconnects"),
        "latency_ms": distribution_ms(latencies),
        # by the receiving process: one slow process shows here, not in the totals
        "latency_ms_by_server": {o: distribution_ms(v) for o, v in sorted(by_server.items())},
        "send_lag_ms": distribution_ms(lags),
        "generator_cpu_s": round(cpu, 3),
        "generator_us_per_delivery": round(cpu / received * 1e6, 2) if received else None,
        "generator_processes": len(reports),
    }

"""The table and the verdict of bench/hooks.py's report (its JSON, as a dict)."""

from typing import Any

from bench import hookload

PROCESSES = 2
P99_LIMIT_MS = 100.0
UNCHANGED = 1.25  # "socket latency unchanged": the loaded p99 within 25 % (or +5 ms)
UNCHANGED_SLACK_MS = 5.0


def verdict(results: dict[str, Any]) -> dict[str, Any]:
    loaded, alone = results["people_and_hooks"], results["people_alone"]
    hooks = loaded["hooks"]
    p99 = hooks["request_to_delivery_ms"]["p99"]
    before, after = alone["person"]["latency_ms"]["p99"], loaded["person"]["latency_ms"]["p99"]
    ratio = round(after / before, 2) if before and after is not None else None
    return {
        "p99_request_to_delivery_ms": p99,
        "p99_under_100ms": p99 is not None and p99 < P99_LIMIT_MS,
        "zero_loss": hooks["lost"] == 0 and hooks["ok_200"] == hooks["sent"],
        "person_p99_ratio": ratio,
        "person_latency_unchanged": (
            before is not None
            and after is not None
            and after <= max(before * UNCHANGED, before + UNCHANGED_SLACK_MS)
        ),
    }


def table(report: dict[str, Any]) -> str:
    res = report["results"]
    loaded, alone = res["people_and_hooks"], res["people_alone"]
    hooks, v = loaded["hooks"], report["verdict"]
    met = {True: "MET", False: "MISSED"}

    def ms(figures: dict[str, Any], keys: dict[str, float]) -> str:
        return " / ".join("-" if figures[k] is None else f"{figures[k]:.1f}" for k in keys)

    def cpu(phase: dict[str, Any]) -> str:
        c = phase["cpu"]
        return (
            f"servers {c['server_cpu_s']:.1f} s ({'+'.join(map(str, c['server_cpu_pct']))} %),"
            f" redis {c['redis_cpu_pct']} %, postgres {c['postgres_cpu_pct']} %,"
            f" generator {c['generator_cpu_pct']} %, machine busy {c['machine_busy_pct']} %"
        )

    people = [alone["person"], loaded["person"]]
    rows = [
        (
            "hook requests sent / answered / 200",
            f"{hooks['sent']} / {hooks['answered']} / {hooks['ok_200']} (other:"
            f" {hooks['other_answers'] or 'none'}; no answer: {hooks['no_answer'] or 'none'})",
        ),
        ("HTTP answer ms p50 / p95 / p99 / max", ms(hooks["http_answer_ms"], hookload.FULL)),
        (
            f"request → delivery on a socket ms p50 / p95 / p99 / max (p99 < {P99_LIMIT_MS:g})",
            f"{ms(hooks['request_to_delivery_ms'], hookload.FULL)} {met[v['p99_under_100ms']]}",
        ),
        (
            "… on the room's last listener ms p50 / p95 / p99 / max",
            ms(hooks["request_to_last_listener_ms"], hookload.FULL),
        ),
        (
            "deliveries expected / seen / lost / duplicates (0 loss, every request a 200)",
            f"{hooks['deliveries_expected']} / {hooks['deliveries_seen']} / {hooks['lost']}"
            f" / {hooks['duplicates']} {met[v['zero_loss']]}",
        ),
        (
            "hook messages delivered to every listener",
            f"{hooks['delivered_to_every_listener']} of {hooks['ok_200']}",
        ),
        (
            "person send → delivery ms p50 / p99, no hooks",
            ms(alone["person"]["latency_ms"], hookload.P50_P99),
        ),
        (
            "person send → delivery ms p50 / p99, with hooks",
            ms(loaded["person"]["latency_ms"], hookload.P50_P99),
        ),
        (
            f"person p99 with / without (unchanged: ≤ x{UNCHANGED} or +{UNCHANGED_SLACK_MS:g} ms)",
            f"{v['person_p99_ratio']} {met[v['person_latency_unchanged']]}",
        ),
        (
            "person deliveries lost / duplicates (both phases)",
            f"{sum(p['lost'] for p in people)} / {sum(p['duplicates'] for p in people)}",
        ),
        ("CPU, no hooks", cpu(alone)),
        ("CPU, with hooks", cpu(loaded)),
        (
            "server CPU ms per hook request (phases' difference)",
            report["server_cpu_ms_per_request"],
        ),
        ("generator behind its schedule, max ms", loaded["generator_late_ms_max"]),
        (
            "PostgreSQL backends of the bench database at most, no hooks / with hooks",
            f"{alone['postgres_backends_max']} / {loaded['postgres_backends_max']}",
        ),
    ]
    ceil = report.get("ceiling") or {}
    if "single_1" in ceil:
        rows.append(
            (
                "the database's own ceiling, messages/s (1 conn / 4 conns / batches of 50)",
                " / ".join(
                    str(ceil.get(shape, {}).get("messages_per_s"))
                    for shape in ("single_1", "single_4", "batched_50")
                ),
            )
        )
    rows.append(("server log lines that look like trouble", report["server_log_problems"]["count"]))
    head = (
        f"Incoming hooks: {report['hooks']} hooks x {report['rate'] / report['hooks']:g}/s ="
        f" {report['rate']:g} req/s for {report['seconds']:g} s; {report['listeners']} sockets"
        f" over {PROCESSES} daphne processes (PostgreSQL, Redis);"
        f" load {report['load_average']} -> {report['load_average_at_end']}"
    )
    return "\n".join([head, "", "| measure | result |", "|---|---|"]) + "".join(
        f"\n| {label} | {value} |" for label, value in rows
    )

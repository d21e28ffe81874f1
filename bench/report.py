# ruff: noqa: RUF001 - the tables use the multiplication sign and en dash on purpose
"""Turning a bench result (the JSON bench/run.py writes) into markdown, and a py-spy raw
profile into hot spots. `python -m bench.report RESULT.json` re-prints a result's table."""

import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")
TOP = 15
FANOUT_TARGET = "fanout ≥ 20,000 deliveries/s, p99 < 100 ms, 0 loss, in order"

# --- profile ----------------------------------------------------------------------------


def _package(file: str) -> str:
    first = file.split("/", 1)[0]
    return first.removesuffix(".py") or "?"


def hotspots(raw: str) -> dict[str, Any]:
    """Self and inclusive sample shares of functions, and self shares by package, from
    `py-spy record --format raw` output (one `frame;frame;... count` per line)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        names = []
        for frame in stack.split(";"):
            if frame.startswith("thread ("):  # --threads: "thread (TID): NAME"
                threads[frame.partition(": ")[2] or frame] += count
                continue
            match = FRAME.match(frame)
            if match is None:
                continue
            names.append((f"{match['func']} ({match['file']})", _package(match["file"])))
        if not names:
            continue
        leaf, package = names[-1]
        own[leaf] += count
        packages[package] += count
        for name in {name for name, _ in names}:
            inclusive[name] += count

    def share(counter: Counter[str], top: int = TOP) -> list[dict[str, Any]]:
        return [
            {"name": name, "samples": n, "pct": round(100 * n / total, 1)}
            for name, n in counter.most_common(top)
        ]

    return {
        "samples": total,
        "self": share(own),
        "inclusive": share(inclusive, 25),
        "self_by_package": share(packages, 12),
        "threads": share(threads, 8),
    }


# --- tables -----------------------------------------------------------------------------


def _num(value: float | int | None, digits: int = 0) -> str:
    if value is None:
        return "–"
    if digits == 0:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def _ratio(value: float | None, base: float | None) -> str:
    if value is None or not base:
        return "–"
    return f"{value / base:.2f}×"


def _label(run: dict[str, Any]) -> str:
    return f"{run['target']} {run['config']}" + (f" {run['db']}" if run["db"] else "")


def _baseline(results: dict[str, Any], config: str) -> dict[str, Any] | None:
    for run in results["runs"]:
        if run["target"] == "baseline" and run["config"] == config:
            found: dict[str, Any] = run
            return found
    return None


def _scenario(run: dict[str, Any] | None, name: str) -> dict[str, Any] | None:
    if run is None:
        return None
    found: dict[str, Any] | None = run["scenarios"].get(name)
    return found


def _order(result: dict[str, Any]) -> str:
    return f"{result['seq_violations']}/{result['sender_order_violations']}"


def traffic_table(results: dict[str, Any], name: str) -> list[str]:
    rows = [
        "| run | asked/s | achieved/s | p50 ms | p90 ms | p99 ms | max ms | loss | dup | "
        "order (seq/sender) | server CPU % | server µs/delivery | gen CPU % | gen µs/delivery | "
        "other CPU % | p50 ms per receiving process | vs baseline (achieved, p99, µs/delivery) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for run in results["runs"]:
        result = _scenario(run, name)
        if result is None:
            continue
        if "latency_ms" not in result:
            rows.append(_aborted_row(run, result, 17))
            continue
        lat, cpu = result["latency_ms"], result["cpu"]
        per_process = " / ".join(
            _num(d["p50"], 1) for d in result.get("latency_ms_by_server", {}).values()
        )
        base = _scenario(_baseline(results, run["config"]), name)
        versus = "–"
        if run["target"] == "project" and base is not None and "latency_ms" in base:
            versus = ", ".join(
                [
                    _ratio(result["achieved_deliveries_per_s"], base["achieved_deliveries_per_s"]),
                    _ratio(lat["p99"], base["latency_ms"]["p99"]),
                    _ratio(result["server_us_per_delivery"], base["server_us_per_delivery"]),
                ]
            )
        rows.append(
            f"| {_label(run)} | {_num(result['asked_deliveries_per_s'])} "
            f"| {_num(result['achieved_deliveries_per_s'])} | {_num(lat['p50'], 1)} "
            f"| {_num(lat['p90'], 1)} | {_num(lat['p99'], 1)} | {_num(lat['max'], 1)} "
            f"| {result['loss']} | {result['dups']} | {_order(result)} "
            f"| {cpu['server_cpu_pct_total']} | {_num(result['server_us_per_delivery'], 1)} "
            f"| {cpu['generator_cpu_pct']} | {_num(result['generator_us_per_delivery'], 1)} "
            f"| {cpu['other_cpu_pct']} | {per_process} | {versus} |"
        )
    return rows


def _aborted_row(run: dict[str, Any], result: dict[str, Any], cells: int) -> str:
    why = result.get("aborted", "no figures")
    return f"| {_label(run)} | aborted: {why} " + "| – " * (cells - 1) + "|"


def _last_ok(result: dict[str, Any] | None) -> tuple[float | None, dict[str, Any] | None]:
    if result is None or "steps" not in result:
        return None, None
    good = [s for s in result["steps"] if s["sustainable"]]
    bad = [s for s in result["steps"] if not s["sustainable"]]
    return (good[-1]["send_rate_per_s"] if good else 0.0), (bad[0] if bad else None)


def saturation_table(results: dict[str, Any]) -> list[str]:
    rows = [
        "| run | last sustainable msg/s | = deliveries/s | p99 ms there | server µs/delivery there "
        "| first failing step | why | × baseline |",
        "|---|---:|---:|---:|---:|---:|---|---:|",
    ]
    for run in results["runs"]:
        result = _scenario(run, "saturation")
        if result is None:
            continue
        if "steps" not in result:
            rows.append(_aborted_row(run, result, 7))
            continue
        rate, failed = _last_ok(result)
        good = [s for s in result["steps"] if s["sustainable"]]
        last = good[-1] if good else None
        base_rate, _ = _last_ok(_scenario(_baseline(results, run["config"]), "saturation"))
        versus = _ratio(rate, base_rate) if run["target"] == "project" else "–"
        rows.append(
            f"| {_label(run)} | {_num(rate)} "
            f"| {_num(last['asked_deliveries_per_s']) if last else '0'} "
            f"| {_num(last['latency_ms']['p99'], 1) if last else '–'} "
            f"| {_num(last['server_us_per_delivery'], 1) if last else '–'} "
            f"| {_num(failed['send_rate_per_s']) if failed else 'none (top step passed)'} "
            f"| {failed['why_not'] if failed else ''} | {versus} |"
        )
    return rows


def allrooms_connect_table(results: dict[str, Any]) -> list[str]:
    rows = [
        "| run | users × rooms each (rooms × members) | connected | connects/s | connect p50 ms "
        "| connect p99 ms | server CPU ms/connect | PostgreSQL CPU % | other CPU % "
        "| hello bytes p50 (max) | rooms in hello |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in results["runs"]:
        result = _scenario(run, "allrooms")
        if result is None or "connect" not in result:
            continue
        shape, connect, cpu = result["shape"], result["connect"], result["connect_cpu"]
        hello = connect.get("hello_bytes", {})
        rows.append(
            f"| {_label(run)} | {shape['users']} × {shape['rooms_per_user']} "
            f"({shape['rooms']} × {shape['members_per_room']}) "
            f"| {connect['connected']} | {_num(connect['connects_per_s'])} "
            f"| {_num(connect['connect_ms']['p50'], 1)} | {_num(connect['connect_ms']['p99'], 1)} "
            f"| {_num(result['server_cpu_ms_per_connect'], 2)} "
            f"| {_num(cpu.get('postgres_cpu_pct'), 1)} | {cpu['other_cpu_pct']} "
            f"| {_num(hello.get('p50'))} ({_num(hello.get('max'))}) "
            f"| {_num(connect.get('hello_rooms', {}).get('p50'))} |"
        )
    return rows


def connect_queries_table(results: dict[str, Any]) -> list[str]:
    found = results.get("connect_queries") or {}
    rows = [
        "| database | endpoint, rooms joined | rooms' history | SQL queries to hello "
        "| after hello (0.5 s) | hello bytes | ms to hello (one connect, in-process) |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for db, measured in found.items():
        if "error" in measured:
            rows.append(f"| {db} | failed: {measured['error'][-200:]!r} | | | | | |")
            continue
        for key, history in (
            ("empty", "empty"),
            ("history", f"{measured['history_per_room']}/room"),
        ):
            for rooms, row in measured[key].items():
                where = (
                    "/ws/chat/<slug>/, 1 room"
                    if rooms == "per_room_endpoint"
                    else f"/ws/chat/, {rooms}"
                )
                if "error" in row:
                    rows.append(
                        f"| {db} | {where} | {history} | failed: {row['error'][:120]} | | | |"
                    )
                    continue
                rows.append(
                    f"| {db} | {where} | {history} | {row['queries_until_hello']} "
                    f"| {row['queries_after_hello']} | {_num(row['hello_bytes'])} "
                    f"| {_num(row['ms_until_hello'], 1)} |"
                )
    return rows


def idle_table(results: dict[str, Any]) -> list[str]:
    rows = [
        "| run | connections | connected | connects/s | connect p99 ms | server CPU ms/connect "
        "| RSS before MiB | RSS after MiB | KiB/connection | open after hold "
        "| × baseline (KiB, connects/s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for run in results["runs"]:
        result = _scenario(run, "idle")
        if result is None:
            continue
        connect = result["connect"]
        base = _scenario(_baseline(results, run["config"]), "idle")
        versus = "–"
        if run["target"] == "project" and base is not None:
            versus = ", ".join(
                [
                    _ratio(result["rss_kib_per_connection"], base["rss_kib_per_connection"]),
                    _ratio(connect["connects_per_s"], base["connect"]["connects_per_s"]),
                ]
            )
        rows.append(
            f"| {_label(run)} | {result['connections']} | {connect['connected']} "
            f"| {_num(connect['connects_per_s'])} | {_num(connect['connect_ms']['p99'], 1)} "
            f"| {_num(result['server_cpu_ms_per_connect'], 2)} "
            f"| {_num(result['rss_before_kib'] / 1024, 1)} "
            f"| {_num(result['rss_after_kib'] / 1024, 1)} "
            f"| {_num(result['rss_kib_per_connection'], 1)} | {result['open_after_hold']} "
            f"| {versus} |"
        )
    return rows


def presence_table(results: dict[str, Any]) -> list[str]:
    rows = [
        "| run | scenario | clients | presence frames received | per client |",
        "|---|---|---:|---:|---:|",
    ]
    for run in results["runs"]:
        for name in ("bigroom",):
            result = _scenario(run, name)
            if result is None or "frames_during_joins" not in result:
                continue
            clients = result["shape"]["rooms"] * result["shape"]["clients_per_room"]
            frames = result["frames_during_joins"].get("presence", 0)
            rows.append(
                f"| {_label(run)} | {name} | {clients} | {frames} | {_num(frames / clients, 1)} |"
            )
    return rows


def quiet_table(results: dict[str, Any]) -> list[str]:
    """The servers' CPU with the clients connected and nothing sent, before the phase
    (bench/scenarios.py QUIET_SCENARIOS), and the phase's µs per delivery net of it."""
    rows = [
        "| run | scenario | quiet s | server CPU % quiet (per process) | server µs/delivery "
        "| of which holding the connections | net: the deliveries |",
        "|---|---|---:|---|---:|---:|---:|",
    ]
    for run in results["runs"]:
        for name, result in run["scenarios"].items():
            if not isinstance(result, dict) or "quiet_cpu" not in result:
                continue
            quiet, total = result["quiet_cpu"], result["server_us_per_delivery"]
            net = result["server_us_per_delivery_net"]
            holding = round(total - net, 2) if total is not None and net is not None else None
            per_process = " / ".join(str(p) for p in quiet["server_cpu_pct"])
            rows.append(
                f"| {_label(run)} | {name} | {quiet['wall_s']:.1f} "
                f"| {quiet['server_cpu_pct_total']} ({per_process}) | {_num(total, 1)} "
                f"| {_num(holding, 1)} | {_num(net, 1)} |"
            )
    return rows


def saved_per_s(result: dict[str, Any] | None) -> float | None:
    """Messages saved per second in a traffic phase: deliveries ÷ clients per room."""
    if result is None or "latency_ms" not in result:
        return None
    per_room = int(result["shape"]["clients_per_room"])
    return float(result["achieved_deliveries_per_s"]) / per_room


def ceiling_table(results: dict[str, Any]) -> list[str]:
    found = results.get("ceiling") or {}
    rows = [
        "| database | 1 msg/tx, 1 connection | 1 msg/tx, 4 connections | 50 msg/tx, 1 connection "
        "| project writeheavy saved msg/s (run) | share of 4 conn. / of batched |",
        "|---|---:|---:|---:|---|---|",
    ]
    for db, figures in found.items():
        if "error" in figures:
            rows.append(f"| {db} | error: {figures['error'][-120:]} | | | | |")
            continue

        def rate(key: str, figures: dict[str, Any] = figures) -> float | None:
            return figures[key]["messages_per_s"] if key in figures else None

        project = []
        shares = []
        for run in results["runs"]:
            saved = saved_per_s(_scenario(run, "writeheavy"))
            if run.get("db") != db or saved is None:
                continue
            project.append(f"{_num(saved)} ({run['config']})")
            four, batched = rate("single_4"), rate("batched_50")
            shares.append(
                " / ".join(
                    f"{100 * saved / base:.0f} %" if base else "–" for base in (four, batched)
                )
            )
        rows.append(
            f"| {db} | {_num(rate('single_1'))} | {_num(rate('single_4'))} "
            f"| {_num(rate('batched_50'))} | {'; '.join(project) or '–'} "
            f"| {'; '.join(shares) or '–'} |"
        )
    return rows


def storm_table(results: dict[str, Any]) -> list[str]:
    rows = [
        "| run | sessions | back after restart 1 / 2 (s) | all back within 30 s | reconnects "
        "| resumed incomplete | loss | dup | order (seq/sender) | unacked at end "
        "| server log lines (errors) | new connects/s (100 in flight) | × baseline |",
        "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in results["runs"]:
        result = _scenario(run, "storm")
        if result is None:
            continue
        connect = result.get("new_connects") or {}
        base = _scenario(_baseline(results, run["config"]), "storm") or {}
        base_rate = (base.get("new_connects") or {}).get("connects_per_s")
        rate = connect.get("connects_per_s")
        if "phase" not in result:
            rows.append(
                f"| {_label(run)} | {result.get('sessions', '–')} | {result.get('aborted', '–')} "
                f"| – | – | – | – | – | – | – | – | {_num(rate)} | – |"
            )
            continue
        phase = result["phase"]
        back = " / ".join(_num(s, 1) for s in result["back_after_s"])
        rows.append(
            f"| {_label(run)} | {result['sessions']} | {back} | "
            f"{'yes' if result['all_back_within_30s'] else 'NO'} | {result['reconnects']} "
            f"| {result['resumed_incomplete']} | {phase['loss']} | {phase['dups']} "
            f"| {_order(phase)} | {result['unacked_at_end']} "
            f"| {result['log_problems']} ({result.get('log_errors', '?')} errors) "
            f"| {_num(rate)} | {_ratio(rate, base_rate) if run['target'] == 'project' else '–'} |"
        )
    return rows


P99_TARGET_MS = 100.0


def targets(results: dict[str, Any]) -> list[dict[str, str]]:
    found = []

    def add(name: str, run: dict[str, Any], measured: str, met: bool | None) -> None:
        verdict = "n/a" if met is None else ("met" if met else "NOT met")
        found.append({"target": name, "run": _label(run), "measured": measured, "met": verdict})

    for run in results["runs"]:
        if run["target"] != "project":
            continue
        fanout = _scenario(run, "fanout")
        if fanout is not None and "aborted" in fanout and run["config"] == "2proc-redis":
            add(FANOUT_TARGET, run, f"aborted: {fanout['aborted']}", False)
        elif fanout is not None and run["config"] == "2proc-redis":
            p99 = fanout["latency_ms"]["p99"]
            in_order = not (
                fanout["dups"] or fanout["seq_violations"] or fanout["sender_order_violations"]
            )
            met = (
                fanout["asked_deliveries_per_s"] >= 20000
                and fanout["loss"] == 0
                and p99 is not None
                and p99 < 100
                and in_order
            )
            add(
                FANOUT_TARGET,
                run,
                f"{_num(fanout['achieved_deliveries_per_s'])}/s of "
                f"{_num(fanout['asked_deliveries_per_s'])}"
                f" asked, p99 {_num(p99, 1)} ms, loss {fanout['loss']}, dup {fanout['dups']}, "
                f"order {_order(fanout)}",
                met,
            )
        for name, label in (
            ("rooms", "rooms (500 msg/s): p99 < 100 ms, 0 loss, in order"),
            ("writeheavy", "writeheavy (2,000 msg/s saved): p99 < 100 ms, 0 loss, in order"),
            ("bigroom", "bigroom (1 × 2,000): p99 < 100 ms, 0 loss, in order"),
        ):
            got = _scenario(run, name)
            if got is None:
                continue
            if "latency_ms" not in got:
                add(label, run, f"aborted: {got.get('aborted')}", False)
                continue
            p99 = got["latency_ms"]["p99"]
            clean = not (got["dups"] or got["seq_violations"] or got["sender_order_violations"])
            add(
                label,
                run,
                f"{_num(got['achieved_deliveries_per_s'])}/s of "
                f"{_num(got['asked_deliveries_per_s'])}, p99 {_num(p99, 1)} ms, "
                f"loss {got['loss']}, dup {got['dups']}, order {_order(got)}",
                got["loss"] == 0 and p99 is not None and p99 < P99_TARGET_MS and clean,
            )
        rate, _ = _last_ok(_scenario(run, "saturation"))
        base_rate, _ = _last_ok(_scenario(_baseline(results, run["config"]), "saturation"))
        if rate is not None:
            ratio = rate / base_rate if base_rate else None
            add(
                "saturation ≥ 20× baseline",
                run,
                f"{_num(rate)} vs {_num(base_rate)} msg/s"
                + (f" = {ratio:.2f}×" if ratio is not None else ""),
                None if ratio is None else ratio >= 20,
            )
        idle = _scenario(run, "idle")
        if idle is not None and not idle["connect"]["connected"]:
            add("idle", run, "no connection succeeded", False)
        elif idle is not None:
            kib = idle["rss_kib_per_connection"]
            rate_c = idle["connect"]["connects_per_s"]
            add(
                "idle ≤ 30 KiB RSS/connection",
                run,
                f"{_num(kib, 1)} KiB over {idle['connect']['connected']} connections",
                None if kib is None else kib <= 30,
            )
            add("idle ≥ 1,000 connections/s", run, f"{_num(rate_c)}/s", rate_c >= 1000)
        light = _scenario(run, "light")
        if light is not None and "aborted" in light:
            add("light p50 < 5 ms", run, f"aborted: {light['aborted']}", False)
        elif light is not None:
            p50 = light["latency_ms"]["p50"]
            add(
                "light p50 < 5 ms",
                run,
                f"{_num(p50, 2)} ms, loss {light['loss']}",
                p50 is not None and p50 < 5 and light["loss"] == 0,
            )
    return found


def markdown(results: dict[str, Any]) -> str:
    host, gen = results["host"], results["generator"]
    lines = [
        f"## Bench {results['started']} ({results['mode']})",
        "",
        f"Host: {host['cpus']} CPUs, Python {host['python']}, load average "
        f"{host['load_average_at_start']} at start, {host.get('load_average_at_end', '?')} at end. "
        f"Generator: {gen['client']} + {gen['loop']}, {gen['processes']} process(es). "
        f"Git {results['git']['commit']}"
        + (
            f" with uncommitted changes in {', '.join(results['git']['server_files_changed'])}"
            if results["git"]["server_files_changed"]
            else ""
        )
        + f". Took {results.get('elapsed_s', '?')} s.",
        "",
        "### Targets",
        "",
        "| target | run | measured | |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {t['target']} | {t['run']} | {t['measured']} | {t['met']} |" for t in targets(results)
    ]
    titles = {
        "light": "light: 1 room × 10 clients, 1 sender × 10 msg/s (100 deliveries/s)",
        "fanout": "fanout: 1 room × 200 clients, 5 senders × 20 msg/s (20,000 deliveries/s)",
        "rooms": "rooms: 50 rooms × 10 clients, 2 senders/room × 5 msg/s (5,000 deliveries/s)",
        "writeheavy": "writeheavy: 100 rooms × 10 clients, 5 senders/room × 4 msg/s "
        "(2,000 msg/s saved, 20,000 deliveries/s)",
        "bigroom": "bigroom: 1 room × 2,000 clients, 1 sender × 5 msg/s (10,000 deliveries/s)",
    }
    for name, title in titles.items():
        table = traffic_table(results, name)
        if len(table) > 2:
            lines += ["", f"### {title}", "", *table]
    table = presence_table(results)
    if len(table) > 2:
        lines += ["", "Frames other than messages during the joins and warm-up:", "", *table]
    table = quiet_table(results)
    if len(table) > 2:
        lines += ["", "The servers with the clients connected and nothing sent:", "", *table]
    table = ceiling_table(results)
    if len(table) > 2:
        lines += [
            "",
            "### The database's own ceiling (bench/ceiling.py) and the project's share of it",
            "",
            *table,
        ]
    table = storm_table(results)
    if len(table) > 2:
        lines += ["", "### storm: rolling restart, everyone reconnects with ?after=", "", *table]
    table = allrooms_connect_table(results)
    if len(table) > 2:
        lines += [
            "",
            "### allrooms: one /ws/chat/ connection per user, each user in 20 rooms of 50 members",
            "",
            "Connect (all users, 32 handshakes in flight; CPU over the connect phase):",
            "",
            *table,
        ]
        traffic = traffic_table(results, "allrooms")
        if len(traffic) > 2:
            shape = next(
                r["scenarios"]["allrooms"]["shape"]
                for r in results["runs"]
                if "allrooms" in r["scenarios"]
            )
            total = shape["sending_rooms"] * shape["rate"]
            lines += [
                "",
                f"Fan-out: {shape['sending_rooms']} rooms with one sender each, "
                f"{_num(total)} msg/s in all ({_num(total * shape['members_per_room'])} "
                "deliveries/s asked):",
                "",
                *traffic,
            ]
    table = connect_queries_table(results)
    if len(table) > 2:
        lines += [
            "",
            "### SQL queries per all-rooms connect (bench/connect_queries.py)",
            "",
            *table,
        ]
    table = saturation_table(results)
    if len(table) > 2:
        lines += [
            "",
            "### saturation: 1 room × 100 clients, 10 senders, total rate stepped "
            "until p99 ≥ 100 ms or loss",
            "",
            *table,
        ]
    table = idle_table(results)
    if len(table) > 2:
        lines += ["", "### idle: connections held on one process", "", *table]
    profile = results.get("profile")
    if profile and profile.get("self"):
        lines += [
            "",
            f"### Profile: {profile['run']} {profile.get('scenario', 'fanout')}, "
            f"{profile['server']}, {profile['seconds']} s, "
            f"{profile['samples']} samples (py-spy, 100 Hz)",
            "",
            "| self % | function |",
            "|---:|---|",
        ]
        lines += [f"| {row['pct']} | `{row['name']}` |" for row in profile["self"][:12]]
        lines += ["", "| self % by package | |", "|---:|---|"]
        lines += [f"| {row['pct']} | {row['name']} |" for row in profile["self_by_package"]]
        if profile.get("threads"):
            lines += ["", "| % of samples by thread | |", "|---:|---|"]
            lines += [f"| {row['pct']} | {row['name']} |" for row in profile["threads"]]
    problems = [
        (run, run["server_log_problems"])
        for run in results["runs"]
        if run.get("server_log_problems", {}).get("count")
    ]
    if problems:
        lines += ["", "### Server log problems", ""]
        for run, found in problems:
            lines.append(f"- {_label(run)}: {found['count']} lines")
            lines += [f"  - {k['count']}× `{k['example'][:200]}`" for k in found["kinds"][:5]]
    skipped = [(run, run["skipped"]) for run in results["runs"] if run.get("skipped")]
    if skipped:
        lines += [
            "",
            "Skipped (time budget): "
            + "; ".join(f"{_label(r)}: {', '.join(s)}" for r, s in skipped),
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(json.loads(Path(sys.argv[1]).read_text())))

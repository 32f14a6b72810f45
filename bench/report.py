"""Render a run's results.json as markdown: a table per scenario, ratios, targets."""

from __future__ import annotations

import json
import math
import sys
from typing import Any


def _f(v: Any, nd: int = 1) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{nd}f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _ratio(a: Any, b: Any) -> float | None:
    if not a or not b:
        return None
    return round(a / b, 2)


def cpu_per_delivery(ladder: dict[str, Any] | None) -> float | None:
    """Median server µs per delivery over a ladder's lossless steps."""
    vals = sorted(s["server_us_per_delivery"] for s in (ladder or {}).get("steps", [])
                  if s.get("server_us_per_delivery") and s["loss"] == 0 and s["delivered"])
    return vals[len(vals) // 2] if vals else None


def client_cpu_per_delivery(ladder: dict[str, Any] | None) -> float | None:
    """Median load-client µs per delivery over a ladder's steps of >= 10,000 deliveries/s
    (below that the 10 ms resolution of /proc CPU times dominates)."""
    vals = sorted(s["client_us_per_delivery"] for s in (ladder or {}).get("steps", [])
                  if s.get("client_us_per_delivery") and (s.get("deliveries_per_s") or 0)
                  >= 10000)
    return vals[len(vals) // 2] if vals else None


def _step_row(name: str, s: dict[str, Any] | None, extra: str = "") -> str:
    if not s:
        return f"| {name} | - | - | - | - | - | - | - | - | - | - | - | {extra} |"
    lat = s["latency_ms"]
    return (f"| {name} | {_f(s['rate'], 1)} | {_f(s.get('deliveries_per_s'), 0)} | "
            f"{_f(lat['p50'], 2)} | {_f(lat['p99'], 2)} | {_f(lat['max'], 1)} | "
            f"{s['loss']} | {s['dups']} | {_f(s.get('server_us_per_delivery'))} | "
            f"{_f(s.get('client_us_per_delivery'))} | {_f(s.get('client_cpu_share'), 2)} | "
            f"{_f((s.get('ack_ms') or {}).get('p99'), 2)} | {extra} |")


HEAD = ("| run | msgs/s | deliveries/s | p50 ms | p99 ms | max ms | loss | dups | "
        "server µs/delivery | client µs/delivery | client cores | ack p99 ms | notes |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")


def render(results: dict[str, Any]) -> str:
    runs = results.get("runs", {})
    out = [f"# Colloquy bench ({results['config']['mode']} mode)", ""]
    m = results.get("machine", {})
    out.append(f"Machine: {m.get('cpu')} x {m.get('cpus')} cores, {m.get('mem_gib')} GiB; "
               f"Python {m.get('python')}; Redis {m.get('redis_server')}; Postgres "
               f"{m.get('postgres')}; server code at commit {m.get('commit')}; load average "
               f"at start {m.get('loadavg_at_start')}"
               + (f"; uncommitted outside bench/: {', '.join(m['uncommitted'])}"
                  if m.get("uncommitted") else "")
               + f". Wall time {results.get('wall_s')} s. "
               f"Command: `{results.get('command')}`")
    base = runs.get("baselines", {})
    pure = base.get("pure_asyncio", {})
    stock = base.get("stock_channels", {})
    fan_rows: list[tuple[str, dict[str, Any]]] = []
    for key, run in runs.items():
        if not key.startswith("colloquy-"):
            continue
        for name, val in run.items():
            if name.startswith("fanout") and isinstance(val, dict) and "steps" in val:
                server = val.get("server", "")
                fan_rows.append((f"{key} {name[7:]} ({server})", val))
    out += done_when(results)
    out += roundtable_section(runs)
    if fan_rows or pure or stock:
        out += fanout_section(fan_rows, pure, stock)
    out += rest(runs, base, pure)
    return "\n".join(out) + "\n"


def _verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("**met**" if ok else "**not met**")


def done_when(results: dict[str, Any]) -> list[str]:
    """One row per Done-when target of issue 5: measured, the baselines, met or not."""
    runs = results.get("runs", {})
    cfg = results.get("config", {})
    base = runs.get("baselines", {})
    pure, stock = base.get("pure_asyncio") or {}, base.get("stock_channels") or {}
    pure_d = (pure.get("held") or {}).get("deliveries_per_s")
    stock_step = stock.get("held") or stock.get("best_lossless_any_latency") or {}
    stock_d = stock_step.get("deliveries_per_s")
    stock_note = ("held at p99 ≤ 150 ms" if stock.get("held") else
                  f"best lossless at any p99, {_f(stock_step.get('latency_ms', {}).get('p99'), 0)}"
                  " ms" if stock_step else "not run")
    under_1s = [x for x in stock.get("steps", []) if x["loss"] == 0 and x["dups"] == 0
                and x["delivered"] and (x["latency_ms"].get("p99") or 1e9) <= 1000]
    best_1s = max(under_1s, key=lambda x: x.get("deliveries_per_s") or 0, default=None)
    if best_1s and not stock.get("held"):
        stock_note += (f"; at p99 ≤ 1 s, DESIGN.md's yardstick: "
                       f"{_f(best_1s.get('deliveries_per_s'), 0)} at {_f(best_1s['rate'])} msgs/s")
    out = ["", "## Done-when (issue 5)", "",
           f"Baselines: stock Channels {_f(stock_d, 0)} deliveries/s ({stock_note}); pure "
           f"asyncio {_f(pure_d, 0)} deliveries/s held at p99 ≤ 150 ms. The load client "
           f"costs {_f(client_cpu_per_delivery(pure))} µs of its own core per delivery "
           "(median over the pure asyncio ladder's steps), so it can take "
           f"{_f(1e6 / (client_cpu_per_delivery(pure) or 1e6), 0)} deliveries/s.", "",
           "| target | measured | vs baselines | verdict |", "|---|---|---|---|"]
    others = sorted(st["cpu"]["other_cores"] for r in runs.values() if isinstance(r, dict)
                    for v in r.values() if isinstance(v, dict)
                    for st in v.get("steps", []) if "other_cores" in st.get("cpu", {}))
    shares = [st.get("client_cpu_share") or 0 for r in runs.values() if isinstance(r, dict)
              for v in r.values() if isinstance(v, dict) for st in v.get("steps", [])]
    if shares:
        out[-3:-3] = ["", f"The load client's busiest fan-out step used {max(shares):.2f} of its "
                      "core" + (" (near saturation: that step may measure the client)"
                                if max(shares) > 0.8 else "") + "."]
    if others:
        cpus = results.get("machine", {}).get("cpus")
        out[-3:-3] = ["", f"Interference: during the fan-out steps everything else on the "
                      f"machine used {others[len(others) // 2]:g} of the {cpus} cores "
                      f"(median; max {others[-1]:g}); latency verdicts are only as good as "
                      "that allows, CPU per delivery is steadier."]
    colloquy = next((v for k, v in runs.items() if k == "colloquy-services"), None) or next(
        (v for k, v in runs.items() if k.startswith("colloquy-")), {})
    for codec in ("json", "msgpack", "questions"):
        val = colloquy.get(f"fanout_{codec}")
        if not isinstance(val, dict) or "steps" not in val:
            continue
        # question.ask into a round table (issue 14): the same targets as messages.
        what = ("question fan-out (question.ask) into a round table watched by 1,000"
                if codec == "questions" else f"fan-out 1,000 members, {codec}")
        held = val.get("held") or {}
        d = held.get("deliveries_per_s")
        r_stock, r_pure = _ratio(d, stock_d), _ratio(d, pure_d)
        lat = held.get("latency_ms") or {}
        unit = "questions/s" if codec == "questions" else "msgs/s"
        measured = (f"{_f(held.get('rate'))} {unit} = {_f(d, 0)} deliveries/s, p99 "
                    f"{_f(lat.get('p99'), 0)} ms, loss 0 ({val.get('server')})" if held else
                    f"nothing held (first failed at {_f(val.get('first_failed_rate'))} msgs/s)")
        ok = None if not (stock_d and pure_d) else (
            bool(held) and (r_stock or 0) >= 25 and (r_pure or 0) >= 0.5)
        out.append(f"| {what}: >= 25 x stock Channels, >= 0.5 x pure "
                   f"asyncio, p99 ≤ 150 ms, zero loss | {measured} | {_f(r_stock, 2)} x stock, "
                   f"{_f(r_pure, 2)} x pure | {_verdict(ok)} |")
    idle = colloquy.get("idle")
    if idle:
        n = cfg.get("idle_n", 0)
        ok = (idle["rss_per_connection_kib"] <= 40 and idle.get("still_open", 0) >= n
              and n >= 10000)
        pure_idle = (pure.get("idle") or {}).get("rss_per_connection_kib")
        out.append(f"| 10,000 idle connections in one process at ≤ 40 KiB RSS each | "
                   f"{idle['still_open']:,} of {n:,} open, "
                   f"{_f(idle['rss_per_connection_kib'], 1)} KiB each | pure asyncio "
                   f"{_f(pure_idle, 1)} KiB | "
                   f"{_verdict(ok) if n >= 10000 else 'short mode: ' + str(n) + ' sockets'} |")
    ps = colloquy.get("persist") or {}
    lv, dr = ps.get("live"), ps.get("drain")
    if lv or dr:
        rate = (dr or {}).get("drain_per_s")
        lag = (lv or {}).get("lag_ms") or {}
        ok = None if rate is None or lag.get("p99") is None else (
            rate >= 20000 and lag["p99"] < 1000)
        out.append(f"| persister keeps up with ≥ 20,000 msgs/s, lag < 1 s | drain "
                   f"{_f(rate, 0)} rows/s ({_f((dr or {}).get('backlog'), 0)} backlog); "
                   f"live lag ack→row p99 {_f(lag.get('p99'), 0)} ms, max "
                   f"{_f(lag.get('max'), 0)} ms at {_f((lv or {}).get('acks_per_s'), 0)} "
                   f"msgs/s (what the server could send) | - | {_verdict(ok)} |")
    ah = colloquy.get("ackhalf")
    if ah:
        s = ah["step"]
        a, pr = s["ack_ms"]["p99"], (s.get("probe_ack_ms") or {}).get("p99")
        ok = a is not None and pr is not None and a <= 20 and pr <= 20
        out.append(f"| ack p99 ≤ 20 ms with fan-out at half its max rate | sender "
                   f"{_f(a, 1)} ms, probe (other room) {_f(pr, 1)} ms at {_f(s['rate'])} "
                   f"msgs/s | - | {_verdict(ok)} |")
    return out


def roundtable_section(runs: dict[str, Any]) -> list[str]:
    """The round-table votes scenario (issue 14): rankings per viewer against their
    bound, final counts, loss, vote acks."""
    out: list[str] = []
    for key, run in runs.items():
        v = run.get("roundtable_votes") if isinstance(run, dict) else None
        if not v or "check" not in v:
            continue
        c, votes, verdicts = v["check"], v["votes"], v.get("verdicts", {})
        get, ack = v["watch"]["get_ms"], votes["ack_ms"]
        rate, span = v["ranking_per_second"], v["duration_s"]
        one = math.ceil(span * rate) + 1  # one process's periods, or one shared by all
        fresh = c["last_ranking_after_last_ack_ms"]

        def same(counts: dict[str, int], want: dict[str, int] = v["expected"]) -> str:
            return "=" if counts == want else "≠"

        out += ["", f"## Round tables (issue 14): {key}", "",
                f"{v['viewers']:,} sockets on {v['servers']} server process(es) (in turn) "
                f"open round table {v['roundtable']} (roundtable.get all at "
                f"once: p50 {_f(get['p50'], 0)} / p99 {_f(get['p99'], 0)} / max "
                f"{_f(get['max'], 0)} ms) and vote on its {len(v['questions'])} questions: "
                f"{votes['sent']:,} votes ({votes['distinct']:,} distinct, {votes['repeats']} "
                f"repeated) sent in {_f(votes['send_s'], 2)} s, the last acked "
                f"{_f(span, 2)} s after the first was sent.", "",
                "| measure | value | target | verdict |", "|---|---|---|---|",
                f"| question.votes per viewer | max {c['rankings_max']}, median "
                f"{c['rankings_median']}, min {c['rankings_min']} | ≤ {v['bound']} = "
                f"{v['processes_with_votes']} processes x (ceil({_f(span, 2)} s x "
                f"{_f(rate, 1)}/s) + 1) | {_verdict(verdicts.get('rankings_within_bound'))} |",
                f"| the same against one period for all processes | max {c['rankings_max']} | "
                f"≤ {one} = ceil(d x R) + 1 | "
                f"{'within' if (c['rankings_max'] or 0) <= one else 'over'} (informative) |",
                f"| final counts | roundtable.get {same(v['roundtable_get'])}"
                f" distinct votes per question; vote rows "
                f"{same(v['vote_rows'])}; last question.votes exact"
                f" at {c['viewers_last_exact']:,} of {c['viewers']:,} viewers | exact | "
                f"{_verdict(verdicts.get('final_counts_exact'))} |",
                f"| loss on the round table's stream | missing {c['missing']}, duplicated "
                f"{c['dups']}, out of order {c['out_of_order']}, viewers short of the head "
                f"{c['viewers_behind_head']} | 0 | {_verdict(verdicts.get('zero_loss'))} |",
                f"| vote ack | p50 {_f(ack['p50'], 1)} / p99 {_f(ack['p99'], 1)} / max "
                f"{_f(ack['max'], 1)} ms; errors {votes['errors'] or 0} | reported | - |",
                f"| votes sent within 5 s | {_f(votes['send_s'], 2)} s, all acked "
                f"({votes['acked']:,}) | ≤ 5 s | {_verdict(verdicts.get('votes_within_5s'))} |",
                f"| the last ranking after the last ack | p50 {_f(fresh['p50'], 0)} / max "
                f"{_f(fresh['max'], 0)} ms | reported | - |",
                "", f"Bound: {v['bound_formula']}. Per viewer: "
                f"{c['rankings_histogram']} (rankings: viewers)."]
    for key, run in runs.items():
        fq = run.get("fanout_questions") if isinstance(run, dict) else None
        if not fq or "steps" not in fq:
            continue
        held, after = fq.get("held") or {}, fq.get("get_after") or {}
        ack = (held.get("ack_ms") or {})
        out += ["", f"Question fan-out ({key}): question.ask from one socket into the round "
                f"table its {_f(fq['watch']['ok'], 0)} viewers opened held "
                f"{_f(held.get('rate'))} questions/s = {_f(held.get('deliveries_per_s'), 0)} "
                f"deliveries/s (p99 {_f((held.get('latency_ms') or {}).get('p99'), 0)} ms, the "
                f"asker's ack p50 {_f(ack.get('p50'), 1)} / p99 {_f(ack.get('p99'), 1)} ms); "
                f"first failed at {_f(fq.get('first_failed_rate'))}/s. Opening the round "
                f"table afterwards: {_f(after.get('questions'), 0)} questions, "
                f"{_f(after.get('bytes'), 0)} bytes, {_f(after.get('latency_ms'), 0)} ms."]
    return out


def fanout_section(fan_rows: list[tuple[str, dict[str, Any]]], pure: dict[str, Any],
                   stock: dict[str, Any]) -> list[str]:
    out = ["", "## Fan-out, 1,000 members, one sender (highest rate with p99 ≤ 150 ms and "
           "zero loss)", "", HEAD]
    for label, val in fan_rows:
        out.append(_step_row(label, val.get("held"),
                             f"first failed at {_f(val.get('first_failed_rate'))}/s; "
                             f"RSS {_f(val.get('rss_per_connection_kib'))} KiB/conn"))
    if pure:
        out.append(_step_row("pure asyncio", pure.get("held"),
                             f"first failed at {_f(pure.get('first_failed_rate'))}/s"))
    if stock:
        out.append(_step_row("stock Channels (p99 ≤ 150 ms)", stock.get("held"),
                             "none held" if not stock.get("held") else ""))
        out.append(_step_row("stock Channels (best lossless, any p99)",
                             stock.get("best_lossless_any_latency"),
                             f"first failed at {_f(stock.get('first_failed_rate'))}/s"))
    # Ratios.
    out += ["", "### Ratios (deliveries/s at the held rate)", "",
            "| Colloquy run | ÷ stock Channels (target ≥ 25) | ÷ pure asyncio (target ≥ 0.5) |",
            "|---|---:|---:|"]
    pure_d = (pure.get("held") or {}).get("deliveries_per_s")
    stock_best = stock.get("held") or stock.get("best_lossless_any_latency") or {}
    stock_d = stock_best.get("deliveries_per_s")
    for label, val in fan_rows:
        d = (val.get("held") or {}).get("deliveries_per_s")
        out.append(f"| {label} | {_f(_ratio(d, stock_d), 2)} | {_f(_ratio(d, pure_d), 2)} |")
    # CPU cost: robust when other work shares the machine (latency is not).
    out += ["", "### Server CPU per delivery (median over lossless steps) and the capacity it "
            "implies; the load client's own cost", "",
            "| run | server µs/delivery | deliveries per server core-second | "
            "vs stock Channels | vs pure asyncio | client µs/delivery |",
            "|---|---:|---:|---:|---:|---:|"]
    pure_us = cpu_per_delivery(pure)
    stock_us = cpu_per_delivery(stock)
    for label, val in [*fan_rows, ("pure asyncio", pure), ("stock Channels", stock)]:
        us = cpu_per_delivery(val)
        out.append(f"| {label} | {_f(us)} | {_f(1e6 / us if us else None, 0)} | "
                   f"{_f(_ratio(stock_us, us), 2)} | {_f(_ratio(pure_us, us), 2)} | "
                   f"{_f(client_cpu_per_delivery(val))} |")
    # All ladder steps.
    out += ["", "<details><summary>every fan-out step</summary>", "", HEAD]
    for label, val in [*fan_rows, ("pure", pure), ("stock", stock)]:
        for s in (val or {}).get("steps", []):
            closed = s.get("receivers_closed")
            out.append(_step_row(label, s, ("held" if s.get("held") else "failed")
                                 + (", run again" if s.get("repeated") else "")
                                 + (f", closed {closed}" if closed else "")))
    out += ["", "</details>"]
    return out


def rest(runs: dict[str, Any], base: dict[str, Any], pure: dict[str, Any]) -> list[str]:
    out: list[str] = []
    # Ack latency at half rate, resume, rooms, idle, persistence.
    for key, run in runs.items():
        if not key.startswith("colloquy-"):
            continue
        out += ["", f"## {key}", ""]
        ah = run.get("ackhalf")
        if ah:
            s = ah["step"]
            out += [f"**Ack latency at half the max fan-out rate** ({_f(s['rate'])} msgs/s): "
                    f"sender ack p50 {_f(s['ack_ms']['p50'], 2)} / p99 "
                    f"{_f(s['ack_ms']['p99'], 2)} / max {_f(s['ack_ms']['max'], 1)} ms; "
                    f"probe chat in another room p99 {_f(s['probe_ack_ms']['p99'], 2)} ms "
                    f"(target p99 ≤ 20 ms); delivery p99 {_f(s['latency_ms']['p99'], 2)} ms, "
                    f"loss {s['loss']}.", ""]
        resumes = run.get("resume") or {}
        if "clients" in resumes:  # older results: one storm, not nested
            resumes = {"storm": {**resumes, "concurrency": resumes["clients"]}}
        for rkey, rs in resumes.items():
            out += [f"**Resume ({rkey})**: {rs['clients']} clients reconnect, "
                    f"{rs['concurrency']} at a time, each "
                    f"resumes {rs['events_expected'] // max(1, rs['clients'])} missed "
                    f"messages: {rs['complete']} complete, loss {rs['loss']}, dups "
                    f"{rs['dups']}; hello p99 {_f(rs['hello_ms']['p99'])} ms; all missed "
                    f"events p50 {_f(rs['complete_ms']['p50'])} / p99 "
                    f"{_f(rs['complete_ms']['p99'])} / max {_f(rs['complete_ms']['max'])} ms "
                    f"after the storm began; server "
                    f"{_f(rs.get('server_us_per_delivery'))} µs per replayed event; errors "
                    f"{rs['errors']}.", ""]
        ro = run.get("rooms")
        if ro:
            out += ["**Many rooms** (100 rooms x 10 members, everyone chatting; msgs/s is "
                    "the total send rate):", "", HEAD]
            for s in ro["steps"]:
                out.append(_step_row("rooms", s, ("held" if s.get("held") else "failed")
                                     + (", run again" if s.get("repeated") else "")))
            out.append("")
        idle = run.get("idle")
        if idle:
            out += [f"**Idle**: {idle['connections']:,} connections on one process; "
                    f"{_f(idle['rss_per_connection_kib'], 1)} KiB RSS each (target ≤ 40); "
                    f"connect rate {_f(idle['connect']['per_s'])}/s (p99 "
                    f"{_f(idle['connect']['connect_ms']['p99'])} ms), "
                    f"{_f(idle['server_cpu_ms_per_connect'], 2)} ms server CPU per connect; "
                    f"holding them quietly costs {_f(idle.get('quiet_server_cores'), 3)} "
                    f"server core.",
                    ""]
        ps = run.get("persist")
        if ps:
            lv = ps.get("live")
            if lv:
                out += [f"**Persistence, live**: {lv['acked']:,} messages acked at "
                        f"{_f(lv['acks_per_s'], 0)}/s (ack p99 {_f(lv['ack_ms']['p99'], 1)} "
                        f"ms); rows at {_f(lv['persisted_per_s'], 0)}/s; lag ack→row p50 "
                        f"{_f(lv['lag_ms']['p50'], 0)} / p99 {_f(lv['lag_ms']['p99'], 0)} / "
                        f"max {_f(lv['lag_ms']['max'], 0)} ms (polled every 50 ms; target "
                        f"< 1 s); server {_f(lv['server_us_per_message'])} µs/message, "
                        f"persister {_f(lv['persister_us_per_message'])} µs/message.", ""]
            dr = ps.get("drain")
            if dr:
                out += [f"**Persistence, backlog drain**: {dr['drained']:,} of "
                        f"{dr['backlog']:,} rows at {_f(dr['drain_per_s'], 0)} rows/s once "
                        f"running ({_f(dr['drain_per_s_incl_startup'], 0)}/s including "
                        f"process start; target ≥ 20,000/s); persister "
                        f"{_f(dr['persister_us_per_message'])} µs/message.", ""]
        for name, val in run.items():
            if isinstance(val, dict) and val.get("error"):
                out.append(f"{name}: error {val['error']}")
        if run.get("error"):
            out.append(f"run error: {run['error']}")
        for name, err in (run.get("errors") or {}).items():
            out.append(f"{name} failed: {err[:300]}")
    if pure.get("idle"):
        i = pure["idle"]
        out += ["", f"Pure asyncio idle: {i['connections']:,} connections, "
                f"{_f(i['rss_per_connection_kib'], 1)} KiB RSS each, connect "
                f"{_f(i['connect']['per_s'])}/s."]
    for name in ("pure_asyncio", "stock_channels"):
        b = base.get(name)
        if b and b.get("rss_per_connection_kib") is not None:
            out.append(f"{name}: RSS {_f(b['rss_per_connection_kib'])} KiB per connection "
                       f"with 1,000 connected; connect {_f(b['connect']['per_s'])}/s.")
    if base.get("error"):
        out.append(f"baselines error: {base['error']}")
    return out


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        print(render(json.load(f)))

#!/usr/bin/env python3
"""Render the bench report from the raw results of bench/vm-bench.sh.

Writes OUTDIR/latest.json (the figures, each a ratio or a footprint
number, with spreads and goals), OUTDIR/latest.md (for a router owner) and
OUTDIR/latest.svg (the chart). Python standard library only.

Goals are reported as met or missed; nothing here fails on a figure. The
exit code is non-zero only when the raw results are missing altogether.
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
from html import escape

CASES = ["a_noruleset", "b_fw4", "c_fw4_global", "d_perzone"]
CASE_LABEL = {
    "a_noruleset": "(a) no ruleset",
    "b_fw4": "(b) fw4-like, no offload",
    "c_fw4_global": "(c) fw4 global offload",
    "d_perzone": "(d) nftoffload per zone",
}
SHORT = {"a_noruleset": "a", "b_fw4": "b", "c_fw4_global": "c", "d_perzone": "d"}


# --- reading ---------------------------------------------------------------------------
def read_kv(path):
    out = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                k, _, v = line.rstrip("\n").partition(" ")
                if k:
                    out[k] = v
    return out


def read_samples(raw, name, col=0):
    """Column `col` of a samples file (one sample per line, microseconds)."""
    p = os.path.join(raw, name + ".us")
    if not os.path.exists(p):
        return []
    vals = []
    with open(p) as f:
        for line in f:
            cells = line.split()
            try:
                vals.append(float(cells[col]))
            except (IndexError, ValueError):
                pass
    return vals


def read_datapath(raw):
    p = os.path.join(raw, "datapath.tsv")
    rows = []
    if not os.path.exists(p):
        return rows
    with open(p) as f:
        head = f.readline().rstrip("\n").split("\t")
        for line in f:
            cells = line.rstrip("\n").split("\t")
            if len(cells) != len(head):
                continue
            r = dict(zip(head, cells))
            for k in ("pps", "mbps", "softirq_pct", "seconds"):
                r[k] = float(r[k])
            r["rep"] = int(r["rep"])
            r["offloaded"] = r["offloaded"] == "1"
            try:
                r["slowpath_packets"] = int(r.get("slowpath_packets", ""))
            except ValueError:
                r["slowpath_packets"] = None
            rows.append(r)
    return rows


# --- statistics ------------------------------------------------------------------------
def pct(vals, p):
    """Nearest-rank percentile; None for no samples."""
    if not vals:
        return None
    s = sorted(vals)
    k = max(1, math.ceil(p / 100 * len(s)))
    return s[k - 1]


def med(vals):
    return statistics.median(vals) if vals else None


def ratio(a, b):
    if a is None or b in (None, 0):
        return None
    return a / b


def rnd(x, n=2):
    return None if x is None else round(x, n)


def fmt(x, n=2, unit=""):
    if x is None:
        return "n/a"
    if abs(x) >= 100 and n > 0:
        n = 0
    return f"{x:,.{n}f}{unit}"


def xf(x, n=2):
    return "n/a" if x is None else fmt(x, n) + "×"


def dist(vals_us, scale=1.0):
    """p50/p99/min/max/n of microsecond samples, divided by scale."""
    if not vals_us:
        return {"n": 0, "p50": None, "p99": None, "min": None, "max": None}
    v = [x / scale for x in vals_us]
    return {"n": len(v), "p50": pct(v, 50), "p99": pct(v, 99), "min": min(v), "max": max(v)}


# --- figures ---------------------------------------------------------------------------
def datapath_figures(rows):
    """Per case and protocol: median, spread, softirq; per-round ratios."""
    metric = {"udp": "pps", "tcp": "mbps"}
    cases = {}
    for c in CASES:
        for proto in ("udp", "tcp"):
            rs = [r for r in rows if r["case"] == c and r["proto"] == proto]
            vals = [r[metric[proto]] for r in rs]
            cases[f"{c}/{proto}"] = {
                "n": len(vals),
                "median": med(vals),
                "min": min(vals) if vals else None,
                "max": max(vals) if vals else None,
                "softirq_pct": med([r["softirq_pct"] for r in rs]),
                "offloaded_runs": sum(1 for r in rs if r["offloaded"]),
                "slowpath_packets": med([r["slowpath_packets"] for r in rs if r.get("slowpath_packets") is not None]),
                "values": vals,
            }

    def pair(num, den, proto):
        """Ratio of medians, and the spread of the per-round ratios."""
        m = ratio(cases[f"{num}/{proto}"]["median"], cases[f"{den}/{proto}"]["median"])
        per = []
        reps = sorted({r["rep"] for r in rows})
        for rep in reps:
            a = [r[metric[proto]] for r in rows if r["case"] == num and r["proto"] == proto and r["rep"] == rep]
            b = [r[metric[proto]] for r in rows if r["case"] == den and r["proto"] == proto and r["rep"] == rep]
            if a and b and b[0]:
                per.append(a[0] / b[0])
        return {
            "ratio": m,
            "min": min(per) if per else None,
            "max": max(per) if per else None,
            "rounds": per,
        }

    def cpu_per_unit(num, den, proto):
        """Router softirq time per packet (or per Mbit): den's over num's, per round."""
        per = []
        for rep in sorted({r["rep"] for r in rows}):
            a = [r for r in rows if r["case"] == num and r["proto"] == proto and r["rep"] == rep]
            b = [r for r in rows if r["case"] == den and r["proto"] == proto and r["rep"] == rep]
            if a and b and a[0][metric[proto]] and b[0][metric[proto]] and a[0]["softirq_pct"]:
                per.append((b[0]["softirq_pct"] / b[0][metric[proto]]) / (a[0]["softirq_pct"] / a[0][metric[proto]]))
        return {"ratio": med(per), "min": min(per) if per else None, "max": max(per) if per else None,
                "rounds": per}

    ratios = {}
    for proto in ("udp", "tcp"):
        ratios[f"softirq_per_unit_b/d/{proto}"] = cpu_per_unit("d_perzone", "b_fw4", proto)
    for num, den in (("d_perzone", "b_fw4"), ("d_perzone", "c_fw4_global"),
                     ("d_perzone", "a_noruleset"), ("c_fw4_global", "b_fw4")):
        for proto in ("udp", "tcp"):
            ratios[f"{SHORT[num]}/{SHORT[den]}/{proto}"] = pair(num, den, proto)
    return cases, ratios


GOALS = {
    "udp_pps_offload_vs_slowpath": (">=", 2.5, "×"),
    "tcp_offload_vs_slowpath": (">=", 2.0, "×"),
    "perzone_vs_global": (">=", 0.98, "×"),
    "toggle_vs_nft_f": (">=", 10.0, "×"),
    "status50k_vs_conntrack_cli": (">=", 5.0, "×"),
    "rss_kib": ("<", 1024, " KiB"),
    "idle_wakeups_10s": ("<=", 0, ""),
    "aarch64_binary_kib": ("<", 700, " KiB"),
}


def goal_met(key, value):
    if key not in GOALS or value is None:
        return None
    op, g, _ = GOALS[key]
    if isinstance(value, dict):
        vals = [v for v in value.values() if v is not None]
        if not vals:
            return None
        value = min(vals)
    return {">=": value >= g, "<": value < g, "<=": value <= g}[op]


def goal_text(key):
    op, g, unit = GOALS[key]
    return f"{op.replace('>=', '≥').replace('<=', '≤')} {g:g}{unit}"


def compute(raw, sizes_path):
    meta = read_kv(os.path.join(raw, "meta.txt"))
    foot = read_kv(os.path.join(raw, "footprint.txt"))
    rows = read_datapath(raw)
    cases, ratios = datapath_figures(rows)

    toggle = dist(read_samples(raw, "toggle"))
    toggle_apply = dist(read_samples(raw, "toggle", 1))
    nftf = dist(read_samples(raw, "nftf"))
    toggle_cli = dist(read_samples(raw, "toggle_cli"), 1000)
    hotplug = dist(read_samples(raw, "hotplug"), 1000)
    selfheal = dist(read_samples(raw, "selfheal"), 1000)

    levels = sorted({int(f.split("_")[1].split(".")[0]) for f in os.listdir(raw)
                     if f.startswith("status_") and f.endswith(".us") and not f.startswith("status_cli")}) \
        if os.path.isdir(raw) else []
    obs = {}
    for n in levels:
        st = dist(read_samples(raw, f"status_{n}"), 1000)
        cli = dist(read_samples(raw, f"status_cli_{n}"), 1000)
        ct = dist(read_samples(raw, f"conntrack_{n}"), 1000)
        cc = dist(read_samples(raw, f"ctcount_{n}"), 1000)
        obs[str(n)] = {
            "status_ms": st,
            "status_cli_ms": cli,
            "conntrack_cli_ms": ct,
            "ctcount_ms": cc,
            "ratio": ratio(ct["p50"], st["p50"]),
            "ratio_cli": ratio(ct["p50"], cli["p50"]),
            "tracked": foot.get(f"tracked_{n}"),
        }

    sizes = {}
    size_notes = {}
    if sizes_path and os.path.exists(sizes_path):
        with open(sizes_path) as f:
            for line in f:
                parts = line.split(None, 2)
                if len(parts) >= 2 and parts[1].isdigit():
                    sizes[parts[0]] = int(parts[1])
                elif len(parts) >= 2:
                    size_notes[parts[0]] = line.split(None, 1)[1].lstrip("- ").strip()

    def kib(t):
        return rnd(sizes[t] / 1024, 1) if t in sizes else None

    def intval(k):
        try:
            return int(foot[k])
        except (KeyError, ValueError):
            return None

    r = ratios
    figures = {
        "udp_pps_offload_vs_slowpath": rnd(r["d/b/udp"]["ratio"]),
        "tcp_offload_vs_slowpath": rnd(r["d/b/tcp"]["ratio"]),
        "perzone_vs_global": {"udp": rnd(r["d/c/udp"]["ratio"], 3), "tcp": rnd(r["d/c/tcp"]["ratio"], 3)},
        "perzone_vs_noruleset": {"udp": rnd(r["d/a/udp"]["ratio"]), "tcp": rnd(r["d/a/tcp"]["ratio"])},
        "softirq_per_packet_slowpath_vs_offload": {"udp": rnd(r["softirq_per_unit_b/d/udp"]["ratio"]),
                                                   "tcp": rnd(r["softirq_per_unit_b/d/tcp"]["ratio"])},
        "toggle_vs_nft_f": rnd(ratio(nftf["p50"], toggle["p50"])),
        "toggle_p50_us": rnd(toggle["p50"], 0),
        "hotplug_p50_ms": rnd(hotplug["p50"], 1),
        "selfheal_p50_ms": rnd(selfheal["p50"], 1),
        "status50k_vs_conntrack_cli": rnd(obs.get("50000", {}).get("ratio")),
        "status_p50_ms": {k: rnd(obs.get(k, {}).get("status_ms", {}).get("p50"), 1)
                          for k in ("1000", "10000", "50000")},
        "rss_kib": intval("rss_kib"),
        "idle_wakeups_10s": intval("wakeups_idle"),
        "x86_64_binary_kib": kib("x86_64"),
        "aarch64_binary_kib": kib("aarch64"),
        "armv7_binary_kib": kib("armv7"),
    }
    goals = {k: {"goal": goal_text(k), "met": goal_met(k, figures[k])} for k in GOALS}
    detail = {
        "datapath": {k: {kk: (rnd(vv, 2) if isinstance(vv, float) else vv) for kk, vv in v.items()}
                     for k, v in cases.items()},
        "datapath_ratios": {k: {"ratio": rnd(v["ratio"], 3), "min": rnd(v["min"], 3), "max": rnd(v["max"], 3),
                                "rounds": [round(x, 3) for x in v["rounds"]]} for k, v in ratios.items()},
        "toggle_us": {k: rnd(v, 0) for k, v in toggle.items()},
        "toggle_apply_us": {k: rnd(v, 0) for k, v in toggle_apply.items()},
        "nft_f_us": {k: rnd(v, 0) for k, v in nftf.items()},
        "toggle_cli_ms": {k: rnd(v, 1) for k, v in toggle_cli.items()},
        "hotplug_ms": {k: rnd(v, 1) for k, v in hotplug.items()},
        "selfheal_ms": {k: rnd(v, 1) for k, v in selfheal.items()},
        "observation": {n: {"status_ms": {k: rnd(v, 1) for k, v in o["status_ms"].items()},
                            "status_cli_ms": {k: rnd(v, 1) for k, v in o["status_cli_ms"].items()},
                            "conntrack_cli_ms": {k: rnd(v, 1) for k, v in o["conntrack_cli_ms"].items()},
                            "ctcount_ms": {k: rnd(v, 1) for k, v in o["ctcount_ms"].items()},
                            "ratio": rnd(o["ratio"]), "ratio_cli": rnd(o["ratio_cli"]),
                            "tracked": o["tracked"]} for n, o in obs.items()},
        "footprint": {k: intval(k) for k in ("rss_kib", "rss_after_status_kib", "hwm_kib", "idle_secs",
                                             "wakeups_voluntary", "wakeups_nonvoluntary")},
        "sizes_bytes": sizes,
        "sizes_notes": size_notes,
    }
    return meta, figures, goals, detail


# --- SVG chart -------------------------------------------------------------------------------
def svg_chart(figures, detail, title):
    W, H = 1000, 410
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
           'font-family="sans-serif" font-size="11">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{W / 2}" y="18" text-anchor="middle" font-size="14" font-weight="bold">{escape(title)}</text>']
    colors = {"a_noruleset": "#9e9e9e", "b_fw4": "#e57373", "c_fw4_global": "#64b5f6", "d_perzone": "#2e7d32"}

    # panel 1: data path relative to (b)
    x0, y0, pw, ph = 50, 60, 320, 250
    out.append(f'<text x="{x0 + pw / 2}" y="{y0 - 22}" text-anchor="middle" font-weight="bold">'
               'Data path, relative to (b) fw4 without offload</text>')
    dp = detail["datapath"]
    vals = []
    for proto in ("udp", "tcp"):
        base = dp[f"b_fw4/{proto}"]["median"]
        for c in CASES:
            d = dp[f"{c}/{proto}"]
            if base and d["median"] is not None:
                vals.append((proto, c, d["median"] / base, d["min"] / base, d["max"] / base))
    ymax = max([v[4] for v in vals] + [3.0])
    ymax = math.ceil(ymax * 2) / 2

    def ypos(v):
        return y0 + ph - v / ymax * ph
    for t in [i * 0.5 for i in range(int(ymax / 0.5) + 1)]:
        out.append(f'<line x1="{x0}" x2="{x0 + pw}" y1="{ypos(t):.1f}" y2="{ypos(t):.1f}" stroke="#eee"/>')
        out.append(f'<text x="{x0 - 4}" y="{ypos(t) + 4:.1f}" text-anchor="end">{t:g}×</text>')
    out.append(f'<line x1="{x0}" x2="{x0 + pw}" y1="{ypos(1):.1f}" y2="{ypos(1):.1f}" stroke="#e57373" stroke-dasharray="4 3"/>')
    gw = pw / 2
    bw = gw / 6
    for gi, proto in enumerate(("udp", "tcp")):
        label = "UDP 64 B packets/s" if proto == "udp" else "TCP throughput"
        out.append(f'<text x="{x0 + gi * gw + gw / 2}" y="{y0 + ph + 16}" text-anchor="middle">{label}</text>')
        for ci, c in enumerate(CASES):
            v = [x for x in vals if x[0] == proto and x[1] == c]
            if not v:
                continue
            _, _, m, lo, hi = v[0]
            bx = x0 + gi * gw + bw * (ci + 1)
            out.append(f'<rect x="{bx:.1f}" y="{ypos(m):.1f}" width="{bw * 0.85:.1f}" height="{ypos(0) - ypos(m):.1f}" '
                       f'fill="{colors[c]}"><title>{escape(CASE_LABEL[c])}: {m:.2f}×</title></rect>')
            cx = bx + bw * 0.425
            out.append(f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{ypos(lo):.1f}" y2="{ypos(hi):.1f}" stroke="black"/>')
            out.append(f'<text x="{cx:.1f}" y="{ypos(hi) - 3:.1f}" text-anchor="middle" font-size="9">{m:.2f}</text>')
    for ci, c in enumerate(CASES):
        lx = x0 + (ci % 2) * 165
        ly = y0 + ph + 32 + (ci // 2) * 14
        out.append(f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" fill="{colors[c]}"/>'
                   f'<text x="{lx + 14}" y="{ly}">{escape(CASE_LABEL[c])}</text>')

    # panel 2: control path (log scale, ms)
    x0, pw = 440, 220
    out.append(f'<text x="{x0 + pw / 2}" y="{y0 - 22}" text-anchor="middle" font-weight="bold">'
               'Control path, p50 and p99 (ms, log)</text>')
    items = [
        ("ubus set (toggle)", detail["toggle_us"], 1000, "#2e7d32"),
        ("nft -f same objects", detail["nft_f_us"], 1000, "#e57373"),
        ("nftoffload set (CLI)", detail["toggle_cli_ms"], 1, "#81c784"),
        ("hotplug → flowtable", detail["hotplug_ms"], 1, "#2e7d32"),
        ("flush → restored", detail["selfheal_ms"], 1, "#2e7d32"),
    ]
    allv = [d[k] / s for _, d, s, _ in items for k in ("p50", "p99") if d.get(k)]
    lo = 10 ** math.floor(math.log10(min(allv))) if allv else 1
    if allv and min(allv) / lo < 2:
        lo /= 10
    hi = 10 ** math.ceil(math.log10(max(allv))) if allv else 1000
    if hi <= lo:
        hi = lo * 10

    def xpos(v):
        return x0 + (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * pw
    d = lo
    while d <= hi * 1.001:
        out.append(f'<line x1="{xpos(d):.1f}" x2="{xpos(d):.1f}" y1="{y0}" y2="{y0 + ph}" stroke="#eee"/>')
        out.append(f'<text x="{xpos(d):.1f}" y="{y0 + ph + 14}" text-anchor="middle">{d:g}</text>')
        d *= 10
    rh = ph / len(items)
    for i, (name, dd, s, col) in enumerate(items):
        y = y0 + i * rh + rh * 0.3
        out.append(f'<text x="{x0 + 2}" y="{y - 4:.1f}" font-size="10">{escape(name)}</text>')
        if dd.get("p50"):
            p50, p99 = dd["p50"] / s, (dd.get("p99") or dd["p50"]) / s
            out.append(f'<rect x="{x0}" y="{y:.1f}" width="{xpos(p50) - x0:.1f}" height="{rh * 0.35:.1f}" fill="{col}">'
                       f'<title>{escape(name)}: p50 {p50:.1f} ms, p99 {p99:.1f} ms</title></rect>')
            out.append(f'<line x1="{xpos(p99):.1f}" x2="{xpos(p99):.1f}" y1="{y - 2:.1f}" y2="{y + rh * 0.35 + 2:.1f}" stroke="black" stroke-width="2"/>')
            out.append(f'<text x="{xpos(p99) + 4:.1f}" y="{y + rh * 0.3:.1f}" font-size="9">p50 {p50:.0f}</text>')
    out.append(f'<text x="{x0 + pw / 2}" y="{y0 + ph + 30}" text-anchor="middle" font-size="10">bar = p50, tick = p99</text>')

    # panel 3: status vs conntrack -L, log-log
    x0, pw = 730, 210
    out.append(f'<text x="{x0 + pw / 2}" y="{y0 - 22}" text-anchor="middle" font-weight="bold">'
               'Offload count: time vs table size (ms, p50)</text>')
    obs = detail["observation"]
    ns = sorted(int(n) for n in obs if int(n) > 0)  # log scale: the empty table is in the table only
    series = [("ubus status (in-process)", "status_ms", "#2e7d32"),
              ("nftoffload status (CLI)", "status_cli_ms", "#81c784"),
              ("conntrack -L | grep -c", "conntrack_cli_ms", "#e57373")]
    vals = [obs[str(n)][k]["p50"] for n in ns for _, k, _ in series if obs[str(n)][k]["p50"]]
    if ns and vals:
        ylo = 10 ** math.floor(math.log10(min(vals)))
        yhi = 10 ** math.ceil(math.log10(max(vals)))
        if yhi <= ylo:
            yhi = ylo * 10
        xlo, xhi = math.log10(min(ns)) - 0.15, math.log10(max(ns)) + 0.15
        if xhi - xlo < 0.5:
            xlo, xhi = xlo - 0.5, xhi + 0.5

        def px(n):
            return x0 + (math.log10(n) - xlo) / (xhi - xlo) * pw

        def py(v):
            return y0 + ph - (math.log10(v) - math.log10(ylo)) / (math.log10(yhi) - math.log10(ylo)) * ph
        t = ylo
        while t <= yhi * 1.001:
            out.append(f'<line x1="{x0}" x2="{x0 + pw}" y1="{py(t):.1f}" y2="{py(t):.1f}" stroke="#eee"/>')
            out.append(f'<text x="{x0 - 4}" y="{py(t) + 4:.1f}" text-anchor="end">{t:g}</text>')
            t *= 10
        for n in ns:
            out.append(f'<text x="{px(n):.1f}" y="{y0 + ph + 14}" text-anchor="middle">{n // 1000}k</text>')
        for si, (name, k, col) in enumerate(series):
            pts = [(px(n), py(obs[str(n)][k]["p50"])) for n in ns if obs[str(n)][k]["p50"]]
            if len(pts) > 1:
                out.append('<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>'.format(
                    col, " ".join(f"{a:.1f},{b:.1f}" for a, b in pts)))
            for a, b in pts:
                out.append(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3" fill="{col}"/>')
            ly = y0 + ph + 42 + si * 14
            out.append(f'<rect x="{x0 - 30}" y="{ly - 9}" width="10" height="10" fill="{col}"/>'
                       f'<text x="{x0 - 16}" y="{ly}">{escape(name)}</text>')
        out.append(f'<text x="{x0 + pw / 2}" y="{y0 + ph + 26}" text-anchor="middle" font-size="10">'
                   'conntrack entries</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


# --- Markdown --------------------------------------------------------------------------------
def git(*args):
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def markdown(meta, figures, goals, detail, mode, vm, errors, analysis):
    L = []
    date = meta.get("date", "?")
    L.append("# nft-offload benchmark")
    L.append("")
    if mode != "full":
        L.append(f"**{mode} run: one short repetition, to prove the bench runs. Its figures are not meaningful.**")
        L.append("")
    commit = meta.get("commit") or git("rev-parse", "--short", "HEAD") or "?"
    c, _, note = commit.partition(" ")
    L.append(f"Run of {date} (UTC), commit `{c}`{' ' + note if note else ''}.")
    L.append(f"Kernel {meta.get('kernel', '?')} (Debian), in QEMU {vm.get('qemu', '')} **TCG** "
             f"(software emulation, `-accel tcg -cpu max`, {meta.get('cpus', '?')} vCPUs, "
             f"{meta.get('mem_mib', '?')} MiB), on a shared host with no KVM. "
             f"{meta.get('nft', '')}, {meta.get('iperf3', '')}, {meta.get('conntrack', '')}.")
    if meta.get("host_load_before"):
        L.append(f"Host: {meta.get('host_cpus', '?')} cores shared with other jobs; load average "
                 f"{meta['host_load_before']} before the VM ran, {meta.get('host_load_after', '?')} after.")
    L.append(f"Binary under test: `{os.path.basename(meta.get('nftoffload', '?').split(' ')[0])}` "
             f"({meta.get('nftoffload_file', '?')}).")
    L.append("")
    L.append("**Why only ratios count.** Under TCG every instruction is emulated and the host is shared, "
             "so an absolute figure (packets/s, milliseconds) says more about the emulator and the host's load "
             "than about a router. Each figure below is therefore a ratio between two setups measured in the "
             "same boot, interleaved round by round, so that both see the same slowdown.")
    L.append("")
    if errors:
        L.append("**Steps that could not run:** " + "; ".join(errors))
        L.append("")

    # summary
    L.append("## Summary")
    L.append("")
    L.append("| figure | this run | goal | |")
    L.append("|---|---|---|---|")

    def row(name, key, val):
        g = goals.get(key)
        mark = "" if not g or g["met"] is None else ("met" if g["met"] else "**missed**")
        L.append(f"| {name} | {val} | {g['goal'] if g else ''} | {mark} |")
    r = detail["datapath_ratios"]

    def rr(k, n=2):
        v = r[k]
        if v["ratio"] is None:
            return "n/a"
        return f"{v['ratio']:.{n}f}× ({v['min']:.{n}f}–{v['max']:.{n}f})" if v["min"] is not None else f"{v['ratio']:.{n}f}×"
    row("UDP 64 B packets/s, per zone (d) vs no offload (b)", "udp_pps_offload_vs_slowpath", rr("d/b/udp"))
    row("TCP throughput, per zone (d) vs no offload (b)", "tcp_offload_vs_slowpath", rr("d/b/tcp"))
    row("per zone (d) vs fw4 global offload (c), UDP / TCP", "perzone_vs_global",
        f"{rr('d/c/udp', 3)} / {rr('d/c/tcp', 3)}")
    row("per zone (d) vs no ruleset at all (a), UDP / TCP", "perzone_vs_noruleset",
        f"{rr('d/a/udp')} / {rr('d/a/tcp')}")
    row("router softirq time per packet / per Mbit, (b) over (d), UDP / TCP", "",
        f"{rr('softirq_per_unit_b/d/udp')} / {rr('softirq_per_unit_b/d/tcp')}")
    row("zone toggle: `nft -f` time / ubus `set` time (p50)", "toggle_vs_nft_f",
        xf(figures['toggle_vs_nft_f']))
    row("offload count at 50k entries: `conntrack -L \\| grep -c` / ubus `status` (p50)",
        "status50k_vs_conntrack_cli", xf(figures['status50k_vs_conntrack_cli']))
    row("daemon idle RSS (static musl)", "rss_kib", fmt(figures["rss_kib"], 0, " KiB"))
    row(f"daemon wakeups in {detail['footprint'].get('idle_secs') or '?'} s idle", "idle_wakeups_10s",
        fmt(figures["idle_wakeups_10s"], 0))
    for t in ("x86_64", "aarch64", "armv7"):
        v = figures[f"{t}_binary_kib"]
        note = detail["sizes_notes"].get(t)
        row(f"stripped static binary, {t}", f"{t}_binary_kib",
            fmt(v, 0, " KiB") if v is not None else f"n/a{' (' + note + ')' if note else ''}")
    L.append("")
    L.append("Ratios: median of the rounds' values, then (lowest–highest) of the per-round ratios "
             "(the softirq-per-packet row: median of the per-round ratios). "
             "“missed” is information for the developers, not a test result.")
    L.append("")

    # data path
    L.append("## 1. Data path: forwarding through the router")
    L.append("")
    L.append("Three network namespaces joined by veth pairs: a client (pinned to CPU0 with `taskset`), the router, "
             "a server (CPU1). The router carries a fw4-like `table inet fw4` whose forward chain has 200 rules "
             "(port, subnet and interface rules that this traffic never matches, then "
             "`ct state established,related accept` near the end, then the zone accepts), so every packet that is "
             "not offloaded walks all of them. GSO, TSO and GRO are off on every veth. "
             f"Each run sends for {meta.get('secs', '?')} s measured (after {meta.get('warm', '?')} s of warm-up) with iperf3: UDP with 64-byte "
             "payloads at full speed (`-u -l 64 -b 0`), and TCP. The rate is what the router sent out of its wan "
             "port; the softirq share is the router's whole-machine `/proc/stat` softirq time over the window. "
             f"{meta.get('reps', '?')} rounds, the four setups interleaved in each.")
    L.append("")
    L.append("| setup | UDP packets/s: median (min–max) | TCP Mbit/s: median (min–max) | softirq % UDP / TCP "
             "| flow offloaded | packets through fw4's chain per run, UDP / TCP |")
    L.append("|---|---|---|---|---|---|")
    dp = detail["datapath"]
    for c in CASES:
        u, t = dp[f"{c}/udp"], dp[f"{c}/tcp"]
        off = f"{u['offloaded_runs']}/{u['n']} UDP, {t['offloaded_runs']}/{t['n']} TCP"
        L.append(f"| {CASE_LABEL[c]} | {fmt(u['median'], 0)} ({fmt(u['min'], 0)}–{fmt(u['max'], 0)}) | "
                 f"{fmt(t['median'], 1)} ({fmt(t['min'], 1)}–{fmt(t['max'], 1)}) | "
                 f"{fmt(u['softirq_pct'], 0)} / {fmt(t['softirq_pct'], 0)} | {off} | "
                 f"{'–' if c == 'a_noruleset' else fmt(u['slowpath_packets'], 0) + ' / ' + fmt(t['slowpath_packets'], 0)} |")
    L.append("")
    L.append("(c) is what OpenWrt offers today: `flow_offloading=1` puts every zone device in one flowtable and "
             "`meta l4proto { tcp, udp } flow offload @ft` first in fw4's forward chain (loaded with `nft -f`, as fw4 "
             "does). (d) is nftoffload with lan and wan in `software` and guest `off`: its own table, its chain after "
             "fw4's, so only what fw4 accepted is offloaded. “flow offloaded” counts the runs whose flow showed "
             "`[OFFLOAD]` in `conntrack -L` mid-transfer; the last column counts the packets that still walked fw4's "
             "forward chain (its final rules carry counters), whole run, median: a handful when the flow is offloaded.")
    L.append("")

    # control path
    L.append("## 2. Control path: changing a zone, and keeping it")
    L.append("")
    tg, nf, tc = detail["toggle_us"], detail["nft_f_us"], detail["toggle_cli_ms"]
    hp, sh = detail["hotplug_ms"], detail["selfheal_ms"]
    L.append("| operation | samples | p50 | p99 | min–max |")
    L.append("|---|---|---|---|---|")

    def drow(name, d, unit, s=1.0):
        if not d.get("n"):
            L.append(f"| {name} | 0 | n/a | n/a | n/a |")
            return
        L.append(f"| {name} | {d['n']} | {fmt(d['p50'] / s, 1)} {unit} | {fmt(d['p99'] / s, 1)} {unit} | "
                 f"{fmt(d['min'] / s, 1)}–{fmt(d['max'] / s, 1)} {unit} |")
    drow("guest on/off through ubus `set` (call → kernel committed → reply)", tg, "ms", 1000)
    drow("… of which the daemon's apply (plan, kernel read-back, batch; its `last_apply.duration_us`)",
         detail["toggle_apply_us"], "ms", 1000)
    drow("`nft -f` of the same table (one process per load, as fw4 runs it)", nf, "ms", 1000)
    drow("`nftoffload set guest …` from the shell (process + ubus)", tc, "ms")
    drow("zone device deleted and created again → back in the flowtable", hp, "ms")
    drow("every table deleted (as `nft flush ruleset` does) → nftoffload's table restored", sh, "ms")
    L.append("")
    L.append("The toggle is timed inside the VM by a small client (`examples/bench_ctl.rs`) that calls "
             "`nftoffload set` through ubusd and, outside the timing, reads the flowtable back to check that the "
             "kernel changed. The daemon replies only after the kernel committed the batch, and its reply carries "
             "the zone's new status. `nft -f` loads the objects the daemon created (listed by `nft list table`, "
             "under another table name) while the daemon is paused; both alternate in blocks. Hotplug and "
             "self-heal are timed from the kernel's acknowledgement of the deletion (done in-process), and include the "
             "daemon's 100 ms debounce, which folds bursts of events into one change.")
    L.append("")

    # observation
    L.append("## 3. Observation: counting offloaded connections")
    L.append("")
    L.append("The router's conntrack table is filled with established TCP entries (ctnetlink, in batches). "
             "`status` counts offloaded entries by asking the kernel for the offloaded ones only; the usual "
             "shell alternative prints the whole table and greps it.")
    L.append("")
    L.append("| entries | ubus `status` p50 | … of which counting in the kernel | `nftoffload status` (CLI) p50 "
             "| `conntrack -L \\| grep -c OFFLOAD` p50 | ratio (ubus / CLI) |")
    L.append("|---|---|---|---|---|---|")
    for n in sorted(detail["observation"], key=int):
        o = detail["observation"][n]
        L.append(f"| {int(n):,} | {fmt(o['status_ms']['p50'], 1)} ms | {fmt(o['ctcount_ms']['p50'], 1)} ms | "
                 f"{fmt(o['status_cli_ms']['p50'], 1)} ms | "
                 f"{fmt(o['conntrack_cli_ms']['p50'], 1)} ms | {xf(o['ratio'], 1)} / {xf(o['ratio_cli'], 1)} |")
    L.append("")
    L.append("“ubus status” is the round trip LuCI and rpcd see (a client already running); “counting in the "
             "kernel” is the same count done in-process with the library, without ubus or the rest of the status; "
             "the CLI column adds a process start, as `conntrack -L` has one too.")
    L.append("")

    # footprint
    L.append("## 4. Footprint")
    L.append("")
    fp = detail["footprint"]
    L.append(f"- Resident memory of the idle daemon: **{fmt(fp.get('rss_kib'), 0, ' KiB')}**; after the "
             f"50k-entry status calls {fmt(fp.get('rss_after_status_kib'), 0, ' KiB')} (peak "
             f"{fmt(fp.get('hwm_kib'), 0, ' KiB')}).")
    L.append(f"- Wakeups while idle for {fp.get('idle_secs') or '?'} s (voluntary + involuntary context switches): "
             f"**{fmt(figures['idle_wakeups_10s'], 0)}** ({fmt(fp.get('wakeups_voluntary'), 0)} + "
             f"{fmt(fp.get('wakeups_nonvoluntary'), 0)}).")
    sz = detail["sizes_bytes"]
    parts = []
    for t in ("x86_64", "aarch64", "armv7"):
        if t in sz:
            parts.append(f"{t} {sz[t] / 1024:,.0f} KiB")
        else:
            parts.append(f"{t} n/a ({detail['sizes_notes'].get(t, 'not built')})")
    L.append("- Stripped static binary (release profile: opt-level z, LTO, panic=abort): " + ", ".join(parts) + ".")
    L.append("")

    missed = [k for k, g in goals.items() if g["met"] is False]
    L.append("## Goals missed")
    L.append("")
    if not missed:
        L.append("None in this run.")
    else:
        for k in missed:
            L.append(f"- `{k}`: {json.dumps(figures[k])}, goal {goals[k]['goal']}.")
    L.append("")
    if analysis:
        L.append(analysis.rstrip())
        L.append("")
    L.append("---")
    L.append("Regenerate with `make bench` (about 30 minutes); the raw samples are in `target/bench-out/full/bench/`. "
             "`make bench-smoke` runs one short repetition only to prove that the bench still works.")
    return "\n".join(L) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--sizes")
    ap.add_argument("--mode", default="full")
    ap.add_argument("--vm-env")
    ap.add_argument("--host")
    ap.add_argument("--outdir", required=True)
    a = ap.parse_args()
    if not os.path.exists(os.path.join(a.raw, "meta.txt")):
        print(f"render: no results in {a.raw}", file=sys.stderr)
        return 1
    meta, figures, goals, detail = compute(a.raw, a.sizes)
    if a.host:
        meta.update(read_kv(a.host))
    errors = []
    ep = os.path.join(a.raw, "errors.txt")
    if os.path.exists(ep):
        errors = [line.strip() for line in open(ep) if line.strip()]
    vm = {}
    try:
        q = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True).stdout
        vm["qemu"] = q.split("version")[1].split()[0] if "version" in q else ""
    except OSError:
        pass
    analysis = ""
    ap_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "analysis.md")
    if a.mode == "full" and os.path.exists(ap_path):
        analysis = open(ap_path).read()
    os.makedirs(a.outdir, exist_ok=True)
    doc = {
        "meta": {"date": meta.get("date"), "commit": meta.get("commit"), "kernel": meta.get("kernel"), "qemu": f"TCG {vm.get('qemu', '')}".strip(),
                 "vcpus": meta.get("cpus"), "mode": a.mode, "reps": meta.get("reps"),
                 "binary": meta.get("nftoffload_file"), "errors": errors,
                 "host_load_before": meta.get("host_load_before"), "host_load_after": meta.get("host_load_after"),
                 "note": "every figure is a ratio measured in the same run, or a footprint number; "
                         "absolute times under TCG mean nothing"},
        **figures,
        "goals": goals,
        "detail": detail,
    }
    with open(os.path.join(a.outdir, "latest.json"), "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    title = f"nft-offload bench, {meta.get('date', '?')[:10]}, kernel {meta.get('kernel', '?')}, QEMU TCG"
    with open(os.path.join(a.outdir, "latest.svg"), "w") as f:
        f.write(svg_chart(figures, detail, title))
    md = markdown(meta, figures, goals, detail, a.mode, vm, errors, analysis)
    md = md.replace("## Summary", "![chart](latest.svg)\n\n"
                    "Chart: left, each setup's median relative to (b)'s median, whiskers from its slowest to its "
                    "fastest run; middle, control-path latencies (bar p50, tick p99, log scale); right, the time to "
                    "count offloaded connections as the conntrack table grows (log-log).\n\n## Summary", 1)
    with open(os.path.join(a.outdir, "latest.md"), "w") as f:
        f.write(md)
    print(json.dumps({k: figures[k] for k in figures}, indent=None))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Draws a GORT_TRACE timeline (Chrome trace-event JSON) as an SVG picture.

    GORT_TRACE=/tmp/trace.json GORT_MAXPROCS=2 ./prog
    python3 tools/trace_svg.py /tmp/trace.json -o trace.svg [--from MS --to MS]
                               [--width PX] [--no-threads] [--no-flows]

The picture follows Perfetto's main view: a time axis (ms or µs since the
trace's first event), the "runnable" counter as a step chart, one track
per P ("gort <pid> processors"), then one per runtime thread, sysmon or
foreign thread ("gort <pid> threads") that has something in the window.
Each stretch a goroutine ran is a box coloured by its goroutine id (an id
gets the same colour in every picture), labelled "g<id> <entry function>"
where it is wide enough, with a black mark at its end if the goroutine
exited there. Instants are small triangles (block, unblock, create,
netpoll, retake, gort_call), the process's exit a dashed line, and the
create/unblock flows between two thread tracks are arrows. A legend at
the bottom names the goroutines and the marks drawn. --from/--to crop a
window (ms since the first event); --width is the picture's width in
pixels (default 1200). Python 3 standard library only.
"""
import argparse
import colorsys
import json
import math
import re
import sys
from xml.sax.saxutils import escape

# Instants drawn, by the start of their name, and their colours.
MARKS = [("block", "#d62728"), ("unblock", "#2ca02c"), ("create", "#1f77b4"),
         ("netpoll", "#9467bd"), ("retake", "#ff7f0e"), ("gort_call", "#7f7f7f")]
FONT = "font-family='Helvetica,Arial,sans-serif'"
LABEL_W, TRACK_H, COUNTER_H, GROUP_H, AXIS_H, CHAR_W = 160, 26, 18, 20, 48, 6.8


def colour(goid):
    """A stable colour per goroutine id: hues a golden angle apart, so
    neighbouring ids differ, and three lightness levels."""
    r, g, b = colorsys.hls_to_rgb((goid * 0.618034) % 1, (0.42, 0.55, 0.68)[goid % 3], 0.62)
    return "#%02x%02x%02x" % (int(r * 255), int(g * 255), int(b * 255))


def text_on(fill):
    r, g, b = (int(fill[i:i + 2], 16) for i in (1, 3, 5))
    return "#000" if 0.299 * r + 0.587 * g + 0.114 * b > 150 else "#fff"


def nice_step(span, n=8):
    """A 1/2/5 x 10^k step giving about n ticks over span."""
    raw = span / n
    k = 10 ** math.floor(math.log10(raw))
    return next(m * k for m in (1, 2, 5, 10) if m * k >= raw)


def fmt_time(us, step, ms):
    """Label for `us` microseconds on an axis of `step`, in ms if `ms`."""
    unit, v, s = ("ms", us / 1000, step / 1000) if ms else ("µs", us, step)
    dec = max(0, -math.floor(math.log10(s) + 1e-9))
    return f"{v:.{dec}f} {unit}"


def load(path):
    with open(path) as f:
        evs = json.load(f)["traceEvents"]
    procs, names, sort = {}, {}, {}
    for e in evs:
        if e.get("ph") != "M":
            continue
        if e["name"] == "process_name":
            procs[e["pid"]] = e["args"]["name"]
        elif e["name"] == "thread_name":
            names[(e["pid"], e["tid"])] = e["args"]["name"]
        elif e["name"] == "thread_sort_index":
            sort[(e["pid"], e["tid"])] = e["args"]["sort_index"]
    return evs, procs, names, sort


def main():
    ap = argparse.ArgumentParser(description="Draws a GORT_TRACE file as an SVG timeline.")
    ap.add_argument("trace")
    ap.add_argument("-o", "--output", default="-", metavar="SVG", help="SVG file (default: stdout)")
    ap.add_argument("--from", dest="t_from", type=float, metavar="MS", help="window start, ms since the first event")
    ap.add_argument("--to", dest="t_to", type=float, metavar="MS", help="window end, ms since the first event")
    ap.add_argument("--width", type=int, default=1200, metavar="PX", help="picture width in pixels")
    ap.add_argument("--no-threads", action="store_true", help="only the P tracks")
    ap.add_argument("--no-flows", action="store_true", help="no create/unblock arrows")
    a = ap.parse_args()

    evs, procs, names, sort = load(a.trace)
    timed = [e for e in evs if "ts" in e]
    if not timed:
        sys.exit("trace_svg: no timed events in " + a.trace)
    t0 = min(e["ts"] for e in timed)
    t_end = max(e["ts"] + e.get("dur", 0) for e in timed)
    lo = t0 + 1000 * (a.t_from or 0)
    hi = t0 + 1000 * a.t_to if a.t_to is not None else t_end
    if hi <= lo:
        sys.exit("trace_svg: empty window")
    plot_w = a.width - LABEL_W - 10
    x = lambda ts: LABEL_W + (ts - lo) / (hi - lo) * plot_w
    inside = lambda e: e["ts"] + e.get("dur", 0) >= lo and e["ts"] <= hi

    p_pid = next((p for p, n in procs.items() if n.endswith("processors")), 1)
    m_pid = next((p for p, n in procs.items() if n.endswith("threads")), 2)
    used = {(e.get("pid"), e.get("tid")) for e in timed if inside(e)}
    groups = [(p_pid, procs.get(p_pid, "processors"),
               sorted((k for k in names if k[0] == p_pid), key=lambda k: sort.get(k, k[1])))]
    if not a.no_threads:
        groups.append((m_pid, procs.get(m_pid, "threads"),
                       sorted((k for k in names if k[0] == m_pid and k in used),
                              key=lambda k: sort.get(k, k[1]))))
    samples = sorted((e["ts"], e["args"]["goroutines"]) for e in evs
                     if e.get("ph") == "C" and e.get("name") == "runnable")
    before = [s for s in samples if s[0] < lo][-1:]
    samples = before + [s for s in samples if lo <= s[0] <= hi]
    # Rows: y of every track and group header; the counter first.
    y, row, headers, counter_y = AXIS_H + 6, {}, [], None
    for pid, title, tracks in groups:
        headers.append((y, pid, title))
        y += GROUP_H
        if pid == p_pid and samples:
            counter_y = y
            y += COUNTER_H
        for k in tracks:
            row[k] = y
            y += TRACK_H
        y += 6
    legend_y = y + 14

    out = ["<svg>", "<rect/>",  # set at the end, when the height is known
           "<defs><marker id='arrow' markerWidth='6' markerHeight='6' refX='5' refY='3' orient='auto'>"
           "<path d='M0,0 L6,3 L0,6 z' fill='#666'/></marker></defs>",
           f"<clipPath id='plot'><rect x='{LABEL_W}' y='0' width='{plot_w}' height='{legend_y}'/></clipPath>"]
    # Time axis and grid.
    step = nice_step((hi - lo))
    ms = step >= 100 or hi - t0 >= 1000
    tick = (lo - t0) // step * step + t0
    while tick <= hi:
        tx, lab = x(tick), fmt_time(tick - t0, step, ms)
        if tick >= lo:
            out.append(f"<line x1='{tx:.1f}' y1='{AXIS_H - 6}' x2='{tx:.1f}' y2='{legend_y - 12}' stroke='#e4e4e4'/>")
        if tick >= lo and tx + 3 + CHAR_W * len(lab) < a.width:
            out.append(f"<text x='{tx + 3:.1f}' y='{AXIS_H - 10}' fill='#555'>{escape(lab)}</text>")
        tick += step
    out.append(f"<line x1='{LABEL_W}' y1='{AXIS_H - 6}' x2='{LABEL_W + plot_w}' y2='{AXIS_H - 6}' stroke='#999'/>")
    title = f"{a.trace.split('/')[-1]}: {fmt_time(lo - t0, step, ms)} to {fmt_time(hi - t0, step, ms)}"
    out.append(f"<text x='6' y='16' font-weight='bold' fill='#333'>{escape(title)}</text>")
    for hy, pid, t in headers:
        out.append(f"<rect x='0' y='{hy}' width='{a.width}' height='{GROUP_H - 2}' fill='#f0f0f3'/>")
        out.append(f"<text x='6' y='{hy + 13}' font-weight='bold' fill='#333'>{escape(t)}</text>")
    for k, ry in row.items():
        out.append(f"<text x='14' y='{ry + 16}' fill='#222'>{escape(names[k])}</text>")
        out.append(f"<line x1='0' y1='{ry + TRACK_H - 0.5}' x2='{a.width}' y2='{ry + TRACK_H - 0.5}' stroke='#eee'/>")

    body = ["<g clip-path='url(#plot)'>"]
    # The runnable counter: a filled step chart on its own track.
    if counter_y is not None:
        top = max(v for _, v in samples) or 1
        base = counter_y + COUNTER_H - 2
        pts = [f"{x(samples[0][0]):.1f},{base}"]
        for i, (ts, v) in enumerate(samples):
            nxt = samples[i + 1][0] if i + 1 < len(samples) else hi
            vy = base - (COUNTER_H - 5) * v / top
            pts += [f"{x(ts):.1f},{vy:.1f}", f"{x(nxt):.1f},{vy:.1f}"]
        pts.append(f"{x(hi):.1f},{base}")
        body.append(f"<polygon points='{' '.join(pts)}' fill='#c9cbe6' stroke='#7a7fb8' stroke-width='0.8'/>")
        out.append(f"<text x='14' y='{counter_y + 13}' fill='#555'>runnable (0-{top})</text>")
    # Goroutine slices.
    seen, labels, exits = {}, [], []
    slices = [dict(e, dur=e.get("dur", 0)) for e in timed if e.get("ph") == "X"]
    for k in row:
        last = -1.0
        for e in sorted((e for e in slices if (e["pid"], e["tid"]) == k and inside(e)), key=lambda e: e["ts"]):
            x1, x2 = max(x(e["ts"]), LABEL_W), min(x(e["ts"] + e["dur"]), LABEL_W + plot_w)
            if e.get("args", {}).get("end") == "exit" and e["ts"] + e["dur"] <= hi:
                exits.append(f"<path d='M{x2 - 3:.1f},{row[k] + TRACK_H - 1} h6 l-3,-5 z' fill='#222'/>")
            if x2 - x1 < 1 and x1 < last + 1:
                continue  # many tiny slices in one pixel: draw the first
            last = x2
            m = re.match(r"G(\d+) ?(.*)", e["name"])
            goid = int(m.group(1)) if m else e.get("args", {}).get("goroutine", 0)
            fn = m.group(2) if m else ""
            fill = colour(goid)
            seen.setdefault(goid, fn)
            w = max(x2 - x1, 1.2)
            ry = row[k] + 2
            body.append(f"<rect x='{x1:.1f}' y='{ry}' width='{w:.1f}' height='{TRACK_H - 5}' fill='{fill}'/>")
            label = f"g{goid} {fn}".strip()
            room = int((w - 6) / CHAR_W)
            if room < len(f"g{goid}"):
                continue
            if len(label) > room:
                label = label[:room - 1] + "…" if room > len(f"g{goid}") + 2 else f"g{goid}"
            labels.append(f"<text x='{x1 + 3:.1f}' y='{ry + 14}' fill='{text_on(fill)}'>{escape(label)}</text>")
    # Flows: a thin curve from where a goroutine was created or unblocked
    # on one thread to the start of its next slice on another.
    flows = 0
    if not a.no_flows:
        starts = {e["id"]: e for e in evs if e.get("ph") == "s"}
        for f in evs:
            s = starts.get(f.get("id")) if f.get("ph") == "f" else None
            ends = s and ((s["pid"], s["tid"]), (f["pid"], f["tid"]))
            if not s or ends[0] not in row or ends[1] not in row or f["ts"] < lo or s["ts"] > hi:
                continue
            x1, y1 = x(s["ts"]), row[ends[0]] + TRACK_H / 2
            x2, y2 = x(f["ts"]), row[ends[1]] + TRACK_H / 2
            if y1 == y2:
                continue  # on one track: the next slice says it
            body.append(f"<path d='M{x1:.1f},{y1:.1f} C{x1 + 8:.1f},{y1:.1f} {x2 - 8:.1f},{y2:.1f} {x2:.1f},{y2:.1f}' "
                        f"fill='none' stroke='#666' stroke-opacity='0.6' stroke-width='0.8' marker-end='url(#arrow)'/>")
            flows += 1
    # Instants: a small triangle at the top of the track; the exit: a line.
    marked = set()
    for e in timed:
        if e.get("ph") != "i" or not inside(e):
            continue
        ix = x(e["ts"])
        if e.get("s") == "g":
            body.append(f"<line x1='{ix:.1f}' y1='{AXIS_H - 6}' x2='{ix:.1f}' y2='{legend_y - 12}' "
                        f"stroke='#d62728' stroke-dasharray='4 3'/>")
            body.append(f"<text x='{ix - 3:.1f}' y='{AXIS_H + 6}' text-anchor='end' "
                        f"fill='#d62728'>{escape(e['name'])}</text>")
            continue
        k = (e.get("pid"), e.get("tid"))
        kind = next((m for m in MARKS if e["name"].startswith(m[0])), None)
        if k in row and kind and (k, kind[0], round(ix)) not in marked:  # one per pixel
            marked.add((k, kind[0], round(ix)))
            body.append(f"<path d='M{ix - 3:.1f},{row[k] + 1} h6 l-3,5 z' fill='{kind[1]}'/>")
    out += body + labels + exits + ["</g>"]
    # Legend: (width, drawing at 0,0) per item, wrapped at the picture's width.
    items = [(72, "<text fill='#555'>goroutines:</text>")] if seen else []
    items += [(22 + CHAR_W * len(f"g{g} {fn}".strip()), f"<rect y='-9' width='10' height='10' fill='{colour(g)}'/>"
               f"<text x='13' fill='#333'>{escape(f'g{g} {fn}'.strip())}</text>") for g, fn in sorted(seen.items())]
    items.append((10, ""))
    items += [(18 + CHAR_W * len(m), f"<path d='M0,-8 h8 l-4,7 z' fill='{c}'/><text x='11' fill='#333'>{m}</text>")
              for m, c in MARKS if any(k == m for _, k, _ in marked)]
    if exits:
        items.append((104, "<path d='M0,0 h8 l-4,-7 z' fill='#222'/><text x='11' fill='#333'>goroutine exit</text>"))
    if flows:
        items.append((170, "<path d='M0,-3 h14' stroke='#666' marker-end='url(#arrow)'/>"
                      "<text x='19' fill='#333'>woke or created (flow)</text>"))
    lx = 6
    for w, item in items:
        if lx + w > a.width and lx > 6:
            lx, legend_y = 6, legend_y + 18
        out.append(f"<g transform='translate({lx:.0f},{legend_y})'>{item}</g>")
        lx += w
    height = legend_y + 14
    out[0] = (f"<svg xmlns='http://www.w3.org/2000/svg' width='{a.width}' height='{height}' "
              f"viewBox='0 0 {a.width} {height}' {FONT} font-size='12'>")
    out[1] = f"<rect width='{a.width}' height='{height}' fill='#fff'/>"
    out.append("</svg>\n")
    with sys.stdout if a.output == "-" else open(a.output, "w", encoding="utf-8") as f:
        f.write("\n".join(out))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Checks a GORT_TRACE file with an independent parser (Python's json).

    timeline_check.py TRACE [--slice FN]... [--block REASON]... [--flows]
                      [--foreign] [--netpoll] [--end exit|fatal] [--pid PID]

Always checked: the file is one JSON object with a traceEvents list; the
two processes are named "gort <pid> processors" and "gort <pid> threads";
there is a P track ("P<n>") and an M track ("M<n> (thread <tid>)"); every
goroutine slice ("X", named "G<id> <function>") has a timestamp and a
duration >= 0, and slices on one track do not overlap; the counters
"runnable" and "live" were sampled; every flow end ("f") has its start
("s"). Options add: a slice for a goroutine whose entry function is FN on
a P track and an M track (--slice), a "block (REASON)" instant (--block),
"create" and "unblock" flows (--flows), a gort_call slice on a foreign
thread's track (--foreign), a netpoll instant (--netpoll), the instant
that marks the end of the process (--end). Then tools/trace_svg.py draws
the trace, and the picture must parse as XML. Exits 0 if all hold, else
prints what failed and exits 1.
"""
import json
import os
import re
import subprocess
import sys
import xml.dom.minidom
from collections import defaultdict


def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__)
        return 2
    path = args.pop(0)
    want_slices, want_blocks = [], []
    flows = foreign = netpoll = False
    end = None
    pid = None
    while args:
        a = args.pop(0)
        if a == "--slice":
            want_slices.append(args.pop(0))
        elif a == "--block":
            want_blocks.append(args.pop(0))
        elif a == "--flows":
            flows = True
        elif a == "--foreign":
            foreign = True
        elif a == "--netpoll":
            netpoll = True
        elif a == "--end":
            end = args.pop(0)
        elif a == "--pid":
            pid = int(args.pop(0))
        else:
            print("timeline_check: unknown argument", a)
            return 2

    errors = []

    def check(cond, what):
        if not cond:
            errors.append(what)

    with open(path) as f:
        text = f.read()
    try:
        doc = json.loads(text)
    except ValueError as e:
        print("timeline_check: %s is not valid JSON: %s (%d bytes; ends with %r)" % (path, e, len(text), text[-80:]))
        return 1
    evs = doc.get("traceEvents") if isinstance(doc, dict) else None
    if not isinstance(evs, list):
        print("timeline_check: no traceEvents list")
        return 1

    procs = {}
    threads = {}
    for e in evs:
        if e.get("ph") == "M" and e.get("name") == "process_name":
            procs[e["pid"]] = e["args"]["name"]
        if e.get("ph") == "M" and e.get("name") == "thread_name":
            threads[(e["pid"], e["tid"])] = e["args"]["name"]
    names = sorted(procs.values())
    tag = "gort %d " % pid if pid is not None else "gort "
    check(any(n.startswith(tag) and n.endswith("processors") for n in names), "process 'gort <pid> processors' named: %s" % names)
    check(any(n.startswith(tag) and n.endswith("threads") for n in names), "process 'gort <pid> threads' named: %s" % names)
    ptracks = {k for k, v in threads.items() if re.fullmatch(r"P\d+", v)}
    mtracks = {k for k, v in threads.items() if re.fullmatch(r"M\d+ \(thread \d+\)", v)}
    check(ptracks, "a track named 'P<n>': %s" % sorted(threads.values()))
    check(mtracks, "a track named 'M<n> (thread <tid>)': %s" % sorted(threads.values()))

    slices = [e for e in evs if e.get("ph") == "X"]
    per_track = defaultdict(list)
    for s in slices:
        ok = isinstance(s.get("ts"), (int, float)) and isinstance(s.get("dur"), (int, float)) and s["dur"] >= 0
        check(ok, "slice with ts and dur >= 0: %r" % s)
        check(re.fullmatch(r"G\d+ .+", s.get("name", "")) is not None, "slice named 'G<id> <function>': %r" % s.get("name"))
        check((s["pid"], s["tid"]) in threads, "slice on a named track: %r" % s)
        if ok:
            per_track[(s["pid"], s["tid"])].append((s["ts"], s["ts"] + s["dur"], s["name"]))
    for track, ss in per_track.items():
        ss.sort()
        for a, b in zip(ss, ss[1:]):
            # Rounding to nanoseconds may make neighbours touch.
            check(b[0] >= a[1] - 0.002, "slices on %s overlap: %r and %r" % (threads.get(track), a, b))
    for fn in want_slices:
        on_p = [s for s in slices if s["name"].endswith(" " + fn) and (s["pid"], s["tid"]) in ptracks]
        on_m = [s for s in slices if s["name"].endswith(" " + fn) and (s["pid"], s["tid"]) in mtracks]
        check(on_p, "a slice of a goroutine running %s on a P track" % fn)
        check(on_m, "a slice of a goroutine running %s on an M track" % fn)

    instants = [e for e in evs if e.get("ph") == "i"]
    inames = {e["name"] for e in instants}
    for r in want_blocks:
        check("block (%s)" % r in inames, "a 'block (%s)' instant; blocks seen: %s" % (r, sorted(n for n in inames if n.startswith("block"))))
    creates = [e for e in instants if e["name"].startswith("create G")]
    check(creates, "'create G<id> <function>' instants")

    counters = defaultdict(list)
    for e in evs:
        if e.get("ph") == "C":
            counters[e["name"]].append(e["args"]["goroutines"])
    check(counters.get("runnable"), "'runnable' counter samples")
    check(counters.get("live") and max(counters["live"]) >= 1, "'live' counter samples, some >= 1")

    starts = {}
    ends = []
    for e in evs:
        if e.get("ph") == "s":
            starts[e["id"]] = e
        elif e.get("ph") == "f":
            ends.append(e)
    for e in ends:
        s = starts.get(e["id"])
        check(s is not None, "flow end has its start: %r" % e)
        if s is not None:
            check(s["name"] == e["name"], "flow names match: %r %r" % (s, e))
            check(e["ts"] >= s["ts"] - 0.002, "flow goes forward in time: %r %r" % (s, e))
    if flows:
        kinds = {e["name"] for e in ends}
        check("create" in kinds, "a 'create' flow that reaches the created goroutine")
        check("unblock" in kinds, "an 'unblock' flow that reaches the readied goroutine")
    if foreign:
        ftracks = {k for k, v in threads.items() if v.startswith("foreign thread ")}
        check(any((s["pid"], s["tid"]) in ftracks for s in slices), "a gort_call slice on a foreign thread's track")
        check(any(n.startswith("gort_call G") for n in inames), "a 'gort_call G<id> ...' instant")
    if netpoll:
        check(any(re.fullmatch(r"netpoll: \d+ ready", n) for n in inames), "a 'netpoll: N ready' instant")
    if end is not None:
        want = {"exit": "exit", "fatal": "exit (status 2)"}[end]
        check(any(e["name"] == want and e.get("s") == "g" for e in instants), "a global '%s' instant" % want)

    # The picture of the README's GORT_TRACE section is drawn by this tool.
    tool = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "trace_svg.py")
    r = subprocess.run([sys.executable, tool, path, "-o", path + ".svg"], capture_output=True, text=True)
    try:
        ok, why = r.returncode == 0 and xml.dom.minidom.parse(path + ".svg") is not None, r.stderr[-400:]
    except Exception as e:  # not XML
        ok, why = False, e
    check(ok, "tools/trace_svg.py draws the trace as an SVG that parses: %s" % why)

    if errors:
        print("timeline_check: %s: %d problem(s):" % (path, len(errors)))
        for e in errors[:20]:
            print("  -", e)
        return 1
    print("timeline_check: %s: ok (%d events, %d slices, %d tracks)" % (path, len(evs), len(slices), len(threads)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

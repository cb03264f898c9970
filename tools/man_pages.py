#!/usr/bin/env python3
"""Writes gort's man pages from the doc comments of include/runtime.h.

    tools/man_pages.py [--header include/runtime.h] [--readme README.md] --out build/man
    tools/man_pages.py [--header include/runtime.h] --list

The header is the one source of truth for the API: every page's synopsis
and description is its declarations and doc comments, rendered as they
are. This script adds only what the header has no place for: how the
functions are grouped into pages (PAGES below, with a one-line summary
for each page's NAME, and NOTES), and gort(7), the overview, which takes
its text from the README's introduction, its rules for C programmers,
its error model, its section on exiting and its environment table, and
lists every page.

Output: man3/<page>.3 for each page, man3/<name>.3 holding `.so` to its
page for every other function of a family, and man7/gort.7. A function
missing from PAGES still gets a page of its own. --list prints the files
it would write (relative to --out), one a line, for make install and
make uninstall.

Sections of a function page: NAME, SYNOPSIS, DESCRIPTION (the doc
comments, whole); RETURN VALUE and ERRORS / PANICS, the sentences of
those doc comments that say what a function returns and how it fails
(errno, panics, fatal errors), with a short line for a function whose
comment says nothing of the kind; THREAD SAFETY, from NOTES below (a
line or two per family), or for a family NOTES does not know, the
sentences about threads and goroutines; SAFETY where a doc comment has a
"# Safety" part (the caller's obligations); SEE ALSO from the gort
functions and types the text names. NOTES may also add a line to RETURN
VALUE or ERRORS / PANICS where the doc comments leave a case out.
"""
import argparse
import errno
import os
import re
import sys

# (page, summary, functions, types, macros): one page per function or
# family; the first function names the page.
PAGES = [
    ("gort_go", "start, yield and end goroutines",
     ["gort_go", "gort_gosched", "gort_goexit", "gort_goid"], ["gort_func"], []),
    ("gort_chan_new", "make, retain and release channels",
     ["gort_chan_new", "gort_chan_retain", "gort_chan_release"], ["gort_chan"], []),
    ("gort_chan_send", "send, receive and close on a channel",
     ["gort_chan_send", "gort_chan_recv", "gort_chan_try_send", "gort_chan_try_recv",
      "gort_chan_close", "gort_chan_len", "gort_chan_cap"], [], []),
    ("gort_after", "a channel that receives the time after a delay", ["gort_after"], [], []),
    ("gort_timer_new", "timers and tickers that stop and reset (Go 1.23's)",
     ["gort_timer_new", "gort_ticker_new", "gort_timer_chan", "gort_timer_stop", "gort_timer_reset",
      "gort_timer_free"], ["gort_timer"], []),
    ("gort_context_with_cancel", "contexts: cancellation trees with deadlines",
     ["gort_context_with_cancel", "gort_context_with_deadline", "gort_context_background",
      "gort_context_cancel", "gort_context_done", "gort_context_err", "gort_context_retain",
      "gort_context_release"], ["gort_context"], []),
    ("gort_select", "wait for one of several channel operations",
     ["gort_select"], ["gort_select_case"], ["GORT_RECV", "GORT_SEND"]),
    ("gort_sleep", "pause a goroutine; the monotonic clock", ["gort_sleep", "gort_nanotime"], [], []),
    ("gort_read", "read, write, accept and connect without holding a thread",
     ["gort_read", "gort_write", "gort_accept", "gort_connect"], [], []),
    ("gort_fd_wait", "wait for a file descriptor to be ready; close one in use",
     ["gort_fd_wait", "gort_fd_ready", "gort_fd_close"], [], ["GORT_POLL_IN", "GORT_POLL_OUT"]),
    ("gort_mutex_lock", "mutual exclusion locks",
     ["gort_mutex_lock", "gort_mutex_trylock", "gort_mutex_unlock"], ["gort_mutex"],
     ["GORT_MUTEX_INIT"]),
    ("gort_rwmutex_lock", "reader/writer locks",
     ["gort_rwmutex_lock", "gort_rwmutex_unlock", "gort_rwmutex_rlock", "gort_rwmutex_runlock"],
     ["gort_rwmutex"], ["GORT_RWMUTEX_INIT"]),
    ("gort_cond_wait", "condition variables",
     ["gort_cond_wait", "gort_cond_signal", "gort_cond_broadcast"], ["gort_cond"], ["GORT_COND_INIT"]),
    ("gort_wg_add", "wait for a collection of goroutines",
     ["gort_wg_add", "gort_wg_done", "gort_wg_wait"], ["gort_waitgroup"], ["GORT_WAITGROUP_INIT"]),
    ("gort_once_do", "run a function exactly once", ["gort_once_do"], ["gort_once"],
     ["GORT_ONCE_INIT"]),
    ("gort_handle_new", "integer handles that stand for pointers",
     ["gort_handle_new", "gort_handle_value", "gort_handle_delete", "gort_handle_lookup"],
     ["gort_handle"], []),
    ("gort_panic", "panic, defer and recover", ["gort_panic", "gort_defer", "gort_recover"], [], []),
    ("gort_pcall", "call a function, recovering a panic", ["gort_pcall"], [], []),
    ("gort_call", "run a callback as a goroutine on the calling thread", ["gort_call"], [], []),
    ("gort_main", "program mode: run main as a goroutine", ["gort_main"], ["gort_main_func"], []),
    ("gort_init_register", "init functions in library mode",
     ["gort_init_register", "gort_init_done"], [], ["GORT_INIT", "GORT_ELATE"]),
    ("gort_lock_os_thread", "wire a goroutine to its thread",
     ["gort_lock_os_thread", "gort_unlock_os_thread"], [], []),
    ("gort_blocking_enter", "announce a blocking C call",
     ["gort_blocking_enter", "gort_blocking_exit"], [], []),
    ("gort_gomaxprocs", "processors running goroutines; the goroutine count",
     ["gort_gomaxprocs", "gort_num_goroutine"], [], []),
    ("gort_read_stats", "the runtime's counters", ["gort_read_stats"], ["gort_stats"], []),
    ("gort_stack", "a dump of goroutines' stacks", ["gort_stack"], [], []),
    ("gort_trace_start", "record a scheduler timeline for Perfetto (GORT_TRACE)",
     ["gort_trace_start", "gort_trace_stop"], [], []),
    ("gort_version", "the library version",
     ["gort_version"], [], ["GORT_VERSION_MAJOR", "GORT_VERSION_MINOR", "GORT_VERSION_PATCH",
                            "GORT_VERSION_STRING"]),
    ("gort_errno_location", "errno that follows the goroutine", ["gort_errno_location"], [],
     ["errno"]),
]

# Per family (keyed by page), short text the header has no place for:
# "threads" is the THREAD SAFETY section; "returns" and "errors" are
# added to RETURN VALUE and ERRORS / PANICS. Written like the doc
# comments (`code`, gort names). A family missing here gets its THREAD
# SAFETY from its doc comments. A PAGES entry may also carry such a
# dict as a sixth element.
ANY_THREAD = "Callable from goroutines and from any other thread"
NOTES = {
    "gort_go": {
        "threads": "gort_go() and gort_goid() are callable from goroutines and from any other "
                   "thread (gort_goid() returns 0 outside a goroutine). gort_gosched() yields "
                   "only on a goroutine and is a no-op elsewhere; gort_goexit() ends only a "
                   "goroutine.",
    },
    "gort_chan_new": {
        "threads": ANY_THREAD + ". Give each goroutine or thread that uses a channel its own "
                   "reference: gort_chan_retain() before handing it over, gort_chan_release() "
                   "when done.",
    },
    "gort_chan_send": {
        "threads": ANY_THREAD + ", in any mix: a goroutine that must wait parks (its thread "
                   "runs other goroutines), any other thread blocks.",
    },
    "gort_after": {"threads": ANY_THREAD + ". The pending timer holds no thread."},
    "gort_timer_new": {
        "threads": ANY_THREAD + ". One timer may be stopped, reset and received from by "
                   "several goroutines and threads at once; gort_timer_free() comes after every "
                   "other use. Timers fire on the scheduler's threads: none holds a thread of "
                   "its own.",
        "errors": "gort_timer_free(NULL) does nothing, as free(NULL).",
    },
    "gort_context_with_cancel": {
        "threads": ANY_THREAD + ", on one context at once. Give each goroutine or thread that "
                   "uses a context its own reference (gort_context_retain()); a deadline holds "
                   "no thread.",
        "errors": "gort_context_release(NULL) does nothing, as free(NULL).",
    },
    "gort_select": {
        "threads": ANY_THREAD + ", as the single channel operations are; waiting parks a "
                   "goroutine and blocks any other thread.",
    },
    "gort_sleep": {
        "threads": ANY_THREAD + ": gort_sleep() parks a goroutine (its thread runs others) "
                   "and makes any other thread sleep.",
    },
    "gort_read": {
        "threads": ANY_THREAD + ": a goroutine parks while the descriptor is not ready, any "
                   "other thread blocks. Several goroutines and threads may use one descriptor "
                   "at once; close one that is in use with gort_fd_close().",
    },
    "gort_fd_wait": {
        "returns": "On failure gort_fd_wait() returns -1 and sets errno (see ERRORS / PANICS).",
        "threads": ANY_THREAD + ": a goroutine parks, any other thread blocks. "
                   "gort_fd_close() may be called while other goroutines and threads wait on or "
                   "use the descriptor; that is what it is for.",
    },
    "gort_mutex_lock": {
        "threads": ANY_THREAD + ", in any mix: waiting parks a goroutine and blocks any other "
                   "thread. A mutex may be unlocked by another goroutine or thread than locked "
                   "it.",
    },
    "gort_rwmutex_lock": {
        "threads": ANY_THREAD + ", in any mix: waiting parks a goroutine and blocks any other "
                   "thread. Either lock may be released by another goroutine or thread than "
                   "took it.",
    },
    "gort_cond_wait": {
        "errors": "gort_cond_wait() with `m` not locked is the fatal error of unlocking an "
                  "unlocked mutex (\"sync: unlock of unlocked mutex\"), as in Go.",
        "threads": ANY_THREAD + ", in any mix: waiting parks a goroutine and blocks any other "
                   "thread.",
    },
    "gort_wg_add": {
        "errors": "gort_wg_done() is gort_wg_add() with -1 and panics as it does. As in Go, "
                  "gort_wg_add() called concurrently with gort_wg_wait() may panic with "
                  "\"sync: WaitGroup misuse: Add called concurrently with Wait\", and "
                  "gort_wg_wait() panics with \"sync: WaitGroup is reused before previous Wait "
                  "has returned\" when the counter is raised again before it returned.",
        "threads": ANY_THREAD + ", in any mix: gort_wg_wait() parks a goroutine and blocks "
                   "any other thread.",
    },
    "gort_once_do": {
        "threads": ANY_THREAD + "; callers that arrive while the call runs wait for it (a "
                   "goroutine parks, any other thread blocks).",
    },
    "gort_handle_new": {
        "threads": ANY_THREAD + ". gort_handle_value() and gort_handle_lookup() are lock-free. "
                   "Deleting a handle while another thread uses it is a race in the program. "
                   "Not async-signal-safe.",
    },
    "gort_panic": {
        "errors": "gort_panic() is itself the panic; unrecovered, the process exits with "
                  "status 2 (see DESCRIPTION).",
        "threads": "On a goroutine, or inside gort_call() or gort_pcall() on any thread: these "
                   "open the frames that gort_defer() pushes onto and that a panic unwinds. "
                   "On a thread outside any such frame gort_defer() panics and a panic is "
                   "reported at once.",
    },
    "gort_pcall": {
        "threads": ANY_THREAD + ": on a thread that is not a goroutine it runs `fn` as "
                   "gort_call() does.",
    },
    "gort_call": {
        "threads": ANY_THREAD + ". From a thread the runtime did not create, `fn` runs on "
                   "that thread (its goroutine is locked to it); from a goroutine, on the "
                   "calling goroutine.",
    },
    "gort_main": {
        "errors": "Called from another thread than the process main thread, or a second time, "
                  "gort_main() is a fatal error; `main_fn == NULL` panics.",
        "threads": "Only from the process main thread, once.",
    },
    "gort_init_register": {
        "threads": ANY_THREAD + ", and from constructors that run before gort's own. "
                   "gort_init_done() never blocks.",
    },
    "gort_lock_os_thread": {
        "threads": "For goroutines; on a thread the runtime did not create (inside or outside "
                   "gort_call()) the calls only count, as the goroutine of a gort_call() is "
                   "already locked to its thread.",
    },
    "gort_blocking_enter": {
        "threads": "For goroutines; a no-op on any other thread.",
    },
    "gort_gomaxprocs": {"threads": ANY_THREAD + "."},
    "gort_read_stats": {"threads": ANY_THREAD + "."},
    "gort_stack": {
        "errors": "A NULL `buf` with `len > 0` is a nil-pointer panic (\"runtime error: "
                  "invalid memory address or nil pointer dereference\").",
        "threads": ANY_THREAD + "; outside a goroutine the caller has no block of its own in "
                   "the dump.",
    },
    "gort_trace_start": {
        "threads": ANY_THREAD + ". One trace at a time in a process; gort_trace_stop() "
                   "from a goroutine lets its processor run other goroutines while the file is "
                   "written.",
    },
    "gort_version": {
        "threads": ANY_THREAD + ", at any time: it never blocks and does not seal "
                   "initialization.",
    },
    "gort_errno_location": {
        "threads": ANY_THREAD + ": it returns the calling thread's slot, which belongs to "
                   "the goroutine running there now. Never blocks and does not seal "
                   "initialization.",
    },
}

MANUAL = "gort manual"


# ---------------------------------------------------------------- header


class Item:
    """A declaration of the header with its doc comment."""

    def __init__(self, kind, names, doc, code):
        self.kind = kind      # "function", "type" or "macro"
        self.names = names
        self.doc = doc        # the comment's text, "" if none
        self.code = code      # the declaration's lines
        self.fields = []      # (field declaration, doc) for structs


def comment_text(lines):
    """The text of a /* ... */ comment, markers and common indent removed."""
    body = "\n".join(lines).strip()
    assert body.startswith("/*") and body.endswith("*/"), body
    rows = body[2:-2].split("\n")
    if all(re.match(r"^\s*\*( |$)", r) for r in rows[1:] if r.strip()):
        rows = [rows[0]] + [re.sub(r"^\s*\* ?", "", r) for r in rows[1:]]
    rest = [r for r in rows[1:] if r.strip()]
    indent = min((len(r) - len(r.lstrip()) for r in rest), default=0)
    rows = [rows[0].strip()] + [r[indent:].rstrip() for r in rows[1:]]
    return "\n".join(rows).strip("\n").strip()


def parse_header(text):
    lines = text.split("\n")
    items = []
    doc = None
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("/*") and not line.startswith(" "):
            j = i
            while "*/" not in lines[j]:
                j += 1
            doc = comment_text(lines[i:j + 1])
            i = j + 1
            continue
        if not stripped:
            doc = None
            i += 1
            continue
        if line.startswith("typedef struct") and line.rstrip().endswith("{"):
            j = i
            while not lines[j].startswith("}"):
                j += 1
            item = Item("type", [re.match(r"}\s*(\w+)", lines[j]).group(1)], doc or "",
                        lines[i:j + 1])
            item.fields = struct_fields(lines[i + 1:j])
            items.append(item)
            i = j + 1
        elif line.startswith("typedef "):
            m = re.search(r"\(\*\s*(\w+)\)|(\w+)\s*;", line)
            items.append(Item("type", [m.group(1) or m.group(2)], doc or "", [line]))
            i += 1
        elif line.startswith("#if") or line.startswith("#define"):
            j = i
            while j < len(lines) and lines[j].strip():
                j += 1
            chunk = lines[i:j]
            names = []
            for c in chunk:
                m = re.match(r"#define\s+(\w+)", c)
                if m and m.group(1) not in names:
                    names.append(m.group(1))
            if names and doc:
                items.append(Item("macro", names, doc, chunk))
            i = j
        elif re.match(r"^(GORT_NORETURN\s+)?[A-Za-z_][\w\s\*]*\bgort_\w+\(", line):
            j = i
            while not lines[j].rstrip().endswith(";"):
                j += 1
            decl = " ".join(x.strip() for x in lines[i:j + 1])
            name = re.search(r"(gort_\w+)\(", decl).group(1)
            items.append(Item("function", [name], doc or "", [decl]))
            i = j + 1
        else:
            i += 1
        doc = None
    return items


def struct_fields(lines):
    fields = []
    doc = ""
    i = 0
    while i < len(lines):
        s = lines[i].strip()
        if s.startswith("/*"):
            j = i
            while "*/" not in lines[j]:
                j += 1
            doc = comment_text(lines[i:j + 1])
            i = j + 1
            continue
        if s.endswith(";"):
            fields.append((s, doc))
            doc = ""
        i += 1
    return fields


# ----------------------------------------------------------------- roff


def roff_escape(text):
    text = text.replace("\\", "\\e")
    return "".join(c if ord(c) < 128 else "\\[u%04X]" % ord(c) for c in text)


def arg_escape(text):
    """Text for a quoted macro argument."""
    return roff_escape(text).replace('"', "\\(dq")


def code_font(code, italic):
    code = roff_escape(code).replace("-", "\\-")
    return ("\\fI%s\\fR" if italic else "\\fB%s\\fR") % code


def inline(text, params=()):
    """Markdown-ish doc text to roff: `code`, *emphasis*, **strong**,
    gort names in bold, parameters in italics."""
    spans = []

    def keep(s):
        spans.append(s)
        return "\x00%d\x00" % (len(spans) - 1)

    text = re.sub(r"`([^`]+)`", lambda m: keep(code_font(m.group(1), m.group(1) in params)), text)
    text = roff_escape(text)
    text = re.sub(r"\*\*([^*]+)\*\*", lambda m: keep("\\fB%s\\fR" % m.group(1)), text)
    text = re.sub(r"(?<![\w*])\*(\w[^*]*?)\*(?![\w*])", lambda m: keep("\\fI%s\\fR" % m.group(1)), text)
    text = re.sub(r"\b((?:gort|GORT)_\w+|errno)\(\)", lambda m: keep("\\fB%s\\fR()" % m.group(1)), text)
    text = re.sub(r"\b((?:gort|GORT)_\w+)\b", lambda m: keep("\\fB%s\\fR" % m.group(1)), text)
    text = re.sub(r"\x00(\d+)\x00", lambda m: spans[int(m.group(1))], text)
    return text


def text_line(s):
    s = s.strip()
    return "\\&" + s if s[:1] in (".", "'") else s


def paragraphs(doc):
    """Blank-line separated paragraphs, each joined into one line."""
    out = []
    for block in re.split(r"\n\s*\n", doc.strip()):
        block = " ".join(x.strip() for x in block.split("\n") if x.strip())
        if block:
            out.append(block)
    return out


def sentences(para):
    """A paragraph's sentences. A sentence ends at `.`, `!` or `?` followed
    by a space and a capital, a digit, a quote, a backtick or a gort name,
    outside parentheses, quotes and `code`."""
    out = []
    start = depth = 0
    tick = quote = False
    for i, c in enumerate(para):
        if c == "`":
            tick = not tick
        elif tick:
            continue
        elif c == '"':
            quote = not quote
        elif quote:
            continue
        elif c == "(":
            depth += 1
        elif c == ")":
            depth = max(0, depth - 1)
        elif c in ".!?" and depth == 0 and para[i + 1:i + 2] == " ":
            rest = para[i + 2:]
            if re.match(r"[A-Z0-9`\"(]|gort\b|gort_", rest) and not re.search(r"\b(e\.g|i\.e|etc)\.$", para[:i + 1]):
                out.append(para[start:i + 1].strip())
                start = i + 2
    tail = para[start:].strip()
    if tail:
        out.append(tail)
    return out


ERRNO_NAMES = set(errno.errorcode.values())
RETURNS_RE = re.compile(r"\b[Rr]eturns\b|\breports its result\b")
ERRORS_RE = re.compile(r"(?i)\bpanics\b|(?<!\ba )\bpanic with\b|: a panic\b|\bis an? [\w-]+ panic\b"
                       r"|\bfatal error\b|\bwith errno\b|\berrors? \(|^errors\b|\brecoverable\b")


def errno_names(text):
    return [w for w in re.findall(r"\b(E[A-Z0-9]+)\b", text) if w in ERRNO_NAMES]


def return_and_errors(item):
    """(returns, errors): the sentences of a function's doc comment that
    say what it returns and how it fails, and a short line in place of
    those that are also return-value sentences."""
    main, safe = split_safety(item.doc)
    decl = item.code[0]
    kind = "value"
    if decl.startswith("GORT_NORETURN"):
        kind = "noreturn"
    elif re.match(r"void\s+gort_", decl):
        kind = "void"
    main_sents = [x for para in paragraphs(main) for x in sentences(para)]
    safe_sents = [x for para in paragraphs(safe) for x in sentences(para)]
    returns = []
    if kind == "value":
        returns = [x for x in main_sents if RETURNS_RE.search(x)]
        if not returns and main_sents:
            returns = main_sents[:1]   # "The number of ...": the value itself
    # An error code named in the summary (the first sentence) is usually
    # what the function does to others ("... fail with EBADF"), not how it
    # fails itself.
    errors = [x for k, x in enumerate(main_sents + safe_sents)
              if x not in returns and (ERRORS_RE.search(x) or (k > 0 and errno_names(x)))]
    codes = []
    for x in returns:
        for c in errno_names(x) + re.findall(r"\b(\w+\(\d\))'s own errors", x):
            if c not in codes:
                codes.append(c)
    if codes:
        names = [c for c in codes if "(" not in c]
        calls = [c for c in codes if "(" in c]
        line = "Error codes (see RETURN VALUE): " + ", ".join("`%s`" % c for c in names)
        if calls:
            line += (", and " if names else "") + "those of " + " and ".join(calls)
        errors.insert(0, line + ".")
    return kind, returns, errors


def split_safety(doc):
    parts = re.split(r"^# Safety\s*$", doc, maxsplit=1, flags=re.M)
    return parts[0].strip(), (parts[1].strip() if len(parts) > 1 else "")


def params_of(decl):
    m = re.search(r"\((.*)\)\s*;", decl)
    out = []
    for p in m.group(1).split(","):
        p = p.strip()
        if p and p != "void":
            out.append(re.search(r"(\w+)$", p).group(1))
    return out


def synopsis_function(decl):
    """`.BI` line: types bold, parameter names italic."""
    decl = re.sub(r"\s+", " ", decl.strip())
    m = re.match(r"(.*?\()(.*)(\)\s*;)$", decl)
    head, args, tail = m.group(1), m.group(2), m.group(3)
    if args.strip() in ("", "void"):
        return '.B "%s"' % arg_escape(decl)
    pieces = []
    lead = head
    for k, a in enumerate(args.split(",")):
        a = a.strip()
        name = re.search(r"(\w+)$", a).group(1)
        typ = a[: -len(name)]
        lead += ("" if k == 0 else ", ") + typ
        pieces += [lead, name]
        lead = ""
    pieces.append(tail)
    return ".BI " + " ".join('"%s"' % arg_escape(p) for p in pieces)


def synopsis_macro(item, name):
    lines = [c for c in item.code if re.match(r"#define\s+%s\b" % re.escape(name), c)]
    line = lines[-1].rstrip()
    if line.endswith("\\"):
        line = re.match(r"(#define\s+\w+\([^)]*\))", line).group(1) + " ..."
    return line


def see_also(texts, own, index):
    refs = []
    for t in texts:
        for name in re.findall(r"\b(gort_\w+)\b", t):
            page = index.get(name)
            if page and page != own and page not in refs:
                refs.append(page)
    return refs


def th(title, section, version):
    """The title line; no date (the pages depend on the header alone), and
    no hyphenation (it would split identifiers)."""
    return '.TH %s %s "" "gort %s" "%s"\n.nh' % (title.upper(), section, version, MANUAL)


def family_page(page, summary, funcs, types, macros, notes, items, index, version):
    by_name = {}
    for it in items:
        for n in it.names:
            by_name.setdefault(n, it)
    fitems = [by_name[f] for f in funcs]
    titems = [by_name[t] for t in types if t in by_name]
    mitems = []
    for m in macros:
        it = by_name.get(m)
        if it is not None and it not in mitems:
            mitems.append(it)
    params = set()
    for it in fitems:
        params |= set(params_of(it.code[0]))

    out = [th(page, 3, version), ".SH NAME", "%s \\- %s" % (", ".join(funcs).replace("_", "_"), summary)]
    out += [".SH SYNOPSIS", ".nf", ".B #include <gort/runtime.h>"]
    for it in titems:
        out.append(".PP")
        out += [roff_escape(c) if c.strip() else "" for c in code_without_comments(it.code)]
    for it in mitems:
        out.append(".PP")
        for n in it.names:
            if n in macros:
                out.append('.B "%s"' % arg_escape(synopsis_macro(it, n)))
    out.append(".PP")
    for it in fitems:
        out.append(synopsis_function(it.code[0]))
    out += [".fi", ".PP", "Compile and link with", ".IR \"pkg\\-config \\-\\-cflags \\-\\-libs gort\" ."]

    out.append(".SH DESCRIPTION")
    safety = []
    texts = []
    many = len(fitems) > 1
    for it in fitems:
        main, safe = split_safety(it.doc)
        texts += [main, safe]
        if many:
            out.append(".SS %s()" % it.names[0])
        else:
            out.append(".PP")
        first = True
        for para in paragraphs(main):
            if not first:
                out.append(".PP")
            out.append(text_line(inline(para, params)))
            first = False
        if safe:
            safety.append((it.names[0], safe))
    for it in titems:
        texts.append(it.doc)
        out.append(".SS %s" % it.names[0])
        first = True
        for para in paragraphs(it.doc):
            if not first:
                out.append(".PP")
            out.append(text_line(inline(para)))
            first = False
        for decl, fdoc in it.fields:
            texts.append(fdoc)
            if not fdoc:
                continue
            out.append(".TP")
            out.append("\\fB%s\\fR" % roff_escape(re.search(r"(\w+)(\[\w*\])?;$", decl).group(1)))
            out.append(text_line(inline(" ".join(paragraphs(fdoc)))))
    for it in mitems:
        texts.append(it.doc)
        shown = [n for n in it.names if n in macros]
        if len(shown) > 2:
            prefix = os.path.commonprefix(shown)
            shown = [prefix[: prefix.rfind("_") + 1] + "*"]
        out.append(".SS %s" % ", ".join(shown))
        first = True
        for para in paragraphs(it.doc):
            if not first:
                out.append(".PP")
            out.append(text_line(inline(para)))
            first = False

    notes = notes or {}
    out += function_sections(fitems, many, params, notes, texts)

    if safety:
        out.append(".SH SAFETY")
        if many:
            for name, safe in safety:
                out += [".TP", "\\fB%s\\fR()" % name]
                out.append(text_line(inline(" ".join(paragraphs(safe)), params)))
        else:
            for k, para in enumerate(paragraphs(safety[0][1])):
                out.append(".PP")
                out.append(text_line(inline(para, params)))

    refs = see_also(texts + [it.code[0] for it in fitems], page, index)
    out.append(".SH SEE ALSO")
    out += [".BR %s (3)," % r for r in refs]
    out.append(".BR gort (7)")
    return "\n".join(out) + "\n"


def function_sections(fitems, many, params, notes, texts):
    """RETURN VALUE, ERRORS / PANICS and THREAD SAFETY of a page."""
    out = []
    per = [(it.names[0],) + return_and_errors(it) for it in fitems]

    def section(title, rows, plain, extra):
        """rows: (name, sentences or None); the None ones share one line,
        plain (singular, plural)."""
        out.append(".SH " + (title if " " not in title else '"%s"' % title))
        for name, lines in rows:
            if lines:
                out.extend([".TP", "\\fB%s\\fR()" % name] if many else [".PP"])
                out.append(text_line(inline(" ".join(lines), params)))
        # A function the extra text names is not "none": the text says.
        rest = ["\\fB%s\\fR()" % name for name, lines in rows
                if not lines and not (extra and (not many or re.search(r"\b%s\b" % name, extra)))]
        if rest:
            out.append(".PP")
            if not many:
                out.append(plain[0][:1].upper() + plain[0][1:] + ".")
            else:
                names = rest[0] if len(rest) == 1 else ", ".join(rest[:-1]) + " and " + rest[-1]
                out.append("%s %s." % (names, plain[0] if len(rest) == 1 else plain[1]))
        if extra:
            texts.append(extra)
            out.extend([".PP", text_line(inline(extra, params))])

    rows = []
    for name, kind, returns, _ in per:
        if kind == "noreturn":
            returns = ["Does not return."]
        rows.append((name, returns if kind != "void" else None))
    section("RETURN VALUE", rows, ("returns no value", "return no value"), notes.get("returns"))

    rows = [(name, errors or None) for name, _, _, errors in per]
    section("ERRORS / PANICS", rows, ("has no errors or panics of its own",
                                      "have no errors or panics of their own"),
            notes.get("errors"))
    out += [".PP", "A panic can be recovered (" + ", ".join(
        ["\\fBgort_pcall\\fR()", "\\fBgort_recover\\fR() in a deferred call"]) +
        "); unrecovered, it ends the process with exit status 2, as every fatal error does. "
        "Running out of memory is a fatal error in every function. See ERRORS / PANICS in "
        "\\fBgort\\fR(7)."]

    out.append('.SH "THREAD SAFETY"')
    threads = notes.get("threads")
    if threads:
        texts.append(threads)
        out += [".PP", text_line(inline(threads, params))]
    else:
        found = []
        for it in fitems:
            for para in paragraphs(split_safety(it.doc)[0]):
                for x in sentences(para):
                    if THREADS_RE.search(x) and x not in found:
                        found.append(x)
        out += [".PP", text_line(inline(" ".join(found) if found else DEFAULT_THREADS, params))]
    return out


OVERVIEW_THREADS = (
    "Every function is callable from goroutines and from any other thread unless its page "
    "says otherwise (gort_main(), gort_goexit(), gort_lock_os_thread(), gort_blocking_enter()). "
    "A call that waits parks a goroutine, whose thread runs other goroutines meanwhile, and "
    "blocks any other thread. In library mode the first call from a thread that is not a "
    "goroutine, and every such call after it, waits until the init functions have returned "
    "(gort_init_register()). No function is documented as async-signal-safe: do not call gort "
    "from a signal handler.")
THREADS_RE = re.compile(r"(?i)\bany (other )?thread\b|\boutside a goroutine\b|\bnot a goroutine\b"
                        r"|\bforeign thread|\bthread the runtime did not create\b|signal-safe")
DEFAULT_THREADS = ANY_THREAD + " (see THREAD SAFETY in gort(7))."


def code_without_comments(code):
    text = "\n".join(code)
    text = re.sub(r"[ \t]*/\*.*?\*/[ \t]*\n", "", text, flags=re.S)
    return [ln.replace("  ", "    ", 1) if ln.startswith("  ") else ln for ln in text.split("\n")]


# ------------------------------------------------------------- gort(7)


def readme_sections(text):
    """{heading: body} for the README's ## sections; "" is the introduction."""
    out = {}
    name = None
    buf = []
    for line in text.split("\n"):
        if line.startswith("# ") and name is None:
            name = ""
            continue
        if line.startswith("## "):
            out[name or ""] = "\n".join(buf)
            name, buf = line[3:].strip(), []
            continue
        buf.append(line)
    out[name or ""] = "\n".join(buf)
    return out


def markdown(text):
    """A small Markdown subset to roff: paragraphs, - lists, ``` blocks,
    tables (as tagged paragraphs), inline code and emphasis."""
    text = re.sub(r" \(see \*[^*]+\*(?: below| above)?\)", "", text)
    lines = text.split("\n")
    out = []
    i = 0
    para = []

    def flush():
        if para:
            out.append(".PP")
            out.append(text_line(inline(" ".join(para))))
            para.clear()

    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            flush()
            j = i + 1
            out += [".PP", ".in +4n", ".EX"]
            while not lines[j].startswith("```"):
                out.append("\\&" + roff_escape(lines[j]) if lines[j] else "")
                j += 1
            out += [".EE", ".in"]
            i = j + 1
        elif line.startswith("|"):
            flush()
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                cells = [c.strip() for c in lines[i].strip().strip("|").split("|")]
                if not all(re.match(r"^:?-+:?$", c) for c in cells):
                    rows.append(cells)
                i += 1
            head, body = rows[0], rows[1:]
            for r in body:
                out += [".TP", inline(r[0])]
                extra = "".join(" %s: %s." % (h.capitalize(), c) for h, c in zip(head[2:], r[2:]))
                out.append(text_line(inline(r[1] + "." + extra)))
        elif line.startswith("- "):
            flush()
            item = [line[2:]]
            i += 1
            while i < len(lines) and lines[i].startswith("  ") and lines[i].strip():
                item.append(lines[i].strip())
                i += 1
            out += [".IP \\(bu 2", text_line(inline(" ".join(item)))]
        elif not line.strip():
            flush()
            i += 1
        else:
            para.append(line.strip())
            i += 1
    flush()
    return out


def overview_page(readme, version, pages):
    sec = readme_sections(readme)
    out = [th("gort", 7, version), ".SH NAME",
           "gort \\- goroutines, channels and handles for C programs (Go's concurrency model)"]
    out += [".SH SYNOPSIS", ".nf", ".B #include <gort/runtime.h>", ".PP",
            ".B cc prog.c $(pkg\\-config \\-\\-cflags \\-\\-libs gort)",
            ".B cc prog.c $(pkg\\-config \\-\\-static \\-\\-cflags \\-\\-libs gort)", ".fi"]
    out.append(".SH DESCRIPTION")
    out += markdown(sec.get("", ""))
    for heading, title in (("Rules a C programmer must know", "RULES FOR C PROGRAMS"),
                           ("Errors: return values, panics, fatal errors", "ERRORS / PANICS"),
                           ("Exiting", "EXIT"),
                           ("Environment", "ENVIRONMENT")):
        if heading in sec:
            out.append(".SH " + (title if " " not in title else '"%s"' % title))
            out += markdown(sec[heading])
        if title == "ERRORS / PANICS":
            out += ['.SH "THREAD SAFETY"', ".PP", text_line(inline(OVERVIEW_THREADS))]
    out.append(".SH FUNCTIONS")
    out.append("One page per function or family:")
    for page, summary, funcs in (p[:3] for p in pages):
        out += [".TP", ".BR %s (3)" % page, text_line(inline(", ".join(f + "()" for f in funcs)) + " \\- " + summary)]
    out.append(".SH SEE ALSO")
    out.append(",\n".join(".BR %s (3)" % p[0] for p in pages))
    out.append(".PP")
    out.append("The README, in share/doc/gort, has the full text, with the build, the install tree and the tests.")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------ main


def plan(items):
    """The pages, as (page, summary, functions, types, macros, notes):
    PAGES, then a page of its own for any function they miss. A PAGES
    entry may leave out its types and macros, or add a notes dict."""
    funcs = [it.names[0] for it in items if it.kind == "function"]
    pages = []
    covered = set()
    for entry in PAGES:
        page, summary, fns = entry[:3]
        types = entry[3] if len(entry) > 3 else []
        macros = entry[4] if len(entry) > 4 else []
        notes = dict(NOTES.get(page, {}))
        notes.update(entry[5] if len(entry) > 5 else {})
        fns = [f for f in fns if f in funcs]
        if not fns:
            continue
        pages.append((page if page in fns else fns[0], summary, fns, types, macros, notes))
        covered |= set(fns)
    for it in items:
        if it.kind == "function" and it.names[0] not in covered:
            first = re.split(r"(?<=[.:;])\s", " ".join(it.doc.split()), maxsplit=1)[0].rstrip(".:;").replace("`", "")
            pages.append((it.names[0], first[:1].lower() + first[1:], [it.names[0]], [], [],
                          dict(NOTES.get(it.names[0], {}))))
    return pages


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--header", default="include/runtime.h")
    ap.add_argument("--readme", default="README.md")
    ap.add_argument("--out")
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()

    text = open(args.header, encoding="utf-8").read()
    version = re.search(r'#define GORT_VERSION_STRING "([^"]+)"', text).group(1)
    items = parse_header(text)
    pages = plan(items)
    files = {}
    index = {}
    for page, _, fns, types, _, _ in pages:
        for n in fns + types:
            index.setdefault(n, page)
    for entry in pages:
        page, fns = entry[0], entry[2]
        files["man3/%s.3" % page] = entry
        for f in fns:
            if f != page:
                files["man3/%s.3" % f] = ".so man3/%s.3\n" % page
    files["man7/gort.7"] = None

    if args.list:
        print("\n".join(sorted(files)))
        return
    if not args.out:
        ap.error("--out or --list")
    readme = open(args.readme, encoding="utf-8").read() if os.path.exists(args.readme) else ""
    for rel, what in files.items():
        path = os.path.join(args.out, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if what is None:
            body = overview_page(readme, version, pages)
        elif isinstance(what, str):
            body = what
        else:
            body = family_page(*what, items, index, version)
        old = open(path, encoding="utf-8").read() if os.path.exists(path) else None
        if old != body:
            with open(path, "w", encoding="utf-8") as f:
                f.write(body)
    for d in ("man3", "man7"):
        for name in os.listdir(os.path.join(args.out, d)):
            if "%s/%s" % (d, name) not in files:
                os.remove(os.path.join(args.out, d, name))
    print("%d man pages in %s" % (len(files), args.out), file=sys.stderr)


if __name__ == "__main__":
    main()

//! Turns a session's spill file into the Chrome JSON trace.
//!
//! # Layout of the trace
//!
//! Two processes, so that the tracks of the Ps and of the threads never
//! share ids: pid 1, "gort <pid> processors", one track per P (`P0`, tid =
//! P id + 1, sorted by id), with the counters and sysmon's retakes; pid 2,
//! "gort <pid> threads", one track per thread under its kernel thread id
//! (`M3 (thread 1234)`, `sysmon (thread 1235)`, `foreign thread 1236`).
//! Each stretch a goroutine ran is a complete event (`X`) on its M's
//! track and, if it kept its P throughout, on the P's; instants (`i`)
//! and flows (`s`, `f`, bound to the enclosing slices) live on the thread
//! tracks.
//!
//! # Invariants
//!
//! - One M's chunks are read in the order it recorded them, so a slice's
//!   start is seen before its end (a session that starts or stops in the
//!   middle of a slice gets the session's start or end as that edge).
//! - Every event is written with a comma before it except the first, and
//!   the closing `]}` is written once at the end, so the output is valid
//!   JSON whenever this function returns.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use super::record::{self, flow, kind, who, ChunkHdr, Rec, SharedRec};
use super::store;

/// What the writer needs to know besides the records.
#[derive(Debug)]
pub(super) struct Info {
    /// The process id, for the process names.
    pub pid: i32,
    /// (ticks, nanotime) when the session started and ended.
    pub start: (u64, i64),
    /// See `start`.
    pub end: (u64, i64),
    /// The clock the ticks came from.
    pub clock: &'static str,
    /// The first error writing the spill file (records are missing).
    pub spill_err: i32,
}

const PID_PROCS: i32 = 1;
const PID_THREADS: i32 = 2;
/// Output is written in pieces of about this size.
const OUT_CHUNK: usize = 1 << 20;

/// Where a chunk's records are.
#[derive(Debug, Clone, Copy)]
enum Src {
    /// In memory, at this address.
    Mem(usize),
    /// In the spill file, at this offset.
    File(u64),
}

/// A goroutine slice that has started and not yet ended.
#[derive(Debug, Clone, Copy)]
struct Open {
    goid: u64,
    entry: usize,
    /// P id + 1 (0: none).
    p: u64,
    ticks: u64,
}

struct Writer {
    out: String,
    fd: i32,
    err: i32,
    first: bool,
    info: Info,
    scale: f64,
    names: HashMap<usize, String>,
    /// Open slice per M id.
    slices: HashMap<u32, Option<Open>>,
    /// Open gort_call per foreign thread.
    calls: HashMap<i32, Open>,
    /// Tracks whose names were written: (pid, tid).
    named: HashSet<(i32, i32)>,
    /// Tid of each M's current thread, for slices still open at the end.
    m_tid: HashMap<u32, i32>,
    /// Per M id (its low 11 bits, as flow words carry it): from which
    /// ticks on which thread ran it.
    m_threads: HashMap<u32, Vec<(u64, i32)>>,
    /// Flow starts recorded in the shared buffer, waiting for their end,
    /// and ends waiting for their start: (tid, ticks[, name]).
    shared_starts: HashMap<u64, (i32, u64)>,
    pending_ends: HashMap<u64, (i32, u64, &'static str)>,
    /// Flow ids handed out.
    flows: u64,
}

/// Reads `len` bytes of records from `spill` and writes the trace to
/// `out`. Errors are errno values.
pub(super) fn write(spill: i32, len: u64, out: i32, info: &Info) -> Result<(), i32> {
    let span_ticks = info.end.0.saturating_sub(info.start.0);
    let scale = if span_ticks == 0 {
        1.0
    } else {
        (info.end.1 - info.start.1) as f64 / span_ticks as f64
    };
    let mut w = Writer {
        out: String::with_capacity(OUT_CHUNK + 4096),
        fd: out,
        err: 0,
        first: true,
        info: Info { ..*info },
        scale,
        names: HashMap::new(),
        slices: HashMap::new(),
        calls: HashMap::new(),
        named: HashSet::new(),
        m_tid: HashMap::new(),
        m_threads: HashMap::new(),
        shared_starts: HashMap::new(),
        pending_ends: HashMap::new(),
        flows: 0,
    };
    w.out.push_str("{\"traceEvents\":[");
    w.header();
    let read_err = w.read_chunks(spill, len);
    w.close_open();
    let _ = write!(
        w.out,
        "\n],\"displayTimeUnit\":\"ns\",\"otherData\":{{\"runtime\":\"gort {}\",\"clock\":\"{}\"",
        env!("CARGO_PKG_VERSION"),
        w.info.clock
    );
    if w.info.spill_err != 0 || read_err != 0 {
        w.out
            .push_str(",\"incomplete\":\"records were lost writing or reading the spill file\"");
    }
    w.out.push_str("}}\n");
    w.flush();
    if w.err != 0 {
        Err(w.err)
    } else {
        Ok(())
    }
}

impl Writer {
    fn flush(&mut self) {
        let mut rest: &[u8] = self.out.as_bytes();
        while !rest.is_empty() && self.err == 0 {
            // SAFETY: rest is a live slice.
            let n = unsafe { libc::write(self.fd, rest.as_ptr().cast(), rest.len()) };
            if n < 0 {
                let e = crate::os::errno();
                if e != libc::EINTR {
                    self.err = e;
                }
                continue;
            }
            rest = &rest[n as usize..];
        }
        self.out.clear();
    }

    /// Starts an event: the separating comma, then `{`.
    fn begin(&mut self) {
        if self.out.len() >= OUT_CHUNK {
            self.flush();
        }
        if self.first {
            self.first = false;
            self.out.push_str("\n{");
        } else {
            self.out.push_str(",\n{");
        }
    }

    /// Nanoseconds of the monotonic clock at `ticks`.
    fn ns(&self, ticks: u64) -> i64 {
        let d = ticks as i64 - self.info.start.0 as i64;
        self.info.start.1 + (d as f64 * self.scale) as i64
    }

    /// `"ts":<µs>` of `ticks` (with a leading comma).
    fn ts(&mut self, ticks: u64) {
        let ns = self.ns(ticks);
        self.out.push_str(",\"ts\":");
        micros(&mut self.out, ns);
    }

    fn metadata(&mut self, pid: i32, tid: Option<i32>, what: &str, key: &str, value: &str) {
        self.begin();
        let _ = write!(self.out, "\"ph\":\"M\",\"pid\":{pid}");
        if let Some(t) = tid {
            let _ = write!(self.out, ",\"tid\":{t}");
        }
        let _ = write!(
            self.out,
            ",\"name\":\"{what}\",\"args\":{{\"{key}\":{value}}}}}"
        );
    }

    fn header(&mut self) {
        let pid = self.info.pid;
        self.metadata(
            PID_PROCS,
            None,
            "process_name",
            "name",
            &format!("\"gort {pid} processors\""),
        );
        self.metadata(PID_PROCS, None, "process_sort_index", "sort_index", "0");
        self.metadata(
            PID_THREADS,
            None,
            "process_name",
            "name",
            &format!("\"gort {pid} threads\""),
        );
        self.metadata(PID_THREADS, None, "process_sort_index", "sort_index", "1");
    }

    /// Names a track the first time it is used.
    fn name_track(&mut self, pid: i32, tid: i32, name: impl FnOnce() -> String, sort: i64) {
        if !self.named.insert((pid, tid)) {
            return;
        }
        let n = json_string(&name());
        self.metadata(pid, Some(tid), "thread_name", "name", &n);
        self.metadata(
            pid,
            Some(tid),
            "thread_sort_index",
            "sort_index",
            &sort.to_string(),
        );
    }

    fn p_track(&mut self, p: u64) -> i32 {
        let tid = p as i32; // P id + 1
        self.name_track(PID_PROCS, tid, || format!("P{}", p - 1), p as i64 - 1);
        tid
    }

    fn m_track(&mut self, mid: u32, tid: i32) -> i32 {
        self.name_track(
            PID_THREADS,
            tid,
            || format!("M{mid} (thread {tid})"),
            mid as i64,
        );
        tid
    }

    fn shared_track(&mut self, tid: i32, w: u32) -> i32 {
        if w == who::SYSMON {
            self.name_track(
                PID_THREADS,
                tid,
                || format!("sysmon (thread {tid})"),
                1 << 30,
            );
        } else {
            self.name_track(
                PID_THREADS,
                tid,
                || format!("foreign thread {tid}"),
                (1 << 30) + 1,
            );
        }
        tid
    }

    fn function(&mut self, entry: usize) -> String {
        self.names
            .entry(entry)
            .or_insert_with(|| crate::trace::function_name(entry))
            .clone()
    }

    fn g_name(&mut self, goid: u64, entry: usize) -> String {
        let f = self.function(entry);
        format!("G{goid} {f}")
    }

    /// The chunks, those kept in memory first, then those of the spill
    /// file: a first pass over their headers (which thread ran each M
    /// when), then their records.
    fn read_chunks(&mut self, spill: i32, len: u64) -> i32 {
        let (chunks, err) = self.scan(spill, len);
        let mut buf: Vec<u8> = Vec::new();
        for (src, hdr) in chunks {
            let blen = hdr.n as usize * record_size(&hdr);
            let body: &[u8] = match src {
                // SAFETY: a chunk in the store, alive until release_memory
                // (after the writer is done); scan checked its length.
                Src::Mem(p) => unsafe { std::slice::from_raw_parts(p as *const u8, blen) },
                Src::File(off) => {
                    buf.resize(blen, 0);
                    if let Err(e) = pread_all(spill, &mut buf, off) {
                        return e;
                    }
                    &buf
                }
            };
            self.records(&hdr, body);
        }
        err
    }

    fn records(&mut self, hdr: &ChunkHdr, body: &[u8]) {
        let rsize = record_size(hdr);
        for i in 0..hdr.n as usize {
            let at = i * rsize;
            if hdr.kind == record::CHUNK_M {
                // SAFETY: at + size_of::<Rec>() <= body.len(); read_unaligned
                // copes with any alignment.
                let r = unsafe { (body.as_ptr().add(at) as *const Rec).read_unaligned() };
                self.m_event(hdr.mid, hdr.tid, &r);
            } else {
                // SAFETY: as above, for a SharedRec.
                let s = unsafe { (body.as_ptr().add(at) as *const SharedRec).read_unaligned() };
                self.shared_event(&s);
            }
        }
    }

    /// Notes when M chunk `hdr` (whose first record starts with `w0`)
    /// shows its M on a new thread.
    fn note_thread(&mut self, hdr: &ChunkHdr, w0: u64) {
        if hdr.kind != record::CHUNK_M || hdr.n == 0 {
            return;
        }
        let first = Rec { w: [w0, 0, 0, 0] };
        let v = self
            .m_threads
            .entry(flow::mid(flow::from_slice(hdr.mid, 1)))
            .or_default();
        if v.last().map_or(true, |&(_, t)| t != hdr.tid) {
            v.push((first.ticks(), hdr.tid));
        }
    }

    /// Reads the chunk headers. Stops at the first damaged one, returning
    /// its error with the good ones.
    fn scan(&mut self, spill: i32, len: u64) -> (Vec<(Src, ChunkHdr)>, i32) {
        let hsize = std::mem::size_of::<ChunkHdr>();
        let mut chunks = Vec::new();
        for (p, clen) in store::memory_chunks() {
            // SAFETY: a stored chunk of clen >= hsize bytes, header first.
            let hdr = unsafe { (p as *const ChunkHdr).read_unaligned() };
            if hdr.magic != record::MAGIC || hsize + hdr.n as usize * record_size(&hdr) != clen {
                return (chunks, libc::EIO);
            }
            if hdr.n > 0 {
                // SAFETY: the chunk holds at least one record after the header.
                let w0 = unsafe { ((p + hsize) as *const u64).read_unaligned() };
                self.note_thread(&hdr, w0);
            }
            chunks.push((Src::Mem(p + hsize), hdr));
        }
        let mut off = 0u64;
        while off + hsize as u64 <= len {
            let mut hdr = ChunkHdr::default();
            // SAFETY: hdr is a plain-old-data struct of hsize bytes.
            let hb = unsafe {
                std::slice::from_raw_parts_mut(&mut hdr as *mut ChunkHdr as *mut u8, hsize)
            };
            if let Err(e) = pread_all(spill, hb, off) {
                return (chunks, e);
            }
            off += hsize as u64;
            let blen = hdr.n as u64 * record_size(&hdr) as u64;
            if hdr.magic != record::MAGIC || record_size(&hdr) == 0 || off + blen > len {
                return (chunks, libc::EIO);
            }
            if hdr.n > 0 {
                let mut w0 = [0u8; 8];
                if let Err(e) = pread_all(spill, &mut w0, off) {
                    return (chunks, e);
                }
                self.note_thread(&hdr, u64::from_ne_bytes(w0));
            }
            chunks.push((Src::File(off), hdr));
            off += blen;
        }
        (chunks, 0)
    }

    /// The thread that ran M `mid` (low 11 bits) at `ticks`.
    fn thread_of(&self, mid: u32, ticks: u64) -> Option<i32> {
        let v = self.m_threads.get(&mid)?;
        let i = v.partition_point(|&(t, _)| t <= ticks);
        Some(v[i.saturating_sub(1)].1)
    }

    /// A slice starting on `tid` at `t` with flow word `word`: the arrow
    /// from where the word says to it.
    fn arrow_to(&mut self, word: u64, tid: i32, t: u64) {
        let name = if word & flow::CREATE != 0 {
            "create"
        } else {
            "unblock"
        };
        let w = word & !flow::CREATE;
        if w & flow::SHARED != 0 {
            match self.shared_starts.remove(&w) {
                Some((stid, st)) => self.flow_pair(name, (stid, st), (tid, t)),
                None => {
                    self.pending_ends.insert(w, (tid, t, name));
                }
            }
            return;
        }
        // A word left over from an earlier session (the goroutine was
        // readied then, and runs only now) may point anywhere: an arrow
        // must come from the past.
        if flow::ticks(w) > t {
            return;
        }
        if let Some(stid) = self.thread_of(flow::mid(w), flow::ticks(w)) {
            self.flow_pair(name, (stid, flow::ticks(w)), (tid, t));
        }
    }

    /// A ready or spawn from a thread without an M: the start of an arrow
    /// (with flow word `word`) whose end may be read before or after.
    fn arrow_from_shared(&mut self, word: u64, tid: i32, t: u64) {
        let w = word & !flow::CREATE;
        match self.pending_ends.remove(&w) {
            Some((etid, et, name)) => self.flow_pair(name, (tid, t), (etid, et)),
            None => {
                self.shared_starts.insert(w, (tid, t));
            }
        }
    }

    /// Writes a goroutine slice from `o` to `end_ticks` on the M's track
    /// (tid) and, if it kept its P (`p_end`), the P's.
    fn slice(&mut self, o: Open, tid: i32, end_ticks: u64, p_end: u64, end: &str) {
        let name = json_string(&self.g_name(o.goid, o.entry));
        let start_ns = self.ns(o.ticks);
        let dur = (self.ns(end_ticks) - start_ns).max(0);
        let mut tracks = vec![(PID_THREADS, tid)];
        if o.p != 0 && o.p == p_end {
            let pt = self.p_track(o.p);
            tracks.push((PID_PROCS, pt));
        }
        for (pid, t) in tracks {
            self.begin();
            let _ = write!(
                self.out,
                "\"ph\":\"X\",\"cat\":\"goroutine\",\"name\":{name},\"pid\":{pid},\"tid\":{t},\"ts\":"
            );
            micros(&mut self.out, start_ns);
            self.out.push_str(",\"dur\":");
            micros(&mut self.out, dur);
            let _ = write!(
                self.out,
                ",\"args\":{{\"goroutine\":{},\"end\":\"{end}\"}}}}",
                o.goid
            );
        }
    }

    /// An instant on a track.
    /// A poll that readied `n` goroutines, on thread track `tid`.
    fn netpoll(&mut self, tid: i32, ticks: u64, n: u64) {
        self.instant(
            PID_THREADS,
            tid,
            ticks,
            &format!("netpoll: {n} ready"),
            &format!("\"ready\":{n}"),
        );
    }

    fn instant(&mut self, pid: i32, tid: i32, ticks: u64, name: &str, args: &str) {
        self.begin();
        let _ = write!(
            self.out,
            "\"ph\":\"i\",\"s\":\"t\",\"cat\":\"sched\",\"name\":{},\"pid\":{pid},\"tid\":{tid}",
            json_string(name)
        );
        self.ts(ticks);
        let _ = write!(self.out, ",\"args\":{{{args}}}}}");
    }

    /// A flow arrow `name` from (tid, ticks) to (tid, ticks), both on
    /// thread tracks, bound to the slices there.
    fn flow_pair(&mut self, name: &str, from: (i32, u64), to: (i32, u64)) {
        self.flows += 1;
        let id = self.flows;
        for (ph, (tid, t)) in [("s", from), ("f", to)] {
            self.begin();
            let bind = if ph == "f" { ",\"bp\":\"e\"" } else { "" };
            let _ = write!(
                self.out,
                "\"ph\":\"{ph}\"{bind},\"cat\":\"flow\",\"name\":\"{name}\",\"id\":{id},\"pid\":{PID_THREADS},\"tid\":{tid}"
            );
            self.ts(t);
            self.out.push('}');
        }
    }

    fn counters(&mut self, ticks: u64, live: u64, runnable: u64) {
        for (name, v) in [("runnable", runnable), ("live", live)] {
            self.begin();
            let _ = write!(
                self.out,
                "\"ph\":\"C\",\"name\":\"{name}\",\"pid\":{PID_PROCS}"
            );
            self.ts(ticks);
            let _ = write!(self.out, ",\"args\":{{\"goroutines\":{v}}}}}");
        }
    }

    /// Who acts on a track at a moment: the open slice's goroutine, else
    /// the thread itself (`idle`).
    fn running_on(&mut self, open: Option<Open>, idle: &str) -> String {
        match open {
            Some(o) => self.g_name(o.goid, o.entry),
            None => idle.to_string(),
        }
    }

    fn m_event(&mut self, mid: u32, tid: i32, r: &Rec) {
        let tid = self.m_track(mid, tid);
        self.m_tid.insert(mid, tid);
        let t = r.ticks();
        let [_, a, b, c] = r.w;
        let open = self.slices.get(&mid).copied().flatten();
        match r.kind() {
            kind::SLICE_START => {
                let o = Open {
                    goid: a,
                    entry: (b & ((1 << 48) - 1)) as usize,
                    p: b >> 48,
                    ticks: t,
                };
                if let Some(prev) = open {
                    // Its end was lost: close it where the next one starts.
                    self.slice(prev, tid, t, prev.p, "unknown");
                }
                self.slices.insert(mid, Some(o));
                if c != 0 {
                    self.arrow_to(c, tid, t);
                }
            }
            kind::END_YIELD | kind::END_PARK | kind::END_EXIT => {
                let o = match open {
                    Some(o) if o.goid == a => o,
                    // Started before the session: from the session's start.
                    _ => Open {
                        goid: a,
                        entry: 0,
                        p: c,
                        ticks: self.info.start.0,
                    },
                };
                let reason = if r.kind() == kind::END_PARK {
                    wait_reason(b)
                } else if r.kind() == kind::END_YIELD {
                    "yield"
                } else {
                    "exit"
                };
                self.slice(o, tid, t, c, reason);
                self.slices.insert(mid, None);
                if r.kind() == kind::END_PARK {
                    let name = format!("block ({reason})");
                    self.instant(
                        PID_THREADS,
                        tid,
                        t,
                        &name,
                        &format!("\"goroutine\":{a},\"reason\":\"{reason}\""),
                    );
                }
            }
            kind::READY | kind::SPAWN => self.ready_or_spawn(r, tid, open, None),
            kind::NETPOLL => self.netpoll(tid, t, a),
            kind::COUNTERS => self.counters(t, a, b),
            kind::EXIT => self.exit(t, a),
            _ => {}
        }
    }

    /// A ready or spawn recorded on track `tid`, where `open` runs. A
    /// ready by a goroutine on an M has no record (its flow word says it
    /// all): here only readies by the scheduler and by threads without an
    /// M.
    fn ready_or_spawn(&mut self, r: &Rec, tid: i32, open: Option<Open>, shared: Option<u32>) {
        let t = r.ticks();
        let [_, goid, b, c] = r.w;
        let idle = match shared {
            None => "the scheduler",
            Some(who::SYSMON) => "sysmon",
            Some(_) => "a foreign thread",
        };
        let by = json_string(&self.running_on(open, idle));
        let word = if r.kind() == kind::READY { b } else { c };
        if r.kind() == kind::READY {
            if word == 0 {
                let args = format!("\"goroutine\":{goid},\"by\":{by}");
                self.instant(PID_THREADS, tid, t, &format!("unblock G{goid}"), &args);
            }
        } else {
            let name = format!("create {}", self.g_name(goid, b as usize));
            self.instant(
                PID_THREADS,
                tid,
                t,
                &name,
                &format!("\"goroutine\":{goid},\"by\":{by}"),
            );
        }
        if shared.is_some() && word != 0 {
            self.arrow_from_shared(word, tid, t);
        }
    }

    fn exit(&mut self, t: u64, how: u64) {
        let name = if how == 2 { "exit (status 2)" } else { "exit" };
        self.begin();
        let _ = write!(
            self.out,
            "\"ph\":\"i\",\"s\":\"g\",\"cat\":\"sched\",\"name\":\"{name}\",\"pid\":{PID_PROCS},\"tid\":0"
        );
        self.ts(t);
        self.out.push('}');
    }

    fn shared_event(&mut self, s: &SharedRec) {
        let r = &s.rec;
        let tid = self.shared_track(s.tid, s.who);
        let t = r.ticks();
        let [_, a, b, _] = r.w;
        let open = self.calls.get(&s.tid).copied();
        match r.kind() {
            kind::READY | kind::SPAWN => self.ready_or_spawn(r, tid, open, Some(s.who)),
            kind::RETAKE => {
                let pt = self.p_track(a + 1);
                self.instant(
                    PID_PROCS,
                    pt,
                    t,
                    &format!("retake: sysmon hands P{a} off from M{b}"),
                    &format!("\"p\":{a},\"m\":{b}"),
                );
            }
            kind::NETPOLL => self.netpoll(tid, t, a),
            kind::COUNTERS => self.counters(t, a, b),
            kind::CALL_ENTER => {
                let o = Open {
                    goid: a,
                    entry: b as usize,
                    p: 0,
                    ticks: t,
                };
                let name = format!("gort_call {}", self.g_name(a, b as usize));
                self.instant(PID_THREADS, tid, t, &name, &format!("\"goroutine\":{a}"));
                self.calls.insert(s.tid, o);
            }
            kind::CALL_EXIT => {
                if let Some(o) = self.calls.remove(&s.tid) {
                    self.slice(o, tid, t, 0, "gort_call returned");
                }
                self.instant(
                    PID_THREADS,
                    tid,
                    t,
                    "gort_call returns",
                    &format!("\"goroutine\":{a}"),
                );
            }
            kind::EXIT => self.exit(t, a),
            _ => {}
        }
    }

    /// Slices and calls still running when the session ended.
    fn close_open(&mut self) {
        let end = self.info.end.0;
        let mut open: Vec<(u32, Open)> = self
            .slices
            .iter()
            .filter_map(|(m, o)| o.map(|o| (*m, o)))
            .collect();
        open.sort_by_key(|(m, _)| *m);
        for (mid, o) in open {
            let tid = self.m_tid.get(&mid).copied().unwrap_or(0);
            self.slice(o, tid, end, o.p, "running");
        }
        let mut calls: Vec<(i32, Open)> = self.calls.drain().collect();
        calls.sort_by_key(|(t, _)| *t);
        for (tid, o) in calls {
            self.slice(o, tid, end, 0, "running");
        }
    }
}

/// Appends `ns` nanoseconds as microseconds with three decimals.
fn micros(out: &mut String, ns: i64) {
    let (sign, ns) = if ns < 0 { ("-", -ns) } else { ("", ns) };
    let _ = write!(out, "{sign}{}.{:03}", ns / 1000, ns % 1000);
}

/// `s` as a JSON string literal.
fn json_string(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// The wait reason a park recorded (a pointer to a static `&str`).
fn wait_reason(p: u64) -> &'static str {
    if p == 0 {
        return "waiting";
    }
    // SAFETY: parks store only pointers to `&'static &'static str` statics
    // (`Goroutine::wait_reason`), which live for the whole process.
    let r: &'static str = unsafe { *(p as usize as *const &'static str) };
    if r.bytes().all(|c| c.is_ascii_graphic() || c == b' ') {
        r
    } else {
        "waiting"
    }
}

fn pread_all(fd: i32, buf: &mut [u8], mut off: u64) -> Result<(), i32> {
    let mut done = 0;
    while done < buf.len() {
        // SAFETY: buf[done..] is writable for its length.
        let n = unsafe {
            libc::pread(
                fd,
                buf[done..].as_mut_ptr().cast(),
                buf.len() - done,
                off as i64,
            )
        };
        if n < 0 {
            let e = crate::os::errno();
            if e == libc::EINTR {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(libc::EIO);
        }
        done += n as usize;
        off += n as u64;
    }
    Ok(())
}

/// Bytes per record of a chunk (0: not a chunk kind we know).
fn record_size(h: &ChunkHdr) -> usize {
    match h.kind {
        record::CHUNK_M => std::mem::size_of::<Rec>(),
        record::CHUNK_SHARED => std::mem::size_of::<SharedRec>(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micros_has_three_decimals() {
        let mut v = String::new();
        micros(&mut v, 12_345_678);
        assert_eq!(v, "12345.678");
        v.clear();
        micros(&mut v, 7);
        assert_eq!(v, "0.007");
    }

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(json_string("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
    }

    #[test]
    fn wait_reasons_read_back() {
        static R: &str = "chan receive";
        assert_eq!(
            wait_reason(&R as *const &str as usize as u64),
            "chan receive"
        );
        assert_eq!(wait_reason(0), "waiting");
    }
}

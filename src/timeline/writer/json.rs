//! The event shapes of the trace, written by hand: process and track
//! names, goroutine slices, instants, flows, counters and the trace's
//! opening metadata and end.
//!
//! # Invariants
//!
//! - Every event is written with a comma before it except the first, and
//!   the closing `]}` is written once at the end, so the output is valid
//!   JSON whenever this function returns (`writer::write`, which writes
//!   the opening `{"traceEvents":[` and, through [`Writer::trailer`], the
//!   end).
//! - A track's name and sort index are written once, before the first
//!   event on it ([`Writer::track`]).
//! - Function names go through `escape` (once per entry function, the
//!   escaped name is kept), and so do wait reasons in event names;
//!   literals and numbers need no escaping. Wait reasons in arguments
//!   and slice ends are written as they are: static strings of the
//!   runtime, printable ASCII (`state::wait_reason` checks).

use super::out::escape;
use super::state::Open;
use super::{Writer, PID_PROCS, PID_THREADS};

// The pids written as literals below.
const _: () = assert!(PID_PROCS == 1 && PID_THREADS == 2);

/// A track, named the first time it is used.
#[derive(Debug, Clone, Copy)]
pub(super) enum Track {
    /// A P's (its id + 1).
    P(u64),
    /// An M's: its id and its thread's.
    M(u32, i32),
    /// sysmon's thread.
    Sysmon(i32),
    /// A foreign thread.
    Foreign(i32),
}

impl Writer {
    /// `"ts":<µs>` of `ticks` (with a leading comma).
    #[inline(never)]
    fn ts(&mut self, ticks: u64) {
        let ns = self.ns(ticks);
        self.out.lit(",\"ts\":");
        self.out.micros(ns);
    }

    /// Starts a metadata event, up to the value of its one argument `key`
    /// (the caller writes the value, then `}}`).
    #[inline(never)]
    fn metadata(&mut self, pid: i32, tid: Option<i32>, what: &str, key: &str) {
        self.out.begin();
        self.out.lit("\"ph\":\"M\",\"pid\":");
        self.out.int(pid as i64);
        if let Some(t) = tid {
            self.out.lit(",\"tid\":");
            self.out.int(t as i64);
        }
        self.out.lit(",\"name\":\"");
        self.out.lit(what);
        self.out.lit("\",\"args\":{\"");
        self.out.lit(key);
        self.out.lit("\":");
    }

    /// The names and order of the two processes.
    pub(super) fn header(&mut self) {
        for (pid, what) in [
            (PID_PROCS, " processors\"}}"),
            (PID_THREADS, " threads\"}}"),
        ] {
            self.metadata(pid, None, "process_name", "name");
            self.out.lit("\"gort ");
            self.out.int(self.info.pid as i64);
            self.out.lit(what);
            self.metadata(pid, None, "process_sort_index", "sort_index");
            self.out.int(pid as i64 - 1);
            self.out.lit("}}");
        }
    }

    /// The end of the trace: what wrote it and with which clock, whether
    /// records are missing (`lost`: reading them failed).
    pub(super) fn trailer(&mut self, lost: bool) {
        self.out.lit(concat!(
            "\n],\"displayTimeUnit\":\"ns\",\"otherData\":{\"runtime\":\"gort ",
            env!("CARGO_PKG_VERSION"),
            "\",\"clock\":\""
        ));
        self.out.lit(self.info.clock);
        self.out.lit("\"");
        if self.info.spill_err != 0 || lost {
            self.out
                .lit(",\"incomplete\":\"records were lost writing or reading the spill file\"");
        }
        self.out.lit("}}\n");
    }

    /// Names track `t` the first time it is used; returns its tid.
    #[inline(never)]
    pub(super) fn track(&mut self, t: Track) -> i32 {
        let (pid, tid, sort) = match t {
            Track::P(p) => (PID_PROCS, p as i32, p as i64 - 1),
            Track::M(mid, tid) => (PID_THREADS, tid, mid as i64),
            Track::Sysmon(tid) => (PID_THREADS, tid, 1 << 30),
            Track::Foreign(tid) => (PID_THREADS, tid, (1 << 30) + 1),
        };
        if self
            .named
            .insert(((pid as u64) << 32) | tid as u32 as u64, 0)
            .is_some()
        {
            return tid;
        }
        self.metadata(pid, Some(tid), "thread_name", "name");
        match t {
            Track::P(p) => {
                self.out.lit("\"P");
                self.out.uint(p.wrapping_sub(1));
                self.out.lit("\"}}");
            }
            Track::M(mid, _) => {
                self.out.lit("\"M");
                self.out.uint(mid as u64);
                self.out.lit(" (thread ");
                self.out.int(tid as i64);
                self.out.lit(")\"}}");
            }
            Track::Sysmon(_) => {
                self.out.lit("\"sysmon (thread ");
                self.out.int(tid as i64);
                self.out.lit(")\"}}");
            }
            Track::Foreign(_) => {
                self.out.lit("\"foreign thread ");
                self.out.int(tid as i64);
                self.out.lit("\"}}");
            }
        }
        self.metadata(pid, Some(tid), "thread_sort_index", "sort_index");
        self.out.int(sort);
        self.out.lit("}}");
        tid
    }

    /// Appends `G<goid> <entry function>`, escaped, the function's name
    /// looked up once per entry.
    #[inline(never)]
    pub(super) fn g_name(&mut self, goid: u64, entry: usize) {
        let i = match self.names.get(entry as u64) {
            Some(i) => i as usize,
            None => {
                let mut s = String::new();
                escape(&mut s, &crate::trace::function_name(entry));
                self.name_text.push(s);
                let i = self.name_text.len() - 1;
                self.names.insert(entry as u64, i as u64);
                i
            }
        };
        self.out.lit("G");
        self.out.uint(goid);
        self.out.lit(" ");
        self.out.lit(&self.name_text[i]);
    }

    /// Writes a goroutine slice from `o` to `end_ticks` on the M's track
    /// (tid) and, if it kept its P (`p_end`), the P's.
    #[inline(never)]
    pub(super) fn slice(&mut self, o: Open, tid: i32, end_ticks: u64, p_end: u64, end: &str) {
        let start_ns = self.ns(o.ticks);
        let dur = (self.ns(end_ticks) - start_ns).max(0);
        let on_p = o.p != 0 && o.p == p_end;
        let pt = if on_p { self.track(Track::P(o.p)) } else { 0 };
        self.slice_on(PID_THREADS, tid, o.goid, o.entry, (start_ns, dur), end);
        if on_p {
            self.slice_on(PID_PROCS, pt, o.goid, o.entry, (start_ns, dur), end);
        }
    }

    /// One complete event of a slice, on track (pid, tid).
    #[inline(never)]
    fn slice_on(
        &mut self,
        pid: i32,
        tid: i32,
        goid: u64,
        entry: usize,
        (start_ns, dur): (i64, i64),
        end: &str,
    ) {
        self.out.begin();
        self.out
            .lit("\"ph\":\"X\",\"cat\":\"goroutine\",\"name\":\"");
        self.g_name(goid, entry);
        self.end_name_on(pid, tid);
        self.out.lit(",\"ts\":");
        self.out.micros(start_ns);
        self.out.lit(",\"dur\":");
        self.out.micros(dur);
        self.out.lit(",\"args\":{\"goroutine\":");
        self.out.uint(goid);
        self.out.lit(",\"end\":\"");
        self.out.lit(end);
        self.out.lit("\"}}");
    }

    /// Ends an event's name and places it on track (pid, tid).
    fn end_name_on(&mut self, pid: i32, tid: i32) {
        self.out.lit("\",\"pid\":");
        self.out.int(pid as i64);
        self.out.lit(",\"tid\":");
        self.out.int(tid as i64);
    }

    /// Starts an instant, up to its name (which the caller writes, then
    /// calls [`Writer::instant_at`]).
    #[inline(never)]
    pub(super) fn instant(&mut self) {
        self.out.begin();
        self.out
            .lit("\"ph\":\"i\",\"s\":\"t\",\"cat\":\"sched\",\"name\":\"");
    }

    /// Ends an instant's name and places it on track (pid, tid) at
    /// `ticks`; the caller writes its arguments, then `}}`.
    #[inline(never)]
    pub(super) fn instant_at(&mut self, pid: i32, tid: i32, ticks: u64) {
        self.end_name_on(pid, tid);
        self.ts(ticks);
        self.out.lit(",\"args\":{");
    }

    /// A goroutine parked for `reason`: an instant on thread track `tid`.
    pub(super) fn block(&mut self, tid: i32, ticks: u64, goid: u64, reason: &str) {
        self.instant();
        self.out.lit("block (");
        self.out.esc(reason);
        self.out.lit(")");
        self.instant_at(PID_THREADS, tid, ticks);
        self.out.lit("\"goroutine\":");
        self.out.uint(goid);
        self.out.lit(",\"reason\":\"");
        self.out.lit(reason);
        self.out.lit("\"}}");
    }

    /// A poll that readied `n` goroutines, on thread track `tid`.
    #[inline(never)]
    pub(super) fn netpoll(&mut self, tid: i32, ticks: u64, n: u64) {
        self.instant();
        self.out.lit("netpoll: ");
        self.out.uint(n);
        self.out.lit(" ready");
        self.instant_at(PID_THREADS, tid, ticks);
        self.out.lit("\"ready\":");
        self.out.uint(n);
        self.out.lit("}}");
    }

    /// sysmon took P `p` from M `m`: an instant on the P's track.
    pub(super) fn retake(&mut self, ticks: u64, p: u64, m: u64) {
        let pt = self.track(Track::P(p.wrapping_add(1)));
        self.instant();
        self.out.lit("retake: sysmon hands P");
        self.out.uint(p);
        self.out.lit(" off from M");
        self.out.uint(m);
        self.instant_at(PID_PROCS, pt, ticks);
        self.out.lit("\"p\":");
        self.out.uint(p);
        self.out.lit(",\"m\":");
        self.out.uint(m);
        self.out.lit("}}");
    }

    /// A flow arrow `name` from (tid, ticks) to (tid, ticks), both on
    /// thread tracks, bound to the slices there.
    pub(super) fn flow_pair(&mut self, name: &str, from: (i32, u64), to: (i32, u64)) {
        self.flows += 1;
        self.flow_end("s\"", name, from);
        self.flow_end("f\",\"bp\":\"e\"", name, to);
    }

    /// One end of the latest flow: `ph` is its phase (and binding).
    #[inline(never)]
    fn flow_end(&mut self, ph: &str, name: &str, (tid, t): (i32, u64)) {
        self.out.begin();
        self.out.lit("\"ph\":\"");
        self.out.lit(ph);
        self.out.lit(",\"cat\":\"flow\",\"name\":\"");
        self.out.lit(name);
        self.out.lit("\",\"id\":");
        self.out.uint(self.flows);
        self.out.lit(",\"pid\":2,\"tid\":");
        self.out.int(tid as i64);
        self.ts(t);
        self.out.lit("}");
    }

    /// The counters, on the processors' process.
    pub(super) fn counters(&mut self, ticks: u64, live: u64, runnable: u64) {
        self.counter("runnable", ticks, runnable);
        self.counter("live", ticks, live);
    }

    /// One counter's sample.
    #[inline(never)]
    fn counter(&mut self, name: &str, ticks: u64, v: u64) {
        self.out.begin();
        self.out.lit("\"ph\":\"C\",\"name\":\"");
        self.out.lit(name);
        self.out.lit("\",\"pid\":1");
        self.ts(ticks);
        self.out.lit(",\"args\":{\"goroutines\":");
        self.out.uint(v);
        self.out.lit("}}");
    }

    /// The process is ending (`how` 2: with status 2): a global instant.
    #[inline(never)]
    pub(super) fn exit(&mut self, t: u64, how: u64) {
        self.out.begin();
        self.out
            .lit("\"ph\":\"i\",\"s\":\"g\",\"cat\":\"sched\",\"name\":\"exit");
        if how == 2 {
            self.out.lit(" (status 2)");
        }
        self.out.lit("\",\"pid\":1,\"tid\":0");
        self.ts(t);
        self.out.lit("}");
    }
}

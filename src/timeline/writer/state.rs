//! What the writer follows through the records: the slice open on each M
//! and the `gort_call` open on each foreign thread, which thread ran each
//! M when, and flows whose one end was read before the other. Each record
//! moves this state on and writes the events it completes (module
//! `json`).
//!
//! # Invariants
//!
//! - One M's chunks are read in the order it recorded them, so a slice's
//!   start is seen before its end (a session that starts or stops in the
//!   middle of a slice gets the session's start or end as that edge).
//! - An M has at most one open slice, a foreign thread at most one open
//!   call: a start over an open slice closes the old one ("unknown"), an
//!   end without its start begins at the session's start.
//! - A flow word waits in [`Waiting`] as one end or the other, never both:
//!   the second end to be read takes the first out and draws the arrow.
//! - An arrow from a slice on an M never points back in time (a word
//!   left over from an earlier session may name any slice).

use super::json::Track;
use super::{Map, Writer, PID_THREADS};
use crate::timeline::record::{flow, kind, who, Rec, SharedRec};

/// A goroutine slice that has started and not yet ended.
#[derive(Debug, Clone, Copy)]
pub(super) struct Open {
    pub goid: u64,
    pub entry: usize,
    /// P id + 1 (0: none).
    pub p: u64,
    pub ticks: u64,
}

/// The open slice of each M, or the open call of each foreign thread, in
/// the order they were first seen.
#[derive(Debug, Default)]
pub(super) struct Opens {
    /// Key (see [`Slot::key`]) -> index in `v`.
    at: Map,
    v: Vec<Slot>,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    /// The M id, or the thread id with its sign bit flipped (so that
    /// keys sort as thread ids do).
    key: u32,
    /// The thread (of the M: its latest).
    tid: i32,
    open: Option<Open>,
}

impl Opens {
    /// The slot of `key` (made if new, for thread `tid`).
    #[inline(never)]
    fn slot(&mut self, key: u32, tid: i32) -> &mut Slot {
        let i = match self.at.get(key as u64) {
            Some(i) => i as usize,
            None => {
                self.v.push(Slot {
                    key,
                    tid,
                    open: None,
                });
                self.at.insert(key as u64, self.v.len() as u64 - 1);
                self.v.len() - 1
            }
        };
        &mut self.v[i]
    }

    /// The open ones, sorted by key: (key, index in `v`).
    #[inline(never)]
    fn sorted(&self) -> Vec<(usize, usize)> {
        let mut keys = Vec::new();
        for (i, s) in self.v.iter().enumerate() {
            if s.open.is_some() {
                keys.push((s.key as usize, i));
            }
        }
        // Keys are unique, so an unstable sort gives one order.
        keys.sort_unstable();
        keys
    }

    /// What `sorted` found at index `i`: (thread, slice).
    fn get(&self, i: usize) -> Option<(i32, Open)> {
        let s = self.v.get(i)?;
        Some((s.tid, s.open?))
    }
}

/// The key of foreign thread `tid` in [`Opens`].
fn call_key(tid: i32) -> u32 {
    tid as u32 ^ (1 << 31)
}

/// Flow ends read before their other end, by flow word.
#[derive(Debug, Default)]
pub(super) struct Waiting {
    /// Flow word -> index in `ends`.
    at: Map,
    ends: Vec<End>,
    /// Indexes in `ends` no longer used.
    free: Vec<u64>,
}

#[derive(Debug, Clone, Copy)]
struct End {
    tid: i32,
    ticks: u64,
    /// The arrow's name (an end's: the slice start's word tells).
    name: &'static str,
    /// The slice start (else the ready or spawn of a thread without an M).
    is_end: bool,
}

impl Waiting {
    /// Takes the end of flow `w` that waits, if it is of kind `is_end`.
    fn take(&mut self, w: u64, is_end: bool) -> Option<End> {
        let i = self.at.get(w)?;
        let e = self.ends[i as usize];
        if e.is_end != is_end {
            return None;
        }
        self.at.remove(w);
        self.free.push(i);
        Some(e)
    }

    /// Makes `e` the end of flow `w` that waits.
    fn put(&mut self, w: u64, e: End) {
        if let Some(i) = self.at.get(w) {
            self.ends[i as usize] = e;
            return;
        }
        let i = match self.free.pop() {
            Some(i) => {
                self.ends[i as usize] = e;
                i
            }
            None => {
                self.ends.push(e);
                self.ends.len() as u64 - 1
            }
        };
        self.at.insert(w, i);
    }
}

impl Writer {
    /// Notes when M chunk `hdr` (whose first record starts with `w0`)
    /// shows its M on a new thread.
    pub(super) fn note_thread(&mut self, mid: u32, tid: i32, w0: u64) {
        let first = Rec { w: [w0, 0, 0, 0] };
        let m = flow::mid(flow::from_slice(mid, 1)) as usize;
        if self.m_threads.len() <= m {
            self.m_threads.resize_with(m + 1, Vec::new);
        }
        let v = &mut self.m_threads[m];
        if v.last().map_or(true, |&(_, t)| t != tid) {
            v.push((first.ticks(), tid));
        }
    }

    /// The thread that ran M `mid` (low 11 bits) at `ticks`.
    fn thread_of(&self, mid: u32, ticks: u64) -> Option<i32> {
        let v = self.m_threads.get(mid as usize).filter(|v| !v.is_empty())?;
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
            match self.waiting.take(w, false) {
                Some(s) => self.flow_pair(name, (s.tid, s.ticks), (tid, t)),
                None => self.waiting.put(
                    w,
                    End {
                        tid,
                        ticks: t,
                        name,
                        is_end: true,
                    },
                ),
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
        match self.waiting.take(w, true) {
            Some(e) => self.flow_pair(e.name, (tid, t), (e.tid, e.ticks)),
            None => self.waiting.put(
                w,
                End {
                    tid,
                    ticks: t,
                    name: "",
                    is_end: false,
                },
            ),
        }
    }

    /// A record of M `mid`, whose thread was `tid`.
    pub(super) fn m_event(&mut self, mid: u32, tid: i32, r: &Rec) {
        let tid = self.track(Track::M(mid, tid));
        let slot = self.ms.slot(mid, tid);
        slot.tid = tid;
        let open = slot.open;
        let t = r.ticks();
        let [_, a, b, c] = r.w;
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
                self.ms.slot(mid, tid).open = Some(o);
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
                let reason = match r.kind() {
                    kind::END_PARK => wait_reason(b),
                    kind::END_YIELD => "yield",
                    _ => "exit",
                };
                self.slice(o, tid, t, c, reason);
                self.ms.slot(mid, tid).open = None;
                if r.kind() == kind::END_PARK {
                    self.block(tid, t, a, reason);
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
    #[inline(never)]
    fn ready_or_spawn(&mut self, r: &Rec, tid: i32, open: Option<Open>, shared: Option<u32>) {
        let t = r.ticks();
        let [_, goid, b, c] = r.w;
        let ready = r.kind() == kind::READY;
        let word = if ready { b } else { c };
        if !ready || word == 0 {
            self.instant();
            if ready {
                self.out.lit("unblock G");
                self.out.uint(goid);
            } else {
                self.out.lit("create ");
                self.g_name(goid, b as usize);
            }
            self.instant_at(PID_THREADS, tid, t);
            self.out.lit("\"goroutine\":");
            self.out.uint(goid);
            // Who acted: the open slice's goroutine, else the thread.
            self.out.lit(",\"by\":\"");
            match (open, shared) {
                (Some(o), _) => self.g_name(o.goid, o.entry),
                (None, None) => self.out.lit("the scheduler"),
                (None, Some(who::SYSMON)) => self.out.lit("sysmon"),
                (None, Some(_)) => self.out.lit("a foreign thread"),
            }
            self.out.lit("\"}}");
        }
        if shared.is_some() && word != 0 {
            self.arrow_from_shared(word, tid, t);
        }
    }

    /// A record of the shared buffer.
    pub(super) fn shared_event(&mut self, s: &SharedRec) {
        let r = &s.rec;
        let tid = self.track(if s.who == who::SYSMON {
            Track::Sysmon(s.tid)
        } else {
            Track::Foreign(s.tid)
        });
        let t = r.ticks();
        let [_, a, b, _] = r.w;
        let call = self.calls.slot(call_key(s.tid), s.tid);
        let open = call.open;
        match r.kind() {
            kind::READY | kind::SPAWN => self.ready_or_spawn(r, tid, open, Some(s.who)),
            kind::RETAKE => self.retake(t, a, b),
            kind::NETPOLL => self.netpoll(tid, t, a),
            kind::COUNTERS => self.counters(t, a, b),
            kind::CALL_ENTER => {
                call.open = Some(Open {
                    goid: a,
                    entry: b as usize,
                    p: 0,
                    ticks: t,
                });
                self.instant();
                self.out.lit("gort_call ");
                self.g_name(a, b as usize);
                self.call_instant(tid, t, a);
            }
            kind::CALL_EXIT => {
                call.open = None;
                if let Some(o) = open {
                    self.slice(o, tid, t, 0, "gort_call returned");
                }
                self.instant();
                self.out.lit("gort_call returns");
                self.call_instant(tid, t, a);
            }
            kind::EXIT => self.exit(t, a),
            _ => {}
        }
    }

    /// The end of a gort_call instant of goroutine `goid`.
    fn call_instant(&mut self, tid: i32, t: u64, goid: u64) {
        self.instant_at(PID_THREADS, tid, t);
        self.out.lit("\"goroutine\":");
        self.out.uint(goid);
        self.out.lit("}}");
    }

    /// Slices and calls still running when the session ended.
    pub(super) fn close_open(&mut self) {
        let end = self.info.end.0;
        for (_, i) in self.ms.sorted() {
            if let Some((tid, o)) = self.ms.get(i) {
                self.slice(o, tid, end, o.p, "running");
            }
        }
        for (_, i) in self.calls.sorted() {
            if let Some((tid, o)) = self.calls.get(i) {
                self.slice(o, tid, end, 0, "running");
            }
        }
    }
}

/// The wait reason a park recorded (a pointer to a static `&str`).
pub(super) fn wait_reason(p: u64) -> &'static str {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_reasons_read_back() {
        static R: &str = "chan receive";
        assert_eq!(
            wait_reason(&R as *const &str as usize as u64),
            "chan receive"
        );
        assert_eq!(wait_reason(0), "waiting");
    }

    #[test]
    fn call_keys_sort_as_thread_ids() {
        assert!(call_key(-1) < call_key(0));
        assert!(call_key(i32::MIN) < call_key(-1));
        assert!(call_key(7) < call_key(i32::MAX));
    }
}

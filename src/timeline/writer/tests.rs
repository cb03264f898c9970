//! The writer fed records directly: a fixed set of records (every event
//! kind, flows in both orders, slices whose start or end is missing,
//! threads that change, calls and slices still open at the end) written
//! to a spill file, and the trace compared with the expected text byte for
//! byte.

use std::os::fd::AsRawFd;

use super::{write, Info};
use crate::timeline::record::{
    flow, kind, who, ChunkHdr, Rec, SharedRec, CHUNK_M, CHUNK_SHARED, MAGIC,
};

static REASON: &str = "chan receive";
static ODD: &str = "bad\u{1}";

/// Appends the bytes of `v`, a `repr(C)` record or header.
fn bytes_of<T: Copy>(out: &mut Vec<u8>, v: &T) {
    // SAFETY: T is one of the record types, plain data without padding
    // (their sizes are checked in module `record`), so all its bytes are
    // initialized.
    let b = unsafe { std::slice::from_raw_parts(v as *const T as *const u8, size_of::<T>()) };
    out.extend_from_slice(b);
}

fn m_chunk(out: &mut Vec<u8>, mid: u32, tid: i32, recs: &[Rec]) {
    let n = recs.len() as u32;
    bytes_of(
        out,
        &ChunkHdr {
            magic: MAGIC,
            kind: CHUNK_M,
            mid,
            tid,
            n,
            pad: 0,
        },
    );
    recs.iter().for_each(|r| bytes_of(out, r));
}

fn s_chunk(out: &mut Vec<u8>, recs: &[SharedRec]) {
    let n = recs.len() as u32;
    bytes_of(
        out,
        &ChunkHdr {
            magic: MAGIC,
            kind: CHUNK_SHARED,
            mid: 0,
            tid: 0,
            n,
            pad: 0,
        },
    );
    recs.iter().for_each(|r| bytes_of(out, r));
}

fn sr(tid: i32, who: u32, rec: Rec) -> SharedRec {
    SharedRec { tid, who, rec }
}

/// The spill file's contents.
fn records() -> Vec<u8> {
    let r = Rec::new;
    let reason = &REASON as *const &str as usize as u64;
    let odd = &ODD as *const &str as usize as u64;
    let p = |pid: u64| pid << 48;
    let (shared1, shared2, shared3) = (flow::SHARED | 1, flow::SHARED | 2, flow::SHARED | 3);
    let mut body = Vec::new();
    #[rustfmt::skip]
    m_chunk(&mut body, 5, 1005, &[
        r(100, kind::END_YIELD, 77, 0, 1), // started before the session
        r(110, kind::COUNTERS, 10, 3, 0),
        r(120, kind::SLICE_START, 1, 0x10 | p(1), 0),
        r(125, kind::SPAWN, 2, 0x20, flow::from_slice(5, 120) | flow::CREATE),
        r(130, kind::END_PARK, 1, reason, 1),
        r(140, kind::READY, 1, 0, 0), // by the scheduler
        r(150, kind::SLICE_START, 2, 0x20 | p(1), flow::from_slice(5, 120) | flow::CREATE),
        r(160, kind::END_YIELD, 2, 0, 0), // lost its P
        r(170, kind::SLICE_START, 1, 0x10 | p(2), shared1), // end read before start
        r(175, kind::SLICE_START, 3, 0x30 | p(2), 0), // the previous end was lost
        r(180, kind::END_EXIT, 3, 0, 2),
        r(185, kind::NETPOLL, 4, 0, 0),
        r(190, kind::SLICE_START, 4, 0x40, flow::from_slice(9, 10_000)), // from the future
        r(195, kind::END_PARK, 4, 0, 0),
        r(196, kind::SLICE_START, 4, 0x40 | p(1), flow::from_slice(2, 50)),
        r(197, kind::END_PARK, 4, odd, 1),
    ]);
    #[rustfmt::skip]
    m_chunk(&mut body, 2, 1002, &[
        r(50, kind::SLICE_START, 6, 0x60 | p(3), 0),
        r(60, kind::END_YIELD, 6, 0, 3),
        r(200, kind::SLICE_START, 7, 0x70 | p(3), shared2), // start read later
        r(210, kind::READY, 8, shared3, 0),
    ]);
    #[rustfmt::skip]
    m_chunk(&mut body, 5, 2005, &[ // M5 on another thread
        r(300, kind::SLICE_START, 9, 0x90 | p(1), flow::from_slice(5, 175)),
        r(305, kind::EXIT, 2, 0, 0),
    ]);
    m_chunk(
        &mut body,
        9,
        1009,
        &[r(
            310,
            kind::SLICE_START,
            10,
            0xa0 | p(4),
            flow::from_slice(5, 300),
        )],
    );
    #[rustfmt::skip]
    s_chunk(&mut body, &[
        sr(3001, who::FOREIGN, r(150, kind::CALL_ENTER, 11, 0xb0, 0)),
        sr(3001, who::FOREIGN, r(155, kind::READY, 1, shared1, 0)),
        sr(3001, who::FOREIGN, r(156, kind::SPAWN, 12, 0xc0, shared2 | flow::CREATE)),
        sr(3001, who::FOREIGN, r(160, kind::CALL_EXIT, 11, 0, 0)),
        sr(3002, who::FOREIGN, r(161, kind::READY, 13, 0, 0)),
        sr(3003, who::SYSMON, r(162, kind::RETAKE, 2, 5, 0)),
        sr(3003, who::SYSMON, r(163, kind::COUNTERS, 9, 4, 0)),
        sr(3003, who::SYSMON, r(164, kind::NETPOLL, 1, 0, 0)),
        sr(3004, who::FOREIGN, r(165, kind::CALL_EXIT, 14, 0, 0)),
        sr(3006, who::FOREIGN, r(166, kind::CALL_ENTER, 15, 0xd0, 0)),
        sr(3005, who::FOREIGN, r(167, kind::CALL_ENTER, 16, 0xe0, 0)),
        sr(3005, who::FOREIGN, r(168, kind::READY, 8, shared3, 0)),
        sr(3003, who::SYSMON, r(169, kind::EXIT, 1, 0, 0)),
    ]);
    body
}

/// The trace of the first `len` bytes of `body`.
fn trace(body: &[u8], len: u64, spill_err: i32) -> String {
    // No session may keep chunks in memory meanwhile: the writer reads
    // those first.
    let _g = crate::timeline::tests::SESSIONS.lock().unwrap();
    let dir = std::env::temp_dir().join(format!("gort-writer-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (spill, path) = (dir.join("spill"), dir.join("trace.json"));
    std::fs::write(&spill, body).unwrap();
    let sf = std::fs::File::open(&spill).unwrap();
    let of = std::fs::File::create(&path).unwrap();
    let info = Info {
        pid: 4242,
        start: (40, 1_000_000),
        end: (400, 1_000_000 + 720),
        clock: "tsc",
        spill_err,
    };
    assert_eq!(write(sf.as_raw_fd(), len, of.as_raw_fd(), &info), Ok(()));
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    text
}

#[test]
fn records_become_the_expected_trace() {
    let body = records();
    let text = trace(&body, body.len() as u64, 0);
    let want = EXPECTED.replace("{VERSION}", env!("CARGO_PKG_VERSION"));
    for (i, (a, b)) in text.lines().zip(want.lines()).enumerate() {
        assert_eq!(a, b, "line {}", i + 1);
    }
    assert_eq!(text, want);
}

#[test]
fn a_damaged_spill_file_makes_an_incomplete_trace() {
    let body = records();
    // The last chunk (the shared one) is cut short.
    let text = trace(&body, body.len() as u64 - 7, 0);
    assert!(text.starts_with("{\"traceEvents\":[\n{"));
    assert!(text
        .ends_with(",\"incomplete\":\"records were lost writing or reading the spill file\"}}\n"));
    assert!(text.contains("\"M9 (thread 1009)\""));
    assert!(!text.contains("foreign thread"));
    // A failed write of the spill file says so too.
    let text = trace(&body, body.len() as u64, libc::ENOSPC);
    assert!(text.contains("\"incomplete\""));
}

/// The trace of [`records`].
const EXPECTED: &str = r#"{"traceEvents":[
{"ph":"M","pid":1,"name":"process_name","args":{"name":"gort 4242 processors"}},
{"ph":"M","pid":1,"name":"process_sort_index","args":{"sort_index":0}},
{"ph":"M","pid":2,"name":"process_name","args":{"name":"gort 4242 threads"}},
{"ph":"M","pid":2,"name":"process_sort_index","args":{"sort_index":1}},
{"ph":"M","pid":2,"tid":1005,"name":"thread_name","args":{"name":"M5 (thread 1005)"}},
{"ph":"M","pid":2,"tid":1005,"name":"thread_sort_index","args":{"sort_index":5}},
{"ph":"M","pid":1,"tid":1,"name":"thread_name","args":{"name":"P0"}},
{"ph":"M","pid":1,"tid":1,"name":"thread_sort_index","args":{"sort_index":0}},
{"ph":"X","cat":"goroutine","name":"G77 0x0","pid":2,"tid":1005,"ts":1000.000,"dur":0.120,"args":{"goroutine":77,"end":"yield"}},
{"ph":"X","cat":"goroutine","name":"G77 0x0","pid":1,"tid":1,"ts":1000.000,"dur":0.120,"args":{"goroutine":77,"end":"yield"}},
{"ph":"C","name":"runnable","pid":1,"ts":1000.140,"args":{"goroutines":3}},
{"ph":"C","name":"live","pid":1,"ts":1000.140,"args":{"goroutines":10}},
{"ph":"i","s":"t","cat":"sched","name":"create G2 0x20","pid":2,"tid":1005,"ts":1000.170,"args":{"goroutine":2,"by":"G1 0x10"}},
{"ph":"X","cat":"goroutine","name":"G1 0x10","pid":2,"tid":1005,"ts":1000.160,"dur":0.020,"args":{"goroutine":1,"end":"chan receive"}},
{"ph":"X","cat":"goroutine","name":"G1 0x10","pid":1,"tid":1,"ts":1000.160,"dur":0.020,"args":{"goroutine":1,"end":"chan receive"}},
{"ph":"i","s":"t","cat":"sched","name":"block (chan receive)","pid":2,"tid":1005,"ts":1000.180,"args":{"goroutine":1,"reason":"chan receive"}},
{"ph":"i","s":"t","cat":"sched","name":"unblock G1","pid":2,"tid":1005,"ts":1000.200,"args":{"goroutine":1,"by":"the scheduler"}},
{"ph":"s","cat":"flow","name":"create","id":1,"pid":2,"tid":1005,"ts":1000.160},
{"ph":"f","bp":"e","cat":"flow","name":"create","id":1,"pid":2,"tid":1005,"ts":1000.220},
{"ph":"X","cat":"goroutine","name":"G2 0x20","pid":2,"tid":1005,"ts":1000.220,"dur":0.020,"args":{"goroutine":2,"end":"yield"}},
{"ph":"M","pid":1,"tid":2,"name":"thread_name","args":{"name":"P1"}},
{"ph":"M","pid":1,"tid":2,"name":"thread_sort_index","args":{"sort_index":1}},
{"ph":"X","cat":"goroutine","name":"G1 0x10","pid":2,"tid":1005,"ts":1000.260,"dur":0.010,"args":{"goroutine":1,"end":"unknown"}},
{"ph":"X","cat":"goroutine","name":"G1 0x10","pid":1,"tid":2,"ts":1000.260,"dur":0.010,"args":{"goroutine":1,"end":"unknown"}},
{"ph":"X","cat":"goroutine","name":"G3 0x30","pid":2,"tid":1005,"ts":1000.270,"dur":0.010,"args":{"goroutine":3,"end":"exit"}},
{"ph":"X","cat":"goroutine","name":"G3 0x30","pid":1,"tid":2,"ts":1000.270,"dur":0.010,"args":{"goroutine":3,"end":"exit"}},
{"ph":"i","s":"t","cat":"sched","name":"netpoll: 4 ready","pid":2,"tid":1005,"ts":1000.290,"args":{"ready":4}},
{"ph":"X","cat":"goroutine","name":"G4 0x40","pid":2,"tid":1005,"ts":1000.300,"dur":0.010,"args":{"goroutine":4,"end":"waiting"}},
{"ph":"i","s":"t","cat":"sched","name":"block (waiting)","pid":2,"tid":1005,"ts":1000.310,"args":{"goroutine":4,"reason":"waiting"}},
{"ph":"s","cat":"flow","name":"unblock","id":2,"pid":2,"tid":1002,"ts":1000.020},
{"ph":"f","bp":"e","cat":"flow","name":"unblock","id":2,"pid":2,"tid":1005,"ts":1000.312},
{"ph":"X","cat":"goroutine","name":"G4 0x40","pid":2,"tid":1005,"ts":1000.312,"dur":0.002,"args":{"goroutine":4,"end":"waiting"}},
{"ph":"X","cat":"goroutine","name":"G4 0x40","pid":1,"tid":1,"ts":1000.312,"dur":0.002,"args":{"goroutine":4,"end":"waiting"}},
{"ph":"i","s":"t","cat":"sched","name":"block (waiting)","pid":2,"tid":1005,"ts":1000.314,"args":{"goroutine":4,"reason":"waiting"}},
{"ph":"M","pid":2,"tid":1002,"name":"thread_name","args":{"name":"M2 (thread 1002)"}},
{"ph":"M","pid":2,"tid":1002,"name":"thread_sort_index","args":{"sort_index":2}},
{"ph":"M","pid":1,"tid":3,"name":"thread_name","args":{"name":"P2"}},
{"ph":"M","pid":1,"tid":3,"name":"thread_sort_index","args":{"sort_index":2}},
{"ph":"X","cat":"goroutine","name":"G6 0x60","pid":2,"tid":1002,"ts":1000.020,"dur":0.020,"args":{"goroutine":6,"end":"yield"}},
{"ph":"X","cat":"goroutine","name":"G6 0x60","pid":1,"tid":3,"ts":1000.020,"dur":0.020,"args":{"goroutine":6,"end":"yield"}},
{"ph":"M","pid":2,"tid":2005,"name":"thread_name","args":{"name":"M5 (thread 2005)"}},
{"ph":"M","pid":2,"tid":2005,"name":"thread_sort_index","args":{"sort_index":5}},
{"ph":"s","cat":"flow","name":"unblock","id":3,"pid":2,"tid":1005,"ts":1000.270},
{"ph":"f","bp":"e","cat":"flow","name":"unblock","id":3,"pid":2,"tid":2005,"ts":1000.520},
{"ph":"i","s":"g","cat":"sched","name":"exit (status 2)","pid":1,"tid":0,"ts":1000.530},
{"ph":"M","pid":2,"tid":1009,"name":"thread_name","args":{"name":"M9 (thread 1009)"}},
{"ph":"M","pid":2,"tid":1009,"name":"thread_sort_index","args":{"sort_index":9}},
{"ph":"s","cat":"flow","name":"unblock","id":4,"pid":2,"tid":2005,"ts":1000.520},
{"ph":"f","bp":"e","cat":"flow","name":"unblock","id":4,"pid":2,"tid":1009,"ts":1000.540},
{"ph":"M","pid":2,"tid":3001,"name":"thread_name","args":{"name":"foreign thread 3001"}},
{"ph":"M","pid":2,"tid":3001,"name":"thread_sort_index","args":{"sort_index":1073741825}},
{"ph":"i","s":"t","cat":"sched","name":"gort_call G11 0xb0","pid":2,"tid":3001,"ts":1000.220,"args":{"goroutine":11}},
{"ph":"s","cat":"flow","name":"unblock","id":5,"pid":2,"tid":3001,"ts":1000.230},
{"ph":"f","bp":"e","cat":"flow","name":"unblock","id":5,"pid":2,"tid":1005,"ts":1000.260},
{"ph":"i","s":"t","cat":"sched","name":"create G12 0xc0","pid":2,"tid":3001,"ts":1000.232,"args":{"goroutine":12,"by":"G11 0xb0"}},
{"ph":"s","cat":"flow","name":"unblock","id":6,"pid":2,"tid":3001,"ts":1000.232},
{"ph":"f","bp":"e","cat":"flow","name":"unblock","id":6,"pid":2,"tid":1002,"ts":1000.320},
{"ph":"X","cat":"goroutine","name":"G11 0xb0","pid":2,"tid":3001,"ts":1000.220,"dur":0.020,"args":{"goroutine":11,"end":"gort_call returned"}},
{"ph":"i","s":"t","cat":"sched","name":"gort_call returns","pid":2,"tid":3001,"ts":1000.240,"args":{"goroutine":11}},
{"ph":"M","pid":2,"tid":3002,"name":"thread_name","args":{"name":"foreign thread 3002"}},
{"ph":"M","pid":2,"tid":3002,"name":"thread_sort_index","args":{"sort_index":1073741825}},
{"ph":"i","s":"t","cat":"sched","name":"unblock G13","pid":2,"tid":3002,"ts":1000.242,"args":{"goroutine":13,"by":"a foreign thread"}},
{"ph":"M","pid":2,"tid":3003,"name":"thread_name","args":{"name":"sysmon (thread 3003)"}},
{"ph":"M","pid":2,"tid":3003,"name":"thread_sort_index","args":{"sort_index":1073741824}},
{"ph":"i","s":"t","cat":"sched","name":"retake: sysmon hands P2 off from M5","pid":1,"tid":3,"ts":1000.244,"args":{"p":2,"m":5}},
{"ph":"C","name":"runnable","pid":1,"ts":1000.246,"args":{"goroutines":4}},
{"ph":"C","name":"live","pid":1,"ts":1000.246,"args":{"goroutines":9}},
{"ph":"i","s":"t","cat":"sched","name":"netpoll: 1 ready","pid":2,"tid":3003,"ts":1000.248,"args":{"ready":1}},
{"ph":"M","pid":2,"tid":3004,"name":"thread_name","args":{"name":"foreign thread 3004"}},
{"ph":"M","pid":2,"tid":3004,"name":"thread_sort_index","args":{"sort_index":1073741825}},
{"ph":"i","s":"t","cat":"sched","name":"gort_call returns","pid":2,"tid":3004,"ts":1000.250,"args":{"goroutine":14}},
{"ph":"M","pid":2,"tid":3006,"name":"thread_name","args":{"name":"foreign thread 3006"}},
{"ph":"M","pid":2,"tid":3006,"name":"thread_sort_index","args":{"sort_index":1073741825}},
{"ph":"i","s":"t","cat":"sched","name":"gort_call G15 0xd0","pid":2,"tid":3006,"ts":1000.252,"args":{"goroutine":15}},
{"ph":"M","pid":2,"tid":3005,"name":"thread_name","args":{"name":"foreign thread 3005"}},
{"ph":"M","pid":2,"tid":3005,"name":"thread_sort_index","args":{"sort_index":1073741825}},
{"ph":"i","s":"t","cat":"sched","name":"gort_call G16 0xe0","pid":2,"tid":3005,"ts":1000.254,"args":{"goroutine":16}},
{"ph":"i","s":"g","cat":"sched","name":"exit","pid":1,"tid":0,"ts":1000.258},
{"ph":"X","cat":"goroutine","name":"G7 0x70","pid":2,"tid":1002,"ts":1000.320,"dur":0.400,"args":{"goroutine":7,"end":"running"}},
{"ph":"X","cat":"goroutine","name":"G7 0x70","pid":1,"tid":3,"ts":1000.320,"dur":0.400,"args":{"goroutine":7,"end":"running"}},
{"ph":"X","cat":"goroutine","name":"G9 0x90","pid":2,"tid":2005,"ts":1000.520,"dur":0.200,"args":{"goroutine":9,"end":"running"}},
{"ph":"X","cat":"goroutine","name":"G9 0x90","pid":1,"tid":1,"ts":1000.520,"dur":0.200,"args":{"goroutine":9,"end":"running"}},
{"ph":"M","pid":1,"tid":4,"name":"thread_name","args":{"name":"P3"}},
{"ph":"M","pid":1,"tid":4,"name":"thread_sort_index","args":{"sort_index":3}},
{"ph":"X","cat":"goroutine","name":"G10 0xa0","pid":2,"tid":1009,"ts":1000.540,"dur":0.180,"args":{"goroutine":10,"end":"running"}},
{"ph":"X","cat":"goroutine","name":"G10 0xa0","pid":1,"tid":4,"ts":1000.540,"dur":0.180,"args":{"goroutine":10,"end":"running"}},
{"ph":"X","cat":"goroutine","name":"G16 0xe0","pid":2,"tid":3005,"ts":1000.254,"dur":0.466,"args":{"goroutine":16,"end":"running"}},
{"ph":"X","cat":"goroutine","name":"G15 0xd0","pid":2,"tid":3006,"ts":1000.252,"dur":0.468,"args":{"goroutine":15,"end":"running"}}
],"displayTimeUnit":"ns","otherData":{"runtime":"gort {VERSION}","clock":"tsc"}}
"#;

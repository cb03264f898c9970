//! A whole session through the public entry points: start, goroutines
//! running, stop, and the trace file read back (the writer's own tests
//! feed it records directly).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::control::{start, stop};
use super::{on, store};
use crate::sched;

/// Held by tests that start a session or run the writer: the writer reads
/// the chunks a live session keeps in memory.
pub(super) static SESSIONS: std::sync::Mutex<()> = std::sync::Mutex::new(());

static RAN: AtomicBool = AtomicBool::new(false);

unsafe extern "C" fn traced_goroutine(_: *mut std::ffi::c_void) {
    crate::sched::gosched();
    RAN.store(true, Ordering::SeqCst);
}

#[test]
fn a_session_writes_a_complete_file() {
    let _g = SESSIONS.lock().unwrap();
    let dir = std::env::temp_dir().join(format!("gort-timeline-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("t.json");
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    assert_eq!(stop(), Err(libc::EINVAL));
    start(&c).unwrap();
    assert!(on());
    assert_eq!(start(&c), Err(libc::EBUSY));
    sched::spawn(traced_goroutine, std::ptr::null_mut());
    while !RAN.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(1));
    }
    stop().unwrap();
    assert!(!on());
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("{\"traceEvents\":["), "{text}");
    assert!(text.ends_with("}}\n"), "{text}");
    assert!(text.contains("\"ph\":\"X\""), "{text}");
    assert!(text.contains("traced_goroutine"), "{text}");
    assert!(text.contains("\"end\":\"yield\""), "{text}");

    // A second session whose records mostly go to the spill file (one
    // chunk fits in memory): every slice is paired in order.
    store::set_mem_cap(100_000);
    let path2 = dir.join("spill.json");
    std::fs::create_dir_all(&dir).unwrap();
    let c2 = std::ffi::CString::new(path2.to_str().unwrap()).unwrap();
    start(&c2).unwrap();
    YIELDS_DONE.store(0, Ordering::SeqCst);
    for _ in 0..2 {
        sched::spawn(yielder, std::ptr::null_mut());
    }
    while YIELDS_DONE.load(Ordering::SeqCst) < 2 {
        std::thread::sleep(Duration::from_millis(1));
    }
    stop().unwrap();
    store::set_mem_cap(256 << 20);
    let text = std::fs::read_to_string(&path2).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(text.ends_with("}}\n"));
    let yielded = text.matches("\"end\":\"yield\"").count();
    // Each yield's slice is on its M's track, and on its P's unless
    // the P changed hands meanwhile.
    assert!(yielded >= 2 * YIELDS, "{yielded} yield slices");
    assert!(
        !text.contains("\"end\":\"unknown\""),
        "a slice start without its end"
    );
    assert!(!text.contains("incomplete"));
}

const YIELDS: usize = 5000;
static YIELDS_DONE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

unsafe extern "C" fn yielder(_: *mut std::ffi::c_void) {
    for _ in 0..YIELDS {
        crate::sched::gosched();
    }
    YIELDS_DONE.fetch_add(1, Ordering::SeqCst);
}

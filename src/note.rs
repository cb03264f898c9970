//! `Note`: a one-waiter wake-up token on a futex (Go: `note`).
//!
//! A note is either empty, notified, or has its waiter asleep. `notify`
//! leaves a token that the next (or current) `wait` consumes, so a
//! notification that arrives before the wait is never lost. Exactly one
//! thread waits on a given note at a time (its owner: an idle M, or a
//! foreign thread blocked in a gort call); any thread may notify.
//!
//! A notify costs one atomic swap, plus a `FUTEX_WAKE` only when the waiter
//! is actually asleep.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::os;

const EMPTY: u32 = 0;
const NOTIFIED: u32 = 1;
const SLEEPING: u32 = 2;

/// A one-waiter wake-up token.
#[derive(Debug)]
pub(crate) struct Note {
    state: AtomicU32,
}

impl Default for Note {
    fn default() -> Self {
        Self::new()
    }
}

impl Note {
    /// An empty note.
    pub(crate) const fn new() -> Self {
        Self {
            state: AtomicU32::new(EMPTY),
        }
    }

    /// Leaves a token and wakes the waiter if it sleeps.
    ///
    /// The swap is the last access to the note's memory: a waiter that
    /// consumes the token may free the note at once, so the wake-up after
    /// it uses only the address (a futex wake on memory that was freed or
    /// reused at worst causes a spurious wake-up, which every wait loop
    /// tolerates).
    pub(crate) fn notify(&self) {
        let addr = self.state.as_ptr() as usize;
        if self.state.swap(NOTIFIED, Ordering::Release) == SLEEPING {
            os::futex_wake_addr(addr, 1);
        }
    }

    /// Waits for a token and consumes it. With a deadline (monotonic ns),
    /// returns false if it passed first. Only the note's owner may wait.
    pub(crate) fn wait(&self, deadline: Option<i64>) -> bool {
        loop {
            if self
                .state
                .compare_exchange(NOTIFIED, EMPTY, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return true;
            }
            let timeout = match deadline {
                Some(d) => {
                    let left = d - os::nanotime();
                    if left <= 0 {
                        // Withdraw: a token that raced in is still consumed.
                        return self
                            .state
                            .compare_exchange(NOTIFIED, EMPTY, Ordering::Acquire, Ordering::Relaxed)
                            .is_ok();
                    }
                    Some(left)
                }
                None => None,
            };
            match self
                .state
                .compare_exchange(EMPTY, SLEEPING, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) | Err(SLEEPING) => {}
                Err(_) => continue, // notified meanwhile
            }
            os::futex_wait(&self.state, SLEEPING, timeout);
            // Back to EMPTY unless a token arrived; the loop consumes it.
            let _ =
                self.state
                    .compare_exchange(SLEEPING, EMPTY, Ordering::Relaxed, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn token_before_wait_is_kept() {
        let n = Note::new();
        n.notify();
        assert!(n.wait(Some(os::nanotime() + 1_000_000_000)));
    }

    #[test]
    fn deadline_passes() {
        let n = Note::new();
        let t0 = os::nanotime();
        assert!(!n.wait(Some(t0 + 5_000_000)));
        assert!(os::nanotime() - t0 >= 5_000_000);
    }

    #[test]
    fn cross_thread_wakeups_are_never_lost() {
        // Ping-pong 20,000 times between two notes; a lost wake-up hangs.
        let a = Arc::new((Note::new(), Note::new()));
        let b = a.clone();
        let t = std::thread::spawn(move || {
            for _ in 0..20_000 {
                b.0.wait(None);
                b.1.notify();
            }
        });
        for _ in 0..20_000 {
            a.0.notify();
            a.1.wait(None);
        }
        t.join().unwrap();
    }
}

//! Context tests: the tree's lists and references, on the test threads.

use super::*;
use crate::chan::{recv, Recv};

const MS: i64 = 1_000_000;

fn r<'a>(c: *const Context) -> &'a Context {
    // SAFETY: the tests use a context only while they hold a reference.
    unsafe { &*c }
}

fn rel(c: *const Context) {
    // SAFETY: a reference the test owns.
    unsafe { release(c) };
}

/// Children in `c`'s list (Go's test reads `len(c.children)`).
fn children(c: &Context) -> usize {
    let _g = c.lock.lock();
    let mut n = 0;
    let mut k = c.first_child.get();
    while !k.is_null() {
        n += 1;
        // SAFETY: listed children are alive under the lock.
        k = unsafe { (*k).next.get() };
    }
    n
}

fn is_done(c: &Context) -> bool {
    let d = done(c);
    // SAFETY: a live channel borrowed from a context we hold.
    unsafe { recv(&*d, ptr::null_mut(), false) == Recv::Closed }
}

fn bg<'a>() -> &'a Context {
    r(background())
}

#[test]
fn cancel_removes() {
    // Go: TestCancelRemoves.
    let ctx = with_cancel(bg());
    assert_eq!(children(r(ctx)), 0);
    let child = with_cancel(r(ctx));
    assert_eq!(children(r(ctx)), 1);
    cancel(r(child));
    assert_eq!(children(r(ctx)), 0, "after cancelling the WithCancel child");
    let child2 = with_deadline(r(ctx), nanotime() + 3_600_000 * MS);
    assert_eq!(children(r(ctx)), 1);
    assert!(r(child2).timer.is_queued());
    cancel(r(child2));
    assert_eq!(
        children(r(ctx)),
        0,
        "after cancelling the WithDeadline child"
    );
    assert!(!r(child2).timer.is_queued(), "cancel stops the deadline");
    // Released without a cancel: leaves the list too.
    let child3 = with_cancel(r(ctx));
    assert_eq!(children(r(ctx)), 1);
    rel(child3);
    assert_eq!(
        children(r(ctx)),
        0,
        "after releasing a child with no children"
    );
    assert_eq!(
        r(ctx).refs.load(Ordering::Relaxed),
        1,
        "only the program's token"
    );
    rel(child);
    rel(child2);
    rel(ctx);
}

#[test]
fn cancel_reaches_descendants_not_ancestors() {
    let root = with_cancel(bg());
    let a = with_cancel(r(root));
    let b = with_cancel(r(root));
    let a1 = with_cancel(r(a));
    let a2 = with_deadline(r(a), nanotime() + 3_600_000 * MS);
    let a11 = with_cancel(r(a1));
    assert!(!is_done(r(a11)));
    cancel(r(a));
    for c in [a, a1, a2, a11] {
        assert_eq!(err(r(c)), CANCELED);
        assert!(is_done(r(c)));
    }
    assert_eq!(err(r(root)), 0);
    assert_eq!(err(r(b)), 0);
    assert_eq!(children(r(root)), 1, "a left, b stays");
    // Born cancelled under a cancelled parent, with its error.
    let late = with_cancel(r(a1));
    assert_eq!(err(r(late)), CANCELED);
    assert!(is_done(r(late)));
    assert_eq!(children(r(a1)), 0);
    cancel(r(a)); // idempotent
    cancel(r(root));
    assert_eq!(err(r(b)), CANCELED);
    for c in [late, a11, a2, a1, a, b, root] {
        rel(c);
    }
}

#[test]
fn released_parent_still_passes_cancellation_and_deadline_on() {
    let root = with_cancel(bg());
    let mid = with_cancel(r(root));
    let leaf = with_cancel(r(mid));
    rel(mid); // kept by leaf's link
    assert_eq!(children(r(root)), 1);
    cancel(r(root));
    assert_eq!(err(r(leaf)), CANCELED);
    assert_eq!(children(r(root)), 0);
    rel(leaf); // frees leaf, then mid
    rel(root);

    let mid = with_deadline(bg(), nanotime() + 20 * MS);
    let leaf = with_cancel(r(mid));
    rel(mid);
    assert!(
        r(leaf).deadline <= nanotime() + 20 * MS,
        "a child inherits the deadline"
    );
    let d = done(r(leaf));
    // SAFETY: borrowed from leaf, which we hold.
    assert_eq!(unsafe { recv(&*d, ptr::null_mut(), true) }, Recv::Closed);
    assert_eq!(err(r(leaf)), DEADLINE_EXCEEDED);
    rel(leaf);
}

#[test]
fn a_released_context_stops_its_deadline_once_its_list_is_empty() {
    let root = with_cancel(bg());
    let d = with_deadline(r(root), nanotime() + 3_600_000 * MS);
    let kid = with_cancel(r(d));
    let rd = r(d);
    let node = &rd.timer as *const TimerNode;
    rel(d);
    // SAFETY: d lives on, listed in root and holding kid's link.
    assert!(unsafe { (*node).is_queued() }, "kept for its child");
    assert_eq!(children(r(root)), 1);
    cancel(r(kid)); // d's list empties: nobody can observe d any more
    assert_eq!(children(r(root)), 0, "d left root, unreferenced");
    rel(kid);
    rel(root);
}

/// A chain of `n` contexts under a new root, the middle ones released
/// (the links keep them): returns (root, leaf).
fn chain(n: usize) -> (*const Context, *const Context) {
    let root = with_cancel(bg());
    let mut last = root;
    for i in 0..n {
        let next = with_cancel(r(last));
        if i > 0 {
            rel(last);
        }
        last = next;
    }
    (root, last)
}

#[test]
fn deep_chains_cancel_and_free_without_recursion() {
    // Recursion would need a frame per level; a test thread's 2 MiB stack
    // would not hold 200,000 of them.
    let (root, leaf) = chain(200_000);
    cancel(r(root)); // frees the middle ones as it goes
    assert_eq!(err(r(leaf)), CANCELED);
    rel(leaf);
    rel(root);

    let (root, leaf) = chain(200_000);
    rel(leaf); // frees the whole chain up to root, in a loop
    assert_eq!(children(r(root)), 0);
    assert_eq!(r(root).refs.load(Ordering::Relaxed), 1);
    rel(root);
}

#[test]
fn background_is_inert() {
    let b = bg();
    assert!(done(b).is_null());
    assert_eq!(err(b), 0);
    cancel(b);
    retain(b);
    rel(background());
    rel(background());
    assert_eq!(err(b), 0);
    let c = with_deadline(b, i64::MAX);
    assert!(!r(c).timer.is_queued(), "no deadline: no timer");
    let p = with_deadline(b, nanotime() - 1);
    assert_eq!(
        err(r(p)),
        DEADLINE_EXCEEDED,
        "a deadline past is cancelled at once"
    );
    assert!(is_done(r(p)));
    rel(p);
    rel(c);
}

#[test]
fn many_threads_cancel_and_release_one_tree() {
    let root = with_cancel(bg());
    let rp = root as usize;
    let threads: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                let root = rp as *const Context;
                for j in 0..2000 {
                    let c = with_cancel(r(root));
                    let g = with_cancel(r(c));
                    if (i + j) % 2 == 0 {
                        cancel(r(c));
                    }
                    rel(c);
                    rel(g);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(children(r(root)), 0);
    assert_eq!(r(root).refs.load(Ordering::Relaxed), 1);
    rel(root);
}

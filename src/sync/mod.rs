//! Go's sync primitives for C: runtime semaphores and notify lists, Mutex,
//! RWMutex, Cond, WaitGroup, Once.
//!
//! All the C types are plain storage whose all-zero value is ready to
//! use, as in Go; no init or destroy call exists. Their waiters park
//! through [`sema`], Go's address-keyed runtime semaphore (and, for Cond,
//! the notify list kept beside it), which works the same for goroutines
//! (which park) and foreign threads (which block).

pub(crate) mod cond;
pub(crate) mod mutex;
pub(crate) mod once;
pub(crate) mod rwmutex;
pub(crate) mod sema;
pub(crate) mod waitgroup;

//! Go's sync primitives for C: runtime semaphores, Mutex, WaitGroup, Once.
//!
//! All three C types are plain storage whose all-zero value is ready to
//! use, as in Go; no init or destroy call exists. Their waiters park
//! through [`sema`], Go's address-keyed runtime semaphore, which works the
//! same for goroutines (which park) and foreign threads (which block).

pub mod mutex;
pub mod once;
pub mod sema;
pub mod waitgroup;

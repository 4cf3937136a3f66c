//! Huge rows are not read ahead: while one is held (read from a source
//! connection and not yet written), source connections read no further.
//!
//! tokio-postgres reads a connection on the task that drives it
//! (`conn::drive`), and decodes whole messages into a channel ahead of
//! the `copy_out` stream: up to three messages besides the one the reader
//! holds. For rows of ordinary size that is a few kilobytes; for rows of
//! hundreds of megabytes it is the largest cost of a copy, outside the
//! pipeline's byte budget. So the pipeline `hold`s each row of a batch's
//! size or more until its sink wrote it, and the task that drives a
//! source connection stops polling it (reading nothing, so the server
//! blocks) while any hold is alive, and resumes when the last one ends.
//!
//! What this bounds: a connection stops within one poll of a huge row
//! reaching the reader, instead of after three more messages. It cannot
//! stop in the middle of a message it has begun (tokio-postgres gives no
//! hook under its decoder), so a message it was already reading when the
//! hold began is still completed once the gate opens, not before.
//!
//! Only source connections are gated: a sink's connection must keep
//! writing the very row that holds the gate.

use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

/// Holds alive, and the tasks waiting for them to end.
struct Gate {
    holds: usize,
    waiting: Vec<Waker>,
}

static GATE: Mutex<Gate> = Mutex::new(Gate {
    holds: 0,
    waiting: Vec::new(),
});

/// A huge row being held: source connections read nothing until it is
/// dropped (with every other hold).
#[must_use = "the gate opens again when the hold is dropped"]
pub struct Hold(());

/// Closes the gate until the returned hold (and every other) is dropped.
pub fn hold() -> Hold {
    GATE.lock().expect("read gate lock").holds += 1;
    Hold(())
}

impl Drop for Hold {
    fn drop(&mut self) {
        let waiting = {
            let mut gate = GATE.lock().expect("read gate lock");
            gate.holds -= 1;
            if gate.holds > 0 {
                return;
            }
            std::mem::take(&mut gate.waiting)
        };
        for waker in waiting {
            waker.wake();
        }
    }
}

/// `Ready` while no hold is alive; else `Pending`, and `cx` is woken when
/// the last one ends.
pub fn poll_open(cx: &mut Context<'_>) -> Poll<()> {
    let mut gate = GATE.lock().expect("read gate lock");
    if gate.holds == 0 {
        return Poll::Ready(());
    }
    if !gate.waiting.iter().any(|w| w.will_wake(cx.waker())) {
        gate.waiting.push(cx.waker().clone());
    }
    Poll::Pending
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Closed while any hold lives, open again (and the waiting task
    /// woken, once) when the last one is dropped.
    #[test]
    fn the_gate_opens_when_the_last_hold_ends() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&count));
        let mut cx = Context::from_waker(&waker);
        assert!(poll_open(&mut cx).is_ready());
        let (a, b) = (hold(), hold());
        assert!(poll_open(&mut cx).is_pending());
        assert!(poll_open(&mut cx).is_pending());
        drop(a);
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
        assert!(poll_open(&mut cx).is_pending());
        drop(b);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(poll_open(&mut cx).is_ready());
    }
}

//! Log lines go to stderr in batches, written by a background thread.
//!
//! A proxy logs a line per request. Written one `write` each, and handed over by waking
//! a writer thread for each, a line cost more CPU than proxying the request did (a
//! third more per request on the peer bench). Here a line is appended to a shared
//! buffer under a short lock; the writer thread is woken only when lines arrive in an
//! empty buffer or the buffer passes [`FLUSH_AT`], lets a batch gather for at most
//! [`LINGER`] and writes it with one call. Nothing is dropped: when stderr stalls and
//! [`CAP`] bytes are waiting, loggers wait for room (a slow log consumer slows the
//! proxy rather than losing lines or memory). The [`FlushGuard`] writes what is left
//! when dropped.

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;
use tracing_subscriber::fmt::MakeWriter;

/// Longest a line waits in the buffer before it is written.
pub(super) const LINGER: Duration = Duration::from_millis(50);
/// A buffer this big is written without waiting for [`LINGER`].
const FLUSH_AT: usize = 64 * 1024;
/// Loggers wait once this much is waiting to be written.
const CAP: usize = 4 * 1024 * 1024;

struct Shared {
    state: Mutex<State>,
    /// Where lines go: written by the thread, and directly once it has stopped.
    out: Mutex<Box<dyn Write + Send>>,
    /// Lines arrived in an empty buffer, the buffer passed FLUSH_AT, or closing.
    ready: Condvar,
    /// A batch was taken: there is room again.
    room: Condvar,
}

#[derive(Default)]
struct State {
    buf: Vec<u8>,
    closed: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A logger that panicked mid-append leaves at worst a partial line.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes `bytes` to the output. A closed or full output cannot be reported
    /// anywhere: the lines are then dropped.
    fn write_out(&self, bytes: &[u8]) {
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = out.write_all(bytes).and_then(|()| out.flush());
    }
}

/// The `MakeWriter` handed to tracing-subscriber.
#[derive(Clone)]
pub(super) struct BatchWriter {
    shared: Arc<Shared>,
}

/// Writes what is still buffered and stops the writer thread when dropped.
pub struct FlushGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// Starts the writer thread for `out`; a line waits at most `linger` ([`LINGER`]) to be
/// written. Without a thread (the OS refused one), lines are written directly by whoever
/// logs them.
pub(super) fn batched<W: Write + Send + 'static>(
    out: W,
    linger: Duration,
) -> (BatchWriter, FlushGuard) {
    let shared = Arc::new(Shared {
        state: Mutex::default(),
        out: Mutex::new(Box::new(out)),
        ready: Condvar::new(),
        room: Condvar::new(),
    });
    let thread = {
        let shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || write_batches(&shared, linger))
    };
    let thread = match thread {
        Ok(handle) => Some(handle),
        Err(_) => {
            shared.lock().closed = true;
            None
        }
    };
    let writer = BatchWriter {
        shared: Arc::clone(&shared),
    };
    (writer, FlushGuard { shared, thread })
}

fn write_batches(shared: &Shared, linger: Duration) {
    let mut batch = Vec::new();
    let mut state = shared.lock();
    loop {
        while state.buf.is_empty() && !state.closed {
            state = shared
                .ready
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if state.buf.is_empty() {
            return; // closed and drained
        }
        if state.buf.len() < FLUSH_AT && !state.closed {
            state = shared
                .ready
                .wait_timeout_while(state, linger, |s| s.buf.len() < FLUSH_AT && !s.closed)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        std::mem::swap(&mut state.buf, &mut batch);
        drop(state);
        shared.room.notify_all();
        shared.write_out(&batch);
        batch.clear();
        batch.shrink_to(FLUSH_AT * 2); // after a burst, do not keep megabytes around
        state = shared.lock();
    }
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.ready.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl<'a> MakeWriter<'a> for BatchWriter {
    type Writer = LineSink<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineSink(&self.shared)
    }
}

/// One event's output: tracing-subscriber formats a whole line and writes it once.
pub(super) struct LineSink<'a>(&'a Shared);

impl Write for LineSink<'_> {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        let shared = self.0;
        let mut state = shared.lock();
        if state.closed {
            // Writer thread gone (shutting down, or never started): write it ourselves.
            drop(state);
            shared.write_out(line);
            return Ok(line.len());
        }
        while state.buf.len() >= CAP && !state.closed {
            state = shared
                .room
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        let before = state.buf.len();
        state.buf.extend_from_slice(line);
        let wake = before == 0 || (before < FLUSH_AT && state.buf.len() >= FLUSH_AT);
        drop(state);
        if wake {
            shared.ready.notify_one();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// A `Write` whose output the test can read, recording each write call.
    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<Vec<u8>>>>);

    impl Write for Recorder {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn log(writer: &BatchWriter, line: &str) {
        writer.make_writer().write_all(line.as_bytes()).unwrap();
    }

    #[test]
    fn lines_are_written_in_order_in_few_writes_within_the_linger() {
        let out = Recorder::default();
        let (writer, guard) = batched(out.clone(), LINGER);
        let started = Instant::now();
        for i in 0..1000 {
            log(&writer, &format!("line {i}\n"));
        }
        while out.0.lock().unwrap().concat().len() < 8890 {
            assert!(started.elapsed() < LINGER * 40, "lines not written in time");
            std::thread::sleep(Duration::from_millis(5));
        }
        let writes = out.0.lock().unwrap().clone();
        let text = String::from_utf8(writes.concat()).unwrap();
        let expected: String = (0..1000).map(|i| format!("line {i}\n")).collect();
        assert_eq!(text, expected);
        assert!(writes.len() <= 3, "{} writes for 1000 lines", writes.len());
        drop(guard);
    }

    #[test]
    fn dropping_the_guard_writes_what_is_left() {
        let out = Recorder::default();
        let (writer, guard) = batched(out.clone(), Duration::from_secs(3600));
        log(&writer, "before\n");
        drop(guard);
        assert_eq!(out.0.lock().unwrap().concat(), b"before\n");
    }

    #[test]
    fn lines_logged_after_the_guard_is_dropped_go_to_the_same_writer() {
        let out = Recorder::default();
        let (writer, guard) = batched(out.clone(), Duration::from_secs(3600));
        drop(guard);
        log(&writer, "after shutdown\n");
        assert_eq!(out.0.lock().unwrap().concat(), b"after shutdown\n");
    }

    #[test]
    fn a_big_batch_is_written_without_waiting_for_the_linger() {
        let out = Recorder::default();
        // A linger no test waits for: only the size can get the batch written.
        let (writer, _guard) = batched(out.clone(), Duration::from_secs(3600));
        let line = "x".repeat(1023) + "\n";
        for _ in 0..(FLUSH_AT / 1024) {
            log(&writer, &line);
        }
        let started = Instant::now();
        while out.0.lock().unwrap().is_empty() {
            assert!(started.elapsed() < Duration::from_secs(20), "not written");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(out.0.lock().unwrap().concat().len(), FLUSH_AT);
    }
}

//! What code under test logs, as text: for asserting that a refusal is
//! logged, and that no secret ever is.

use std::sync::{Arc, Mutex, MutexGuard};

/// Collects log lines while the guard of [`LogCapture::install`] lives (on
/// this thread, which a `#[tokio::test]` runtime and its spawned tasks
/// share).
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    pub fn install(&self) -> tracing::subscriber::DefaultGuard {
        let sink = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || sink.clone())
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        // A callsite first reached by another test's thread (no subscriber
        // there) may have cached "never": ask every callsite again now that
        // this one listens.
        tracing::callsite::rebuild_interest_cache();
        guard
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&lock(&self.0)).into_owned()
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        lock(&self.0).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn lock(bytes: &Mutex<Vec<u8>>) -> MutexGuard<'_, Vec<u8>> {
    bytes
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

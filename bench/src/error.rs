//! The bench's error type: it is a tool, so any failure ends the run with a
//! message saying what was being done.

/// Any failure, with its message.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The bench's result.
pub(crate) type Result<T, E = BoxError> = std::result::Result<T, E>;

/// A failure described by `message`.
pub(crate) fn fail(message: impl Into<String>) -> BoxError {
    message.into().into()
}

/// Adds what was being done to an error.
pub(crate) trait Context<T> {
    fn context(self, what: &str) -> Result<T>;
}

impl<T, E: std::fmt::Display> Context<T> for std::result::Result<T, E> {
    fn context(self, what: &str) -> Result<T> {
        self.map_err(|err| fail(format!("{what}: {err}")))
    }
}

impl<T> Context<T> for Option<T> {
    fn context(self, what: &str) -> Result<T> {
        self.ok_or_else(|| fail(what))
    }
}

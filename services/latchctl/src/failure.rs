//! Why a command failed, and the exit code scripts rely on (documented in
//! `latchctl --help` and the README): the gRPC status decides, its
//! `ErrorInfo.reason` is printed beside the message.

use std::{fmt, process::ExitCode};

use tonic::{Code, Status};
use tonic_types::StatusExt;

/// The documented exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    Other = 1,
    Usage = 2,
    /// Not signed in, or signing in failed.
    Auth = 3,
    Denied = 4,
    NotFound = 5,
    Unavailable = 6,
}

/// A failed command: what to tell the person, and how to exit.
#[derive(Debug)]
pub(crate) struct Failure {
    exit: Exit,
    message: String,
}

impl Failure {
    pub(crate) fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
        }
    }

    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, message)
    }

    pub(crate) fn other(message: impl Into<String>) -> Self {
        Self::new(Exit::Other, message)
    }

    pub(crate) fn not_signed_in(message: impl Into<String>) -> Self {
        Self::new(Exit::Auth, message)
    }

    /// A refusal of an admin call (`what` says which).
    pub(crate) fn from_status(what: &str, status: &Status) -> Self {
        Self::new(exit_for(status.code()), describe(what, status))
    }

    /// A refusal while signing in or refreshing: anything the caller could
    /// fix by signing in differently (a wrong password or code, an
    /// inactive account, a spent login token) is "auth failed"; an outage
    /// stays an outage.
    pub(crate) fn from_sign_in(what: &str, status: &Status) -> Self {
        let exit = match status.code() {
            Code::Unauthenticated
            | Code::PermissionDenied
            | Code::InvalidArgument
            | Code::FailedPrecondition => Exit::Auth,
            code => exit_for(code),
        };
        Self::new(exit, describe(what, status))
    }

    pub(crate) fn exit(&self) -> Exit {
        self.exit
    }

    pub(crate) fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.exit as u8)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The exit code of a gRPC status outside sign-in.
pub(crate) fn exit_for(code: Code) -> Exit {
    match code {
        Code::InvalidArgument | Code::OutOfRange => Exit::Usage,
        Code::Unauthenticated => Exit::Auth,
        Code::PermissionDenied => Exit::Denied,
        Code::NotFound => Exit::NotFound,
        // Nothing answered in time, or nothing listens: try again later.
        Code::Unavailable | Code::DeadlineExceeded => Exit::Unavailable,
        _ => Exit::Other,
    }
}

/// `what: message (REASON)`, with the retry delay of a rate limit and a
/// hint where the status alone says little.
fn describe(what: &str, status: &Status) -> String {
    let mut text = format!("{what}: {}", status.message());
    if let Some(info) = status.get_details_error_info() {
        text.push_str(&format!(" ({})", info.reason));
    } else if status.code() == Code::Unavailable {
        // No ErrorInfo: the transport failed, not Latch.
        text.push_str(" (UNAVAILABLE); is Latch listening at --server / LATCHCTL_SERVER?");
    } else {
        text.push_str(&format!(" ({:?})", status.code()));
    }
    if let Some(delay) = status.get_details_retry_info().and_then(|r| r.retry_delay) {
        text.push_str(&format!("; retry in {}s", delay.as_secs_f64().ceil()));
    }
    match status.code() {
        Code::Unimplemented => text.push_str("; this Latch does not serve it yet"),
        Code::PermissionDenied => text
            .push_str("; the signed-in user's roles (or the account's RPC list) do not allow it"),
        _ => {}
    }
    text
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use tonic_types::ErrorDetails;

    use super::*;

    fn refused(code: Code, reason: &str) -> Status {
        let details = ErrorDetails::with_error_info(reason, "latch.dev", HashMap::new());
        Status::with_error_details(code, "refused", details)
    }

    #[test]
    fn admin_calls_map_each_status_to_its_documented_code() {
        let cases = [
            (Code::InvalidArgument, Exit::Usage),
            (Code::Unauthenticated, Exit::Auth),
            (Code::PermissionDenied, Exit::Denied),
            (Code::NotFound, Exit::NotFound),
            (Code::Unavailable, Exit::Unavailable),
            (Code::DeadlineExceeded, Exit::Unavailable),
            (Code::Internal, Exit::Other),
            (Code::Unimplemented, Exit::Other),
            (Code::ResourceExhausted, Exit::Other),
            (Code::FailedPrecondition, Exit::Other),
        ];
        for (code, exit) in cases {
            let failure = Failure::from_status("call", &refused(code, "X"));
            assert_eq!(failure.exit(), exit, "{code:?}");
        }
    }

    #[test]
    fn sign_in_refusals_are_auth_failures_but_outages_stay_outages() {
        for (code, reason) in [
            (Code::Unauthenticated, "INVALID_CREDENTIALS"),
            (Code::FailedPrecondition, "ACCOUNT_INACTIVE"),
            (Code::InvalidArgument, "CODE_INVALID"),
            (Code::FailedPrecondition, "TOO_MANY_ATTEMPTS"),
        ] {
            let failure = Failure::from_sign_in("login", &refused(code, reason));
            assert_eq!(failure.exit(), Exit::Auth, "{reason}");
        }
        let down = Failure::from_sign_in("login", &Status::unavailable("connection refused"));
        assert_eq!(down.exit(), Exit::Unavailable);
    }

    #[test]
    fn the_message_names_the_reason() {
        let failure = Failure::from_status("show user", &refused(Code::NotFound, "NOT_FOUND"));
        assert_eq!(failure.to_string(), "show user: refused (NOT_FOUND)");
    }
}

//! The one place where domain errors become gRPC statuses: the code from the
//! reason's kind, `google.rpc.ErrorInfo` with the stable reason, `BadRequest`
//! naming the field, `RetryInfo` when rate limited. Internal causes are
//! logged here and never sent.

use latch_domain::{Error, Kind};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// `ErrorInfo.domain` for every Latch error.
pub const ERROR_DOMAIN: &str = "latch.dev";

pub trait IntoStatus {
    fn into_status(self) -> Status;
}

impl IntoStatus for Error {
    fn into_status(self) -> Status {
        let code = code_of(self.kind());
        match self.kind() {
            Kind::Internal | Kind::Unavailable => tracing::error!(error = %self, "request failed"),
            _ => tracing::debug!(reason = self.reason().as_str(), "request refused"),
        }
        let mut details = ErrorDetails::with_error_info(
            self.reason().as_str(),
            ERROR_DOMAIN,
            std::collections::HashMap::<String, String>::new(),
        );
        if let Some(v) = self.violation() {
            details.add_bad_request_violation(v.field.clone(), v.description.clone());
        }
        if let Some(retry) = self.retry_after() {
            details.set_retry_info(Some(retry));
        }
        Status::with_error_details(code, self.message().to_owned(), details)
    }
}

/// `result.or_status()?` in handlers.
pub trait ResultExt<T> {
    fn or_status(self) -> Result<T, Status>;
}

impl<T> ResultExt<T> for Result<T, Error> {
    fn or_status(self) -> Result<T, Status> {
        self.map_err(IntoStatus::into_status)
    }
}

pub fn code_of(kind: Kind) -> Code {
    match kind {
        Kind::InvalidArgument => Code::InvalidArgument,
        Kind::Unauthenticated => Code::Unauthenticated,
        Kind::PermissionDenied => Code::PermissionDenied,
        Kind::NotFound => Code::NotFound,
        Kind::AlreadyExists => Code::AlreadyExists,
        Kind::FailedPrecondition => Code::FailedPrecondition,
        Kind::ResourceExhausted => Code::ResourceExhausted,
        Kind::Unavailable => Code::Unavailable,
        Kind::Unimplemented => Code::Unimplemented,
        Kind::Internal => Code::Internal,
    }
}

/// The stable reason of a status, if it carries one (for clients and tests).
pub fn reason_of(status: &Status) -> Option<String> {
    status.get_details_error_info().map(|info| info.reason)
}

#[cfg(test)]
mod tests {
    use latch_domain::Reason;

    use super::*;

    #[test]
    fn field_errors_carry_reason_and_field() {
        let status = Error::field(Reason::WeakPassword, "password", "too short").into_status();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(reason_of(&status).as_deref(), Some("WEAK_PASSWORD"));
        let bad = status.get_details_bad_request().map(|b| b.field_violations);
        assert_eq!(bad.map(|v| v[0].field.clone()).as_deref(), Some("password"));
    }

    #[test]
    fn internal_errors_do_not_leak_their_cause() {
        let status = Error::internal_msg("relation \"users\" does not exist").into_status();
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("users"));
    }

    #[test]
    fn rate_limits_say_when_to_retry() {
        let status = Error::rate_limited(std::time::Duration::from_secs(7)).into_status();
        assert_eq!(status.code(), Code::ResourceExhausted);
        let retry = status.get_details_retry_info().and_then(|r| r.retry_delay);
        assert_eq!(retry, Some(std::time::Duration::from_secs(7)));
    }
}

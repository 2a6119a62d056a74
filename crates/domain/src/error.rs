//! One error type for every layer. A [`Reason`] is the stable code a client
//! sees in `google.rpc.ErrorInfo`; its [`Kind`] mirrors a gRPC status code.
//! The message is safe to show to a caller; the optional source is for logs.

use std::{borrow::Cow, fmt, sync::Arc, time::Duration};

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The transport class of an error; one per gRPC status code Latch uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    InvalidArgument,
    Unauthenticated,
    PermissionDenied,
    NotFound,
    AlreadyExists,
    FailedPrecondition,
    ResourceExhausted,
    Unavailable,
    Unimplemented,
    Internal,
}

macro_rules! reasons {
    ($($variant:ident => $code:literal, $kind:ident;)*) => {
        /// Stable reason codes: the contract with clients (README, Errors).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Reason { $($variant,)* }

        impl Reason {
            pub const ALL: &'static [Reason] = &[$(Reason::$variant,)*];

            /// The UPPER_SNAKE code sent in `ErrorInfo.reason`.
            pub fn as_str(self) -> &'static str {
                match self { $(Reason::$variant => $code,)* }
            }

            pub fn kind(self) -> Kind {
                match self { $(Reason::$variant => Kind::$kind,)* }
            }
        }
    };
}

reasons! {
    InvalidArgument => "INVALID_ARGUMENT", InvalidArgument;
    WeakPassword => "WEAK_PASSWORD", InvalidArgument;
    EmailTaken => "EMAIL_TAKEN", AlreadyExists;
    AlreadyExists => "ALREADY_EXISTS", AlreadyExists;
    InvalidCredentials => "INVALID_CREDENTIALS", Unauthenticated;
    AuthenticationRequired => "AUTHENTICATION_REQUIRED", Unauthenticated;
    TokenInvalid => "TOKEN_INVALID", Unauthenticated;
    TokenExpired => "TOKEN_EXPIRED", Unauthenticated;
    RefreshTokenReused => "REFRESH_TOKEN_REUSED", Unauthenticated;
    SessionRevoked => "SESSION_REVOKED", Unauthenticated;
    ServiceCredentialRequired => "SERVICE_CREDENTIAL_REQUIRED", Unauthenticated;
    CredentialInvalid => "CREDENTIAL_INVALID", Unauthenticated;
    // Passkeys: an attestation or assertion that does not verify; an
    // assertion whose signature counter did not increase (the credential
    // is marked and refused from then on).
    PasskeyInvalid => "PASSKEY_INVALID", Unauthenticated;
    PasskeyCloneSuspected => "PASSKEY_CLONE_SUSPECTED", Unauthenticated;
    PasskeyLimit => "PASSKEY_LIMIT", FailedPrecondition;
    AccountInactive => "ACCOUNT_INACTIVE", FailedPrecondition;
    EmailNotVerified => "EMAIL_NOT_VERIFIED", FailedPrecondition;
    // One-time codes (verification): a wrong code is bad input to retype;
    // an expired, spent or over-tried one needs a new code first.
    CodeInvalid => "CODE_INVALID", InvalidArgument;
    CodeExpired => "CODE_EXPIRED", FailedPrecondition;
    CodeUsed => "CODE_USED", FailedPrecondition;
    TooManyAttempts => "TOO_MANY_ATTEMPTS", FailedPrecondition;
    // A password-reset token that was already used (the others are
    // TOKEN_INVALID and TOKEN_EXPIRED).
    TokenUsed => "TOKEN_USED", Unauthenticated;
    // SendPhoneVerification for the number that is already verified.
    AlreadyVerified => "ALREADY_VERIFIED", FailedPrecondition;
    // The second factor: an RPC that needs TOTP on (or off, or an
    // enrolment begun) for the caller.
    TotpAlreadyEnabled => "TOTP_ALREADY_ENABLED", FailedPrecondition;
    TotpNotEnabled => "TOTP_NOT_ENABLED", FailedPrecondition;
    TotpEnrollmentNotStarted => "TOTP_ENROLLMENT_NOT_STARTED", FailedPrecondition;
    // Not a refusal: the login-history reason of a right password whose
    // second factor is still awaited (Login answers a challenge).
    SecondFactorRequired => "SECOND_FACTOR_REQUIRED", Unauthenticated;
    // Role administration: a built-in role or permission cannot be
    // deleted, nor a built-in role lose its built-in grants; a role users
    // hold is deleted only when forced.
    BuiltinProtected => "BUILTIN_PROTECTED", FailedPrecondition;
    RoleInUse => "ROLE_IN_USE", FailedPrecondition;
    // UpdateProfile with an expected_version the profile no longer has
    // (another write came first): read it again and redo the change.
    ProfileVersionConflict => "PROFILE_VERSION_CONFLICT", FailedPrecondition;
    // Unlinking (or deleting) what is a user's last way to sign in.
    LastSignInMethod => "LAST_SIGN_IN_METHOD", FailedPrecondition;
    // Avatars: more bytes than LATCH_AVATAR_MAX_BYTES (declared or sent);
    // bytes that are no PNG, JPEG or WebP image (or do not decode, or a
    // stream out of order); a declared type the bytes contradict.
    AvatarTooLarge => "AVATAR_TOO_LARGE", InvalidArgument;
    AvatarInvalid => "AVATAR_INVALID", InvalidArgument;
    AvatarTypeMismatch => "AVATAR_TYPE_MISMATCH", InvalidArgument;
    AccessDenied => "ACCESS_DENIED", PermissionDenied;
    NotFound => "NOT_FOUND", NotFound;
    RateLimited => "RATE_LIMITED", ResourceExhausted;
    // Lockout with backoff: too many failed sign-ins for one address, known
    // or not; RetryInfo says when the next attempt may be made.
    LoginThrottled => "LOGIN_THROTTLED", ResourceExhausted;
    Unavailable => "UNAVAILABLE", Unavailable;
    Unimplemented => "UNIMPLEMENTED", Unimplemented;
    Internal => "INTERNAL", Internal;
}

/// A field that failed validation, sent as `google.rpc.BadRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

#[derive(Clone)]
pub struct Error {
    reason: Reason,
    message: Cow<'static, str>,
    violation: Option<FieldViolation>,
    retry_after: Option<Duration>,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl Error {
    pub fn new(reason: Reason, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            reason,
            message: message.into(),
            violation: None,
            retry_after: None,
            source: None,
        }
    }

    /// A malformed field; `field` is the request field name (`email`).
    pub fn invalid_field(field: &str, description: impl Into<String>) -> Self {
        Self::field(Reason::InvalidArgument, field, description)
    }

    /// A field refused with a more specific reason (`WEAK_PASSWORD`).
    pub fn field(reason: Reason, field: &str, description: impl Into<String>) -> Self {
        let description = description.into();
        let mut err = Self::new(reason, format!("{field}: {description}"));
        err.violation = Some(FieldViolation {
            field: field.to_owned(),
            description,
        });
        err
    }

    pub fn not_found(what: &'static str) -> Self {
        Self::new(Reason::NotFound, format!("{what} not found"))
    }

    pub fn access_denied() -> Self {
        Self::new(Reason::AccessDenied, "the caller may not do this")
    }

    pub fn rate_limited(retry_after: Duration) -> Self {
        let mut err = Self::new(Reason::RateLimited, "too many requests, retry later");
        err.retry_after = Some(retry_after);
        err
    }

    /// A dependency is down; the cause is logged, never sent.
    pub fn unavailable(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::new(
            Reason::Unavailable,
            "a dependency is unavailable, retry later",
        )
        .with_source(source)
    }

    /// A bug or an unexpected state; the cause is logged, never sent.
    pub fn internal(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::new(Reason::Internal, "internal error").with_source(source)
    }

    /// An internal error described by a message only (for logs).
    pub fn internal_msg(message: impl Into<String>) -> Self {
        Self::internal(Plain(message.into()))
    }

    /// The same error, telling the caller when to retry (RetryInfo).
    pub fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = Some(retry_after);
        self
    }

    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    pub fn reason(&self) -> Reason {
        self.reason
    }

    pub fn kind(&self) -> Kind {
        self.reason.kind()
    }

    /// What a caller may read.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn violation(&self) -> Option<&FieldViolation> {
        self.violation.as_ref()
    }

    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    pub fn is(&self, reason: Reason) -> bool {
        self.reason == reason
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("reason", &self.reason.as_str())
            .field("message", &self.message);
        if let Some(source) = &self.source {
            d.field("source", &format_args!("{source}"));
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason.as_str(), self.message)?;
        if let Some(source) = &self.source {
            write!(f, " ({source})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

#[derive(Debug)]
struct Plain(String);

impl fmt::Display for Plain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Plain {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_codes_are_unique_upper_snake() {
        let mut seen = std::collections::HashSet::new();
        for reason in Reason::ALL {
            let code = reason.as_str();
            assert!(seen.insert(code), "duplicate code {code}");
            assert!(
                code.chars().all(|c| c.is_ascii_uppercase() || c == '_'),
                "{code}"
            );
        }
    }

    #[test]
    fn internal_source_stays_out_of_the_message() {
        let err = Error::internal_msg("duplicate key value violates constraint users_pkey");
        assert_eq!(err.message(), "internal error");
        assert!(
            format!("{err}").contains("users_pkey"),
            "logs keep the cause"
        );
    }

    #[test]
    fn field_errors_name_the_field() {
        let err = Error::field(Reason::WeakPassword, "password", "too short");
        assert_eq!(err.kind(), Kind::InvalidArgument);
        assert_eq!(err.violation().map(|v| v.field.as_str()), Some("password"));
    }
}

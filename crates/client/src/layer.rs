//! A tower layer that authenticates every call to a backend's tonic server.

use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::{Verifier, VerifyError};

/// `ErrorInfo.domain` of Latch errors, as the Latch services send it.
const ERROR_DOMAIN: &str = "latch.dev";

/// Requires `authorization: Bearer <access token>` on every request (except
/// paths made public with [`ClientAuthLayer::allow_path_prefix`]), verifies
/// it, and puts the token's [`crate::Claims`] into the request extensions,
/// where a handler reads them with `request.extensions().get::<Claims>()`.
///
/// A missing, malformed, forged or expired token, or one of a revoked
/// session (with [`crate::Verifier::with_revocations`]), is answered at once
/// with `UNAUTHENTICATED` carrying a `google.rpc.ErrorInfo` reason
/// (`TOKEN_INVALID`, `TOKEN_EXPIRED`, `SESSION_REVOKED`); when the keys
/// cannot be fetched, or the revocation list is not current and set to
/// refuse, the answer is `UNAVAILABLE` instead, so that clients retry
/// rather than drop a token that may be good.
#[derive(Debug, Clone)]
pub struct ClientAuthLayer {
    verifier: Arc<Verifier>,
    public_prefixes: Arc<[String]>,
}

impl ClientAuthLayer {
    pub fn new(verifier: Arc<Verifier>) -> Self {
        Self {
            verifier,
            public_prefixes: Arc::from([]),
        }
    }

    /// Lets requests whose path starts with `prefix` through without a
    /// token, e.g. `/grpc.health.v1.Health/` for probes.
    pub fn allow_path_prefix(self, prefix: impl Into<String>) -> Self {
        let mut prefixes = self.public_prefixes.to_vec();
        prefixes.push(prefix.into());
        Self {
            verifier: self.verifier,
            public_prefixes: prefixes.into(),
        }
    }
}

impl<S> tower::Layer<S> for ClientAuthLayer {
    type Service = ClientAuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ClientAuthService {
            inner,
            verifier: self.verifier.clone(),
            public_prefixes: self.public_prefixes.clone(),
        }
    }
}

/// The service [`ClientAuthLayer`] wraps around a tonic server.
#[derive(Debug, Clone)]
pub struct ClientAuthService<S> {
    inner: S,
    verifier: Arc<Verifier>,
    public_prefixes: Arc<[String]>,
}

impl<S, B, R> tower::Service<http::Request<B>> for ClientAuthService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    R: Default,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        // The ready service handles this request; its clone waits for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let path = request.uri().path();
        if self
            .public_prefixes
            .iter()
            .any(|p| path.starts_with(p.as_str()))
        {
            return Box::pin(inner.call(request));
        }
        let verifier = self.verifier.clone();
        Box::pin(async move {
            let Some(token) = bearer(request.headers()) else {
                return Ok(refusal(&VerifyError::Invalid("no bearer token")).into_http());
            };
            match verifier.verify(token).await {
                Ok(claims) => {
                    request.extensions_mut().insert(claims);
                    inner.call(request).await
                }
                Err(err) => {
                    tracing::debug!(reason = err.reason(), "request refused");
                    Ok(refusal(&err).into_http())
                }
            }
        })
    }
}

/// The token of an `authorization: Bearer <token>` header (scheme
/// case-insensitive, RFC 7235).
fn bearer(headers: &http::HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn refusal(err: &VerifyError) -> Status {
    let code = match err {
        VerifyError::KeysUnavailable(_) | VerifyError::RevocationsUnavailable(_) => {
            Code::Unavailable
        }
        VerifyError::Expired | VerifyError::Invalid(_) | VerifyError::SessionRevoked => {
            Code::Unauthenticated
        }
    };
    let details =
        ErrorDetails::with_error_info(err.reason(), ERROR_DOMAIN, HashMap::<String, String>::new());
    Status::with_error_details(code, err.to_string(), details)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_read_from_the_authorization_header() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(bearer(&headers), None);
        headers.insert(
            http::header::AUTHORIZATION,
            "Bearer abc.def".parse().unwrap(),
        );
        assert_eq!(bearer(&headers), Some("abc.def"));
        headers.insert(http::header::AUTHORIZATION, "bearer  xyz".parse().unwrap());
        assert_eq!(bearer(&headers), Some("xyz"));
        headers.insert(
            http::header::AUTHORIZATION,
            "Basic dXNlcg==".parse().unwrap(),
        );
        assert_eq!(bearer(&headers), None);
        headers.insert(http::header::AUTHORIZATION, "Bearer ".parse().unwrap());
        assert_eq!(bearer(&headers), None);
    }

    #[test]
    fn refusals_carry_the_latch_reason() {
        let status = refusal(&VerifyError::Expired);
        assert_eq!(status.code(), Code::Unauthenticated);
        assert_eq!(
            status.get_details_error_info().map(|i| i.reason).as_deref(),
            Some("TOKEN_EXPIRED")
        );
        let status = refusal(&VerifyError::KeysUnavailable("down".into()));
        assert_eq!(status.code(), Code::Unavailable);
        let status = refusal(&VerifyError::SessionRevoked);
        assert_eq!(status.code(), Code::Unauthenticated);
        assert_eq!(
            status.get_details_error_info().map(|i| i.reason).as_deref(),
            Some("SESSION_REVOKED")
        );
        let status = refusal(&VerifyError::RevocationsUnavailable("lost"));
        assert_eq!(status.code(), Code::Unavailable);
    }
}

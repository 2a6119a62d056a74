//! The decision on one HTTP request Envoy holds: the bearer token verified
//! and its session checked by the same [`Authenticator`] the auth layer
//! uses for Latch's own RPCs, then the permission the rules file asks for
//! checked through the [`RoleDirectory`] port.

use std::sync::Arc;

use latch_domain::{Error, Kind, Reason, Result, SessionId, UserId, ports::RoleDirectory};
use latch_runtime::auth::Authenticator;

use super::Rules;

/// What a check looks at in the HTTP request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: String,
    /// The path without its query string or fragment.
    pub path: String,
    /// Each `authorization` header line as sent. A value Envoy merged from
    /// several lines holds a comma, which no bearer token does.
    pub authorization: Vec<String>,
}

/// A user whose request may go on, as the upstream is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowed {
    pub user_id: UserId,
    pub session_id: SessionId,
    /// The roles the access token names (as of its issue, at most one
    /// access-token lifetime old); the permission itself is checked live.
    pub roles: Vec<String>,
}

/// The answer Envoy gets.
#[derive(Debug, Clone)]
pub enum Verdict {
    Allow(Allowed),
    /// The refusal, `UNAUTHENTICATED` (401) or `PERMISSION_DENIED` (403)
    /// with its stable reason.
    Deny(Error),
}

/// Checks requests for Envoy.
pub struct ExtAuthz {
    authenticator: Arc<dyn Authenticator>,
    roles: Arc<dyn RoleDirectory>,
    rules: Rules,
}

impl ExtAuthz {
    pub fn new(
        authenticator: Arc<dyn Authenticator>,
        roles: Arc<dyn RoleDirectory>,
        rules: Rules,
    ) -> Arc<Self> {
        Arc::new(Self {
            authenticator,
            roles,
            rules,
        })
    }

    /// Allows or denies `request` (`None`: Envoy sent no HTTP request, which
    /// is denied like a request without a token). An error is a check that
    /// could not be made (a dependency down): Envoy then applies its own
    /// failure policy, never a denial that blames the user.
    pub async fn check(&self, request: Option<&HttpRequest>) -> Result<Verdict> {
        match self.decide(request).await {
            Ok(allowed) => Ok(Verdict::Allow(allowed)),
            Err(err) if matches!(err.kind(), Kind::Unauthenticated | Kind::PermissionDenied) => {
                Ok(Verdict::Deny(err))
            }
            Err(err) => Err(err),
        }
    }

    async fn decide(&self, request: Option<&HttpRequest>) -> Result<Allowed> {
        let request = request.ok_or_else(|| {
            Error::new(
                Reason::AuthenticationRequired,
                "the check carries no HTTP request (attributes.request.http)",
            )
        })?;
        let token = bearer(&request.authorization)?;
        let user = self.authenticator.authenticate(token).await?;
        if let Some(permission) = self
            .rules
            .required_permission(&request.method, &request.path)
            && !self.roles.has_permission(user.user_id, permission).await?
        {
            tracing::info!(
                user = %user.user_id,
                method = %request.method,
                permission,
                "ext_authz: permission denied"
            );
            return Err(Error::new(
                Reason::AccessDenied,
                format!("this request needs the permission {permission}"),
            ));
        }
        Ok(Allowed {
            user_id: user.user_id,
            session_id: user.session_id,
            roles: user.roles,
        })
    }
}

/// The one bearer token of a request, by the auth layer's rule (scheme
/// `Bearer` in any case, a non-empty token); none is
/// `AUTHENTICATION_REQUIRED`, anything else `TOKEN_INVALID`. Two
/// `authorization` headers are refused rather than one picked: a proxy and
/// the upstream could pick differently.
fn bearer(values: &[String]) -> Result<&str> {
    let several = || {
        Error::new(
            Reason::TokenInvalid,
            "send one authorization header, not several",
        )
    };
    let value = match values {
        [] => {
            return Err(Error::new(
                Reason::AuthenticationRequired,
                "send `authorization: Bearer <access token>`",
            ));
        }
        [one] => one.trim(),
        _ => return Err(several()),
    };
    if value.contains(',') {
        return Err(several());
    }
    latch_runtime::auth::bearer_token(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(values: &[&str]) -> std::result::Result<String, Reason> {
        let values: Vec<String> = values.iter().map(|v| (*v).to_owned()).collect();
        bearer(&values).map(str::to_owned).map_err(|e| e.reason())
    }

    #[test]
    fn the_bearer_token_is_read_by_the_layers_rule() {
        assert_eq!(reason(&["Bearer abc.def.ghi"]), Ok("abc.def.ghi".into()));
        assert_eq!(reason(&["bearer  abc "]), Ok("abc".into()));
        assert_eq!(reason(&[]), Err(Reason::AuthenticationRequired));
        assert_eq!(reason(&["Basic dXNlcjpwdw=="]), Err(Reason::TokenInvalid));
        assert_eq!(reason(&["Bearer"]), Err(Reason::TokenInvalid));
        assert_eq!(reason(&["Bearer "]), Err(Reason::TokenInvalid));
        assert_eq!(reason(&[""]), Err(Reason::TokenInvalid));
    }

    #[test]
    fn two_authorization_headers_are_refused_whichever_way_they_come() {
        // Two lines (Envoy's `header_map`), or merged by Envoy into one.
        assert_eq!(reason(&["Bearer a", "Bearer b"]), Err(Reason::TokenInvalid));
        assert_eq!(reason(&["Bearer a,Bearer b"]), Err(Reason::TokenInvalid));
        assert_eq!(reason(&["Bearer a", "Bearer a"]), Err(Reason::TokenInvalid));
    }
}

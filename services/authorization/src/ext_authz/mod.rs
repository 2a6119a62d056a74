//! Envoy's external authorization (`envoy.service.auth.v3.Authorization`):
//! Envoy asks, for each HTTP request it proxies, whether the request may go
//! on. Latch answers from the request's bearer token (verified, session
//! checked, as for its own RPCs) and, when the rules file
//! ([`EXT_AUTHZ_RULES`]) names one for the method and path, a permission;
//! the upstream then gets the user in [`headers`], and the client's own
//! `x-latch-*` headers never reach it. A refusal is an HTTP 401 or 403
//! with a JSON body `{"error": "<REASON>", "message": "…"}`.
//!
//! [`rules`] reads the file, [`decision`] decides, `convert` turns
//! Envoy's messages into the decision's types and back.

mod convert;
pub mod decision;
mod policy;
pub mod rules;

use std::sync::Arc;

use envoy_types::ext_authz::v3::pb::{
    Authorization, AuthorizationServer, CheckRequest, CheckResponse,
};
use latch_runtime::ResultExt;
use tonic::{Request, Response, Status};

pub use decision::{ExtAuthz, Verdict};
pub use policy::POLICY;
pub use rules::{EXT_AUTHZ_RULES, Rules};

/// The headers the upstream gets on an allowed request.
pub mod headers {
    /// Every header of this prefix the client sent is removed.
    pub const LATCH_PREFIX: &str = "x-latch-";
    pub const USER_ID: &str = "x-latch-user-id";
    pub const SESSION_ID: &str = "x-latch-session-id";
    /// The access token's roles, comma-separated (empty for none).
    pub const ROLES: &str = "x-latch-roles";
}

/// The tonic service over [`ExtAuthz`]; wrap it with the auth layer and
/// [`POLICY`].
pub fn server(ext_authz: Arc<ExtAuthz>) -> AuthorizationServer<ExtAuthzGrpc> {
    AuthorizationServer::new(ExtAuthzGrpc { ext_authz })
}

pub struct ExtAuthzGrpc {
    ext_authz: Arc<ExtAuthz>,
}

#[tonic::async_trait]
impl Authorization for ExtAuthzGrpc {
    /// Caller: internal, service account (Envoy).
    async fn check(
        &self,
        request: Request<CheckRequest>,
    ) -> Result<Response<CheckResponse>, Status> {
        let incoming = convert::incoming(request.into_inner());
        let verdict = self
            .ext_authz
            .check(incoming.request.as_ref())
            .await
            .or_status()?;
        Ok(Response::new(convert::response(
            verdict,
            incoming.client_latch_headers,
        )))
    }
}

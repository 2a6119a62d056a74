//! `latch.token.v1.TokenService`: thin handlers that convert the request,
//! call a flow of [`Tokens`] and convert the result. Who may call what is
//! [`POLICY`] (caller class and permission rule), enforced by the
//! runtime's auth layer before a handler runs.

use std::sync::Arc;

use latch_domain::{Error, FamilyId, SessionId, UserId, model::permission, ports::RoleDirectory};
use latch_proto::latch::token::v1::{
    DeleteUserTokensRequest, DeleteUserTokensResponse, GetJwksRequest, GetJwksResponse,
    IntrospectRequest, IntrospectResponse, IssueTokensRequest, IssueTokensResponse,
    RefreshTokensRequest, RefreshTokensResponse, RevokeAllForUserRequest, RevokeAllForUserResponse,
    RevokeFamilyRequest, RevokeFamilyResponse, RevokeTokenRequest, RevokeTokenResponse,
    RotateSigningKeyRequest, RotateSigningKeyResponse, ValidateAccessTokenRequest,
    ValidateAccessTokenResponse,
    revoke_family_request::Target,
    token_service_server::{TokenService, TokenServiceServer},
};
use latch_runtime::{
    ResultExt,
    auth::{Access, Caller, RateGroup, Rule, ServicePolicy},
    convert::{auth_result, client_info},
};
use tonic::{Request, Response, Status};

use crate::{
    Tokens,
    revoke::{REASON_MAX_CHARS, RevocationTarget},
};

mod convert;

/// The caller class of every TokenService RPC (the `// Caller:` comments of
/// `proto/latch/token/v1/token.proto`).
pub const POLICY: ServicePolicy = ServicePolicy {
    service: "latch.token.v1.TokenService",
    methods: &[
        ("IssueTokens", Access::Internal, Rule::None),
        ("RefreshTokens", Access::Public, Rule::None),
        ("ValidateAccessToken", Access::Public, Rule::None),
        ("Introspect", Access::Service, Rule::None),
        ("RevokeToken", Access::Public, Rule::None),
        // Admin [sessions.write] or internal: the permission is checked below.
        (
            "RevokeFamily",
            Access::UserOrInternal,
            Rule::Loaded {
                owner_may: false,
                permission: permission::SESSIONS_WRITE,
            },
        ),
        (
            "RevokeAllForUser",
            Access::UserOrInternal,
            Rule::PermissionOver {
                field: "user_id",
                permission: permission::SESSIONS_WRITE,
            },
        ),
        ("GetJwks", Access::Public, Rule::None),
        // Admin [keys.write]: the permission is checked below.
        (
            "RotateSigningKey",
            Access::User,
            Rule::Permission(permission::KEYS_WRITE),
        ),
        // A deleted user's part, from identity's outbox.
        ("DeleteUserTokens", Access::Internal, Rule::None),
    ],
    // Per client address; GetJwks is in the default group.
    rate_groups: &[
        ("RefreshTokens", RateGroup::Refresh),
        ("ValidateAccessToken", RateGroup::TokenCheck),
        ("RevokeToken", RateGroup::TokenCheck),
    ],
};

/// The gRPC face of [`Tokens`].
pub struct TokenGrpc {
    tokens: Arc<Tokens>,
    roles: Arc<dyn RoleDirectory>,
}

impl TokenGrpc {
    /// `roles` answers the permission checks of admin RPCs.
    pub fn new(tokens: Arc<Tokens>, roles: Arc<dyn RoleDirectory>) -> Self {
        Self { tokens, roles }
    }
}

/// The tonic service, ready for a server (behind the runtime's auth layer).
pub fn server(tokens: Arc<Tokens>, roles: Arc<dyn RoleDirectory>) -> TokenServiceServer<TokenGrpc> {
    TokenServiceServer::new(TokenGrpc::new(tokens, roles))
}

#[tonic::async_trait]
impl TokenService for TokenGrpc {
    async fn issue_tokens(
        &self,
        request: Request<IssueTokensRequest>,
    ) -> Result<Response<IssueTokensResponse>, Status> {
        let caller = Caller::of(&request)?.clone();
        let request = request.into_inner();
        let user = UserId::parse("user_id", &request.user_id).or_status()?;
        let session = SessionId::parse("session_id", &request.session_id).or_status()?;
        let client = caller.client_info(client_info(request.client));
        let pair = self
            .tokens
            .issue_tokens(user, &session, &client)
            .await
            .or_status()?;
        Ok(Response::new(IssueTokensResponse {
            auth: Some(auth_result(pair)),
        }))
    }

    async fn refresh_tokens(
        &self,
        request: Request<RefreshTokensRequest>,
    ) -> Result<Response<RefreshTokensResponse>, Status> {
        let caller = Caller::of(&request)?.clone();
        let request = request.into_inner();
        let client = caller.client_info(client_info(request.client));
        let pair = self
            .tokens
            .refresh(&request.refresh_token, &client)
            .await
            .or_status()?;
        Ok(Response::new(RefreshTokensResponse {
            auth: Some(auth_result(pair)),
        }))
    }

    async fn validate_access_token(
        &self,
        request: Request<ValidateAccessTokenRequest>,
    ) -> Result<Response<ValidateAccessTokenResponse>, Status> {
        let request = request.into_inner();
        if request.access_token.trim().is_empty() {
            return Err(Error::invalid_field("access_token", "is required")).or_status();
        }
        let claims = self
            .tokens
            .validate(&request.access_token, request.check_session)
            .await
            .or_status()?;
        Ok(Response::new(ValidateAccessTokenResponse {
            claims: Some(convert::access_claims(claims)),
        }))
    }

    async fn introspect(
        &self,
        request: Request<IntrospectRequest>,
    ) -> Result<Response<IntrospectResponse>, Status> {
        // The hint is only a hint (RFC 7662): the token's shape decides.
        let found = self
            .tokens
            .introspect(&request.into_inner().token)
            .await
            .or_status()?;
        Ok(Response::new(convert::introspection(found)))
    }

    async fn revoke_token(
        &self,
        request: Request<RevokeTokenRequest>,
    ) -> Result<Response<RevokeTokenResponse>, Status> {
        self.tokens
            .revoke_refresh_token(&request.into_inner().token)
            .await
            .or_status()?;
        Ok(Response::new(RevokeTokenResponse {}))
    }

    async fn revoke_family(
        &self,
        request: Request<RevokeFamilyRequest>,
    ) -> Result<Response<RevokeFamilyResponse>, Status> {
        let caller = Caller::of(&request)?.clone();
        let request = request.into_inner();
        let reason = reason(&request.reason, "revoked_by_admin").or_status()?;
        let target = match request.target {
            Some(Target::FamilyId(id)) => {
                RevocationTarget::Family(FamilyId::parse("family_id", &id).or_status()?)
            }
            Some(Target::SessionId(id)) => {
                RevocationTarget::Session(SessionId::parse("session_id", &id).or_status()?)
            }
            None => {
                return Err(Error::invalid_field(
                    "target",
                    "family_id or session_id is required",
                ))
                .or_status();
            }
        };
        if let Some(owner) = self.tokens.owner_of(&target).await.or_status()? {
            caller
                .authorize_loaded(owner, self.roles.as_ref())
                .await
                .or_status()?;
        }
        let revoked = match &target {
            RevocationTarget::Family(family) => u64::from(
                self.tokens
                    .revoke_family(*family, &reason)
                    .await
                    .or_status()?,
            ),
            RevocationTarget::Session(session) => self
                .tokens
                .revoke_session_families(session, &reason)
                .await
                .or_status()?,
        };
        Ok(Response::new(RevokeFamilyResponse {
            revoked: count(revoked),
        }))
    }

    async fn revoke_all_for_user(
        &self,
        request: Request<RevokeAllForUserRequest>,
    ) -> Result<Response<RevokeAllForUserResponse>, Status> {
        let request = request.into_inner();
        let user = UserId::parse("user_id", &request.user_id).or_status()?;
        let reason = reason(&request.reason, "revoked_by_admin").or_status()?;
        let revoked = self
            .tokens
            .revoke_all_for_user(user, &reason)
            .await
            .or_status()?;
        Ok(Response::new(RevokeAllForUserResponse {
            revoked: count(revoked),
        }))
    }

    async fn get_jwks(
        &self,
        _request: Request<GetJwksRequest>,
    ) -> Result<Response<GetJwksResponse>, Status> {
        Ok(Response::new(GetJwksResponse {
            jwks_json: self.tokens.jwks_json(),
        }))
    }

    async fn rotate_signing_key(
        &self,
        request: Request<RotateSigningKeyRequest>,
    ) -> Result<Response<RotateSigningKeyResponse>, Status> {
        let caller = Caller::of(&request)?.clone();
        let kid = self.tokens.rotate_signing_key().await.or_status()?;
        tracing::info!(kid = %kid, principal = ?caller.principal, "signing key rotated on request");
        Ok(Response::new(RotateSigningKeyResponse { kid }))
    }

    async fn delete_user_tokens(
        &self,
        request: Request<DeleteUserTokensRequest>,
    ) -> Result<Response<DeleteUserTokensResponse>, Status> {
        let user = UserId::parse("user_id", &request.get_ref().user_id).or_status()?;
        let deleted = self.tokens.delete_user_tokens(user).await.or_status()?;
        Ok(Response::new(DeleteUserTokensResponse { deleted }))
    }
}

/// The audit reason of a revocation: `default` when empty, refused when
/// longer than the stored column.
fn reason(given: &str, default: &str) -> latch_domain::Result<String> {
    let given = given.trim();
    if given.is_empty() {
        return Ok(default.to_owned());
    }
    if given.chars().count() > REASON_MAX_CHARS {
        return Err(Error::invalid_field(
            "reason",
            format!("at most {REASON_MAX_CHARS} characters"),
        ));
    }
    Ok(given.to_owned())
}

fn count(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests;

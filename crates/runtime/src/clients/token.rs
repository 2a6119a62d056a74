use async_trait::async_trait;
use latch_domain::{
    Result, SessionId, UserId,
    model::{ClientInfo, TokenPair},
    ports::{TokenIssuer, TokenRevoker, UserDataEraser},
};
use latch_proto::latch::token::v1::{
    self as pb, revoke_family_request::Target, token_service_client::TokenServiceClient,
};

use super::{ServiceChannel, error_from_status};
use crate::convert::{client_info_pb, token_pair};

/// [`TokenIssuer`], [`TokenRevoker`] and [`UserDataEraser`] over gRPC.
#[derive(Clone)]
pub struct TokenClient(TokenServiceClient<ServiceChannel>);

impl TokenClient {
    pub fn new(channel: ServiceChannel) -> Self {
        Self(TokenServiceClient::new(channel))
    }
}

#[async_trait]
impl TokenIssuer for TokenClient {
    async fn issue(
        &self,
        user: UserId,
        session: &SessionId,
        client: &ClientInfo,
    ) -> Result<TokenPair> {
        let request = pb::IssueTokensRequest {
            user_id: user.to_string(),
            session_id: session.to_string(),
            client: Some(client_info_pb(client)),
        };
        let response = self
            .0
            .clone()
            .issue_tokens(request)
            .await
            .map_err(error_from_status)?;
        token_pair(response.into_inner().auth)
    }
}

#[async_trait]
impl TokenRevoker for TokenClient {
    async fn revoke_session_families(&self, session: &SessionId, reason: &str) -> Result<u32> {
        let request = pb::RevokeFamilyRequest {
            target: Some(Target::SessionId(session.to_string())),
            reason: reason.to_owned(),
        };
        let response = self
            .0
            .clone()
            .revoke_family(request)
            .await
            .map_err(error_from_status)?;
        Ok(response.into_inner().revoked)
    }
}

/// DeleteUserTokens: every refresh-token family of the user, with its tokens.
#[async_trait]
impl UserDataEraser for TokenClient {
    async fn erase_user(&self, user: UserId) -> Result<u64> {
        let request = pb::DeleteUserTokensRequest {
            user_id: user.to_string(),
        };
        let response = self
            .0
            .clone()
            .delete_user_tokens(request)
            .await
            .map_err(error_from_status)?;
        Ok(response.into_inner().deleted)
    }
}

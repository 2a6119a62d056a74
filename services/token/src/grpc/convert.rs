//! Free converters between protobuf messages and domain types; protobuf
//! stops here.

use chrono::{DateTime, Utc};
use latch_domain::model::{AccessClaims, ClientInfo, TokenPair};
use latch_proto::latch::{
    common::v1 as common,
    token::v1::{AccessTokenClaims, IntrospectResponse},
};
use prost_types::Timestamp;

use crate::Introspection;

/// A client as a gateway passed it; empty fields are absent.
pub(crate) fn client_info(client: Option<common::ClientInfo>) -> Option<ClientInfo> {
    let client = client?;
    let present = |s: String| {
        let s = s.trim().to_owned();
        (!s.is_empty()).then_some(s)
    };
    Some(ClientInfo {
        ip: present(client.ip),
        user_agent: present(client.user_agent),
    })
}

pub(crate) fn auth_result(pair: TokenPair) -> common::AuthResult {
    common::AuthResult {
        user_id: pair.user_id.to_string(),
        session_id: pair.session_id.to_string(),
        access_token: pair.access_token,
        access_token_expires_at: Some(timestamp(pair.access_token_expires_at)),
        refresh_token: pair.refresh_token,
        refresh_token_expires_at: Some(timestamp(pair.refresh_token_expires_at)),
    }
}

pub(crate) fn access_claims(claims: AccessClaims) -> AccessTokenClaims {
    AccessTokenClaims {
        sub: claims.user_id.to_string(),
        sid: claims.session_id.to_string(),
        roles: claims.roles,
        exp: Some(timestamp(claims.expires_at)),
        iat: Some(timestamp(claims.issued_at)),
        jti: claims.jti,
        iss: claims.issuer,
        aud: claims.audience,
    }
}

/// RFC 7662: an inactive token is described by `active = false` alone.
pub(crate) fn introspection(found: Option<Introspection>) -> IntrospectResponse {
    match found {
        None => IntrospectResponse::default(),
        Some(Introspection::Access(claims)) => IntrospectResponse {
            active: true,
            claims: Some(access_claims(claims)),
            token_type: "access_token".to_owned(),
        },
        Some(Introspection::Refresh(refresh)) => IntrospectResponse {
            active: true,
            claims: Some(AccessTokenClaims {
                sub: refresh.user_id.to_string(),
                sid: refresh.session_id.to_string(),
                exp: Some(timestamp(refresh.expires_at)),
                iat: Some(timestamp(refresh.issued_at)),
                ..AccessTokenClaims::default()
            }),
            token_type: "refresh_token".to_owned(),
        },
    }
}

pub(crate) fn timestamp(at: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: at.timestamp(),
        // Always below 2e9, so the cast is lossless.
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_client_fields_are_absent() {
        let client = client_info(Some(common::ClientInfo {
            ip: " 203.0.113.7 ".to_owned(),
            user_agent: String::new(),
        }));
        assert_eq!(
            client,
            Some(ClientInfo {
                ip: Some("203.0.113.7".to_owned()),
                user_agent: None
            })
        );
        assert_eq!(client_info(None), None);
    }

    #[test]
    fn inactive_tokens_say_nothing_more() {
        assert_eq!(introspection(None), IntrospectResponse::default());
    }

    #[test]
    fn timestamps_keep_subseconds() {
        let at = DateTime::from_timestamp(1_700_000_000, 123_456_000).unwrap();
        assert_eq!(
            timestamp(at),
            Timestamp {
                seconds: 1_700_000_000,
                nanos: 123_456_000
            }
        );
    }
}

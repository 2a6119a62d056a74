//! Free converters between protobuf messages and domain types; protobuf
//! stops here.

use latch_domain::model::AccessClaims;
use latch_proto::latch::token::v1::{AccessTokenClaims, IntrospectResponse};
use latch_runtime::convert::timestamp;

use crate::Introspection;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inactive_tokens_say_nothing_more() {
        assert_eq!(introspection(None), IntrospectResponse::default());
    }
}

//! The claims of a Latch access token, as signed by the token service.

use serde::{Deserialize, Serialize};

/// The JOSE `typ` header of a Latch access token (RFC 9068). Checking it
/// keeps any other JWT signed by the same key (an ID token, say) from being
/// accepted as an access token.
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// The payload of an access token. Every field is required: a token that
/// lacks one does not verify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer; checked against the verifier's.
    pub iss: String,
    /// Audience; checked against the verifier's.
    pub aud: String,
    /// User id (a UUID).
    pub sub: String,
    /// Session id.
    pub sid: String,
    /// Names of the user's roles when the token was issued.
    pub roles: Vec<String>,
    /// Issued at, seconds since the Unix epoch.
    pub iat: i64,
    /// Expiry, seconds since the Unix epoch; the token is refused from this
    /// second on.
    pub exp: i64,
    /// Unique token id.
    pub jti: String,
}

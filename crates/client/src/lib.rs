//! What a backend service embeds to trust Latch access tokens without a
//! network hop per request.
//!
//! - [`Verifier`] checks a token (signature with a key of the JWKS, `typ`,
//!   `iss`, `aud`, `exp`, required claims) and returns its [`Claims`]. Keys
//!   are cached by `kid`; an unknown `kid` refetches the JWKS from a
//!   [`KeySource`], at most once per refetch interval.
//! - [`GrpcKeySource`] fetches the JWKS from Latch's `TokenService.GetJwks`.
//! - [`ClientAuthLayer`] is a tower layer for a tonic server: it verifies the
//!   `authorization: Bearer …` header and leaves the [`Claims`] in the
//!   request extensions, or answers `UNAUTHENTICATED`.
//!
//! The verifier checks the token only: whether its session was revoked since
//! (Logout) is known to Latch alone; a backend that needs that at once asks
//! `TokenService.ValidateAccessToken` with `check_session`.

mod claims;
mod error;
mod keys;
mod layer;
mod verifier;

pub use claims::{ACCESS_TOKEN_TYPE, Claims};
pub use error::VerifyError;
pub use keys::{GrpcKeySource, KeySource, StaticKeySource};
pub use layer::{ClientAuthLayer, ClientAuthService};
pub use verifier::Verifier;

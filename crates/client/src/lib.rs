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
//! - [`Revocations`] is the revocation-aware mode
//!   ([`Verifier::with_revocations`]): the ids of sessions revoked since
//!   their tokens were signed (Logout, an administrator, a deleted user),
//!   kept current by polling `SessionService.ListRevokedSessions`
//!   ([`Revocations::poll`]) or by following `session:revoked` on Latch's
//!   Redis (`Revocations::subscribe`, cargo feature `redis`), so that such
//!   a token is refused within about a second rather than at its expiry.
//!   When the list cannot be kept current, verification refuses with
//!   `UNAVAILABLE` (the default) or goes on without it
//!   ([`OnSourceLost`]).
//!
//! - `events::StreamConsumer` (cargo feature `redis`) reads Latch's event
//!   streams with a consumer group: every event, at least once, in order
//!   per aggregate, for a backend that must not miss one.
//!
//! Cost of the revocation-aware mode: about 100 bytes per revoked session
//! held, each for the longest access-token lifetime plus about two minutes
//! (after which its tokens have expired anyway); one RPC per interval
//! (default 500 ms; each returns what was revoked since the previous one)
//! or one Redis connection pinged once per interval; a hash lookup per
//! verification.
//!
//! Without it the verifier checks the token only: a token of a revoked
//! session verifies until it expires (at most 15 minutes). A backend that
//! needs a per-request answer asks `TokenService.ValidateAccessToken` with
//! `check_session` instead.

mod claims;
mod error;
#[cfg(feature = "redis")]
pub mod events;
mod keys;
mod layer;
mod revocation;
mod verifier;

pub use claims::{ACCESS_TOKEN_TYPE, Claims};
pub use error::VerifyError;
pub use keys::{GrpcKeySource, KeySource, StaticKeySource};
pub use layer::{ClientAuthLayer, ClientAuthService};
pub use revocation::{DenylistRpc, OnSourceLost, RevocationOptions, Revocations};
pub use verifier::Verifier;

//! Repositories on PostgreSQL or SQLite, one per aggregate, each
//! implementing a port of `latch_domain::ports` over a [`crate::Database`].
//! Converters between rows and domain models sit beside each repository.

mod entity;
mod error;
mod external_identities;
mod login_history;
mod outbox;
mod passkeys;
mod password_resets;
mod profiles;
mod refresh_tokens;
mod roles;
mod second_factors;
mod sessions;
mod sign_in_methods;
mod signing_keys;
mod users;

pub(crate) use error::db_err;

pub use external_identities::SqlExternalIdentities;
pub use login_history::SqlLoginHistory;
pub use outbox::SqlOutbox;
pub use passkeys::SqlPasskeys;
pub use password_resets::SqlPasswordResets;
pub use profiles::SqlProfiles;
pub use refresh_tokens::SqlRefreshTokens;
pub use roles::SqlRoles;
pub use second_factors::SqlSecondFactors;
pub use sessions::SqlSessions;
pub use signing_keys::SqlSigningKeys;
pub use users::SqlUsers;

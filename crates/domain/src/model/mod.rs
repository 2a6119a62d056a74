//! The records that services keep and exchange through ports.

mod external_identity;
mod login;
mod passkey;
mod password_reset;
mod profile;
mod role;
mod second_factor;
mod session;
mod token;
mod user;

pub use external_identity::{ExternalIdentity, Unlinked};
pub use login::{LoginCursor, LoginEvent};
pub use passkey::{PasskeyCredential, PasskeyRemoval, PasskeyUse};
pub use password_reset::PasswordResetToken;
pub use profile::{Address, Profile, StoredAvatar};
pub use role::{Permission, Role, RoleDeletion, RoleUpdate, builtin, permission};
pub use second_factor::TotpRecord;
pub use session::{
    ClientInfo, DeviceInfo, RevocationCursor, Session, SessionCursor, SessionQuery,
    SessionRevocation,
};
pub use token::{
    AccessClaims, MAX_ACCESS_TOKEN_TTL, RefreshFamily, RefreshToken, SigningKeyRecord, TokenPair,
};
pub use user::{NewUser, StatusChange, Tombstoning, User, UserCursor, UserQuery, UserStatus};

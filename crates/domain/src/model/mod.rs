//! The records that services keep and exchange through ports.

mod login;
mod password_reset;
mod profile;
mod role;
mod second_factor;
mod session;
mod token;
mod user;

pub use login::{LoginCursor, LoginEvent};
pub use password_reset::PasswordResetToken;
pub use profile::{Address, Profile};
pub use role::{Role, builtin, permission};
pub use second_factor::TotpRecord;
pub use session::{ClientInfo, DeviceInfo, Session, SessionCursor, SessionQuery};
pub use token::{AccessClaims, RefreshFamily, RefreshToken, SigningKeyRecord, TokenPair};
pub use user::{NewUser, StatusChange, Tombstoning, User, UserCursor, UserQuery, UserStatus};

//! Passkeys (WebAuthn), owned by identity: the columns of
//! `passkey_credentials` (created in migration 1) that the sign-in and the
//! management of passkeys query, beside the webauthn-rs state kept whole
//! in `passkey` (JSON).
//!
//! - `backup_eligible`, `backup_state`: the authenticator's BE and BS
//!   flags (a synced passkey), shown to the user; the state is updated
//!   with each assertion.
//! - `transports`: what the browser reported at registration (`usb`,
//!   `internal`, `hybrid`, ...), as a JSON array of strings in a text
//!   column (`[]` when none): read back whole, never searched.
//! - `aaguid`: the authenticator model; NULL when it gave none.
//! - `second_factor`: the passkey is also asked after the password at
//!   Login, like TOTP.
//! - `clone_suspected_at`: when an assertion came with a counter that did
//!   not increase (the first time only); NULL otherwise.
//!
//! Existing rows get the defaults (false, `[]`, NULL), which describe a
//! passkey of unknown flags used for sign-in only.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum PasskeyCredentials {
    Table,
    BackupEligible,
    BackupState,
    Transports,
    Aaguid,
    SecondFactor,
    CloneSuspectedAt,
}

/// The new columns, in the order they are added (dropped in reverse).
fn columns() -> Vec<ColumnDef> {
    use PasskeyCredentials as P;
    vec![
        boolean(P::BackupEligible).default(false).take(),
        boolean(P::BackupState).default(false).take(),
        text(P::Transports).default("[]").take(),
        uuid_null(P::Aaguid),
        boolean(P::SecondFactor).default(false).take(),
        timestamp_with_time_zone_null(P::CloneSuspectedAt),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        for column in columns() {
            manager
                .alter_table(
                    Table::alter()
                        .table(PasskeyCredentials::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            PasskeyCredentials::CloneSuspectedAt,
            PasskeyCredentials::SecondFactor,
            PasskeyCredentials::Aaguid,
            PasskeyCredentials::Transports,
            PasskeyCredentials::BackupState,
            PasskeyCredentials::BackupEligible,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(PasskeyCredentials::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

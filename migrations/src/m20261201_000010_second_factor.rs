//! The second factor and the new-device notice, owned by identity.
//!
//! - `users.totp_last_step`: the last TOTP time step (unix time / 30 s)
//!   accepted for the user. A code is accepted only for a later step, by
//!   one conditional UPDATE, so two replicas cannot both accept one code.
//!   The secret itself stays in `users.totp_secret_encrypted` (AES-256-GCM,
//!   the user id as associated data) beside `users.totp_enabled`.
//! - `recovery_codes`: one row per single-use recovery code, only its
//!   SHA-256 kept (the codes are 80 random bits, so a fast hash is enough).
//!   A row per code lets one conditional UPDATE spend exactly one code; the
//!   seed's `users.totp_recovery_codes` JSON column stays unused (NULL).
//! - `login_history.device`: the device fingerprint of a sign-in (browser
//!   family, operating system, network prefix, hashed), so the next sign-in
//!   can tell a device the user has used lately from a new one.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    TotpLastStep,
}

#[derive(DeriveIden)]
enum RecoveryCodes {
    Table,
    Id,
    UserId,
    CodeHash,
    CreatedAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum LoginHistory {
    Table,
    UserId,
    Device,
    At,
}

const DEVICE_INDEX: &str = "idx_login_history_user_device_at";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(big_integer_null(Users::TotpLastStep))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RecoveryCodes::Table)
                    .col(pk_uuid(RecoveryCodes::Id))
                    .col(uuid(RecoveryCodes::UserId))
                    .col(binary_len(RecoveryCodes::CodeHash, 32))
                    .col(timestamp_with_time_zone(RecoveryCodes::CreatedAt))
                    .col(timestamp_with_time_zone_null(RecoveryCodes::UsedAt))
                    .foreign_key(
                        &mut ForeignKey::create()
                            .name("fk_recovery_codes_user")
                            .from(RecoveryCodes::Table, RecoveryCodes::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade)
                            .to_owned(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_recovery_codes_user_hash")
                    .table(RecoveryCodes::Table)
                    .col(RecoveryCodes::UserId)
                    .col(RecoveryCodes::CodeHash)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .alter_table(
                Table::alter()
                    .table(LoginHistory::Table)
                    .add_column(string_len_null(LoginHistory::Device, 64))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(DEVICE_INDEX)
                    .table(LoginHistory::Table)
                    .col(LoginHistory::UserId)
                    .col(LoginHistory::Device)
                    .col(LoginHistory::At)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite drops no indexed column: the index goes first.
        manager
            .drop_index(
                Index::drop()
                    .name(DEVICE_INDEX)
                    .table(LoginHistory::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(LoginHistory::Table)
                    .drop_column(LoginHistory::Device)
                    .to_owned(),
            )
            .await?;
        crate::drop_tables(manager, [RecoveryCodes::Table.into_iden()]).await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(Users::TotpLastStep)
                    .to_owned(),
            )
            .await
    }
}

//! Seeds the built-in roles and the permissions RPCs name. SUPERADMIN holds
//! every permission; ADMIN every one but `keys.write` and `roles.write`;
//! USER none (a user acts on their own data without a permission).

use latch_domain::{
    Clock, SystemClock,
    model::{builtin, permission},
};
use sea_orm_migration::prelude::*;
use uuid::Uuid;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Roles {
    Table,
    Id,
    Name,
    Description,
    Builtin,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Permissions {
    Table,
    Name,
    Description,
    CreatedAt,
}

#[derive(DeriveIden)]
enum RolePermissions {
    Table,
    RoleId,
    Permission,
}

/// Every permission with what it allows.
const PERMISSIONS: [(&str, &str); 9] = [
    (permission::USERS_READ, "Read any user"),
    (permission::USERS_WRITE, "Change any user's status"),
    (permission::SESSIONS_READ, "List any user's sessions"),
    (permission::SESSIONS_WRITE, "Revoke any user's sessions"),
    (permission::ROLES_READ, "Read roles and assignments"),
    (permission::ROLES_WRITE, "Create roles and assign them"),
    (permission::KEYS_WRITE, "Rotate token-signing keys"),
    (permission::PROFILES_READ, "Read any profile"),
    (permission::PROFILES_WRITE, "Change any profile"),
];

/// The built-in roles with their descriptions and permissions.
fn roles() -> [(&'static str, &'static str, Vec<&'static str>); 3] {
    let all: Vec<&str> = PERMISSIONS.iter().map(|(name, _)| *name).collect();
    let admin = all
        .iter()
        .copied()
        .filter(|p| *p != permission::KEYS_WRITE && *p != permission::ROLES_WRITE)
        .collect();
    [
        (builtin::SUPERADMIN, "Every permission", all),
        (
            builtin::ADMIN,
            "Administers users, sessions and profiles",
            admin,
        ),
        (builtin::USER, "Every signed-up user", Vec::new()),
    ]
}

fn builder_error(err: sea_query::error::Error) -> DbErr {
    DbErr::Migration(err.to_string())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Migrations are not request logic: the seed is stamped with the
        // system time, through the domain's clock so it is truncated alike.
        let now = SystemClock.now();

        let mut insert_permissions = Query::insert();
        insert_permissions.into_table(Permissions::Table).columns([
            Permissions::Name,
            Permissions::Description,
            Permissions::CreatedAt,
        ]);
        for (name, description) in PERMISSIONS {
            insert_permissions
                .values([name.into(), description.into(), now.into()])
                .map_err(builder_error)?;
        }
        manager.exec_stmt(insert_permissions).await?;

        for (name, description, granted) in roles() {
            let id = Uuid::now_v7();
            let insert_role = Query::insert()
                .into_table(Roles::Table)
                .columns([
                    Roles::Id,
                    Roles::Name,
                    Roles::Description,
                    Roles::Builtin,
                    Roles::CreatedAt,
                    Roles::UpdatedAt,
                ])
                .values([
                    id.into(),
                    name.into(),
                    description.into(),
                    true.into(),
                    now.into(),
                    now.into(),
                ])
                .map_err(builder_error)?
                .to_owned();
            manager.exec_stmt(insert_role).await?;

            if granted.is_empty() {
                continue;
            }
            let mut grants = Query::insert();
            grants
                .into_table(RolePermissions::Table)
                .columns([RolePermissions::RoleId, RolePermissions::Permission]);
            for permission in granted {
                grants
                    .values([id.into(), permission.into()])
                    .map_err(builder_error)?;
            }
            manager.exec_stmt(grants).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Grants and assignments of these roles go with them (cascade).
        let names = roles().map(|(name, _, _)| name);
        manager
            .exec_stmt(
                Query::delete()
                    .from_table(Roles::Table)
                    .and_where(Expr::col(Roles::Name).is_in(names))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::delete()
                    .from_table(Permissions::Table)
                    .and_where(
                        Expr::col(Permissions::Name).is_in(PERMISSIONS.map(|(name, _)| name)),
                    )
                    .to_owned(),
            )
            .await
    }
}

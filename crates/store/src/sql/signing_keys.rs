//! `signing_keys` behind [`SigningKeyRepository`].

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use latch_domain::{Error, Result, model::SigningKeyRecord, ports::SigningKeyRepository};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    sea_query::{Expr, ExprTrait, Query},
};

use super::{db_err, entity::signing_keys};
use crate::Database;

/// Token's signing keys on the SQL database.
#[derive(Debug, Clone)]
pub struct SqlSigningKeys {
    db: Database,
}

impl SqlSigningKeys {
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

fn to_record(row: signing_keys::Model) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: row.kid,
        algorithm: row.algorithm,
        public_key: row.public_key,
        private_key_encrypted: row.private_key_encrypted,
        created_at: row.created_at,
        signs_from: row.signs_from.unwrap_or(row.created_at),
        retired_at: row.retired_at,
    }
}

fn to_row(key: &SigningKeyRecord) -> signing_keys::ActiveModel {
    signing_keys::ActiveModel {
        kid: Set(key.kid.clone()),
        algorithm: Set(key.algorithm.clone()),
        public_key: Set(key.public_key.clone()),
        private_key_encrypted: Set(key.private_key_encrypted.clone()),
        created_at: Set(key.created_at),
        signs_from: Set(Some(key.signs_from)),
        retired_at: Set(key.retired_at),
    }
}

#[async_trait]
impl SigningKeyRepository for SqlSigningKeys {
    async fn list(&self) -> Result<Vec<SigningKeyRecord>> {
        let rows = signing_keys::Entity::find()
            .order_by_asc(signing_keys::Column::CreatedAt)
            .order_by_asc(signing_keys::Column::Kid)
            .all(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(rows.into_iter().map(to_record).collect())
    }

    /// `ALREADY_EXISTS` when the kid is taken.
    async fn insert(&self, key: &SigningKeyRecord) -> Result<()> {
        signing_keys::Entity::insert(to_row(key))
            .exec_without_returning(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// `INSERT … SELECT <values> WHERE NOT EXISTS (a newer key)`: atomic
    /// on SQLite (writes are serialized); on PostgreSQL two statements at
    /// the same instant may both insert, which the port allows.
    async fn insert_if_none_since(
        &self,
        key: &SigningKeyRecord,
        since: DateTime<Utc>,
    ) -> Result<bool> {
        use signing_keys::Column;

        let newer = Query::select()
            .expr(Expr::val(1))
            .from(signing_keys::Entity)
            .and_where(Column::CreatedAt.gt(since))
            .to_owned();
        let values = Query::select()
            .exprs([
                Expr::val(key.kid.as_str()),
                Expr::val(key.algorithm.as_str()),
                Expr::val(key.public_key.clone()),
                Expr::val(key.private_key_encrypted.clone()),
                Expr::val(key.created_at),
                Expr::val(Some(key.signs_from)),
                Expr::val(key.retired_at),
            ])
            .and_where(Expr::not_exists(newer))
            .to_owned();
        let insert = Query::insert()
            .into_table(signing_keys::Entity)
            .columns([
                Column::Kid,
                Column::Algorithm,
                Column::PublicKey,
                Column::PrivateKeyEncrypted,
                Column::CreatedAt,
                Column::SignsFrom,
                Column::RetiredAt,
            ])
            .select_from(values)
            .map_err(|e| Error::internal_msg(format!("signing key insert: {e}")))?
            .to_owned();
        let result = self
            .db
            .connection()
            .execute(&insert)
            .await
            .map_err(db_err)?;
        Ok(result.rows_affected() == 1)
    }

    /// Retires a key once: false when unknown or already retired.
    async fn retire(&self, kid: &str, at: DateTime<Utc>) -> Result<bool> {
        let result = signing_keys::Entity::update_many()
            .col_expr(signing_keys::Column::RetiredAt, Expr::value(at))
            .filter(signing_keys::Column::Kid.eq(kid))
            .filter(signing_keys::Column::RetiredAt.is_null())
            .exec(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(result.rows_affected > 0)
    }

    /// One conditional UPDATE whose condition depends only on columns no
    /// one changes (`created_at`, `kid`) besides `retired_at IS NULL`, so
    /// concurrent calls on any snapshot agree on which key is newest and
    /// none retires it. The newest key's `created_at` is read from its row,
    /// not from the record, so the comparison is at the stored precision.
    async fn retire_older_than(&self, newest: &SigningKeyRecord, at: DateTime<Utc>) -> Result<u64> {
        let created_of_newest = || {
            Expr::SubQuery(
                None,
                Box::new(
                    Query::select()
                        .column(signing_keys::Column::CreatedAt)
                        .from(signing_keys::Entity)
                        .and_where(signing_keys::Column::Kid.eq(newest.kid.as_str()))
                        .to_owned()
                        .into(),
                ),
            )
        };
        let older = Condition::any()
            .add(ExprTrait::lt(
                Expr::col(signing_keys::Column::CreatedAt),
                created_of_newest(),
            ))
            .add(
                Condition::all()
                    .add(ExprTrait::eq(
                        Expr::col(signing_keys::Column::CreatedAt),
                        created_of_newest(),
                    ))
                    .add(signing_keys::Column::Kid.lt(newest.kid.as_str())),
            );
        let result = signing_keys::Entity::update_many()
            .col_expr(signing_keys::Column::RetiredAt, Expr::value(at))
            .filter(signing_keys::Column::RetiredAt.is_null())
            .filter(older)
            .exec(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(result.rows_affected)
    }
}

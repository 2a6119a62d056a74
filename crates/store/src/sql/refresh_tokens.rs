//! `refresh_token_families` and `refresh_tokens` behind
//! [`RefreshTokenRepository`].

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use latch_domain::{
    Error, FamilyId, Result, SessionId, TokenId, UserId,
    model::{RefreshFamily, RefreshToken},
    ports::{NewOutboxMessage, RefreshTokenRepository},
    secret::Secret,
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, EntityTrait,
    QueryFilter, QuerySelect, QueryTrait, Statement, TransactionTrait, sea_query::Expr,
};

use super::{
    db_err,
    entity::{refresh_token_families as families, refresh_tokens as tokens},
    error::corrupt,
    outbox,
};
use crate::Database;

/// Refresh-token families and their tokens on the SQL database.
#[derive(Debug, Clone)]
pub struct SqlRefreshTokens {
    db: Database,
}

impl SqlRefreshTokens {
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// [`RefreshTokenRepository::rotate`] on PostgreSQL: the conditional
    /// UPDATE and the INSERT as one statement, atomic on its own, in one
    /// round trip instead of four (BEGIN, UPDATE, INSERT, COMMIT). A
    /// concurrent rotation of the same token waits on the row lock, then
    /// sees it spent: its UPDATE returns no row and nothing is inserted.
    ///
    /// The family row is read `FOR SHARE`, which a revocation (an UPDATE of
    /// that row) conflicts with: a revocation committed first is seen (the
    /// lock waits for it, then rechecks the row) and the rotation writes
    /// nothing; one that comes later waits for this statement, so it
    /// revokes the successor too. Either way no live token survives it.
    /// The lock costs no write of its own: the INSERT's foreign-key check
    /// locks the same family row (`FOR KEY SHARE`) in any case.
    async fn rotate_in_one_statement(
        &self,
        spent: TokenId,
        at: DateTime<Utc>,
        successor: &RefreshToken,
    ) -> Result<bool> {
        const ROTATE: &str = "WITH live AS ( \
                SELECT id FROM refresh_token_families \
                WHERE id = $4 AND revoked_at IS NULL AND expires_at > $1 \
                FOR SHARE), \
            spent AS ( \
                UPDATE refresh_tokens SET spent_at = $1 \
                WHERE id = $2 AND spent_at IS NULL \
                    AND family_id IN (SELECT id FROM live) \
                RETURNING id) \
            INSERT INTO refresh_tokens (id, family_id, token_hash, parent_id, \
                user_agent, ip_hash, created_at, expires_at, spent_at, successor_salt) \
            SELECT $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 FROM spent";
        let mut values = vec![at.into(), spent.0.into()];
        values.extend(token_values(successor));
        Ok(self.execute_postgres(ROTATE, values).await? == 1)
    }

    /// [`RefreshTokenRepository::create_family`] on PostgreSQL: both
    /// INSERTs as one statement (the foreign key is checked at its end).
    async fn create_family_in_one_statement(
        &self,
        family: &RefreshFamily,
        first: &RefreshToken,
    ) -> Result<()> {
        const CREATE: &str = "WITH family AS ( \
                INSERT INTO refresh_token_families (id, user_id, session_id, \
                    created_at, expires_at, revoked_at, revoked_reason) \
                VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id) \
            INSERT INTO refresh_tokens (id, family_id, token_hash, parent_id, \
                user_agent, ip_hash, created_at, expires_at, spent_at, successor_salt) \
            SELECT $8, $9, $10, $11, $12, $13, $14, $15, $16, $17 FROM family";
        let mut values: Vec<sea_orm::Value> = vec![
            family.id.0.into(),
            family.user_id.0.into(),
            family.session_id.as_str().into(),
            family.created_at.into(),
            family.expires_at.into(),
            family.revoked_at.into(),
            family.revoked_reason.clone().into(),
        ];
        values.extend(token_values(first));
        match self.execute_postgres(CREATE, values).await? {
            1 => Ok(()),
            n => Err(Error::internal_msg(format!(
                "creating a refresh family inserted {n} first tokens"
            ))),
        }
    }

    /// Runs one PostgreSQL statement; returns the rows it affected.
    async fn execute_postgres(&self, sql: &str, values: Vec<sea_orm::Value>) -> Result<u64> {
        let result = self
            .db
            .connection()
            .execute_raw(Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                sql,
                values,
            ))
            .await
            .map_err(db_err)?;
        Ok(result.rows_affected())
    }

    /// Revokes the unrevoked families matching `filter`; returns how many.
    async fn revoke_where(
        &self,
        filter: Condition,
        at: DateTime<Utc>,
        reason: &str,
    ) -> Result<u64> {
        revoke_on(self.db.connection(), filter, at, reason).await
    }
}

/// Revokes the unrevoked families matching `filter` on `conn` (the pool,
/// or a transaction); returns how many.
async fn revoke_on(
    conn: &impl ConnectionTrait,
    filter: Condition,
    at: DateTime<Utc>,
    reason: &str,
) -> Result<u64> {
    let result = families::Entity::update_many()
        .col_expr(families::Column::RevokedAt, Expr::value(at))
        .col_expr(families::Column::RevokedReason, Expr::value(reason))
        .filter(filter)
        .filter(families::Column::RevokedAt.is_null())
        .exec(conn)
        .await
        .map_err(db_err)?;
    Ok(result.rows_affected)
}

fn hash32(bytes: Vec<u8>, what: &str) -> Result<[u8; 32]> {
    bytes.try_into().map_err(|_| corrupt(what))
}

fn to_token(row: tokens::Model) -> Result<RefreshToken> {
    Ok(RefreshToken {
        id: TokenId(row.id),
        family_id: FamilyId(row.family_id),
        token_hash: hash32(row.token_hash, "refresh token hash")?,
        parent_id: row.parent_id.map(TokenId),
        user_agent: row.user_agent,
        ip_hash: row.ip_hash.map(|h| hash32(h, "ip hash")).transpose()?,
        created_at: row.created_at,
        expires_at: row.expires_at,
        spent_at: row.spent_at,
        successor_salt: row
            .successor_salt
            .map(|salt| hash32(salt, "successor salt").map(Secret::new))
            .transpose()?,
    })
}

fn to_family(row: families::Model) -> RefreshFamily {
    RefreshFamily {
        id: FamilyId(row.id),
        user_id: UserId(row.user_id),
        session_id: SessionId::from_stored(row.session_id),
        created_at: row.created_at,
        expires_at: row.expires_at,
        revoked_at: row.revoked_at,
        revoked_reason: row.revoked_reason,
    }
}

fn token_row(token: &RefreshToken) -> tokens::ActiveModel {
    tokens::ActiveModel {
        id: Set(token.id.0),
        family_id: Set(token.family_id.0),
        token_hash: Set(token.token_hash.to_vec()),
        parent_id: Set(token.parent_id.map(|p| p.0)),
        user_agent: Set(token.user_agent.clone()),
        ip_hash: Set(token.ip_hash.map(|h| h.to_vec())),
        created_at: Set(token.created_at),
        expires_at: Set(token.expires_at),
        spent_at: Set(token.spent_at),
        successor_salt: Set(salt_bytes(token)),
    }
}

fn salt_bytes(token: &RefreshToken) -> Option<Vec<u8>> {
    token
        .successor_salt
        .as_ref()
        .map(|salt| salt.expose().to_vec())
}

/// A token's columns in the order the one-statement SQL lists them.
fn token_values(token: &RefreshToken) -> [sea_orm::Value; 10] {
    [
        token.id.0.into(),
        token.family_id.0.into(),
        token.token_hash.to_vec().into(),
        token.parent_id.map(|p| p.0).into(),
        token.user_agent.clone().into(),
        token.ip_hash.map(|h| h.to_vec()).into(),
        token.created_at.into(),
        token.expires_at.into(),
        token.spent_at.into(),
        salt_bytes(token).into(),
    ]
}

fn family_row(family: &RefreshFamily) -> families::ActiveModel {
    families::ActiveModel {
        id: Set(family.id.0),
        user_id: Set(family.user_id.0),
        session_id: Set(family.session_id.as_str().to_owned()),
        created_at: Set(family.created_at),
        expires_at: Set(family.expires_at),
        revoked_at: Set(family.revoked_at),
        revoked_reason: Set(family.revoked_reason.clone()),
    }
}

#[async_trait]
impl RefreshTokenRepository for SqlRefreshTokens {
    async fn create_family(&self, family: &RefreshFamily, first: &RefreshToken) -> Result<()> {
        if self.db.is_postgres() {
            return self.create_family_in_one_statement(family, first).await;
        }
        let txn = self.db.connection().begin().await.map_err(db_err)?;
        families::Entity::insert(family_row(family))
            .exec_without_returning(&txn)
            .await
            .map_err(db_err)?;
        tokens::Entity::insert(token_row(first))
            .exec_without_returning(&txn)
            .await
            .map_err(db_err)?;
        txn.commit().await.map_err(db_err)
    }

    async fn find_by_hash(&self, hash: &[u8; 32]) -> Result<Option<(RefreshToken, RefreshFamily)>> {
        let found = tokens::Entity::find()
            .find_also_related(families::Entity)
            .filter(tokens::Column::TokenHash.eq(hash.to_vec()))
            .one(self.db.connection())
            .await
            .map_err(db_err)?;
        match found {
            Some((token, Some(family))) => Ok(Some((to_token(token)?, to_family(family)))),
            // The foreign key makes an orphan token impossible.
            Some((_, None)) => Err(corrupt("refresh token family link")),
            None => Ok(None),
        }
    }

    async fn get_family(&self, id: FamilyId) -> Result<Option<RefreshFamily>> {
        let row = families::Entity::find_by_id(id.0)
            .one(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(row.map(to_family))
    }

    async fn rotate(
        &self,
        spent: TokenId,
        at: DateTime<Utc>,
        successor: &RefreshToken,
    ) -> Result<bool> {
        if self.db.is_postgres() {
            return self.rotate_in_one_statement(spent, at, successor).await;
        }
        let txn = self.db.connection().begin().await.map_err(db_err)?;
        // The conditional UPDATE is the arbiter: a concurrent rotation of
        // the same token, or a revocation of its family, waits on the write
        // lock (SQLite serializes writers), and this statement sees what
        // committed before it: a spent token or an ended family changes
        // nothing.
        let live_family = families::Entity::find()
            .select_only()
            .column(families::Column::Id)
            .filter(families::Column::Id.eq(successor.family_id.0))
            .filter(families::Column::RevokedAt.is_null())
            .filter(families::Column::ExpiresAt.gt(at))
            .into_query();
        let marked = tokens::Entity::update_many()
            .col_expr(tokens::Column::SpentAt, Expr::value(at))
            .filter(tokens::Column::Id.eq(spent.0))
            .filter(tokens::Column::SpentAt.is_null())
            .filter(tokens::Column::FamilyId.in_subquery(live_family))
            .exec(&txn)
            .await
            .map_err(db_err)?;
        if marked.rows_affected != 1 {
            txn.rollback().await.map_err(db_err)?;
            return Ok(false);
        }
        tokens::Entity::insert(token_row(successor))
            .exec_without_returning(&txn)
            .await
            .map_err(db_err)?;
        txn.commit().await.map_err(db_err)?;
        Ok(true)
    }

    async fn revoke_family(
        &self,
        family: FamilyId,
        at: DateTime<Utc>,
        reason: &str,
        follow_up: &[NewOutboxMessage],
    ) -> Result<bool> {
        let filter = Condition::all().add(families::Column::Id.eq(family.0));
        if follow_up.is_empty() {
            return Ok(self.revoke_where(filter, at, reason).await? > 0);
        }
        // The follow-up commits with the revocation, or neither does.
        let txn = self.db.connection().begin().await.map_err(db_err)?;
        let revoked = revoke_on(&txn, filter, at, reason).await? > 0;
        if revoked {
            outbox::write(&txn, follow_up).await?;
        }
        txn.commit().await.map_err(db_err)?;
        self.db.outbox_written();
        Ok(revoked)
    }

    async fn revoke_families_of_session(
        &self,
        session: &SessionId,
        at: DateTime<Utc>,
        reason: &str,
    ) -> Result<u64> {
        let filter = Condition::all().add(families::Column::SessionId.eq(session.as_str()));
        self.revoke_where(filter, at, reason).await
    }

    async fn revoke_families_of_user(
        &self,
        user: UserId,
        at: DateTime<Utc>,
        reason: &str,
    ) -> Result<u64> {
        let filter = Condition::all().add(families::Column::UserId.eq(user.0));
        self.revoke_where(filter, at, reason).await
    }

    async fn delete_expired(&self, before: DateTime<Utc>) -> Result<u64> {
        let ended = Condition::any()
            .add(families::Column::ExpiresAt.lt(before))
            .add(families::Column::RevokedAt.lt(before));
        let txn = self.db.connection().begin().await.map_err(db_err)?;
        // Tokens first, explicitly, rather than trusting the cascade to be
        // switched on for every connection.
        let doomed = families::Entity::find()
            .select_only()
            .column(families::Column::Id)
            .filter(ended.clone())
            .into_query();
        tokens::Entity::delete_many()
            .filter(tokens::Column::FamilyId.in_subquery(doomed))
            .exec(&txn)
            .await
            .map_err(db_err)?;
        let deleted = families::Entity::delete_many()
            .filter(ended)
            .exec(&txn)
            .await
            .map_err(db_err)?;
        txn.commit().await.map_err(db_err)?;
        Ok(deleted.rows_affected)
    }

    async fn delete_for_user(&self, user: UserId, limit: u64) -> Result<u64> {
        let txn = self.db.connection().begin().await.map_err(db_err)?;
        // The batch read once, so tokens and families go by the same ids.
        let doomed: Vec<uuid::Uuid> = families::Entity::find()
            .select_only()
            .column(families::Column::Id)
            .filter(families::Column::UserId.eq(user.0))
            .limit(limit)
            .into_tuple()
            .all(&txn)
            .await
            .map_err(db_err)?;
        if doomed.is_empty() {
            return Ok(0);
        }
        tokens::Entity::delete_many()
            .filter(tokens::Column::FamilyId.is_in(doomed.clone()))
            .exec(&txn)
            .await
            .map_err(db_err)?;
        let deleted = families::Entity::delete_many()
            .filter(families::Column::Id.is_in(doomed))
            .exec(&txn)
            .await
            .map_err(db_err)?;
        txn.commit().await.map_err(db_err)?;
        Ok(deleted.rows_affected)
    }
}

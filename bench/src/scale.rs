//! `--scale`: fills latchd's own tables straight in PostgreSQL (server-side
//! batched `INSERT … SELECT generate_series`) with many users, refresh
//! families and refresh tokens, so Validate and Refresh can be measured again
//! on tables of production size.

use std::{sync::Arc, time::Instant};

use sea_orm::sqlx::{self, AssertSqlSafe, PgPool};

use crate::{
    cli::ScaleSize,
    error::{Context as _, Result},
};

/// Rows per INSERT statement.
const BATCH: u64 = 100_000;

/// Seeds `size.users` users (each with one refresh family) and
/// `size.tokens` spent refresh tokens spread over those families, then
/// ANALYZEs, printing progress to stderr.
pub(crate) async fn seed(pg: &PgPool, size: ScaleSize) -> Result<()> {
    let users = size.users.max(1);
    // Ids are md5-derived UUIDs of the row number: unique, random-looking
    // (so the B-trees are filled as real v4/v7 ids fill them) and
    // recomputable for the foreign keys.
    insert_batched(
        pg,
        "users",
        users,
        String::from(
            "INSERT INTO users (id, email, email_verified, phone_verified, status, totp_enabled,
                            failed_login_count, created_at, updated_at)
         SELECT md5('u' || i)::uuid, 'scale-' || i || '@bench.example.com', true, false,
                'active', false, 0, now(), now()
         FROM generate_series($1::bigint, $2::bigint) AS i",
        ),
    )
    .await?;
    insert_batched(
        pg,
        "refresh_token_families",
        users,
        String::from(
            "INSERT INTO refresh_token_families (id, user_id, session_id, created_at, expires_at)
         SELECT md5('f' || i)::uuid, md5('u' || i)::uuid, 'scale-' || i, now(),
                now() + interval '14 days'
         FROM generate_series($1::bigint, $2::bigint) AS i",
        ),
    )
    .await?;
    let tokens_sql = format!(
        "INSERT INTO refresh_tokens (id, family_id, token_hash, created_at, expires_at, spent_at)
         SELECT md5('t' || i)::uuid, md5('f' || (i % {users} + 1))::uuid,
                sha256(('t' || i)::bytea), now(), now() + interval '7 days', now()
         FROM generate_series($1::bigint, $2::bigint) AS i"
    );
    insert_batched(pg, "refresh_tokens", size.tokens, tokens_sql).await?;
    eprintln!("  scale: ANALYZE");
    sqlx::query("ANALYZE users, refresh_token_families, refresh_tokens")
        .execute(pg)
        .await
        .context("ANALYZE")?;
    Ok(())
}

/// Runs `sql` (with `$1..$2` the row numbers of a batch) until `total` rows.
async fn insert_batched(pg: &PgPool, table: &str, total: u64, sql: String) -> Result<()> {
    // Built here from constants and a row count: no outside input.
    let sql = Arc::new(sql);
    let started = Instant::now();
    let mut done = 0;
    while done < total {
        let last = (done + BATCH).min(total);
        sqlx::query(AssertSqlSafe(sql.clone()))
            .bind(i64::try_from(done + 1).context("row number")?)
            .bind(i64::try_from(last).context("row number")?)
            .execute(pg)
            .await
            .context(&format!("seed {table}"))?;
        done = last;
        let seconds = started.elapsed().as_secs_f64().max(f64::EPSILON);
        eprintln!(
            "  scale: {table} {done}/{total} ({:.0} rows/s)",
            done as f64 / seconds
        );
    }
    Ok(())
}

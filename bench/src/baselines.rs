//! The floors Latch is measured against, each in the same run and on the
//! same load loop: the RPC floor (echo), argon2id verify on all cores, raw
//! JWT verify, a Redis GET and a PostgreSQL write transaction.

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::{SystemTime, UNIX_EPOCH},
};

use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use deadpool_redis::redis;
use ed25519_dalek::{SigningKey, pkcs8::EncodePrivateKey as _};
use futures::future::BoxFuture;
use jsonwebtoken::{Algorithm as JwtAlgorithm, DecodingKey, EncodingKey, Header, Validation};
use latch_client::{ACCESS_TOKEN_TYPE, Claims};
use sea_orm::sqlx;
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::{
    echo::{EchoRequest, EchoServiceClient},
    error::{Context as _, Result, fail},
    load::{Call, call},
    scenario::{Ctx, Scenario, Server, pick},
    seed::PASSWORD,
};

pub(crate) const ECHO: &str = "echo";
pub(crate) const ARGON2: &str = "argon2_verify";
pub(crate) const JWT_VERIFY: &str = "jwt_verify";
pub(crate) const REDIS_GET: &str = "redis_get";
pub(crate) const PG_WRITE: &str = "pg_write";

pub(crate) fn scenarios() -> Vec<Scenario> {
    let floor = |name, label, server, setup: crate::scenario::Setup| Scenario {
        name,
        label,
        baseline: None,
        target: None,
        server,
        rerun_at_scale: false,
        setup,
    };
    vec![
        floor(ECHO, "echo", Server::Echo, echo),
        floor(ARGON2, "argon2 floor", Server::None, argon2_verify),
        floor(JWT_VERIFY, "raw verify", Server::None, jwt_verify),
        floor(REDIS_GET, "Redis GET", Server::None, redis_get),
        Scenario {
            rerun_at_scale: true,
            ..floor(PG_WRITE, "PostgreSQL write", Server::None, pg_write)
        },
    ]
}

/// A unary call that does nothing, on Latch's server settings; the request
/// is about the size of a ValidateSession request.
fn echo(ctx: &Ctx) -> BoxFuture<'_, Result<Call>> {
    Box::pin(async move {
        let channels = ctx.echo.clone();
        Ok(call(move |w| {
            let mut client = EchoServiceClient::new(pick(&channels, w));
            async move {
                client
                    .echo(EchoRequest {
                        payload: "0193a5c4-7d2e-7c1b-9a4f-3e2d1c0b9a87".to_owned(),
                    })
                    .await?;
                Ok(())
            }
        }))
    })
}

/// argon2id verify at Latch's parameters (`Params::default()`, the OWASP
/// minimum) on the blocking pool, one at a time per core: what latchd's
/// hasher does, without anything else.
fn argon2_verify(_ctx: &Ctx) -> BoxFuture<'_, Result<Call>> {
    Box::pin(async move {
        let hash = tokio::task::spawn_blocking(|| {
            Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
                .hash_password(PASSWORD.as_bytes())
                .map(|hash| hash.to_string())
                .context("argon2 hash")
        })
        .await
        .context("argon2 hash task")??;
        let hash: Arc<str> = hash.into();
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let permits = Arc::new(Semaphore::new(cores));
        Ok(call(move |_| {
            let hash = hash.clone();
            let permits = permits.clone();
            async move {
                let permit = permits.acquire_owned().await.context("argon2 permit")?;
                tokio::task::spawn_blocking(move || {
                    let _permit = permit;
                    let parsed = argon2::password_hash::phc::PasswordHash::new(&hash)
                        .context("parse hash")?;
                    Argon2::default()
                        .verify_password(PASSWORD.as_bytes(), &parsed)
                        .context("argon2 verify")
                })
                .await
                .context("argon2 task")?
            }
        }))
    })
}

/// `jsonwebtoken::decode` of an EdDSA access token of Latch's shape, with
/// the checks the client verifier makes, inline on the bench's runtime
/// (all cores).
fn jwt_verify(_ctx: &Ctx) -> BoxFuture<'_, Result<Call>> {
    Box::pin(async move {
        let (token, key) = signed_token()?;
        let mut validation = Validation::new(JwtAlgorithm::EdDSA);
        validation.set_issuer(&["latch"]);
        validation.set_audience(&["latch"]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let state = Arc::new((token, key, validation));
        Ok(call(move |_| {
            let state = state.clone();
            async move {
                let (token, key, validation) = &*state;
                jsonwebtoken::decode::<Claims>(token, key, validation).context("decode")?;
                Ok(())
            }
        }))
    })
}

/// A token signed by a fresh Ed25519 key, and the key that verifies it.
fn signed_token() -> Result<(String, DecodingKey)> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).context("random key")?;
    let signing = SigningKey::from_bytes(&seed);
    let der = signing.to_pkcs8_der().context("pkcs8")?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let claims = Claims {
        iss: "latch".to_owned(),
        aud: "latch".to_owned(),
        sub: Uuid::now_v7().to_string(),
        sid: Uuid::now_v7().to_string(),
        roles: vec!["user".to_owned()],
        iat: now,
        exp: now + 3600,
        jti: Uuid::now_v7().to_string(),
    };
    let mut header = Header::new(JwtAlgorithm::EdDSA);
    header.typ = Some(ACCESS_TOKEN_TYPE.to_owned());
    header.kid = Some("bench".to_owned());
    let token = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ed_der(der.as_bytes()))
        .context("sign")?;
    let x = URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes());
    let key = DecodingKey::from_ed_components(&x).context("decoding key")?;
    Ok((token, key))
}

/// GET of a small cached value through a pool like latchd's.
fn redis_get(ctx: &Ctx) -> BoxFuture<'_, Result<Call>> {
    Box::pin(async move {
        let key = format!("{}bench:get", ctx.redis_prefix);
        let mut conn = ctx.redis.get().await.context("Redis")?;
        redis::cmd("SET")
            .arg(&key)
            .arg("x".repeat(200))
            .query_async::<()>(&mut conn)
            .await
            .context("Redis SET")?;
        drop(conn);
        let pool = ctx.redis.clone();
        Ok(call(move |_| {
            let pool = pool.clone();
            let key = key.clone();
            async move {
                let mut conn = pool.get().await.context("Redis pool")?;
                let value: Option<String> = redis::cmd("GET")
                    .arg(&key)
                    .query_async(&mut conn)
                    .await
                    .context("Redis GET")?;
                value.map(|_| ()).context("the key is gone")
            }
        }))
    })
}

/// What a rotation writes, on a scratch table: in one transaction, insert
/// the successor and mark its parent spent if it is not yet (each worker
/// its own chain).
fn pg_write(ctx: &Ctx) -> BoxFuture<'_, Result<Call>> {
    Box::pin(async move {
        let pool = ctx.pg.clone();
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS bench_rotation (
                id uuid PRIMARY KEY,
                family_id uuid NOT NULL,
                token_hash bytea NOT NULL UNIQUE,
                parent_id uuid,
                created_at timestamptz NOT NULL,
                spent_at timestamptz
            )",
        )
        .execute(&pool)
        .await
        .context("create bench_rotation")?;
        let mut heads = Vec::with_capacity(ctx.concurrency);
        for _ in 0..ctx.concurrency {
            let id = Uuid::now_v7();
            sqlx::query(
                "INSERT INTO bench_rotation (id, family_id, token_hash, created_at)
                 VALUES ($1, $1, $2, now())",
            )
            .bind(id)
            .bind(random_hash()?.to_vec())
            .execute(&pool)
            .await
            .context("seed bench_rotation")?;
            heads.push(Mutex::new(id));
        }
        let heads = Arc::new(heads);
        Ok(call(move |w| {
            let pool = pool.clone();
            let heads = heads.clone();
            async move {
                let head = &heads[w % heads.len()];
                let parent = *head.lock().unwrap_or_else(PoisonError::into_inner);
                let child = Uuid::now_v7();
                let mut tx = pool.begin().await.context("begin")?;
                sqlx::query(
                    "INSERT INTO bench_rotation (id, family_id, token_hash, parent_id, created_at)
                     SELECT $1, family_id, $2, id, now() FROM bench_rotation WHERE id = $3",
                )
                .bind(child)
                .bind(random_hash()?.to_vec())
                .bind(parent)
                .execute(&mut *tx)
                .await
                .context("insert successor")?;
                let spent = sqlx::query(
                    "UPDATE bench_rotation SET spent_at = now() WHERE id = $1 AND spent_at IS NULL",
                )
                .bind(parent)
                .execute(&mut *tx)
                .await
                .context("spend parent")?;
                if spent.rows_affected() != 1 {
                    return Err(fail("parent already spent"));
                }
                tx.commit().await.context("commit")?;
                *head.lock().unwrap_or_else(PoisonError::into_inner) = child;
                Ok(())
            }
        }))
    })
}

fn random_hash() -> Result<[u8; 32]> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).context("random bytes")?;
    Ok(bytes)
}

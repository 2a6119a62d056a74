//! `latchd [serve]` runs every service on `LATCH_GRPC_ADDR`, and the JWKS
//! and discovery documents on `LATCH_HTTP_ADDR`;
//! `latchd migrate` applies the migrations to `LATCH_DATABASE_URL` and exits;
//! `latchd service-account NAME` prints a new service account's credential
//! and the `LATCH_SERVICE_ACCOUNTS` stanza that holds its hash;
//! `latchd bootstrap-admin --email EMAIL [--password-file FILE]` makes the
//! first SUPERADMIN (created, or an existing account promoted) and exits.

use std::{process::ExitCode, sync::Arc};

use latch_domain::{Clock, Result, SystemClock};
use latch_runtime::{
    config::{ConfigSource, EnvSource, parse_or},
    http::{self, HttpConfig, HttpListener},
    infra::{Infra, RedisRequirement},
    secrets::Secrets,
    server,
    settings::CommonConfig,
    telemetry::{self, TelemetryConfig},
};

const USAGE: &str = "usage: latchd [serve | migrate | service-account NAME | bootstrap-admin --email EMAIL [--password-file FILE|-]]   (settings: LATCH_* environment, see README)";

#[tokio::main]
async fn main() -> ExitCode {
    let source = EnvSource;
    let command = std::env::args().nth(1);
    let result = match command.as_deref() {
        None | Some("serve") => serve(&source).await,
        Some("migrate") => migrate(&source).await,
        Some("service-account") => match std::env::args().nth(2) {
            Some(name) => service_account(&name),
            None => {
                eprintln!("latchd: service-account needs a NAME\n{USAGE}");
                return ExitCode::from(2);
            }
        },
        Some("bootstrap-admin") => {
            match latchd::bootstrap_admin::BootstrapArgs::parse(std::env::args().skip(2)) {
                Ok(args) => latchd::bootstrap_admin::run(&source, args).await,
                Err(usage) => {
                    eprintln!("latchd: {usage}\n{USAGE}");
                    return ExitCode::from(2);
                }
            }
        }
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => {
            eprintln!("latchd: unknown command {other:?}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("latchd: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(source: &dyn ConfigSource) -> Result<()> {
    let common = CommonConfig::from_source(source)?;
    let telemetry = telemetry::init(&TelemetryConfig::new(&common, "latchd"))?;
    // SQLite migrates itself; a PostgreSQL deployment runs `latchd migrate`
    // (a Kubernetes Job) unless told otherwise.
    let migrate = parse_or(source, "LATCH_AUTO_MIGRATE", !common.is_production())?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let secrets = Secrets::load(source, &common).await?;
    let infra = Infra::connect(&common, clock.clone(), RedisRequirement::Optional, migrate).await?;
    let latchd = latchd::assemble(source, &secrets, &infra, clock).await?;
    // JWKS and discovery for gateways (default 127.0.0.1:8080; `off` for none).
    let http_config = HttpConfig::from_source(source, HttpConfig::latchd_default())?;
    if let Some(listener) = HttpListener::bind(&http_config).await? {
        let routes = latchd.http_routes(listener.public_url());
        http::spawn(routes, listener, server::shutdown_signal());
    }
    let listener = tokio::net::TcpListener::bind(common.grpc_addr)
        .await
        .map_err(|e| {
            latch_domain::Error::internal_msg(format!("cannot listen on {}: {e}", common.grpc_addr))
        })?;
    tracing::info!(
        addr = %common.grpc_addr,
        database = if common.is_production() { "postgres" } else { "sqlite" },
        redis = common.redis_url.is_some(),
        "latchd serving"
    );
    let served = server::serve_with_limits(
        latchd.services,
        listener,
        latchd.guard,
        &common.limits,
        server::shutdown_signal(),
    )
    .await;
    telemetry.shutdown().await;
    served
}

/// Prints the credential once, to hand to the caller, and the stanza.
fn service_account(name: &str) -> Result<()> {
    let (credential, stanza) = latch_runtime::auth::new_account(name)?;
    println!("# the caller sends (shown once, stored nowhere):");
    println!("#   x-latch-service-account: {credential}");
    println!("# add to the file named by LATCH_SERVICE_ACCOUNTS:");
    print!("{stanza}");
    Ok(())
}

async fn migrate(source: &dyn ConfigSource) -> Result<()> {
    let common = CommonConfig::from_source(source)?;
    let telemetry = telemetry::init(&TelemetryConfig::new(&common, "latchd"))?;
    let db = latch_store::Database::connect(&common.database_url, 2).await?;
    db.migrate().await?;
    tracing::info!("migrations applied");
    telemetry.shutdown().await;
    Ok(())
}

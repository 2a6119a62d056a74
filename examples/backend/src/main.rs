//! `latch-example-backend`: serves the example API on `EXAMPLE_BIND`
//! (default `127.0.0.1:50061`), trusting the Latch at `LATCH_URL` (default
//! `http://127.0.0.1:50051`) as the service account `LATCH_SERVICE_ACCOUNT`
//! (`<name>.<secret>`). With `LATCH_REDIS_URL` (and `LATCH_REDIS_PREFIX`)
//! it follows `session:revoked` on Latch's Redis; without, it polls.

use std::process::ExitCode;

use latch_example_backend::{RevocationSource, Settings, protect, serve};
use tonic::transport::Channel;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("latch-example-backend: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let bind = var("EXAMPLE_BIND").unwrap_or_else(|| "127.0.0.1:50061".to_owned());
    let latch_url = var("LATCH_URL").unwrap_or_else(|| "http://127.0.0.1:50051".to_owned());
    let credential = var("LATCH_SERVICE_ACCOUNT").ok_or("LATCH_SERVICE_ACCOUNT is not set")?;
    let source = match var("LATCH_REDIS_URL") {
        Some(url) => RevocationSource::Redis {
            url,
            key_prefix: var("LATCH_REDIS_PREFIX").unwrap_or_default(),
        },
        None => RevocationSource::Poll,
    };
    let latch = Channel::from_shared(latch_url)
        .map_err(|_| "LATCH_URL is not a URL".to_owned())?
        .connect_lazy();
    let layer = protect(&Settings::new(latch, credential, source))
        .await
        .map_err(|err| format!("cannot trust Latch yet: {err}"))?;
    let listener = tokio::net::TcpListener::bind(&bind)
        .await
        .map_err(|err| format!("bind {bind}: {err}"))?;
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    serve(listener, layer, stop)
        .await
        .map_err(|err| format!("server: {err}"))
}

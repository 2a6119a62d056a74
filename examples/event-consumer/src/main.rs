//! `latch-example-event-consumer`: reads `user:updated` and
//! `session:revoked` from Latch's event streams on `LATCH_REDIS_URL`
//! (keys prefixed by `LATCH_REDIS_PREFIX`, empty by default) as the
//! consumer `EXAMPLE_CONSUMER` (default `consumer-1`) of the group
//! `EXAMPLE_GROUP` (default `example-service`), and prints each event.

use std::process::ExitCode;

use latch_example_event_consumer::follow;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("latch-example-event-consumer: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let url = var("LATCH_REDIS_URL").ok_or("LATCH_REDIS_URL is not set")?;
    let prefix = var("LATCH_REDIS_PREFIX").unwrap_or_default();
    let group = var("EXAMPLE_GROUP").unwrap_or_else(|| "example-service".to_owned());
    let consumer = var("EXAMPLE_CONSUMER").unwrap_or_else(|| "consumer-1".to_owned());
    let print = |event: &latch_client::events::StreamEvent, decoded| {
        println!("{} {} {decoded}", event.entry_id, event.aggregate);
    };
    tokio::select! {
        followed = follow(&url, &prefix, &group, &consumer, print) => {
            followed.map_err(|err| err.to_string())
        }
        // Stopping mid-event leaves it pending: handed out again next run.
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

//! `latch-bench`: a load generator that measures Latch against the limits
//! of the same machine in one run (issue 3). `run` starts latchd on
//! PostgreSQL + Redis and an echo server as child processes, measures the
//! floors (echo RPC, argon2id, JWT verify, Redis GET, a PostgreSQL write
//! transaction) and Latch's scenarios on one load loop, and prints each
//! scenario's rate, latency and ratio to its floor. README, "Benchmarks:
//! reading `make bench`", explains the table.

mod backends;
mod baselines;
mod cli;
mod echo;
mod error;
mod ext_authz;
mod latchd_scenarios;
mod load;
mod passkey_login;
mod report;
mod rss;
mod run;
mod scale;
mod scenario;
mod seed;
mod servers;

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let outcome = match cli::parse(std::env::args().skip(1)) {
        Ok(cli::Command::Help) => {
            println!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(cli::Command::EchoServer) => echo::serve().await.map(|()| true),
        Ok(cli::Command::Run(options)) => run::run(&options).await,
        Err(err) => Err(err),
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("latch-bench: {err}");
            ExitCode::FAILURE
        }
    }
}

//! `latchctl`, the admin CLI of Latch: signs in as an admin (or calls as a
//! service account) and drives Latch's gRPC API, never its database.
//! `latchctl --help` lists the commands and the exit codes; the README's
//! "latchctl" section explains sign-in and automation.

mod account;
mod api;
mod cli;
mod failure;
mod history;
mod keys;
mod login;
mod output;
mod pages;
mod prompt;
mod resolve;
mod roles;
mod sessions;
mod store;
mod users;
mod view;

use std::process::ExitCode;

use clap::Parser;

use crate::{
    account::ServiceAccount,
    api::Api,
    cli::{Cli, Command},
    failure::Failure,
    output::Output,
    store::Store,
};

// One task at a time: a prompt may block this thread without starving
// anything (see prompt.rs).
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // A usage error exits 2 here, with clap's message.
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("latchctl: {failure}");
            failure.exit_code()
        }
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let global = &cli.global;
    let out = Output { json: global.json };
    let store = Store::locate(global.profile_dir.as_deref())?;
    let account = ServiceAccount::from_args(
        global.service_account.as_deref(),
        global.service_account_file.as_deref(),
    )?;
    match &cli.command {
        Command::Login(args) => login::login(&global.server, store, args, out).await,
        Command::Logout => login::logout(&global.server, store, out).await,
        command => {
            let mut api = Api::open(&global.server, store, account)?;
            match command {
                Command::Users(command) => users::run(&mut api, command, out).await,
                Command::Sessions(command) => sessions::run(&mut api, command, out).await,
                Command::Roles(command) => roles::run(&mut api, command, out).await,
                Command::Keys(command) => keys::run(&mut api, command, out).await,
                Command::History(args) => history::run(&mut api, args, out).await,
                Command::Login(_) | Command::Logout => Ok(()),
            }
        }
    }
}

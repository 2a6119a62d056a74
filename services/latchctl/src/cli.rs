//! The command line: every command, flag and environment variable of
//! latchctl, parsed by clap (a usage error exits 2 before anything runs).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub(crate) const DEFAULT_SERVER: &str = "http://127.0.0.1:50051";

const AFTER_HELP: &str = "\
Exit codes (stable, for scripts):
  0  done
  1  anything else (a bug, INTERNAL, RESOURCE_EXHAUSTED, UNIMPLEMENTED, a local file error)
  2  usage: a malformed command or argument (also INVALID_ARGUMENT from Latch)
  3  not signed in, or signing in failed (UNAUTHENTICATED, an inactive account, a wrong code)
  4  permission denied (PERMISSION_DENIED)
  5  not found (NOT_FOUND)
  6  Latch unavailable (UNAVAILABLE, DEADLINE_EXCEEDED, nothing listening)";

/// Administers a Latch deployment over its gRPC API.
#[derive(Debug, Parser)]
#[command(name = "latchctl", version, after_help = AFTER_HELP)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Args)]
pub(crate) struct Global {
    /// Latch's gRPC address.
    #[arg(long, global = true, env = "LATCHCTL_SERVER", default_value = DEFAULT_SERVER)]
    pub(crate) server: String,

    /// Print JSON (one document on stdout) instead of tables.
    #[arg(long, global = true)]
    pub(crate) json: bool,

    /// Where the sign-in is kept [default: $XDG_CONFIG_HOME/latch, else ~/.config/latch].
    #[arg(long, global = true, env = "LATCHCTL_HOME")]
    pub(crate) profile_dir: Option<PathBuf>,

    /// Call as this service account (`<name>.<secret>`) instead of the
    /// signed-in admin; prefer the environment variable, as arguments show
    /// in `ps`. Never Latch's own LATCH_SERVICE_TOKEN.
    #[arg(
        long,
        global = true,
        env = "LATCHCTL_SERVICE_ACCOUNT",
        hide_env_values = true
    )]
    pub(crate) service_account: Option<String>,

    /// Read the service account credential from this file instead.
    #[arg(long, global = true)]
    pub(crate) service_account_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Sign in as an admin; the refresh token is kept in an owner-only file.
    Login(LoginArgs),
    /// End the signed-in session and forget it.
    Logout,
    /// Accounts: list, show, suspend, activate, deactivate, delete.
    #[command(subcommand)]
    Users(UsersCommand),
    /// A user's sessions (devices).
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// A user's roles.
    #[command(subcommand)]
    Roles(RolesCommand),
    /// Token signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// A user's sign-in attempts, newest first.
    History(HistoryArgs),
}

#[derive(Debug, Args)]
pub(crate) struct LoginArgs {
    /// The admin's email address.
    #[arg(long, env = "LATCHCTL_EMAIL")]
    pub(crate) email: String,
    /// Read the password from the first line of this file (else a prompt
    /// without echo, or a line of standard input when it is not a terminal).
    #[arg(long)]
    pub(crate) password_file: Option<PathBuf>,
}

/// Which page, or all of them.
#[derive(Debug, Args)]
pub(crate) struct Paging {
    /// Fetch every page (with a progress bar on a terminal).
    #[arg(long, conflicts_with = "page_token")]
    pub(crate) all: bool,
    /// Entries per page, 1 to 500 [default: 50; 500 with --all].
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..=500))]
    pub(crate) page_size: Option<i32>,
    /// Continue from the next_page_token a previous page printed.
    #[arg(long)]
    pub(crate) page_token: Option<String>,
}

impl Paging {
    pub(crate) fn size(&self) -> i32 {
        self.page_size.unwrap_or(if self.all { 500 } else { 50 })
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum UsersCommand {
    /// Users, newest first.
    List(ListUsersArgs),
    /// One user.
    Show(UserArg),
    /// Block a user from signing in; ends every session at once.
    Suspend(StatusChange),
    /// Let a suspended or deactivated user sign in again.
    Activate(StatusChange),
    /// Close an account; ends every session at once.
    Deactivate(StatusChange),
    /// Delete a user and everything Latch holds about them.
    Delete(DeleteArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ListUsersArgs {
    /// Only addresses starting with this (case-insensitive).
    #[arg(long)]
    pub(crate) email_prefix: Option<String>,
    /// Only users with this status.
    #[arg(long, value_enum)]
    pub(crate) status: Option<StatusArg>,
    /// Only users created at or after this time (2026-12-01 or RFC 3339).
    #[arg(long)]
    pub(crate) created_after: Option<String>,
    /// Only users created before this time.
    #[arg(long)]
    pub(crate) created_before: Option<String>,
    #[command(flatten)]
    pub(crate) paging: Paging,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum StatusArg {
    Pending,
    Active,
    Suspended,
    Deactivated,
}

#[derive(Debug, Args)]
pub(crate) struct UserArg {
    /// User id, or email address.
    pub(crate) user: String,
}

#[derive(Debug, Args)]
pub(crate) struct StatusChange {
    /// User id, or email address.
    pub(crate) user: String,
    /// Why, for the audit log.
    #[arg(long, default_value = "")]
    pub(crate) reason: String,
}

#[derive(Debug, Args)]
pub(crate) struct DeleteArgs {
    /// User id, or email address.
    pub(crate) user: String,
    /// Do not ask (required when standard input is not a terminal).
    #[arg(long, short = 'y')]
    pub(crate) yes: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum SessionsCommand {
    /// A user's sessions, most recently active first.
    List(ListSessionsArgs),
    /// End one session at once (and its refresh tokens).
    Revoke(RevokeSessionArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ListSessionsArgs {
    /// User id, or email address.
    pub(crate) user: String,
    /// Also list revoked and expired sessions.
    #[arg(long)]
    pub(crate) include_revoked: bool,
    #[command(flatten)]
    pub(crate) paging: Paging,
}

#[derive(Debug, Args)]
pub(crate) struct RevokeSessionArgs {
    pub(crate) session_id: String,
    /// Why, recorded with the revocation.
    #[arg(long, default_value = "admin")]
    pub(crate) reason: String,
}

#[derive(Debug, Subcommand)]
pub(crate) enum RolesCommand {
    /// The roles a user holds.
    List(UserArg),
    /// Give a user a role (idempotent).
    Assign(RoleArgs),
    /// Take a role from a user (idempotent).
    Unassign(RoleArgs),
}

#[derive(Debug, Args)]
pub(crate) struct RoleArgs {
    /// User id, or email address.
    pub(crate) user: String,
    /// Role name, e.g. ADMIN.
    pub(crate) role: String,
}

#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// Publish a new signing key now; it signs once backends caching the JWKS have seen it, and old keys stay published until their tokens expire.
    Rotate,
}

#[derive(Debug, Args)]
pub(crate) struct HistoryArgs {
    /// User id, or email address.
    pub(crate) user: String,
    #[command(flatten)]
    pub(crate) paging: Paging,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}

//! `latch-profile`: the profile service alone, for a Deployment of its own.
//! Needs PostgreSQL (`LATCH_DATABASE_URL`), Redis (`LATCH_REDIS_URL`), the
//! secrets, and the URLs of the siblings it calls (`LATCH_<SERVICE>_URL`).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    latch_runtime::binary::run("profile", latch_profile::standalone::assemble).await
}

//! The list from `SessionService.ListRevokedSessions`, read with a service
//! account's credential: polled every interval, or read once after each
//! Redis (re)subscription.

use std::{fmt, sync::Arc};

use latch_proto::latch::session::v1::{
    ListRevokedSessionsRequest, session_service_client::SessionServiceClient,
};
use tokio::time::{Instant, MissedTickBehavior};
use tonic::{Code, Request, metadata::AsciiMetadataValue, transport::Channel};

use super::{PRUNE_EVERY, Shared, unix_now};
use crate::VerifyError;

/// The header a service account presents its `<name>.<secret>` in.
const SERVICE_ACCOUNT_HEADER: &str = "x-latch-service-account";

/// Pages one poll reads at most before it yields to the next interval
/// (500 entries each by default): a backlog is worked off, not looped on.
const MAX_PAGES_PER_POLL: usize = 50;

/// A client of ListRevokedSessions. The account's list must name
/// `latch.session.v1.SessionService/ListRevokedSessions`.
#[derive(Clone)]
pub struct DenylistRpc {
    client: SessionServiceClient<Channel>,
    credential: AsciiMetadataValue,
}

impl fmt::Debug for DenylistRpc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the credential.
        f.debug_struct("DenylistRpc").finish_non_exhaustive()
    }
}

impl DenylistRpc {
    /// `credential` is the account's `<name>.<secret>`;
    /// `RevocationsUnavailable` when it cannot be a header value.
    pub fn new(
        client: SessionServiceClient<Channel>,
        credential: &str,
    ) -> Result<Self, VerifyError> {
        let mut credential: AsciiMetadataValue = credential.parse().map_err(|_| {
            VerifyError::RevocationsUnavailable("malformed service-account credential")
        })?;
        credential.set_sensitive(true);
        Ok(Self { client, credential })
    }

    /// Reads from `cursor` until caught up (or the page budget is spent),
    /// adding every entry to the list; leaves `cursor` where the next read
    /// goes on. True when caught up.
    pub(crate) async fn read(
        &self,
        cursor: &mut String,
        shared: &Shared,
    ) -> Result<bool, tonic::Status> {
        let mut client = self.client.clone();
        for _ in 0..MAX_PAGES_PER_POLL {
            let mut request = Request::new(ListRevokedSessionsRequest {
                cursor: cursor.clone(),
                page_size: 0,
            });
            request
                .metadata_mut()
                .insert(SERVICE_ACCOUNT_HEADER, self.credential.clone());
            let page = match client.list_revoked_sessions(request).await {
                Ok(page) => page.into_inner(),
                // A cursor the server no longer reads (it was upgraded):
                // start over with the whole list, which is small.
                Err(status) if status.code() == Code::InvalidArgument && !cursor.is_empty() => {
                    cursor.clear();
                    continue;
                }
                Err(status) => return Err(status),
            };
            for entry in &page.sessions {
                // An entry without an end is kept as long as any could be.
                let until = entry.expires_at.as_ref().map_or(i64::MAX, |at| at.seconds);
                shared.insert(&entry.session_id, until);
            }
            *cursor = page.next_cursor;
            if !page.more {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// One whole read from the start, within `timeout`: true when it got
    /// everything.
    #[cfg(feature = "redis")]
    pub(crate) async fn read_all(&self, shared: &Shared, timeout: std::time::Duration) -> bool {
        let mut cursor = String::new();
        match tokio::time::timeout(timeout, self.read(&mut cursor, shared)).await {
            Ok(Ok(caught_up)) => caught_up,
            Ok(Err(status)) => {
                tracing::warn!(code = ?status.code(), "reading the revocation list failed");
                false
            }
            Err(_) => {
                tracing::warn!("reading the revocation list timed out");
                false
            }
        }
    }
}

/// Polls until the task is aborted: every interval, what was revoked since
/// the last poll. A poll that caught up confirms the list as of its start.
pub(crate) async fn run(rpc: DenylistRpc, shared: Arc<Shared>) {
    let options = shared.options;
    let mut ticks = tokio::time::interval(options.interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut cursor = String::new();
    let mut last_prune = Instant::now();
    let mut failing = false;
    loop {
        ticks.tick().await;
        let started = Instant::now();
        let outcome =
            tokio::time::timeout(options.call_timeout, rpc.read(&mut cursor, &shared)).await;
        match outcome {
            Ok(Ok(true)) => {
                shared.confirm(started);
                failing = false;
            }
            // A backlog: the next tick goes on from where this one stopped.
            Ok(Ok(false)) => {}
            Ok(Err(status)) => {
                if !failing {
                    tracing::warn!(code = ?status.code(), message = status.message(), "polling the revocation list failed");
                }
                failing = true;
            }
            Err(_) => {
                if !failing {
                    tracing::warn!("polling the revocation list timed out");
                }
                failing = true;
            }
        }
        if last_prune.elapsed() >= PRUNE_EVERY {
            shared.prune(unix_now());
            last_prune = Instant::now();
        }
    }
}

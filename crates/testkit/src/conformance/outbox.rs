//! [`OutboxRepository`]: claims that lease, filter by kind and never hand
//! one row to two claimers; settling only under one's own lease; and the
//! follow-up rows that the session and refresh-family revocations write in
//! their own transaction (all or nothing, and only when they revoked).

use std::{collections::HashSet, sync::Arc};

use chrono::{DateTime, Duration, Utc};
use latch_domain::{
    FamilyId, Reason, Result, UserId,
    model::Session,
    ports::{
        NewOutboxMessage, OutboxId, OutboxMessage, OutboxRepository, OutboxStatus,
        RefreshTokenRepository, SessionRepository, outbox::ERROR_MAX_CHARS,
    },
};

use super::{
    assert_reason, now, race,
    refresh_tokens::{new_family, new_token},
    sessions::new_session,
};

const LEASE: Duration = Duration::seconds(60);

/// A message of `kind` about `key`, due at `at`.
pub fn message(kind: &str, key: &str, at: DateTime<Utc>) -> NewOutboxMessage {
    NewOutboxMessage::new(kind, key, &serde_json::json!({ "key": key }), at)
        .expect("a valid message")
}

/// A kind of this test's own, so that suites sharing a database (and the
/// rows other suites leave) do not meet.
fn unique_kind(verb: &str) -> String {
    format!(
        "test{}.{verb}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

pub async fn run(
    outbox: Arc<dyn OutboxRepository>,
    sessions: Arc<dyn SessionRepository>,
    families: Arc<dyn RefreshTokenRepository>,
) {
    claims_lease_and_settle(&*outbox).await;
    claims_only_the_kinds_asked(&*outbox).await;
    retries_wait_and_burials_keep_the_error(&*outbox).await;
    concurrent_claims_never_share_a_row(outbox.clone()).await;
    one_keys_rows_run_in_order(&*outbox).await;
    session_creation_writes_its_follow_up(&*outbox, &*sessions).await;
    session_revocations_write_their_follow_up(&*outbox, &*sessions).await;
    family_revocations_write_their_follow_up(&*outbox, &*families).await;
}

async fn claim(outbox: &dyn OutboxRepository, kind: &str, at: DateTime<Utc>) -> Vec<OutboxMessage> {
    outbox.claim(&[kind], at, LEASE, 10).await.expect("claim")
}

async fn claims_lease_and_settle(outbox: &dyn OutboxRepository) {
    let kind = unique_kind("settle");
    let t0 = now();
    let due = message(&kind, "a", t0);
    let later = message(&kind, "b", t0).available_at(t0 + Duration::minutes(5));
    outbox
        .enqueue(&[due.clone(), later.clone()])
        .await
        .expect("enqueue");
    let stored = outbox.find_by_key("a").await.expect("find");
    let stored = stored.iter().find(|m| m.id == due.id).expect("stored");
    assert_eq!(stored.status, OutboxStatus::Pending);
    assert_eq!(stored.attempts, 0);
    assert_eq!(stored.payload, serde_json::json!({ "key": "a" }));
    assert_eq!(stored.lease, None);

    // Only what is due, with a lease, one more attempt, out of sight until
    // the lease ends.
    let first = claim(outbox, &kind, t0).await;
    assert_eq!(first.iter().map(|m| m.id).collect::<Vec<_>>(), vec![due.id]);
    let first = &first[0];
    assert_eq!(first.attempts, 1);
    assert!(first.lease.is_some());
    assert_eq!(first.available_at, t0 + LEASE);
    assert_eq!(first.kind, kind);
    assert_eq!(first.key, "a");
    assert!(
        claim(outbox, &kind, t0 + Duration::seconds(59))
            .await
            .is_empty()
    );

    // A lease that ran out: another claim takes the row, and the first
    // holder can no longer settle it.
    let after_lease = t0 + LEASE;
    let second = claim(outbox, &kind, after_lease).await;
    assert_eq!(second.len(), 1);
    let second = &second[0];
    assert_eq!(second.id, due.id);
    assert_eq!(second.attempts, 2);
    assert_ne!(second.lease, first.lease);
    assert!(!outbox.complete(first, after_lease).await.expect("complete"));
    assert!(
        !outbox
            .retry(first, after_lease, "late")
            .await
            .expect("retry")
    );
    assert!(!outbox.bury(first, after_lease, "late").await.expect("bury"));

    assert!(
        outbox
            .complete(second, after_lease)
            .await
            .expect("complete")
    );
    assert!(!outbox.complete(second, after_lease).await.expect("twice"));
    let done = outbox.find_by_key("a").await.expect("find");
    let done = done.iter().find(|m| m.id == due.id).expect("kept");
    assert_eq!(done.status, OutboxStatus::Done);
    assert_eq!(done.finished_at, Some(after_lease));
    assert_eq!(done.lease, None);

    // Done rows are never claimed again; the later one is due in its time.
    let much_later = t0 + Duration::hours(1);
    let rest = claim(outbox, &kind, much_later).await;
    assert_eq!(
        rest.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![later.id]
    );
}

async fn claims_only_the_kinds_asked(outbox: &dyn OutboxRepository) {
    let mine = unique_kind("mine");
    let theirs = unique_kind("theirs");
    let t0 = now();
    let a = message(&mine, "k", t0);
    let b = message(&theirs, "k", t0);
    outbox
        .enqueue(&[a.clone(), b.clone()])
        .await
        .expect("enqueue");
    let claimed = claim(outbox, &mine, t0).await;
    assert_eq!(claimed.iter().map(|m| m.id).collect::<Vec<_>>(), vec![a.id]);
    let both = outbox
        .claim(&[mine.as_str(), theirs.as_str()], t0, LEASE, 10)
        .await
        .expect("claim");
    assert_eq!(both.iter().map(|m| m.id).collect::<Vec<_>>(), vec![b.id]);
    assert!(
        outbox
            .claim(&[], t0, LEASE, 10)
            .await
            .expect("none")
            .is_empty()
    );
}

async fn retries_wait_and_burials_keep_the_error(outbox: &dyn OutboxRepository) {
    let kind = unique_kind("retry");
    let t0 = now();
    let row = message(&kind, "retry-key", t0);
    outbox
        .enqueue(std::slice::from_ref(&row))
        .await
        .expect("enqueue");
    let claimed = claim(outbox, &kind, t0).await.remove(0);
    let retry_at = t0 + Duration::seconds(2);
    assert!(
        outbox
            .retry(&claimed, retry_at, "token service unavailable")
            .await
            .expect("retry")
    );
    let waiting = outbox
        .find_by_key("retry-key")
        .await
        .expect("find")
        .remove(0);
    assert_eq!(waiting.status, OutboxStatus::Pending);
    assert_eq!(waiting.available_at, retry_at);
    assert_eq!(waiting.lease, None);
    assert_eq!(
        waiting.last_error.as_deref(),
        Some("token service unavailable")
    );
    assert!(
        claim(outbox, &kind, retry_at - Duration::milliseconds(1))
            .await
            .is_empty()
    );

    let again = claim(outbox, &kind, retry_at).await.remove(0);
    assert_eq!(again.attempts, 2);
    assert_eq!(
        again.last_error.as_deref(),
        Some("token service unavailable")
    );
    let long_error = "é".repeat(ERROR_MAX_CHARS + 100);
    assert!(
        outbox
            .bury(&again, retry_at, &long_error)
            .await
            .expect("bury")
    );
    let dead = outbox
        .find_by_key("retry-key")
        .await
        .expect("find")
        .remove(0);
    assert_eq!(dead.status, OutboxStatus::Dead);
    assert_eq!(dead.finished_at, Some(retry_at));
    assert_eq!(
        dead.last_error.map(|e| e.chars().count()),
        Some(ERROR_MAX_CHARS),
        "kept, cut to the column"
    );
    assert!(
        claim(outbox, &kind, retry_at + Duration::days(1))
            .await
            .is_empty()
    );
}

async fn concurrent_claims_never_share_a_row(outbox: Arc<dyn OutboxRepository>) {
    let kind = unique_kind("race");
    let t0 = now();
    let rows: Vec<NewOutboxMessage> = (0..24)
        .map(|i| message(&kind, &format!("r{i}"), t0))
        .collect();
    outbox.enqueue(&rows).await.expect("enqueue");
    let results = race(8, |_| {
        let (outbox, kind) = (outbox.clone(), kind.clone());
        async move { outbox.claim(&[kind.as_str()], t0, LEASE, 5).await }
    })
    .await;
    let mut seen = HashSet::new();
    for claimed in results {
        let claimed = claimed.expect("claim");
        assert!(claimed.len() <= 5, "bounded by the limit");
        for m in claimed {
            assert!(seen.insert(m.id), "{} claimed twice", m.id);
        }
    }
    // Whatever the racers left (each took at most five) is still there.
    for m in claim(&*outbox, &kind, t0).await {
        assert!(seen.insert(m.id), "{} claimed twice", m.id);
    }
    for m in claim(&*outbox, &kind, t0).await {
        assert!(seen.insert(m.id), "{} claimed twice", m.id);
    }
    let all: HashSet<OutboxId> = rows.iter().map(|m| m.id).collect();
    assert_eq!(seen, all, "every row claimed exactly once");
}

/// One follow-up row per revoked session, keyed by the session id.
fn follow_up_of(kind: &str) -> impl Fn(&Session) -> Result<Vec<NewOutboxMessage>> + Send + Sync {
    let kind = kind.to_owned();
    move |session: &Session| {
        Ok(vec![message(
            &kind,
            session.id.as_str(),
            session.revoked_at.unwrap_or_default(),
        )])
    }
}

/// A row waits while an earlier row of its kind and key is pending (due,
/// leased or backing off), so one aggregate's events go out in order; other
/// keys and other kinds do not wait; a buried row holds nothing back.
async fn one_keys_rows_run_in_order(outbox: &dyn OutboxRepository) {
    let kind = unique_kind("ordered");
    let other_kind = unique_kind("ordered_other");
    let t0 = now();
    let first = message(&kind, "user:a", t0);
    let second = message(&kind, "user:a", t0);
    let other_key = message(&kind, "user:b", t0);
    let other = message(&other_kind, "user:a", t0);
    outbox
        .enqueue(&[
            first.clone(),
            second.clone(),
            other_key.clone(),
            other.clone(),
        ])
        .await
        .expect("enqueue");

    let claimed = outbox
        .claim(&[&kind, &other_kind], t0, LEASE, 10)
        .await
        .expect("claim");
    let ids: HashSet<OutboxId> = claimed.iter().map(|m| m.id).collect();
    assert_eq!(
        ids,
        HashSet::from([first.id, other_key.id, other.id]),
        "the second row of user:a waits for the first"
    );
    // The rows that did not wait are settled, so only user:a's are left.
    for done in claimed.iter().filter(|m| m.id != first.id) {
        assert!(outbox.complete(done, t0).await.expect("complete"));
    }
    let leased = claimed.iter().find(|m| m.id == first.id).expect("first");
    // Leased and then backing off, the first still holds the second back.
    assert!(claim(outbox, &kind, t0 + LEASE / 2).await.is_empty());
    assert!(
        outbox
            .retry(leased, t0 + LEASE * 3, "down")
            .await
            .expect("retry")
    );
    assert!(claim(outbox, &kind, t0 + LEASE * 2).await.is_empty());
    let again = claim(outbox, &kind, t0 + LEASE * 3).await;
    assert_eq!(
        again.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![first.id]
    );
    assert!(
        outbox
            .bury(&again[0], t0 + LEASE * 3, "gave up")
            .await
            .expect("bury")
    );
    let next = claim(outbox, &kind, t0 + LEASE * 3).await;
    assert_eq!(
        next.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![second.id],
        "a buried row no longer holds its key back"
    );
}

/// The session's `session:created` commits with the session, or neither.
async fn session_creation_writes_its_follow_up(
    outbox: &dyn OutboxRepository,
    sessions: &dyn SessionRepository,
) {
    let kind = unique_kind("session_created");
    let session = new_session(UserId::new(), 0);
    let row = message(&kind, session.id.as_str(), now());
    sessions
        .create(&session, std::slice::from_ref(&row))
        .await
        .expect("create");
    let rows = outbox.find_by_key(session.id.as_str()).await.expect("find");
    assert_eq!(rows.iter().map(|m| m.id).collect::<Vec<_>>(), vec![row.id]);

    // A taken id writes neither the session nor its rows.
    let again = message(&kind, session.id.as_str(), now());
    assert_reason(
        sessions
            .create(&session, std::slice::from_ref(&again))
            .await,
        Reason::AlreadyExists,
    );
    assert_eq!(
        outbox
            .find_by_key(session.id.as_str())
            .await
            .expect("find")
            .len(),
        1
    );

    // A row that cannot be written undoes the session.
    let fresh = new_session(UserId::new(), 1);
    assert_reason(sessions.create(&fresh, &[row]).await, Reason::AlreadyExists);
    assert_eq!(sessions.get(&fresh.id).await.expect("get"), None);
}

async fn session_revocations_write_their_follow_up(
    outbox: &dyn OutboxRepository,
    sessions: &dyn SessionRepository,
) {
    let kind = unique_kind("revoke_families");
    let follow_up = follow_up_of(&kind);
    let user = UserId::new();
    let one = new_session(user, 0);
    sessions.create(&one, &[]).await.expect("create");
    let at = now();
    sessions
        .revoke(&one.id, at, "logout", &follow_up)
        .await
        .expect("revoke")
        .expect("revoked");
    sessions
        .revoke(&one.id, at, "logout", &follow_up)
        .await
        .expect("revoke again");
    let rows = outbox.find_by_key(one.id.as_str()).await.expect("find");
    assert_eq!(rows.len(), 1, "written once, by the call that revoked");
    assert_eq!(rows[0].kind, kind);
    assert_eq!(rows[0].status, OutboxStatus::Pending);

    // All or nothing: a follow-up that cannot be written undoes the revocation.
    let two = new_session(user, 1);
    sessions.create(&two, &[]).await.expect("create");
    let taken = message(&kind, "taken", at);
    outbox
        .enqueue(std::slice::from_ref(&taken))
        .await
        .expect("enqueue");
    let clashing = move |_: &Session| -> Result<Vec<NewOutboxMessage>> { Ok(vec![taken.clone()]) };
    assert_reason(
        sessions.revoke(&two.id, at, "logout", &clashing).await,
        Reason::AlreadyExists,
    );
    let failing = |_: &Session| -> Result<Vec<NewOutboxMessage>> {
        Err(latch_domain::Error::internal_msg(
            "cannot build the follow-up",
        ))
    };
    assert_reason(
        sessions.revoke(&two.id, at, "logout", &failing).await,
        Reason::Internal,
    );
    let stored = sessions.get(&two.id).await.expect("get").expect("exists");
    assert_eq!(stored.revoked_at, None, "rolled back with its follow-up");

    // A batch writes one row per session it revoked.
    let three = new_session(user, 2);
    sessions.create(&three, &[]).await.expect("create");
    let batch = sessions
        .revoke_all_for_user(user, None, at, "admin", 10, &follow_up)
        .await
        .expect("revoke all");
    assert_eq!(batch.len(), 2);
    for session in [&two, &three] {
        let rows = outbox.find_by_key(session.id.as_str()).await.expect("find");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].kind, kind);
    }
}

async fn family_revocations_write_their_follow_up(
    outbox: &dyn OutboxRepository,
    families: &dyn RefreshTokenRepository,
) {
    let kind = unique_kind("revoke_session");
    let at = now();
    let family = new_family(at);
    families
        .create_family(&family, &new_token(&family, None, at))
        .await
        .expect("create");
    let key = family.session_id.as_str();

    // All or nothing first.
    let taken = message(&kind, "taken-family", at);
    outbox
        .enqueue(std::slice::from_ref(&taken))
        .await
        .expect("enqueue");
    assert_reason(
        families
            .revoke_family(family.id, at, "refresh_token_reused", &[taken])
            .await,
        Reason::AlreadyExists,
    );
    let stored = families
        .get_family(family.id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(stored.revoked_at, None, "rolled back with its follow-up");

    let follow_up = [message(&kind, key, at)];
    assert!(
        families
            .revoke_family(family.id, at, "refresh_token_reused", &follow_up)
            .await
            .expect("revoke")
    );
    let again = [message(&kind, key, at)];
    assert!(
        !families
            .revoke_family(family.id, at, "again", &again)
            .await
            .expect("revoke again")
    );
    assert!(
        !families
            .revoke_family(
                FamilyId::new(),
                at,
                "unknown",
                &[message(&kind, "nobody", at)]
            )
            .await
            .expect("revoke unknown")
    );
    let rows = outbox.find_by_key(key).await.expect("find");
    assert_eq!(
        rows.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![follow_up[0].id],
        "written once, by the call that revoked"
    );
    assert!(outbox.find_by_key("nobody").await.expect("find").is_empty());
}

use super::*;

fn weak() -> Params {
    Params::new(64, 1, 1, None).unwrap()
}

fn pw(s: &str) -> Secret<String> {
    Secret::new(s.to_owned())
}

#[tokio::test]
async fn a_hash_verifies_its_password_only() -> Result<()> {
    let hasher = Argon2Hasher::new(weak(), 2)?;
    let hash = hasher.hash(&pw("correct horse battery")).await?;
    assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{hash}");
    let right = hasher
        .verify(&pw("correct horse battery"), Some(&hash))
        .await?;
    assert_eq!(
        right,
        PasswordVerdict {
            matches: true,
            needs_rehash: false
        }
    );
    let wrong = hasher
        .verify(&pw("correct horse battery!"), Some(&hash))
        .await?;
    assert!(!wrong.matches);
    assert_eq!(hasher.verify_count(), 2);
    assert_eq!(hasher.hash_count(), 1);
    Ok(())
}

#[tokio::test]
async fn unknown_users_cost_one_verify_and_never_match() -> Result<()> {
    let hasher = Argon2Hasher::new(weak(), 1)?;
    let verdict = hasher.verify(&pw("anything at all"), None).await?;
    assert!(!verdict.matches);
    assert_eq!(hasher.verify_count(), 1);
    Ok(())
}

#[tokio::test]
async fn hashes_with_cheaper_parameters_need_a_rehash() -> Result<()> {
    let old = Argon2Hasher::new(weak(), 1)?;
    let hash = old.hash(&pw("correct horse battery")).await?;
    let stronger = Argon2Hasher::new(Params::new(128, 2, 1, None).unwrap(), 1)?;
    let verdict = stronger
        .verify(&pw("correct horse battery"), Some(&hash))
        .await?;
    assert!(verdict.matches, "old hashes keep working");
    assert!(verdict.needs_rehash);
    let wrong = stronger.verify(&pw("nope nope nope"), Some(&hash)).await?;
    assert!(!wrong.needs_rehash, "only a proven password is rehashed");
    Ok(())
}

#[tokio::test]
async fn a_corrupt_stored_hash_is_an_internal_error() -> Result<()> {
    let hasher = Argon2Hasher::new(weak(), 1)?;
    let err = hasher
        .verify(&pw("whatever"), Some("$argon2id$garbage"))
        .await
        .unwrap_err();
    assert!(err.is(latch_domain::Reason::Internal));
    assert!(!err.message().contains("garbage"));
    Ok(())
}

#[tokio::test]
async fn defaults_are_the_owasp_minimum() -> Result<()> {
    let hasher = Argon2Hasher::with_defaults()?;
    let hash = hasher.hash(&pw("correct horse battery")).await?;
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    Ok(())
}

#[tokio::test]
async fn hashes_interoperate_with_the_argon2_crates_own_api() -> Result<()> {
    use argon2::{PasswordHasher as _, PasswordVerifier as _};
    let hasher = Argon2Hasher::new(weak(), 1)?;
    let ours = hasher.hash(&pw("correct horse battery")).await?;
    let parsed = PasswordHash::new(&ours).unwrap();
    Argon2::default()
        .verify_password(b"correct horse battery", &parsed)
        .expect("the crate verifies a hash made with pooled memory");
    let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, weak())
        .hash_password(b"staple battery horse")
        .unwrap()
        .to_string();
    let right = hasher
        .verify(&pw("staple battery horse"), Some(&theirs))
        .await?;
    assert!(right.matches);
    let wrong = hasher
        .verify(&pw("staple battery horsf"), Some(&theirs))
        .await?;
    assert!(!wrong.matches);
    Ok(())
}

#[tokio::test]
async fn working_memory_is_bounded_by_the_permits() -> Result<()> {
    let hasher = Argon2Hasher::new(weak(), 2)?;
    let hash = hasher.hash(&pw("correct horse battery")).await?;
    let password = pw("correct horse battery");
    let verifies = (0..16).map(|_| hasher.verify(&password, Some(&hash)));
    for verdict in futures::future::join_all(verifies).await {
        assert!(verdict?.matches);
    }
    let idle = hasher.memory.idle();
    assert!((1..=2).contains(&idle), "{idle} buffers for 2 permits");
    Ok(())
}

/// Occupies the hasher's one core until the returned sender is dropped
/// or sent to; resolves once the job runs.
async fn occupy(
    hasher: &Arc<Argon2Hasher>,
) -> (
    std::sync::mpsc::Sender<()>,
    tokio::task::JoinHandle<Result<()>>,
) {
    let (release, wait) = std::sync::mpsc::channel::<()>();
    let (started, running) = tokio::sync::oneshot::channel::<()>();
    let runner = Arc::clone(hasher);
    let job = tokio::spawn(async move {
        let counter = AtomicU64::new(0);
        runner
            .run_blocking(&counter, move || {
                let _ = started.send(());
                let _ = wait.recv();
                Ok(())
            })
            .await
    });
    running.await.unwrap();
    (release, job)
}

fn assert_queue_full(err: &Error) {
    assert!(err.is(latch_domain::Reason::RateLimited), "{err}");
    assert_eq!(err.retry_after(), Some(RETRY_AFTER));
}

#[tokio::test]
async fn with_no_queue_a_busy_hasher_refuses_at_once() -> Result<()> {
    let hasher = Argon2Hasher::with_queue(weak(), 1, 0)?;
    let (release, job) = occupy(&hasher).await;
    let refused = hasher.hash(&pw("correct horse battery")).await.unwrap_err();
    assert_queue_full(&refused);
    // Known and unknown users alike: the refusal tells nothing.
    assert_queue_full(&hasher.verify(&pw("x"), None).await.unwrap_err());
    assert_eq!((hasher.hash_count(), hasher.verify_count()), (0, 0));

    release.send(()).unwrap();
    job.await.unwrap()?;
    assert!(hasher.hash(&pw("correct horse battery")).await.is_ok());
    Ok(())
}

#[tokio::test]
async fn a_full_queue_refuses_and_the_waiting_hash_still_runs() -> Result<()> {
    let hasher = Argon2Hasher::with_queue(weak(), 1, 1)?;
    let (release, job) = occupy(&hasher).await;
    let waiting = {
        let hasher = Arc::clone(&hasher);
        tokio::spawn(async move { hasher.hash(&pw("correct horse battery")).await })
    };
    // The waiting hash holds the queue's one place once admitted.
    while hasher.admitted.available_permits() > 0 {
        tokio::task::yield_now().await;
    }
    let refused = hasher.hash(&pw("correct horse battery")).await.unwrap_err();
    assert_queue_full(&refused);

    release.send(()).unwrap();
    job.await.unwrap()?;
    assert!(waiting.await.unwrap().is_ok(), "a queued hash is served");
    Ok(())
}

#[tokio::test]
async fn a_caller_that_gives_up_frees_its_place() -> Result<()> {
    let hasher = Argon2Hasher::with_queue(weak(), 1, 1)?;
    let (release, job) = occupy(&hasher).await;
    // A request timeout drops the waiting call.
    let gave_up = tokio::time::timeout(
        std::time::Duration::from_millis(50),
        hasher.hash(&pw("correct horse battery")),
    )
    .await;
    assert!(gave_up.is_err());
    let waiting = {
        let hasher = Arc::clone(&hasher);
        tokio::spawn(async move { hasher.hash(&pw("correct horse battery")).await })
    };
    release.send(()).unwrap();
    job.await.unwrap()?;
    assert!(waiting.await.unwrap().is_ok());
    Ok(())
}

#[test]
fn the_queue_is_read_and_bounded() {
    use latch_runtime::config::MapSource;

    for bad in ["-1", "many", "100000"] {
        let source = MapSource::new().with("LATCH_PASSWORD_QUEUE", bad);
        let err = Argon2Hasher::from_source(&source).unwrap_err();
        assert!(
            format!("{err}").contains("LATCH_PASSWORD_QUEUE"),
            "{bad}: {err}"
        );
    }
}

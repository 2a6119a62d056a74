//! `latchctl login`, the kept sign-in and its refresh, `logout`, and the
//! exit codes of refusals, against a latchd started by the test on both
//! backends.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use chrono::Duration;
use common::{Ctl, plain_user, user_with_role};
use latch_domain::Clock;
use latch_proto::latch::identity::v1::{BeginTotpEnrollmentRequest, ConfirmTotpEnrollmentRequest};
use latch_tests::{PASSWORD, TestLatchd, bearer, e2e, must, totp_code_at as code_at};

e2e!(
    the_sign_in_is_kept_owner_only_and_rotated_on_refresh,
    a_second_factor_is_read_from_standard_input,
    refusals_exit_with_their_documented_codes,
    latchs_own_service_token_is_never_sent,
    a_server_that_stopped_is_exit_6_and_the_sign_in_stays,
);

async fn the_sign_in_is_kept_owner_only_and_rotated_on_refresh(latchd: TestLatchd) {
    let admin_id = user_with_role(&latchd, "root@example.com", "SUPERADMIN").await;
    let ctl = Ctl::new(&latchd);
    let password_file = ctl.password_file().display().to_string();
    let signed_in = ctl
        .run(&[
            "login",
            "--email",
            "root@example.com",
            "--password-file",
            &password_file,
            "--json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(signed_in["user_id"], admin_id.as_str());
    #[cfg(unix)]
    assert_eq!(common::mode(&ctl.credentials_path()), 0o600);
    let first = ctl.signed_in()["refresh_token"].clone();
    assert!(first.as_str().is_some_and(|t| !t.is_empty()));
    // The tokens never reach the output.
    assert!(
        !signed_in
            .to_string()
            .contains(first.as_str().unwrap_or("-"))
    );

    let kid = ctl.run(&["keys", "rotate", "--json"]).await.ok().json();
    assert!(kid["kid"].as_str().is_some_and(|k| !k.is_empty()));

    // Latch says the access token expired: latchctl refreshes, keeps the
    // rotated refresh token and makes the call again.
    latchd.clock.advance(Duration::minutes(16));
    ctl.run(&["keys", "rotate", "--json"]).await.ok();
    let second = ctl.signed_in()["refresh_token"].clone();
    assert_ne!(first, second, "the refresh token rotated");
    #[cfg(unix)]
    assert_eq!(common::mode(&ctl.credentials_path()), 0o600);

    // An access token near its expiry is refreshed before the call.
    let mut file = ctl.credentials();
    file["servers"][&ctl.server]["access_token_expires_at"] = "2000-01-01T00:00:00Z".into();
    must(
        std::fs::write(ctl.credentials_path(), file.to_string()),
        "age the access token",
    );
    ctl.run(&["roles", "list", &admin_id, "--json"]).await.ok();
    let third = ctl.signed_in()["refresh_token"].clone();
    assert_ne!(second, third, "refreshed before the call");
    assert_ne!(
        ctl.signed_in()["access_token_expires_at"],
        "2000-01-01T00:00:00Z"
    );
    #[cfg(unix)]
    assert_eq!(common::mode(&ctl.credentials_path()), 0o600);
    // Nothing but the file itself (and the password file) is left in the
    // directory: no temporary copy.
    let names: Vec<String> = must(std::fs::read_dir(ctl.home()), "list")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");

    // Logging out ends the session and forgets it.
    let access_token = ctl.signed_in()["access_token"].as_str().unwrap().to_owned();
    ctl.run(&["logout"]).await.ok();
    assert!(!ctl.credentials_path().exists());
    let refused = latchd
        .token()
        .validate_access_token(latch_proto::latch::token::v1::ValidateAccessTokenRequest {
            access_token,
            check_session: true,
        })
        .await
        .expect_err("the session ended");
    assert_eq!(latch_tests::reason(&refused), "SESSION_REVOKED");
    let after = ctl.run(&["keys", "rotate"]).await.exits(3);
    assert!(after.stderr.contains("latchctl login"), "{after:?}");
}

async fn a_second_factor_is_read_from_standard_input(latchd: TestLatchd) {
    let admin_id = user_with_role(&latchd, "totp@example.com", "SUPERADMIN").await;
    let auth = latchd.login("totp@example.com").await;
    let enrolment = must(
        latchd
            .identity()
            .begin_totp_enrollment(bearer(BeginTotpEnrollmentRequest {}, &auth.access_token))
            .await,
        "begin",
    )
    .into_inner();
    let code = code_at(&enrolment.secret, latchd.clock.now().timestamp());
    must(
        latchd
            .identity()
            .confirm_totp_enrollment(bearer(
                ConfirmTotpEnrollmentRequest { code },
                &auth.access_token,
            ))
            .await,
        "confirm",
    );
    // The next step's code, not the one that confirmed.
    latchd.clock.advance(Duration::seconds(30));
    let ctl = Ctl::new(&latchd);
    let login = ["login", "--email", "totp@example.com", "--json"];

    let wrong = format!("{PASSWORD}\nnot-a-code\n");
    ctl.run_with_stdin(&login, Some(&wrong)).await.exits(3);
    assert!(!ctl.credentials_path().exists());
    // No second line: nothing to answer the challenge with.
    let none = format!("{PASSWORD}\n");
    ctl.run_with_stdin(&login, Some(&none)).await.exits(2);

    let code = code_at(&enrolment.secret, latchd.clock.now().timestamp());
    let right = format!("{PASSWORD}\n{code}\n");
    let signed_in = ctl.run_with_stdin(&login, Some(&right)).await.ok().json();
    assert_eq!(signed_in["user_id"], admin_id.as_str());
    ctl.run(&["roles", "list", &admin_id]).await.ok();
}

async fn refusals_exit_with_their_documented_codes(latchd: TestLatchd) {
    let root_id = user_with_role(&latchd, "root@example.com", "SUPERADMIN").await;
    user_with_role(&latchd, "admin@example.com", "ADMIN").await;
    let plain_id = plain_user(&latchd, "plain@example.com").await;

    // Not signed in: 3, with what to do.
    let nobody = Ctl::new(&latchd);
    let ran = nobody.run(&["keys", "rotate"]).await.exits(3);
    assert!(ran.stderr.contains("not signed in"), "{ran:?}");
    // A wrong password: 3, and nothing kept.
    let wrong = nobody.home().join("wrong.txt");
    must(std::fs::write(&wrong, "not the password\n"), "write");
    let wrong = wrong.display().to_string();
    let ran = nobody
        .run(&[
            "login",
            "--email",
            "root@example.com",
            "--password-file",
            &wrong,
        ])
        .await
        .exits(3);
    assert!(ran.stderr.contains("INVALID_CREDENTIALS"), "{ran:?}");
    assert!(!nobody.credentials_path().exists());
    // No password at all (standard input closed, not a terminal): usage.
    nobody
        .run(&["login", "--email", "root@example.com"])
        .await
        .exits(2);

    // A plain user: permission denied, 4.
    let plain = Ctl::new(&latchd);
    plain.login("plain@example.com").await;
    let ran = plain.run(&["keys", "rotate"]).await.exits(4);
    assert!(ran.stderr.contains("ACCESS_DENIED"), "{ran:?}");
    plain.run(&["sessions", "list", &root_id]).await.exits(4);
    plain
        .run(&["roles", "assign", &plain_id, "ADMIN"])
        .await
        .exits(4);
    // An ADMIN may not rotate keys (SUPERADMIN only).
    let admin = Ctl::new(&latchd);
    admin.login("admin@example.com").await;
    admin.run(&["keys", "rotate"]).await.exits(4);

    // Not found: 5.
    let root = Ctl::new(&latchd);
    root.login("root@example.com").await;
    // A session id's shape (22 characters of base64url), but nobody's.
    let unknown = "AAAAAAAAAAAAAAAAAAAAAA";
    root.run(&["sessions", "revoke", unknown]).await.exits(5);
    root.run(&["roles", "assign", &plain_id, "NO_SUCH_ROLE"])
        .await
        .exits(5);
    // Malformed arguments: 2, whether clap or Latch refuses them.
    root.run(&["sessions", "revoke", "not-an-id"])
        .await
        .exits(2);
    root.run(&["sessions", "list", &plain_id, "--page-size", "0"])
        .await
        .exits(2);
    root.run(&["users", "list", "--status", "asleep"])
        .await
        .exits(2);
    root.run(&["no-such-command"]).await.exits(2);
}

async fn latchs_own_service_token_is_never_sent(latchd: TestLatchd) {
    let token = latchd.service_token().to_owned();
    let ctl = Ctl::new(&latchd).with_env("LATCHCTL_SERVICE_ACCOUNT", &token);
    let ran = ctl.run(&["keys", "rotate"]).await.exits(2);
    assert!(ran.stderr.contains("LATCH_SERVICE_TOKEN"), "{ran:?}");
    assert!(!ran.stderr.contains(&token), "the secret is not echoed");
    // Even dressed as an account, the value this environment holds as
    // Latch's service token is refused.
    let dressed = format!("ops.{token}");
    let ctl = Ctl::new(&latchd)
        .with_env("LATCH_SERVICE_TOKEN", &dressed)
        .with_env("LATCHCTL_SERVICE_ACCOUNT", &dressed);
    ctl.run(&["keys", "rotate"]).await.exits(2);
}

async fn a_server_that_stopped_is_exit_6_and_the_sign_in_stays(latchd: TestLatchd) {
    user_with_role(&latchd, "root@example.com", "SUPERADMIN").await;
    let ctl = Ctl::new(&latchd);
    ctl.login("root@example.com").await;
    drop(latchd);
    // Give the server a moment to close its listener.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let ran = ctl.run(&["keys", "rotate"]).await.exits(6);
    assert!(
        ran.stderr.contains("keys") || ran.stderr.contains("rotate"),
        "{ran:?}"
    );
    assert!(ctl.signed_in()["refresh_token"].is_string(), "kept");
    // Nothing ever listened: 6 as well, at login.
    let listener = must(std::net::TcpListener::bind("127.0.0.1:0"), "bind");
    let port = must(listener.local_addr(), "addr").port();
    drop(listener);
    let nowhere = Ctl::for_server(&format!("http://127.0.0.1:{port}"));
    let file = nowhere.password_file().display().to_string();
    nowhere
        .run(&[
            "login",
            "--email",
            "a@example.com",
            "--password-file",
            &file,
        ])
        .await
        .exits(6);
}

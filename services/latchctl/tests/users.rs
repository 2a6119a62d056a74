//! `latchctl users …` and `latchctl history`, against a latchd started by
//! the test on both backends: listing with filters and every page,
//! showing by id or email, suspending and activating, deleting, and
//! reading the sign-in history.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use common::{Ctl, plain_user, user_with_role};
use latch_proto::latch::identity::v1::LoginRequest;
use latch_tests::{TestLatchd, e2e, reason};
use serde_json::Value;

e2e!(
    users_are_listed_shown_suspended_and_activated,
    a_user_is_deleted_only_when_confirmed,
    the_history_shows_each_sign_in_attempt,
);

fn emails(list: &Value) -> Vec<String> {
    list["users"]
        .as_array()
        .expect("users")
        .iter()
        .map(|u| u["email"].as_str().expect("email").to_owned())
        .collect()
}

async fn users_are_listed_shown_suspended_and_activated(latchd: TestLatchd) {
    user_with_role(&latchd, "root@example.com", "SUPERADMIN").await;
    let mut team = Vec::new();
    for n in 0..5 {
        // A second apart, so "newest first" has one answer.
        latchd.clock.advance(chrono::Duration::seconds(1));
        let email = format!("team{n}@example.com");
        plain_user(&latchd, &email).await;
        team.push(email);
    }
    let ctl = Ctl::new(&latchd);
    ctl.login("root@example.com").await;

    // Every page, two at a time: everyone, newest first.
    let all = ctl
        .run(&["users", "list", "--all", "--page-size", "2", "--json"])
        .await
        .ok()
        .json();
    let mut newest_first: Vec<String> = team.iter().rev().cloned().collect();
    newest_first.push("root@example.com".to_owned());
    assert_eq!(emails(&all), newest_first);
    assert_eq!(all["next_page_token"], "");
    // One page leaves a token to go on with.
    let page = ctl
        .run(&["users", "list", "--page-size", "2", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(emails(&page).len(), 2);
    assert!(
        page["next_page_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    let prefixed = ctl
        .run(&["users", "list", "--email-prefix", "TEAM3", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(emails(&prefixed), ["team3@example.com"]);
    let table = ctl.run(&["users", "list"]).await.ok().stdout;
    assert!(table.contains("LAST LOGIN") && table.contains("team4@example.com"));
    assert!(table.contains("6 user(s)"), "{table}");

    // By email or by id, the same user.
    let by_email = ctl
        .run(&["users", "show", "team2@example.com", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(by_email["status"], "active");
    let id = by_email["id"].as_str().unwrap().to_owned();
    let by_id = ctl.run(&["users", "show", &id, "--json"]).await.ok().json();
    assert_eq!(by_id, by_email);

    // Suspended: listed as such, and signing in is refused.
    let suspended = ctl
        .run(&[
            "users",
            "suspend",
            "team2@example.com",
            "--reason",
            "latchctl test",
            "--json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(suspended["status"], "suspended");
    let only = ctl
        .run(&["users", "list", "--status", "suspended", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(emails(&only), ["team2@example.com"]);
    let refused = latchd
        .identity()
        .login(LoginRequest {
            email: "team2@example.com".into(),
            password: latch_tests::PASSWORD.into(),
            client: None,
        })
        .await
        .expect_err("a suspended user cannot sign in");
    assert_eq!(reason(&refused), "ACCOUNT_INACTIVE");
    let sessions = ctl
        .run(&["sessions", "list", &id, "--json"])
        .await
        .ok()
        .json();
    assert_eq!(sessions["sessions"].as_array().map(Vec::len), Some(0));

    let active = ctl
        .run(&["users", "activate", &id, "--json"])
        .await
        .ok()
        .json();
    assert_eq!(active["status"], "active");
    latchd.login("team2@example.com").await;

    // Unknown people are not found, whichever way they are named.
    ctl.run(&["users", "show", "nobody@example.com"])
        .await
        .exits(5);
    ctl.run(&["users", "show", "01890000-0000-7000-8000-000000000000"])
        .await
        .exits(5);
    // A plain user may not list anyone.
    let plain = Ctl::new(&latchd);
    plain.login("team0@example.com").await;
    plain.run(&["users", "list"]).await.exits(4);
    plain.run(&["users", "suspend", &id]).await.exits(4);
}

async fn a_user_is_deleted_only_when_confirmed(latchd: TestLatchd) {
    user_with_role(&latchd, "root@example.com", "SUPERADMIN").await;
    let id = plain_user(&latchd, "leaving@example.com").await;
    let ctl = Ctl::new(&latchd);
    ctl.login("root@example.com").await;

    // No terminal to ask on and no --yes: refused, nothing deleted.
    ctl.run(&["users", "delete", "leaving@example.com"])
        .await
        .exits(2);
    ctl.run(&["users", "show", &id]).await.ok();

    let deleted = ctl
        .run(&["users", "delete", "leaving@example.com", "--yes", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(deleted["deleted"], id.as_str());
    ctl.run(&["users", "show", &id]).await.exits(5);
    ctl.run(&["users", "show", "leaving@example.com"])
        .await
        .exits(5);
    let left = ctl.run(&["users", "list", "--json"]).await.ok().json();
    assert_eq!(emails(&left), ["root@example.com"]);
}

async fn the_history_shows_each_sign_in_attempt(latchd: TestLatchd) {
    user_with_role(&latchd, "root@example.com", "SUPERADMIN").await;
    plain_user(&latchd, "seen@example.com").await;
    let wrong = latchd
        .identity()
        .login(LoginRequest {
            email: "seen@example.com".into(),
            password: "not the password at all".into(),
            client: None,
        })
        .await
        .expect_err("wrong password");
    assert_eq!(reason(&wrong), "INVALID_CREDENTIALS");
    latchd.login("seen@example.com").await;
    let ctl = Ctl::new(&latchd);
    ctl.login("root@example.com").await;

    let history = ctl
        .run(&["history", "seen@example.com", "--all", "--json"])
        .await
        .ok()
        .json();
    let entries = history["entries"].as_array().expect("entries");
    // Newest first: the success, then the wrong password.
    let success = entries
        .iter()
        .position(|e| e["success"] == true && e["method"] == "password")
        .expect("the successful sign-in");
    let failure = entries
        .iter()
        .position(|e| e["success"] == false && e["failure_reason"] == "INVALID_CREDENTIALS")
        .expect("the wrong password");
    assert!(success < failure, "{history}");
    let table = ctl.run(&["history", "seen@example.com"]).await.ok().stdout;
    assert!(
        table.contains("INVALID_CREDENTIALS") && table.contains("success"),
        "{table}"
    );
    // The admin's own sign-in through latchctl is in theirs.
    let own = ctl
        .run(&["history", "root@example.com", "--json"])
        .await
        .ok()
        .json();
    assert!(
        own["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["success"] == true
                && e["user_agent"]
                    .as_str()
                    .is_some_and(|ua| ua.contains("latchctl"))),
        "{own}"
    );
}

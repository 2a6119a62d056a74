//! `latchctl sessions …`, `roles …` and calling as a service account,
//! against a latchd started by the test on both backends; tables for
//! people and `--json` parsed as scripts read it.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::{path::PathBuf, sync::OnceLock};

use common::{Ctl, plain_user, user_with_role};
use latch_domain::secret::sha256;
use latch_runtime::{auth::SERVICE_ACCOUNTS, config::MapSource};
use latch_tests::{TestLatchd, e2e, must};
use serde_json::Value;

e2e!(
    sessions_are_listed_paged_and_revoked,
    roles_are_listed_assigned_and_unassigned,
);
e2e!(settings = accounts_settings; a_service_account_calls_what_its_list_grants);

const OPS_SECRET: &str = "ops-secret-0123456789abcdef0123456789abcdef";

/// An account for automation that may read and suspend users and do
/// nothing else; one file for the whole test binary, in Cargo's scratch
/// directory.
fn accounts_settings() -> MapSource {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    let path = FILE.get_or_init(|| {
        let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("latchctl-accounts-{}.toml", std::process::id()));
        let text = format!(
            "[[account]]\nname = \"ops\"\nsecret_sha256 = [\"{}\"]\n\
             rpcs = [\"latch.identity.v1.IdentityService/GetUser\", \
             \"latch.identity.v1.IdentityService/ListUsers\", \
             \"latch.identity.v1.IdentityService/SetUserStatus\"]\n",
            hex::encode(sha256(OPS_SECRET))
        );
        must(std::fs::write(&path, text), "write accounts file");
        path
    });
    MapSource::new().with(SERVICE_ACCOUNTS, path.display().to_string())
}

fn ids(list: &Value, key: &str) -> Vec<String> {
    list[key]
        .as_array()
        .expect("an array")
        .iter()
        .map(|s| s["id"].as_str().expect("id").to_owned())
        .collect()
}

async fn sessions_are_listed_paged_and_revoked(latchd: TestLatchd) {
    user_with_role(&latchd, "root@example.com", "SUPERADMIN").await;
    let target = plain_user(&latchd, "target@example.com").await;
    // Sign-up opened one session; two more sign-ins open two more.
    latchd.login("target@example.com").await;
    latchd.login("target@example.com").await;
    let ctl = Ctl::new(&latchd);
    ctl.login("root@example.com").await;

    let listed = ctl
        .run(&["sessions", "list", &target, "--json"])
        .await
        .ok()
        .json();
    let all = ids(&listed, "sessions");
    assert_eq!(all.len(), 3, "{listed}");
    assert_eq!(listed["next_page_token"], "");
    assert!(
        listed["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["user_id"] == target.as_str() && s["revoked_at"].is_null())
    );

    // One page at a time, by hand, then every page at once.
    let first = ctl
        .run(&["sessions", "list", &target, "--page-size", "2", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(ids(&first, "sessions").len(), 2);
    let token = first["next_page_token"].as_str().unwrap().to_owned();
    assert!(!token.is_empty());
    let rest = ctl
        .run(&[
            "sessions",
            "list",
            &target,
            "--page-token",
            &token,
            "--json",
        ])
        .await
        .ok()
        .json();
    let mut paged = ids(&first, "sessions");
    paged.extend(ids(&rest, "sessions"));
    assert_eq!(paged, all);
    let every = ctl
        .run(&[
            "sessions",
            "list",
            &target,
            "--all",
            "--page-size",
            "1",
            "--json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(ids(&every, "sessions"), all);
    assert_eq!(every["next_page_token"], "");

    // The table names the sessions.
    let table = ctl.run(&["sessions", "list", &target]).await.ok().stdout;
    assert!(
        table.contains("LAST ACTIVE") && table.contains(&all[0]),
        "{table}"
    );

    let revoked = ctl
        .run(&["sessions", "revoke", &all[0], "--json"])
        .await
        .ok()
        .json();
    assert_eq!(revoked["revoked"], all[0].as_str());
    let live = ctl
        .run(&["sessions", "list", &target, "--json"])
        .await
        .ok()
        .json();
    assert!(!ids(&live, "sessions").contains(&all[0]));
    let with_revoked = ctl
        .run(&["sessions", "list", &target, "--include-revoked", "--json"])
        .await
        .ok()
        .json();
    let gone = with_revoked["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == all[0].as_str())
        .expect("the revoked session is listed")
        .clone();
    assert_eq!(gone["revoked_reason"], "admin");
    assert!(gone["revoked_at"].is_string());
}

async fn roles_are_listed_assigned_and_unassigned(latchd: TestLatchd) {
    user_with_role(&latchd, "root@example.com", "SUPERADMIN").await;
    let target = plain_user(&latchd, "target@example.com").await;
    let ctl = Ctl::new(&latchd);
    ctl.login("root@example.com").await;
    let names = |list: &Value| -> Vec<String> {
        list["roles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let before = ctl
        .run(&["roles", "list", &target, "--json"])
        .await
        .ok()
        .json();
    assert_eq!(names(&before), ["USER"]);

    let assigned = ctl
        .run(&["roles", "assign", &target, "ADMIN", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(assigned["changed"], true);
    let again = ctl
        .run(&["roles", "assign", &target, "ADMIN", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(again["changed"], false, "idempotent");
    let after = ctl
        .run(&["roles", "list", &target, "--json"])
        .await
        .ok()
        .json();
    assert!(names(&after).contains(&"ADMIN".to_owned()), "{after}");
    let table = ctl.run(&["roles", "list", &target]).await.ok().stdout;
    assert!(
        table.contains("ADMIN") && table.contains("users.read"),
        "{table}"
    );

    let unassigned = ctl
        .run(&["roles", "unassign", &target, "ADMIN", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(unassigned["changed"], true);
    let last = ctl
        .run(&["roles", "list", &target, "--json"])
        .await
        .ok()
        .json();
    assert_eq!(names(&last), ["USER"]);
}

async fn a_service_account_calls_what_its_list_grants(latchd: TestLatchd) {
    let target = plain_user(&latchd, "target@example.com").await;
    let credential = format!("ops.{OPS_SECRET}");
    // Nobody signed in: the account alone is the caller.
    let ops = Ctl::new(&latchd).with_env("LATCHCTL_SERVICE_ACCOUNT", &credential);
    let shown = ops
        .run(&["users", "show", &target, "--json"])
        .await
        .ok()
        .json();
    assert_eq!(shown["email"], "target@example.com");
    assert_eq!(shown["status"], "active");
    // A script names people by email and suspends them.
    let suspended = ops
        .run(&["users", "suspend", "target@example.com", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(suspended["id"], target.as_str());
    assert_eq!(suspended["status"], "suspended");
    let listed = ops
        .run(&["users", "list", "--status", "suspended", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(listed["users"][0]["id"], target.as_str());
    // Off its list: permission denied.
    let ran = ops.run(&["keys", "rotate"]).await.exits(4);
    assert!(!ran.stderr.contains(OPS_SECRET), "the secret is not echoed");
    assert!(!ops.credentials_path().exists(), "nothing is kept");
    // From a file, as well.
    let file = ops.home().join("account");
    must(std::fs::write(&file, format!("{credential}\n")), "write");
    let file = file.display().to_string();
    let from_file = Ctl::new(&latchd);
    from_file
        .run(&["users", "show", &target, "--service-account-file", &file])
        .await
        .ok();
    // A wrong secret is refused by Latch: 3.
    let wrong = Ctl::new(&latchd).with_env(
        "LATCHCTL_SERVICE_ACCOUNT",
        "ops.wrong-secret-0123456789abcdef0123456789abcdef",
    );
    wrong.run(&["users", "show", &target]).await.exits(3);
}

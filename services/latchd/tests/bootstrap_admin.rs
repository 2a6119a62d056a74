//! `latchd bootstrap-admin` run as an operator runs it, on a SQLite file:
//! a weak password refused (and never echoed), a password on the command
//! line refused, the admin created, then found on a second run.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::process::Command;

const LATCHD: &str = env!("CARGO_BIN_EXE_latchd");
const EMAIL: &str = "root@example.com";
const PASSWORD: &str = "correct horse battery staple 42";

#[test]
fn the_command_creates_then_finds_the_admin_and_refuses_weak_passwords() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let output = Command::new(LATCHD)
            .arg("bootstrap-admin")
            .args(args)
            .env_clear()
            .env("LATCH_DATA_DIR", dir.path())
            .env(
                "LATCH_DATABASE_URL",
                format!("sqlite://{}/latch.db?mode=rwc", dir.path().display()),
            )
            .output()
            .expect("run latchd");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.code(), text)
    };
    let weak = dir.path().join("weak");
    std::fs::write(&weak, "iloveyou2\n").unwrap();
    let (code, text) = run(&["--email", EMAIL, "--password-file", weak.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("too weak") && !text.contains("iloveyou2"),
        "{text}"
    );

    let (code, text) = run(&["--email", EMAIL, "--password", PASSWORD]);
    assert_eq!(code, Some(2), "{text}");
    assert!(!text.contains(PASSWORD), "{text}");

    let strong = dir.path().join("password");
    std::fs::write(&strong, format!("{PASSWORD}\n")).unwrap();
    let (code, text) = run(&[
        "--email",
        EMAIL,
        "--password-file",
        strong.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("created root@example.com"), "{text}");
    assert!(!text.contains(PASSWORD), "never the password: {text}");

    let (code, text) = run(&["--email", EMAIL]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("SUPERADMIN already"), "{text}");
}

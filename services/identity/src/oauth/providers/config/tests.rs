use super::*;

fn no_files(_: &str) -> std::io::Result<String> {
    Err(std::io::Error::new(
        std::io::ErrorKind::NotFound,
        "no such file",
    ))
}

fn parse_ok(text: &str) -> Vec<ProviderConfig> {
    parse(text, &no_files).expect("a valid file")
}

/// The error's whole text (the start prints it with its source).
fn refused(text: &str) -> String {
    format!("{}", parse(text, &no_files).expect_err("refused"))
}

const CORP: &str = r#"
[[provider]]
name = "corp"
kind = "oidc"
issuer = "https://login.corp.example"
client_id = "latch"
client_secret = "s3cret-value"
redirect_uris = ["https://app.example/cb"]
"#;

#[test]
fn a_full_file_is_read_with_defaults() {
    let text = format!(
        "{CORP}\n{}",
        r#"
[[provider]]
name = "google"
kind = "google"
client_id = "id.apps.googleusercontent.com"
client_secret_file = "/run/secrets/google"
scopes = ["openid", "email"]
redirect_uris = ["http://127.0.0.1:8080/cb", "https://app.example/cb"]
hd = "Example.COM"
"#
    );
    let read = |path: &str| {
        assert_eq!(path, "/run/secrets/google");
        Ok("from-file\n".to_owned())
    };
    let providers = parse(&text, &read).expect("valid");

    assert_eq!(providers.len(), 2);
    let corp = &providers[0];
    assert_eq!(corp.kind, ProviderKind::Oidc);
    assert_eq!(corp.issuer, "https://login.corp.example");
    assert_eq!(corp.scopes, ["email", "profile"]);
    assert_eq!(corp.client_secret.expose(), "s3cret-value");
    assert_eq!(corp.hd, None);
    let google = &providers[1];
    assert_eq!(google.kind, ProviderKind::Google);
    assert_eq!(google.issuer, "https://accounts.google.com");
    assert_eq!(google.client_secret.expose(), "from-file");
    assert_eq!(google.scopes, ["email"], "openid is always asked anyway");
    assert_eq!(google.hd.as_deref(), Some("example.com"));
}

#[test]
fn no_file_means_no_providers() {
    let source = latch_runtime::config::MapSource::default();
    assert!(from_source(&source).expect("no providers").is_empty());
    assert!(parse_ok("").is_empty());
}

#[test]
fn github_and_apple_are_refused_for_now() {
    for kind in ["github", "apple"] {
        let err = refused(&CORP.replace(r#"kind = "oidc""#, &format!("kind = {kind:?}")));
        assert!(err.contains("not supported yet"), "{err}");
        assert!(err.contains("provider corp"), "{err}");
    }
    assert!(refused(&CORP.replace(r#"kind = "oidc""#, r#"kind = "saml""#)).contains("kind"));
}

#[test]
fn plain_http_only_on_loopback() {
    for issuer in [
        "http://127.0.0.1:4000",
        "http://localhost:4000/oidc",
        "http://[::1]:4000",
    ] {
        let text = CORP.replace("https://login.corp.example", issuer);
        assert_eq!(parse_ok(&text).len(), 1, "{issuer}");
    }
    for issuer in ["http://login.corp.example", "ftp://127.0.0.1", "not a url"] {
        let err = refused(&CORP.replace("https://login.corp.example", issuer));
        assert!(err.contains("issuer"), "{issuer}: {err}");
    }
    let err = refused(&CORP.replace("https://app.example/cb", "http://app.example/cb"));
    assert!(err.contains("redirect_uris"), "{err}");
}

#[test]
fn bad_values_stop_the_start_naming_the_field() {
    let cases = [
        (
            CORP.replace(r#"name = "corp""#, r#"name = "Corp Login""#),
            "name",
        ),
        (
            CORP.replace(r#"client_id = "latch""#, r#"client_id = " ""#),
            "client_id",
        ),
        (
            CORP.replace(r#"client_secret = "s3cret-value""#, ""),
            "client_secret",
        ),
        (
            CORP.replace(
                r#"client_secret = "s3cret-value""#,
                "client_secret = \"a\"\nclient_secret_file = \"/x\"",
            ),
            "client_secret",
        ),
        (
            CORP.replace(
                r#"client_secret = "s3cret-value""#,
                "client_secret_file = \"/missing\"",
            ),
            "client_secret_file",
        ),
        (
            CORP.replace(r#"["https://app.example/cb"]"#, "[]"),
            "redirect_uris",
        ),
        (
            CORP.replace(
                r#"["https://app.example/cb"]"#,
                r#"["https://app.example/cb#x"]"#,
            ),
            "redirect_uris",
        ),
        (format!("{CORP}hd = \"example.com\"\n"), "hd"),
        (format!("{CORP}scopes = [\"two words\"]\n"), "scopes"),
        (format!("{CORP}{CORP}"), "twice"),
        (format!("{CORP}colour = \"blue\"\n"), "unknown key"),
    ];
    for (text, field) in cases {
        let err = refused(&text);
        assert!(err.contains(field), "{field}: {err}");
    }
}

#[test]
fn a_secret_never_reaches_the_error() {
    // A syntax error on the secret's line: toml would quote the line.
    let text = CORP.replace(
        r#"client_secret = "s3cret-value""#,
        r#"client_secret = "s3cret-value"#,
    );
    let err = parse(&text, &no_files).expect_err("refused");
    assert!(
        !format!("{err} {err:?}").contains("s3cret-value"),
        "{err:?}"
    );
    let providers = parse_ok(CORP);
    assert!(!format!("{providers:?}").contains("s3cret-value"));
}

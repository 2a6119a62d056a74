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
fn an_unknown_kind_is_refused() {
    let err = refused(&CORP.replace(r#"kind = "oidc""#, r#"kind = "saml""#));
    assert!(err.contains("kind"), "{err}");
    assert!(err.contains("provider corp"), "{err}");
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

const GITHUB: &str = r#"
[[provider]]
name = "github"
kind = "github"
client_id = "Iv1.0123456789abcdef"
client_secret = "gh-s3cret-value"
redirect_uris = ["https://app.example/cb"]
"#;

#[test]
fn github_needs_no_issuer_and_defaults_to_github_com() {
    let github = parse_ok(GITHUB).remove(0);
    assert_eq!(github.kind, ProviderKind::GitHub);
    assert_eq!(github.issuer, "", "no ID token, no issuer");
    assert_eq!(github.scopes, ["read:user", "user:email"]);
    assert_eq!(
        github.github,
        Some(GitHubEndpoints {
            authorization_url: "https://github.com/login/oauth/authorize".into(),
            token_url: "https://github.com/login/oauth/access_token".into(),
            api_url: "https://api.github.com".into(),
        })
    );
    // Other kinds have no GitHub endpoints.
    assert_eq!(parse_ok(CORP)[0].github, None);
}

#[test]
fn github_endpoints_may_be_overridden() {
    let text = format!(
        "{GITHUB}{}",
        r#"authorization_url = "https://ghe.corp.example/login/oauth/authorize"
token_url = "http://127.0.0.1:4000/login/oauth/access_token"
api_url = "https://ghe.corp.example/api/v3/"
scopes = ["user:email"]
"#
    );
    let github = parse_ok(&text).remove(0);
    assert_eq!(github.scopes, ["user:email"]);
    let endpoints = github.github.expect("endpoints");
    assert_eq!(
        endpoints.authorization_url,
        "https://ghe.corp.example/login/oauth/authorize"
    );
    assert_eq!(
        endpoints.token_url,
        "http://127.0.0.1:4000/login/oauth/access_token"
    );
    assert_eq!(
        endpoints.api_url, "https://ghe.corp.example/api/v3",
        "no trailing slash"
    );
}

#[test]
fn github_settings_are_checked_naming_the_field() {
    let with = |line: &str| format!("{GITHUB}{line}\n");
    let cases = [
        (with(r#"issuer = "https://github.com""#), "issuer"),
        (with(r#"api_url = "http://api.github.example""#), "api_url"),
        (with(r#"token_url = "not a url""#), "token_url"),
        (
            with(r#"authorization_url = "https://github.com/authorize?x=1""#),
            "authorization_url",
        ),
        (with(r#"hd = "example.com""#), "hd"),
        // The endpoints are GitHub's only.
        (
            format!("{CORP}api_url = \"https://api.github.com\"\n"),
            "api_url",
        ),
        (
            format!("{CORP}token_url = \"https://login.corp.example/token\"\n"),
            "token_url",
        ),
    ];
    for (text, field) in cases {
        let err = refused(&text);
        assert!(err.contains(&format!(": {field} ")), "{field}: {err}");
        assert!(!err.contains("gh-s3cret-value"), "{err}");
    }
}

const APPLE: &str = r#"
[[provider]]
name = "apple"
kind = "apple"
client_id = "com.example.web"
team_id = "TEAM012345"
key_id = "KEY0123456"
private_key_file = "/run/secrets/apple.p8"
redirect_uris = ["https://app.example/apple"]
"#;

#[test]
fn apple_is_read_with_its_defaults_and_key() {
    let pem = crate::oauth::providers::apple::test_p8();
    let read = |path: &str| {
        assert_eq!(path, "/run/secrets/apple.p8");
        Ok(pem.clone())
    };
    let providers = parse(APPLE, &read).expect("valid");
    let apple = &providers[0];
    assert_eq!(apple.kind, ProviderKind::Apple);
    assert_eq!(apple.issuer, "https://appleid.apple.com");
    assert_eq!(apple.scopes, ["name", "email"]);
    assert_eq!(apple.client_secret.expose(), "", "made from the key");
    let key = apple.apple.as_ref().expect("apple's key");
    assert_eq!(
        (key.team_id.as_str(), key.key_id.as_str()),
        ("TEAM012345", "KEY0123456")
    );
    assert!(
        !format!("{apple:?}").contains(&pem[30..60]),
        "never printed"
    );

    // A stand-in's issuer, on loopback http.
    let text = APPLE.replace(
        "kind = \"apple\"",
        "kind = \"apple\"\nissuer = \"http://127.0.0.1:4100\"",
    );
    assert_eq!(
        parse(&text, &read).expect("valid")[0].issuer,
        "http://127.0.0.1:4100"
    );
}

#[test]
fn apple_settings_are_checked_naming_the_field_never_the_key() {
    let pem = crate::oauth::providers::apple::test_p8();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let damaged = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        &body[..body.len() / 2]
    );
    let file = |content: String| move |_: &str| -> std::io::Result<String> { Ok(content.clone()) };
    let without = |line: &str| APPLE.replace(&format!("{line}\n"), "");
    let with = |line: &str| format!("{APPLE}{line}\n");
    type Reader = Box<dyn Fn(&str) -> std::io::Result<String>>;
    let cases: Vec<(String, Reader, &str)> = vec![
        (
            without("team_id = \"TEAM012345\""),
            Box::new(file(pem.clone())),
            "team_id",
        ),
        (
            without("key_id = \"KEY0123456\""),
            Box::new(file(pem.clone())),
            "key_id",
        ),
        (
            APPLE.replace("KEY0123456", "KEY 01/23"),
            Box::new(file(pem.clone())),
            "key_id",
        ),
        (
            without("private_key_file = \"/run/secrets/apple.p8\""),
            Box::new(file(pem.clone())),
            "private_key_file",
        ),
        (APPLE.to_owned(), Box::new(no_files), "private_key_file"),
        (
            APPLE.to_owned(),
            Box::new(file("not a key".to_owned())),
            "private_key_file",
        ),
        (
            APPLE.to_owned(),
            Box::new(file(damaged)),
            "private_key_file",
        ),
        (
            with("client_secret = \"s3cret-value\""),
            Box::new(file(pem.clone())),
            "client_secret",
        ),
        (
            with("hd = \"example.com\""),
            Box::new(file(pem.clone())),
            "hd",
        ),
        // Apple's settings are Apple's only.
        (
            format!("{CORP}team_id = \"TEAM012345\"\n"),
            Box::new(no_files),
            "team_id",
        ),
        (
            format!("{CORP}private_key_file = \"/run/secrets/apple.p8\"\n"),
            Box::new(no_files),
            "private_key_file",
        ),
    ];
    for (text, read, field) in cases {
        let err = format!("{}", parse(&text, &*read).expect_err(field));
        assert!(err.contains(&format!(": {field} ")), "{field}: {err}");
        assert!(!err.contains(&body[..24]), "the key is never quoted: {err}");
        assert!(!err.contains("s3cret-value"), "{err}");
    }
}

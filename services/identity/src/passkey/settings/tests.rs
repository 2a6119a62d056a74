use latch_runtime::config::MapSource;

use super::*;

fn start(pairs: &[(&str, &str)]) -> Result<PasskeySettings> {
    let mut source = MapSource::new();
    for (key, value) in pairs {
        source.set(key, *value);
    }
    PasskeySettings::from_source(&source)
}

fn refusal(pairs: &[(&str, &str)]) -> String {
    match start(pairs) {
        Ok(settings) => panic!("{pairs:?} started: {settings:?}"),
        Err(err) => err.to_string(),
    }
}

#[test]
fn the_embedded_default_serves_local_development() -> Result<()> {
    let settings = start(&[])?;
    assert_eq!(settings, PasskeySettings::default());
    assert_eq!(settings.rp_id(), "localhost");
    assert_eq!(settings.rp_name(), "Latch");
    assert_eq!(
        settings.origins().collect::<Vec<_>>(),
        [
            "http://localhost:3000",
            "http://localhost:5173",
            "http://localhost:8080"
        ]
    );
    settings.webauthn()?;
    Ok(())
}

#[test]
fn a_domain_gets_its_https_origin_unless_told_otherwise() -> Result<()> {
    let settings = start(&[(RP_ID, "example.com"), (RP_NAME, "  Acme  ")])?;
    assert_eq!(settings.rp_name(), "Acme");
    assert_eq!(
        settings.origins().collect::<Vec<_>>(),
        ["https://example.com"]
    );

    let settings = start(&[
        (RP_ID, "example.com"),
        (
            ORIGINS,
            "https://example.com, https://app.example.com:8443,,https://example.com",
        ),
    ])?;
    assert_eq!(
        settings.origins().collect::<Vec<_>>(),
        ["https://example.com", "https://app.example.com:8443"],
        "listed once each, ports kept"
    );
    Ok(())
}

#[test]
fn an_origin_off_the_rp_id_stops_the_start() {
    for origin in [
        "https://example.org",
        // a suffix that is not a subdomain
        "https://badexample.com",
        "https://example.com.evil.net",
    ] {
        let err = refusal(&[(RP_ID, "example.com"), (ORIGINS, origin)]);
        assert!(
            err.contains(ORIGINS) && err.contains("not on the RP id") && err.contains(origin),
            "{origin}: {err}"
        );
    }
    // A parent domain is no subdomain of the RP id either.
    let err = refusal(&[(RP_ID, "app.example.com"), (ORIGINS, "https://example.com")]);
    assert!(err.contains("not on the RP id"), "{err}");
}

#[test]
fn plain_http_is_for_localhost_only() -> Result<()> {
    let err = refusal(&[(RP_ID, "example.com"), (ORIGINS, "http://example.com")]);
    assert!(err.contains("https"), "{err}");
    let err = refusal(&[(RP_ID, "example.com"), (ORIGINS, "ftp://example.com")]);
    assert!(err.contains(ORIGINS), "{err}");
    let settings = start(&[(ORIGINS, "http://localhost:4200,http://app.localhost")])?;
    assert_eq!(
        settings.origins().collect::<Vec<_>>(),
        ["http://localhost:4200", "http://app.localhost"]
    );
    Ok(())
}

#[test]
fn malformed_values_stop_the_start_naming_the_key() {
    for (key, value) in [
        (RP_ID, ""),
        (RP_ID, "https://example.com"),
        (RP_ID, "example.com:443"),
        (RP_ID, "example.com/login"),
        (RP_ID, "127.0.0.1"),
        (RP_ID, "Example.COM"),
        (RP_NAME, "   "),
        (RP_NAME, &"n".repeat(65)),
        (ORIGINS, ""),
        (ORIGINS, " , "),
        (ORIGINS, "localhost:3000"),
        (ORIGINS, "http://localhost:3000/login"),
        (ORIGINS, "http://localhost:3000?x=1"),
        (ORIGINS, "http://user@localhost:3000"),
        (ORIGINS, "http://127.0.0.1:3000"),
    ] {
        let err = refusal(&[(key, value)]);
        assert!(err.contains(key), "{key}={value:?}: {err}");
    }
}

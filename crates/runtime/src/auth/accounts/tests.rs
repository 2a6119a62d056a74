use latch_domain::{Reason, secret::sha256};

use super::*;
use crate::auth::{Access, Rule, ServicePolicy};

const SECRET: &str = "gateway-secret-0123456789abcdefghijklmnopqrstuvwxyz";
const NEXT: &str = "gateway-secret-next-0123456789abcdefghijklmnopqrstuv";

fn hash(secret: &str) -> String {
    hex::encode(sha256(secret))
}

fn gateway(hashes: &[&str]) -> String {
    let list = hashes
        .iter()
        .map(|h| format!("{h:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        r#"
[[account]]
name = "gateway"
secret_sha256 = [{list}]
forward_client_info = true
rpcs = ["latch.x.v1.X/Open"]

[[account]]
name = "billing"
secret_sha256 = ["{}"]
rpcs = ["latch.x.v1.X/Check", "/latch.x.v1.X/Validate"]
"#,
        hash("billing-secret-0123456789abcdefghijklmnopqrstuvwxyz")
    )
}

const POLICY: ServicePolicy = ServicePolicy {
    service: "latch.x.v1.X",
    methods: &[
        ("Open", Access::Public, Rule::None),
        ("Mine", Access::User, Rule::None),
        ("Check", Access::UserOrService, Rule::None),
        ("Validate", Access::Service, Rule::None),
        ("Issue", Access::Internal, Rule::None),
        ("Revoke", Access::UserOrInternal, Rule::None),
    ],
    rate_groups: &[],
};

#[test]
fn the_right_secret_proves_the_account_and_nothing_else_does() {
    let accounts = ServiceAccounts::parse(&gateway(&[&hash(SECRET)])).unwrap();
    let account = accounts.authenticate(&format!("gateway.{SECRET}")).unwrap();
    assert_eq!(account.name(), "gateway");
    assert!(account.forwards_client_info());
    assert!(account.may_call("/latch.x.v1.X/Open"));
    assert!(!account.may_call("/latch.x.v1.X/Check"));

    for wrong in [
        format!("gateway.{NEXT}"),
        format!("billing.{SECRET}"),
        format!("nobody.{SECRET}"),
        "gateway.short".to_owned(),
        SECRET.to_owned(),
        String::new(),
    ] {
        let err = accounts.authenticate(&wrong).unwrap_err();
        assert_eq!(err.reason(), Reason::CredentialInvalid, "{wrong}");
        assert!(!err.to_string().contains(SECRET), "no secret in errors");
    }
}

#[test]
fn two_secrets_are_accepted_during_a_rotation() {
    let accounts = ServiceAccounts::parse(&gateway(&[&hash(SECRET), &hash(NEXT)])).unwrap();
    assert!(accounts.authenticate(&format!("gateway.{SECRET}")).is_ok());
    assert!(accounts.authenticate(&format!("gateway.{NEXT}")).is_ok());

    let three = gateway(&[&hash(SECRET), &hash(NEXT), &hash("third")]);
    assert!(ServiceAccounts::parse(&three).is_err(), "at most two");
}

#[test]
fn malformed_files_stop_the_start() {
    let cases = [
        "[[account]]\nname = \"a b\"\nsecret_sha256 = [\"00\"]\nrpcs = [\"p.S/M\"]".to_owned(),
        "[[account]]\nname = \"a\"\nsecret_sha256 = [\"abc\"]\nrpcs = [\"p.S/M\"]".to_owned(),
        format!(
            "[[account]]\nname = \"a\"\nsecret_sha256 = [\"{}\"]\nrpcs = []",
            hash(SECRET)
        ),
        format!(
            "[[account]]\nname = \"a\"\nsecret_sha256 = [\"{}\"]\nrpcs = [\"Login\"]",
            hash(SECRET)
        ),
        format!(
            "[[account]]\nname = \"a\"\nsecret = \"{SECRET}\"\nsecret_sha256 = [\"{}\"]\nrpcs = [\"p.S/M\"]",
            hash(SECRET)
        ),
        format!("{}\n{}", gateway(&[&hash(SECRET)]), gateway(&[&hash(NEXT)])),
    ];
    for case in cases {
        let err = ServiceAccounts::parse(&case).unwrap_err();
        assert!(
            err.to_string().contains(SERVICE_ACCOUNTS),
            "names the setting: {err}"
        );
        assert!(!err.to_string().contains(SECRET), "no secret in errors");
    }
}

#[test]
fn grants_are_held_to_the_rpc_classes() {
    let table = PolicyTable::new(&[POLICY]).unwrap();
    let accounts = ServiceAccounts::parse(&gateway(&[&hash(SECRET)])).unwrap();
    accounts.check_against(&table).unwrap();

    let grant = |forward: bool, rpc: &str| {
        format!(
            "[[account]]\nname = \"a\"\nsecret_sha256 = [\"{}\"]\nforward_client_info = {forward}\nrpcs = [\"{rpc}\"]",
            hash(SECRET)
        )
    };
    let refused = |forward: bool, rpc: &str| {
        ServiceAccounts::parse(&grant(forward, rpc))
            .unwrap()
            .check_against(&table)
            .is_err()
    };
    assert!(refused(false, "latch.x.v1.X/Issue"), "internal only");
    assert!(refused(false, "latch.x.v1.X/Revoke"), "user or internal");
    assert!(refused(false, "latch.x.v1.X/Mine"), "user only");
    assert!(refused(false, "latch.x.v1.X/Nope"), "no such RPC");
    assert!(
        refused(true, "latch.x.v1.X/Check"),
        "a gateway is public only"
    );
    assert!(!refused(false, "latch.x.v1.X/Check"));
    assert!(!refused(false, "latch.x.v1.X/Validate"));
    assert!(!refused(true, "latch.x.v1.X/Open"));
    // Served by another binary: that one checks it.
    assert!(!refused(false, "latch.y.v1.Y/Anything"));
}

#[test]
fn no_file_means_no_accounts() {
    let accounts = ServiceAccounts::from_source(&crate::config::MapSource::new()).unwrap();
    assert!(accounts.is_empty());
    let missing =
        crate::config::MapSource::new().with(SERVICE_ACCOUNTS, "/nonexistent/accounts.toml");
    assert!(ServiceAccounts::from_source(&missing).is_err());
}

#[test]
fn a_new_account_stanza_holds_only_the_hash_of_its_credential() {
    let (credential, stanza) = new_account("reports").unwrap();
    let (name, secret) = credential.split_once('.').unwrap();
    assert_eq!(name, "reports");
    assert!(secret.len() >= MIN_SECRET_CHARS);
    assert!(!stanza.contains(secret), "the secret is not in the stanza");
    let filled = stanza.replace("rpcs = []", "rpcs = [\"latch.x.v1.X/Check\"]");
    let accounts = ServiceAccounts::parse(&filled).unwrap();
    assert_eq!(
        accounts.authenticate(&credential).unwrap().name(),
        "reports"
    );
    assert!(new_account("no spaces").is_err());
}

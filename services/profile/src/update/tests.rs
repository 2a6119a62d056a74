use chrono::{NaiveDate, TimeZone, Utc};
use latch_domain::{Reason, UserId};
use serde_json::json;

use super::*;

fn profile() -> Profile {
    let at = Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    Profile {
        user_id: UserId::new(),
        first_name: "Ada".into(),
        last_name: "Lovelace".into(),
        display_name: None,
        avatar_key: None,
        avatar_url: None,
        avatar_size: None,
        avatar_mime: None,
        address: Some(Address {
            city: Some("London".into()),
            country: Some("GB".into()),
            ..Address::default()
        }),
        phone: Some("+441234567890".into()),
        date_of_birth: None,
        metadata: json!({"theme": "dark"}),
        created_at: at,
        updated_at: at,
        version: Profile::FIRST_VERSION,
    }
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 6, 1).unwrap_or_default()
}

fn mask(paths: &[&str]) -> Vec<String> {
    paths.iter().map(|p| (*p).to_owned()).collect()
}

fn field_of(err: &Error) -> Option<&str> {
    err.violation().map(|v| v.field.as_str())
}

#[test]
fn only_masked_fields_change() -> Result<()> {
    let current = profile();
    let changes = ProfileUpdate {
        first_name: "Augusta".into(),
        last_name: "Byron".into(),
        phone: String::new(),
        ..ProfileUpdate::default()
    };
    let paths = parse_mask(&mask(&["first_name"]))?;
    let next = apply(&current, &changes, &paths, today())?;
    assert_eq!(next.first_name, "Augusta");
    assert_eq!(next.last_name, "Lovelace", "not in the mask");
    assert_eq!(next.phone, current.phone, "not in the mask");
    assert_eq!(changed_fields(&current, &next), ["first_name"]);
    Ok(())
}

#[test]
fn a_masked_field_without_a_value_is_cleared() -> Result<()> {
    let current = profile();
    let paths = parse_mask(&mask(&["phone", "metadata", "address"]))?;
    let next = apply(&current, &ProfileUpdate::default(), &paths, today())?;
    assert_eq!(next.phone, None);
    assert_eq!(next.metadata, json!({}));
    assert_eq!(next.address, None);
    Ok(())
}

#[test]
fn address_parts_keep_the_other_lines() -> Result<()> {
    let current = profile();
    let changes = ProfileUpdate {
        address: Some(Address {
            city: Some("Paris".into()),
            country: Some("ignored, not masked".into()),
            ..Address::default()
        }),
        ..ProfileUpdate::default()
    };
    let paths = parse_mask(&mask(&["address.city"]))?;
    let next = apply(&current, &changes, &paths, today())?;
    let address = next.address.unwrap_or_default();
    assert_eq!(address.city.as_deref(), Some("Paris"));
    assert_eq!(address.country.as_deref(), Some("GB"));
    Ok(())
}

#[test]
fn unknown_or_missing_mask_names_update_mask() {
    for bad in [
        mask(&[]),
        mask(&["email"]),
        mask(&["first_name", "avatar_url"]),
    ] {
        let err = parse_mask(&bad).unwrap_err();
        assert_eq!(err.reason(), Reason::InvalidArgument);
        assert_eq!(field_of(&err), Some("update_mask"), "{bad:?}");
    }
}

#[test]
fn bad_values_name_their_field() {
    let current = profile();
    let cases = [
        ("first_name", ProfileUpdate::default()),
        (
            "last_name",
            ProfileUpdate {
                last_name: "x".repeat(101),
                ..ProfileUpdate::default()
            },
        ),
        (
            "display_name",
            ProfileUpdate {
                display_name: "y".repeat(101),
                ..ProfileUpdate::default()
            },
        ),
        (
            "phone",
            ProfileUpdate {
                phone: "0612345678".into(),
                ..ProfileUpdate::default()
            },
        ),
        (
            "date_of_birth",
            ProfileUpdate {
                date_of_birth: "01/02/1990".into(),
                ..ProfileUpdate::default()
            },
        ),
        (
            "date_of_birth",
            ProfileUpdate {
                date_of_birth: "2026-06-02".into(),
                ..ProfileUpdate::default()
            },
        ),
        (
            "metadata",
            ProfileUpdate {
                metadata: Some(json!(["not", "an", "object"])),
                ..ProfileUpdate::default()
            },
        ),
        (
            "metadata",
            ProfileUpdate {
                metadata: Some(json!({"blob": "z".repeat(METADATA_MAX_BYTES)})),
                ..ProfileUpdate::default()
            },
        ),
        (
            "address.country",
            ProfileUpdate {
                address: Some(Address {
                    country: Some("France".into()),
                    ..Address::default()
                }),
                ..ProfileUpdate::default()
            },
        ),
    ];
    for (field, changes) in cases {
        let paths = match parse_mask(&mask(&[field])) {
            Ok(paths) => paths,
            Err(err) => panic!("{field}: {err}"),
        };
        let err = apply(&current, &changes, &paths, today()).unwrap_err();
        assert_eq!(err.reason(), Reason::InvalidArgument, "{field}");
        assert_eq!(field_of(&err), Some(field));
    }
}

#[test]
fn good_values_are_normalised() -> Result<()> {
    let current = profile();
    let changes = ProfileUpdate {
        display_name: "  Ada L. ".into(),
        phone: "+33 6 12 34 56 78".into(),
        date_of_birth: "1815-12-10".into(),
        address: Some(Address {
            country: Some("fr".into()),
            ..Address::default()
        }),
        ..ProfileUpdate::default()
    };
    let paths = parse_mask(&mask(&[
        "display_name",
        "phone",
        "date_of_birth",
        "address.country",
    ]))?;
    let next = apply(&current, &changes, &paths, today())?;
    assert_eq!(next.display_name.as_deref(), Some("Ada L."));
    assert_eq!(next.phone.as_deref(), Some("+33612345678"));
    assert_eq!(next.date_of_birth, NaiveDate::from_ymd_opt(1815, 12, 10));
    assert_eq!(next.address.and_then(|a| a.country).as_deref(), Some("FR"));
    Ok(())
}

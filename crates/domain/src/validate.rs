//! Input rules that hold whatever the database: lengths are enforced here
//! because SQLite does not enforce `VARCHAR(n)`.

use crate::{Error, Reason, Result, secret::Secret};

pub const EMAIL_MAX: usize = 254;
pub const NAME_MAX: usize = 100;
pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 128;
pub const PHONE_MAX: usize = 32;
/// zxcvbn score (0–4) a password must reach.
pub const PASSWORD_MIN_SCORE: u8 = 3;

/// A syntactically valid email address, lowercased so that the unique index
/// is case-insensitive on every backend.
pub fn email(field: &str, raw: &str) -> Result<String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(Error::invalid_field(field, "is required"));
    }
    if trimmed.len() > EMAIL_MAX {
        return Err(Error::invalid_field(
            field,
            format!("must be at most {EMAIL_MAX} characters"),
        ));
    }
    let lowered = trimmed.to_lowercase();
    let parsed = lowered
        .parse::<email_address::EmailAddress>()
        .map_err(|_| Error::invalid_field(field, "is not a valid email address"))?;
    // A deliverable address needs a dotted domain; `user@localhost` is refused.
    if !parsed.domain().contains('.') || parsed.domain().starts_with('[') {
        return Err(Error::invalid_field(field, "is not a valid email address"));
    }
    Ok(lowered)
}

/// A person's name: required, trimmed, at most [`NAME_MAX`] characters, no
/// control characters.
pub fn name(field: &str, raw: &str) -> Result<String> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(Error::invalid_field(field, "is required"));
    }
    optional_text(field, value, NAME_MAX).map(|v| v.unwrap_or_default())
}

/// Free text that may be empty (None); same length and character rules.
pub fn optional_text(field: &str, raw: &str, max: usize) -> Result<Option<String>> {
    let value = raw.trim();
    if value.is_empty() {
        return Ok(None);
    }
    if value.chars().count() > max {
        return Err(Error::invalid_field(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::invalid_field(
            field,
            "must not contain control characters",
        ));
    }
    Ok(Some(value.to_owned()))
}

/// A phone number in international form (`+` and the country code;
/// spaces, dashes, dots and parentheses allowed), parsed and checked
/// against libphonenumber's numbering plans, returned in E.164
/// (`+14155550100`). A national number without its country code is
/// refused: Latch has no region to guess from.
pub fn phone(field: &str, raw: &str) -> Result<String> {
    let refused = || {
        Error::invalid_field(
            field,
            "must be a phone number in international form such as +14155550100",
        )
    };
    let trimmed = raw.trim();
    // Bounded before parsing: the parser's work grows with its input.
    // Letters (extensions, vanity numbers) would be read or dropped by the
    // parser; a sign-in phone is digits only.
    let allowed = |c: char| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '.' | '(' | ')');
    if !trimmed.starts_with('+') || trimmed.len() > PHONE_MAX || !trimmed.chars().all(allowed) {
        return Err(refused());
    }
    let number = phonenumber::parse(None, trimmed).map_err(|_| refused())?;
    if !phonenumber::is_valid(&number) {
        return Err(refused());
    }
    Ok(number.format().mode(phonenumber::Mode::E164).to_string())
}

/// Longest role or permission name (the columns are `VARCHAR(64)`).
pub const RBAC_NAME_MAX: usize = 64;
/// Longest role or permission description.
pub const RBAC_DESCRIPTION_MAX: usize = 255;

/// A role name: trimmed, 1 to [`RBAC_NAME_MAX`] ASCII letters, digits,
/// '_', '-' and '.', e.g. `SUPPORT` or `billing.viewer`.
pub fn role_name(field: &str, raw: &str) -> Result<String> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(Error::invalid_field(field, "is required"));
    }
    if value.len() > RBAC_NAME_MAX
        || !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(Error::invalid_field(
            field,
            format!("must be at most {RBAC_NAME_MAX} letters, digits, '_', '-' or '.'"),
        ));
    }
    Ok(value.to_owned())
}

/// A permission name, `resource.action` (e.g. `invoices.read`): at most
/// [`RBAC_NAME_MAX`] characters, exactly one dot, each part lowercase
/// letters, digits and '_', starting with a letter, '_' only inside. Not
/// lowercased for the caller: `Users.Read` is refused, not renamed.
pub fn permission_name(field: &str, raw: &str) -> Result<String> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(Error::invalid_field(field, "is required"));
    }
    let part_ok = |part: &str| {
        part.starts_with(|c: char| c.is_ascii_lowercase())
            && !part.ends_with('_')
            && part
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    let well_formed = value.len() <= RBAC_NAME_MAX
        && value
            .split_once('.')
            .is_some_and(|(resource, action)| part_ok(resource) && part_ok(action));
    if !well_formed {
        return Err(Error::invalid_field(
            field,
            format!(
                "must be resource.action (at most {RBAC_NAME_MAX} characters): two parts of \
                 lowercase letters, digits and '_', each starting with a letter, joined by one \
                 dot, e.g. invoices.read"
            ),
        ));
    }
    Ok(value.to_owned())
}

/// The password policy of sign-up, reset and change: 8–128 characters,
/// not a known breached password (the 100,000 most common in breach dumps,
/// whatever the case; see `latch-breached`), and a zxcvbn score of at least
/// [`PASSWORD_MIN_SCORE`], judged with the user's own email and names as
/// known words so that `alice@example.com`'s password is not `alice2024`.
/// The list is checked before zxcvbn: hundreds of its passwords score well
/// (`23WKoa0FP78dk`) yet are the first an attacker tries, and its refusal
/// tells the person why.
pub fn password(field: &str, password: &Secret<String>, user_inputs: &[&str]) -> Result<()> {
    let value = password.expose();
    let chars = value.chars().count();
    if chars < PASSWORD_MIN {
        return Err(Error::field(
            Reason::WeakPassword,
            field,
            format!("must be at least {PASSWORD_MIN} characters"),
        ));
    }
    if chars > PASSWORD_MAX {
        return Err(Error::field(
            Reason::WeakPassword,
            field,
            format!("must be at most {PASSWORD_MAX} characters"),
        ));
    }
    if latch_breached::contains(value) {
        return Err(Error::field(
            Reason::WeakPassword,
            field,
            "is a known breached password (it appears in public lists of leaked passwords); choose another",
        ));
    }
    let estimate = zxcvbn::zxcvbn(value, user_inputs);
    if u8::from(estimate.score()) < PASSWORD_MIN_SCORE {
        let hint = estimate
            .feedback()
            .and_then(|f| f.warning())
            .map(|w| w.to_string())
            .unwrap_or_else(|| "is too easy to guess".to_owned());
        return Err(Error::field(Reason::WeakPassword, field, hint));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lowercased() -> Result<()> {
        assert_eq!(email("email", "  Alice@Example.COM ")?, "alice@example.com");
        Ok(())
    }

    #[test]
    fn malformed_emails_are_refused() {
        for bad in [
            "",
            "alice",
            "alice@",
            "@example.com",
            "a b@example.com",
            "alice@localhost",
        ] {
            assert!(email("email", bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(email("email", &long).is_err());
    }

    #[test]
    fn permission_names_are_resource_dot_action() -> Result<()> {
        assert_eq!(permission_name("name", " invoices.read ")?, "invoices.read");
        assert_eq!(
            permission_name("name", "api_v2.bulk_export")?,
            "api_v2.bulk_export"
        );
        for bad in [
            "",
            "invoices",
            "invoices.",
            ".read",
            "a.b.c",
            "Invoices.read",
            "invoices.READ",
            "_invoices.read",
            "invoices_.read",
            "invoices.read_",
            "2fa.read",
            "invoices.re-ad",
            "invoices .read",
            "ïnvoices.read",
        ] {
            let err = permission_name("name", bad).unwrap_err();
            assert_eq!(
                err.violation().map(|v| v.field.as_str()),
                Some("name"),
                "{bad:?}"
            );
        }
        let long = format!("{}.read", "a".repeat(RBAC_NAME_MAX));
        assert!(permission_name("name", &long).is_err());
        Ok(())
    }

    #[test]
    fn role_names_are_letters_digits_and_three_marks() -> Result<()> {
        assert_eq!(
            role_name("name", " billing.viewer-2_x ")?,
            "billing.viewer-2_x"
        );
        for bad in [
            "",
            "  ",
            "a b",
            "role:x",
            "rôle",
            &"R".repeat(RBAC_NAME_MAX + 1),
        ] {
            let err = role_name("name", bad).unwrap_err();
            assert_eq!(
                err.violation().map(|v| v.field.as_str()),
                Some("name"),
                "{bad:?}"
            );
        }
        Ok(())
    }

    #[test]
    fn password_policy() {
        let check = |p: &str| {
            password(
                "password",
                &Secret::new(p.to_owned()),
                &["alice@example.com"],
            )
        };
        assert!(check("short").is_err_and(|e| e.is(Reason::WeakPassword)));
        assert!(check("password123").is_err_and(|e| e.is(Reason::WeakPassword)));
        assert!(check(&"x".repeat(129)).is_err_and(|e| e.is(Reason::WeakPassword)));
        assert!(check("correct horse battery staple 42").is_ok());
    }

    #[test]
    fn known_breached_passwords_are_refused_whatever_zxcvbn_thinks() {
        let check = |p: &str| password("new_password", &Secret::new(p.to_owned()), &[]);
        // zxcvbn scores these 4, yet each is among the 100,000 most common
        // passwords of breach dumps.
        for breached in ["23WKoa0FP78dk", "ne_e_pod_chehyl", "6215MILA6215"] {
            assert!(
                zxcvbn::zxcvbn(breached, &[]).score() >= zxcvbn::Score::Three,
                "{breached} no longer shows the list's worth"
            );
            let err = check(breached).unwrap_err();
            assert!(err.is(Reason::WeakPassword), "{breached}: {err:?}");
            assert!(err.message().contains("known breached password"), "{err:?}");
        }
        assert!(
            check("23WKoa0FP78dk!").is_ok(),
            "a different password is not breached"
        );
    }

    #[test]
    fn names_are_bounded() {
        assert!(name("first_name", "   ").is_err());
        assert!(name("first_name", &"é".repeat(NAME_MAX)).is_ok());
        assert!(name("first_name", &"é".repeat(NAME_MAX + 1)).is_err());
        assert!(name("first_name", "Ada\u{0}").is_err());
    }

    #[test]
    fn phones_are_parsed_into_e164() {
        for (raw, e164) in [
            ("+1 (415) 555-0100", "+14155550100"),
            ("+44 20 7946 0958", "+442079460958"),
            ("  +33 6 12 34 56 78 ", "+33612345678"),
            ("+49-30-901820", "+4930901820"),
        ] {
            assert_eq!(phone("phone", raw).ok().as_deref(), Some(e164), "{raw}");
        }
        for raw in [
            "4155550100",     // no country code
            "+1 415 555",     // too short for its plan
            "+999 1234 5678", // no such country code
            "+1 415 555 0100 ext",
            "+14155550100\u{0}",
            &format!("+1{}", "0".repeat(40)),
        ] {
            assert!(phone("phone", raw).is_err(), "{raw}");
        }
    }
}

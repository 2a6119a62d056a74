//! Paged listings at the gRPC edge: the page size a request may ask for,
//! and opaque page tokens that carry a keyset cursor (a time and an id,
//! or a name for listings by name). A token is base64url of
//! `<microseconds>.<id>` (or `n:<name>`): clients must not build or read
//! it, and one not made here is `INVALID_ARGUMENT` on `page_token`.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use latch_domain::{Error, Result};

/// The page size of a request that names none.
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// The most one page holds; a larger request is capped, not refused, as
/// the protos promise.
pub const MAX_PAGE_SIZE: usize = 500;
/// Longer than any token made here: a longer one is refused unread.
const TOKEN_MAX_LEN: usize = 128;

/// The page size of `requested`: 0 is the default, above the maximum is
/// the maximum, negative is `INVALID_ARGUMENT` on `page_size`.
pub fn page_size(requested: i32) -> Result<usize> {
    match usize::try_from(requested) {
        Ok(0) => Ok(DEFAULT_PAGE_SIZE),
        Ok(size) => Ok(size.min(MAX_PAGE_SIZE)),
        Err(_) => Err(Error::invalid_field("page_size", "must not be negative")),
    }
}

/// The token of the page that resumes after the row at (`at`, `id`).
pub fn page_token(at: DateTime<Utc>, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}.{id}", at.timestamp_micros()))
}

/// The cursor a token carries, parsed by `id` (which names the field
/// `page_token` in its error); `None` for an empty token (the first page).
pub fn cursor<T>(
    token: &str,
    id: impl FnOnce(&str) -> Result<T>,
) -> Result<Option<(DateTime<Utc>, T)>> {
    if token.is_empty() {
        return Ok(None);
    }
    let refused = || Error::invalid_field("page_token", "is not a token this server issued");
    if token.len() > TOKEN_MAX_LEN {
        return Err(refused());
    }
    let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| refused())?;
    let raw = std::str::from_utf8(&raw).map_err(|_| refused())?;
    let (micros, rest) = raw.split_once('.').ok_or_else(refused)?;
    let at = micros
        .parse()
        .ok()
        .and_then(DateTime::<Utc>::from_timestamp_micros)
        .ok_or_else(refused)?;
    let id = id(rest).map_err(|_| refused())?;
    Ok(Some((at, id)))
}

/// What starts a name token, so that no time token reads as one.
const NAME_TAG: &str = "n:";

/// The token of the page that resumes after the row named `name`, for
/// listings by name (roles, permissions).
pub fn name_token(name: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{NAME_TAG}{name}"))
}

/// The name a [`name_token`] carries; `None` for an empty token (the
/// first page). A token not made by [`name_token`] is `INVALID_ARGUMENT`
/// on `page_token`.
pub fn name_cursor(token: &str) -> Result<Option<String>> {
    if token.is_empty() {
        return Ok(None);
    }
    let refused = || Error::invalid_field("page_token", "is not a token this server issued");
    if token.len() > TOKEN_MAX_LEN {
        return Err(refused());
    }
    let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| refused())?;
    let raw = String::from_utf8(raw).map_err(|_| refused())?;
    match raw.strip_prefix(NAME_TAG) {
        Some(name) if !name.is_empty() => Ok(Some(name.to_owned())),
        _ => Err(refused()),
    }
}

#[cfg(test)]
mod tests {
    use latch_domain::{Clock, ManualClock, Reason, UserId};

    use super::*;

    fn user_id(raw: &str) -> Result<UserId> {
        UserId::parse("page_token", raw)
    }

    #[test]
    fn sizes_default_cap_and_refuse_negatives() {
        assert_eq!(page_size(0).ok(), Some(DEFAULT_PAGE_SIZE));
        assert_eq!(page_size(7).ok(), Some(7));
        assert_eq!(page_size(501).ok(), Some(MAX_PAGE_SIZE));
        assert_eq!(page_size(i32::MAX).ok(), Some(MAX_PAGE_SIZE));
        let err = page_size(-1).unwrap_err();
        assert_eq!(err.violation().map(|v| v.field.as_str()), Some("page_size"));
    }

    #[test]
    fn tokens_carry_the_cursor_and_stay_opaque() -> Result<()> {
        let at = ManualClock::starting_now().now();
        let id = UserId::new();
        let token = page_token(at, &id.to_string());
        assert!(!token.contains(&id.to_string()));
        assert_eq!(cursor(&token, user_id)?, Some((at, id)));
        assert_eq!(cursor("", user_id)?, None);
        Ok(())
    }

    #[test]
    fn name_tokens_carry_a_name_and_refuse_time_tokens() -> Result<()> {
        let token = name_token("billing.viewer");
        assert!(!token.contains("billing"));
        assert_eq!(name_cursor(&token)?, Some("billing.viewer".to_owned()));
        assert_eq!(name_cursor("")?, None);
        let time_token = page_token(ManualClock::starting_now().now(), "x");
        for forged in [time_token, URL_SAFE_NO_PAD.encode("n:"), "%%%".to_owned()] {
            let err = name_cursor(&forged).unwrap_err();
            assert_eq!(
                err.violation().map(|v| v.field.as_str()),
                Some("page_token"),
                "{forged}"
            );
        }
        Ok(())
    }

    #[test]
    fn a_token_not_made_here_names_page_token() {
        let forged = [
            "%%%".to_owned(),
            URL_SAFE_NO_PAD.encode("no-dot"),
            URL_SAFE_NO_PAD.encode("x.00000000-0000-0000-0000-000000000000"),
            URL_SAFE_NO_PAD.encode("1700000000000000.not-a-uuid"),
            "A".repeat(TOKEN_MAX_LEN + 1),
        ];
        for token in forged {
            let err = cursor(&token, user_id).unwrap_err();
            assert_eq!(err.reason(), Reason::InvalidArgument, "{token}");
            assert_eq!(
                err.violation().map(|v| v.field.as_str()),
                Some("page_token"),
                "{token}"
            );
        }
    }
}

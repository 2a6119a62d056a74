//! Partial profile updates: a field mask names the fields to set, each value
//! is validated, and a named field without a value is cleared.

use chrono::NaiveDate;
use latch_domain::{
    Error, Result,
    model::{Address, Profile},
    validate,
};

mod mask;

pub use mask::UPDATABLE_PATHS;
pub(crate) use mask::parse_mask;
use mask::{AddressPart, Path};

/// Largest metadata object, serialized as JSON.
pub const METADATA_MAX_BYTES: usize = 16 * 1024;

/// Longest line of an address.
const ADDRESS_LINE_MAX: usize = 200;

/// New values, as the caller sent them; only those named by the mask are
/// read. Empty strings and `None` mean "clear".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProfileUpdate {
    pub first_name: String,
    pub last_name: String,
    pub display_name: String,
    pub address: Option<Address>,
    pub phone: String,
    /// ISO 8601 calendar date, `YYYY-MM-DD`.
    pub date_of_birth: String,
    /// A JSON object.
    pub metadata: Option<serde_json::Value>,
}

/// `current` with the masked fields taken from `changes`, validated.
pub(crate) fn apply(
    current: &Profile,
    changes: &ProfileUpdate,
    paths: &[Path],
    today: NaiveDate,
) -> Result<Profile> {
    let mut next = current.clone();
    for path in paths {
        match path {
            Path::FirstName => {
                next.first_name = validate::name("first_name", &changes.first_name)?;
            }
            Path::LastName => next.last_name = validate::name("last_name", &changes.last_name)?,
            Path::DisplayName => {
                next.display_name = validate::optional_text(
                    "display_name",
                    &changes.display_name,
                    validate::NAME_MAX,
                )?;
            }
            Path::Address => {
                let mut address = Address::default();
                if let Some(given) = &changes.address {
                    for part in AddressPart::ALL {
                        *part.slot(&mut address) = address_part(part, part.get(given))?;
                    }
                }
                next.address = Some(address);
            }
            Path::AddressPart(part) => {
                let given = changes.address.as_ref().and_then(|a| part.get(a));
                let mut address = next.address.take().unwrap_or_default();
                *part.slot(&mut address) = address_part(*part, given)?;
                next.address = Some(address);
            }
            Path::Phone => {
                next.phone = match changes.phone.trim() {
                    "" => None,
                    raw => Some(validate::phone("phone", raw)?),
                };
            }
            Path::DateOfBirth => next.date_of_birth = date_of_birth(&changes.date_of_birth, today)?,
            Path::Metadata => next.metadata = metadata(changes.metadata.as_ref())?,
        }
    }
    // An address without any line is no address.
    if next.address.as_ref() == Some(&Address::default()) {
        next.address = None;
    }
    Ok(next)
}

/// The top-level fields that differ, by their mask names.
pub(crate) fn changed_fields(before: &Profile, after: &Profile) -> Vec<String> {
    let checks = [
        ("first_name", before.first_name != after.first_name),
        ("last_name", before.last_name != after.last_name),
        ("display_name", before.display_name != after.display_name),
        ("address", before.address != after.address),
        ("phone", before.phone != after.phone),
        ("date_of_birth", before.date_of_birth != after.date_of_birth),
        ("metadata", before.metadata != after.metadata),
    ];
    checks
        .into_iter()
        .filter(|(_, changed)| *changed)
        .map(|(name, _)| name.to_owned())
        .collect()
}

fn address_part(part: AddressPart, raw: Option<&str>) -> Result<Option<String>> {
    let Some(value) = validate::optional_text(part.field(), raw.unwrap_or(""), ADDRESS_LINE_MAX)?
    else {
        return Ok(None);
    };
    if part == AddressPart::Country {
        if value.len() != 2 || !value.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(Error::invalid_field(
                part.field(),
                "must be an ISO 3166-1 alpha-2 code such as FR",
            ));
        }
        return Ok(Some(value.to_ascii_uppercase()));
    }
    Ok(Some(value))
}

fn date_of_birth(raw: &str, today: NaiveDate) -> Result<Option<NaiveDate>> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let date = NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map_err(|_| Error::invalid_field("date_of_birth", "must be a date as YYYY-MM-DD"))?;
    if date > today {
        return Err(Error::invalid_field(
            "date_of_birth",
            "must not be in the future",
        ));
    }
    Ok(Some(date))
}

fn metadata(value: Option<&serde_json::Value>) -> Result<serde_json::Value> {
    let Some(value) = value else {
        return Ok(serde_json::Value::Object(serde_json::Map::new()));
    };
    if !value.is_object() {
        return Err(Error::invalid_field("metadata", "must be a JSON object"));
    }
    let size = serde_json::to_vec(value).map_err(Error::internal)?.len();
    if size > METADATA_MAX_BYTES {
        return Err(Error::invalid_field(
            "metadata",
            format!("must be at most {METADATA_MAX_BYTES} bytes as JSON"),
        ));
    }
    Ok(value.clone())
}

#[cfg(test)]
mod tests;

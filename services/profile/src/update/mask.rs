//! The field mask of an update: which profile fields it may name, parsed
//! into [`Path`]s.

use latch_domain::{Error, Result, model::Address};

/// The paths an update mask may name. `address.<part>` sets one line of the
/// address and keeps the others.
pub const UPDATABLE_PATHS: &[&str] = &[
    "first_name",
    "last_name",
    "display_name",
    "address",
    "address.line1",
    "address.line2",
    "address.city",
    "address.region",
    "address.postal_code",
    "address.country",
    "phone",
    "date_of_birth",
    "metadata",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Path {
    FirstName,
    LastName,
    DisplayName,
    Address,
    AddressPart(AddressPart),
    Phone,
    DateOfBirth,
    Metadata,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AddressPart {
    Line1,
    Line2,
    City,
    Region,
    PostalCode,
    Country,
}

impl AddressPart {
    pub(super) const ALL: [AddressPart; 6] = [
        Self::Line1,
        Self::Line2,
        Self::City,
        Self::Region,
        Self::PostalCode,
        Self::Country,
    ];

    pub(super) fn field(self) -> &'static str {
        match self {
            Self::Line1 => "address.line1",
            Self::Line2 => "address.line2",
            Self::City => "address.city",
            Self::Region => "address.region",
            Self::PostalCode => "address.postal_code",
            Self::Country => "address.country",
        }
    }

    pub(super) fn slot(self, address: &mut Address) -> &mut Option<String> {
        match self {
            Self::Line1 => &mut address.line1,
            Self::Line2 => &mut address.line2,
            Self::City => &mut address.city,
            Self::Region => &mut address.region,
            Self::PostalCode => &mut address.postal_code,
            Self::Country => &mut address.country,
        }
    }

    pub(super) fn get(self, address: &Address) -> Option<&str> {
        match self {
            Self::Line1 => address.line1.as_deref(),
            Self::Line2 => address.line2.as_deref(),
            Self::City => address.city.as_deref(),
            Self::Region => address.region.as_deref(),
            Self::PostalCode => address.postal_code.as_deref(),
            Self::Country => address.country.as_deref(),
        }
    }
}

/// Parses the mask; an empty mask or an unknown path names `update_mask`.
pub(crate) fn parse_mask(mask: &[String]) -> Result<Vec<Path>> {
    if mask.is_empty() {
        return Err(Error::invalid_field(
            "update_mask",
            "must name at least one field",
        ));
    }
    mask.iter()
        .map(|raw| {
            let path = match raw.trim() {
                "first_name" => Path::FirstName,
                "last_name" => Path::LastName,
                "display_name" => Path::DisplayName,
                "address" => Path::Address,
                "phone" => Path::Phone,
                "date_of_birth" => Path::DateOfBirth,
                "metadata" => Path::Metadata,
                other => AddressPart::ALL
                    .into_iter()
                    .find(|part| part.field() == other)
                    .map(Path::AddressPart)
                    .ok_or_else(|| {
                        Error::invalid_field(
                            "update_mask",
                            format!(
                                "unknown path {other:?}; allowed: {}",
                                UPDATABLE_PATHS.join(", ")
                            ),
                        )
                    })?,
            };
            Ok(path)
        })
        .collect()
}

//! Free converters between domain values and `latch.profile.v1` messages,
//! including `google.protobuf.Struct` <-> JSON for metadata.

use latch_domain::{
    Error, Result,
    model::{Address, Profile},
};
use latch_proto::latch::profile::v1 as pb;
use latch_runtime::convert::timestamp;
use prost_types::{ListValue, Struct, Value, value::Kind};
use serde_json::{Map, Number, Value as Json};

use crate::ProfileUpdate;

pub(crate) fn profile_to_proto(profile: Profile) -> pb::Profile {
    pb::Profile {
        user_id: profile.user_id.to_string(),
        first_name: profile.first_name,
        last_name: profile.last_name,
        display_name: profile.display_name.unwrap_or_default(),
        avatar_url: profile.avatar_url.unwrap_or_default(),
        address: profile.address.map(address_to_proto),
        phone: profile.phone.unwrap_or_default(),
        date_of_birth: profile
            .date_of_birth
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_default(),
        metadata: match &profile.metadata {
            Json::Object(map) if !map.is_empty() => Some(object_to_struct(map)),
            _ => None,
        },
        created_at: Some(timestamp(profile.created_at)),
        updated_at: Some(timestamp(profile.updated_at)),
        // Never negative: it starts at 1 and only grows.
        version: u64::try_from(profile.version).unwrap_or_default(),
    }
}

/// `UpdateProfileRequest.expected_version`: 0 is no precondition.
pub(crate) fn expected_version(raw: u64) -> Result<Option<i64>> {
    if raw == 0 {
        return Ok(None);
    }
    i64::try_from(raw)
        .map(Some)
        .map_err(|_| Error::invalid_field("expected_version", "is not a version of any profile"))
}

/// The new values of an UpdateProfile request (`user_id` inside is ignored).
pub(crate) fn update_from_proto(profile: Option<pb::Profile>) -> Result<ProfileUpdate> {
    let Some(p) = profile else {
        return Ok(ProfileUpdate::default());
    };
    Ok(ProfileUpdate {
        first_name: p.first_name,
        last_name: p.last_name,
        display_name: p.display_name,
        address: p.address.map(address_from_proto),
        phone: p.phone,
        date_of_birth: p.date_of_birth,
        metadata: p.metadata.map(struct_to_json).transpose()?,
    })
}

fn address_to_proto(a: Address) -> pb::Address {
    pb::Address {
        line1: a.line1.unwrap_or_default(),
        line2: a.line2.unwrap_or_default(),
        city: a.city.unwrap_or_default(),
        region: a.region.unwrap_or_default(),
        postal_code: a.postal_code.unwrap_or_default(),
        country: a.country.unwrap_or_default(),
    }
}

fn address_from_proto(a: pb::Address) -> Address {
    let some = |s: String| (!s.is_empty()).then_some(s);
    Address {
        line1: some(a.line1),
        line2: some(a.line2),
        city: some(a.city),
        region: some(a.region),
        postal_code: some(a.postal_code),
        country: some(a.country),
    }
}

/// A protobuf `Struct` as a JSON object. Whole numbers that fit become JSON
/// integers; NaN and infinities, which JSON cannot hold, are refused.
pub fn struct_to_json(value: Struct) -> Result<Json> {
    value
        .fields
        .into_iter()
        .map(|(k, v)| Ok((k, value_to_json(v)?)))
        .collect::<Result<Map<String, Json>>>()
        .map(Json::Object)
}

/// A JSON value as a protobuf `Value`; numbers become doubles.
pub fn json_to_value(value: &Json) -> Value {
    let kind = match value {
        Json::Null => Kind::NullValue(0),
        Json::Bool(b) => Kind::BoolValue(*b),
        Json::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        Json::String(s) => Kind::StringValue(s.clone()),
        Json::Array(items) => Kind::ListValue(ListValue {
            values: items.iter().map(json_to_value).collect(),
        }),
        Json::Object(map) => Kind::StructValue(object_to_struct(map)),
    };
    Value { kind: Some(kind) }
}

/// A JSON object as a protobuf `Struct`.
pub fn object_to_struct(map: &Map<String, Json>) -> Struct {
    Struct {
        fields: map
            .iter()
            .map(|(k, v)| (k.clone(), json_to_value(v)))
            .collect(),
    }
}

fn value_to_json(value: Value) -> Result<Json> {
    Ok(match value.kind {
        None | Some(Kind::NullValue(_)) => Json::Null,
        Some(Kind::BoolValue(b)) => Json::Bool(b),
        Some(Kind::NumberValue(n)) => number(n)?,
        Some(Kind::StringValue(s)) => Json::String(s),
        Some(Kind::ListValue(list)) => Json::Array(
            list.values
                .into_iter()
                .map(value_to_json)
                .collect::<Result<_>>()?,
        ),
        Some(Kind::StructValue(s)) => struct_to_json(s)?,
    })
}

fn number(n: f64) -> Result<Json> {
    // 2^53: beyond it a double no longer holds every integer exactly.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if n.fract() == 0.0 && n.abs() <= EXACT {
        // Exact by the check above.
        return Ok(Json::Number(Number::from(n as i64)));
    }
    Number::from_f64(n)
        .map(Json::Number)
        .ok_or_else(|| Error::invalid_field("metadata", "numbers must be finite"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn json_survives_a_round_trip_through_struct() -> Result<()> {
        let original = json!({
            "theme": "dark",
            "count": 3,
            "ratio": 0.5,
            "tags": ["a", 1, null, true],
            "nested": {"deep": {"ok": false}}
        });
        let Json::Object(map) = &original else {
            panic!("an object")
        };
        assert_eq!(struct_to_json(object_to_struct(map))?, original);
        Ok(())
    }

    #[test]
    fn non_finite_numbers_are_refused() {
        let value = Struct {
            fields: [(
                "x".to_owned(),
                Value {
                    kind: Some(Kind::NumberValue(f64::NAN)),
                },
            )]
            .into(),
        };
        let err = struct_to_json(value).unwrap_err();
        assert_eq!(err.violation().map(|v| v.field.as_str()), Some("metadata"));
    }
}

//! Reading the one request field a rule names (a user id) before the
//! handler runs. The field is found by name in the contract's descriptor
//! when the policy table is built, so a policy naming a field that does not
//! exist stops the start; at request time the unary body is read once,
//! scanned for that field number, and handed on unchanged.

use std::sync::OnceLock;

use bytes::{Buf, Bytes};
use http_body_util::{BodyExt, Full, Limited};
use latch_domain::{Error, Reason, Result};
use prost::Message;
use prost_types::{FileDescriptorSet, field_descriptor_proto::Type};
use tonic::body::Body;

/// tonic's default limit on a decoded request: a larger body would be
/// refused by the handler anyway.
const MAX_BODY: usize = 4 * 1024 * 1024;

fn contract() -> Result<&'static FileDescriptorSet> {
    static SET: OnceLock<Option<FileDescriptorSet>> = OnceLock::new();
    SET.get_or_init(|| FileDescriptorSet::decode(latch_proto::FILE_DESCRIPTOR_SET).ok())
        .as_ref()
        .ok_or_else(|| Error::internal_msg("the contract's descriptor set does not decode"))
}

/// The number of `field`, a top-level string field of `method`'s request
/// message in `service` (a full name, e.g. `latch.token.v1.TokenService`).
pub fn field_number(service: &str, method: &str, field: &str) -> Result<u32> {
    let bad = |what: &str| {
        Error::internal_msg(format!(
            "policy of /{service}/{method} names request field {field:?}: {what}"
        ))
    };
    let set = contract()?;
    let (package, name) = service
        .rsplit_once('.')
        .ok_or_else(|| bad("not a full service name"))?;
    let input = set
        .file
        .iter()
        .filter(|f| f.package() == package)
        .flat_map(|f| &f.service)
        .filter(|s| s.name() == name)
        .flat_map(|s| &s.method)
        .find(|m| m.name() == method)
        .map(|m| m.input_type().trim_start_matches('.').to_owned())
        .ok_or_else(|| bad("no such RPC in the contract"))?;
    let (message_package, message) = input
        .rsplit_once('.')
        .ok_or_else(|| bad("request type is not a full name"))?;
    let descriptor = set
        .file
        .iter()
        .filter(|f| f.package() == message_package)
        .flat_map(|f| &f.message_type)
        .find(|m| m.name() == message)
        .ok_or_else(|| bad("request message not found"))?;
    let found = descriptor
        .field
        .iter()
        .find(|f| f.name() == field)
        .ok_or_else(|| bad("no such field"))?;
    if found.r#type() != Type::String {
        return Err(bad("not a string"));
    }
    u32::try_from(found.number()).map_err(|_| bad("negative number"))
}

/// Reads `body` (one length-prefixed gRPC message) and returns it whole,
/// for the handler, with the value of string field `number` (empty when
/// absent, as protobuf's default).
pub(super) async fn read(body: Body, number: u32) -> Result<(Body, String)> {
    let bytes = Limited::new(body, MAX_BODY)
        .collect()
        .await
        .map_err(|_| invalid_body("the request body could not be read"))?
        .to_bytes();
    let value = string_field(&bytes, number)?;
    Ok((Body::new(Full::new(bytes)), value))
}

fn invalid_body(message: &str) -> Error {
    Error::new(Reason::InvalidArgument, message.to_owned())
}

/// The value of string field `number` of an encoded (unframed) message.
pub(super) fn field_of(message: &[u8], number: u32) -> Result<String> {
    scan(Bytes::copy_from_slice(message), number)
}

/// The last value of string field `number` in a gRPC frame (protobuf keeps
/// the last of a repeated scalar).
fn string_field(frame: &Bytes, number: u32) -> Result<String> {
    let malformed = || invalid_body("the request is not a well-formed protobuf message");
    let mut frame = frame.clone();
    if frame.remaining() < 5 {
        // An empty message sent as no frame at all: every field is default.
        return if frame.is_empty() {
            Ok(String::new())
        } else {
            Err(malformed())
        };
    }
    if frame.get_u8() != 0 {
        return Err(invalid_body("compressed requests are not accepted"));
    }
    let len = usize::try_from(frame.get_u32()).map_err(|_| malformed())?;
    if frame.remaining() < len {
        return Err(malformed());
    }
    scan(frame.split_to(len), number)
}

fn scan(mut message: Bytes, number: u32) -> Result<String> {
    let malformed = || invalid_body("the request is not a well-formed protobuf message");
    let mut value = String::new();
    while message.has_remaining() {
        let key = prost::encoding::decode_varint(&mut message).map_err(|_| malformed())?;
        let (tag, wire) = (key >> 3, key & 0x7);
        match wire {
            0 => {
                prost::encoding::decode_varint(&mut message).map_err(|_| malformed())?;
            }
            1 | 5 => {
                let width = if wire == 1 { 8 } else { 4 };
                if message.remaining() < width {
                    return Err(malformed());
                }
                message.advance(width);
            }
            2 => {
                let len = prost::encoding::decode_varint(&mut message).map_err(|_| malformed())?;
                let len = usize::try_from(len).map_err(|_| malformed())?;
                if message.remaining() < len {
                    return Err(malformed());
                }
                let chunk = message.split_to(len);
                if tag == u64::from(number) {
                    value = String::from_utf8(chunk.to_vec()).map_err(|_| malformed())?;
                }
            }
            // Groups are not proto3.
            _ => return Err(malformed()),
        }
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use latch_proto::latch::profile::v1::GetProfileRequest;

    fn frame(message: &impl Message) -> Bytes {
        let encoded = message.encode_to_vec();
        let mut out = vec![0u8];
        out.extend_from_slice(&u32::try_from(encoded.len()).unwrap().to_be_bytes());
        out.extend_from_slice(&encoded);
        Bytes::from(out)
    }

    #[test]
    fn fields_are_found_by_name_in_the_contract() {
        let number =
            field_number("latch.profile.v1.ProfileService", "GetProfile", "user_id").unwrap();
        let request = GetProfileRequest {
            user_id: "someone".into(),
        };
        assert_eq!(string_field(&frame(&request), number).unwrap(), "someone");
        assert!(field_number("latch.profile.v1.ProfileService", "GetProfile", "nobody").is_err());
        assert!(field_number("latch.profile.v1.ProfileService", "Nothing", "user_id").is_err());
    }

    #[test]
    fn absent_fields_are_empty_and_garbage_is_refused() {
        assert_eq!(
            string_field(&frame(&GetProfileRequest::default()), 1).unwrap(),
            ""
        );
        assert_eq!(string_field(&Bytes::new(), 1).unwrap(), "");
        let err = string_field(&Bytes::from_static(&[0, 0, 0, 0, 9, 1]), 1).unwrap_err();
        assert_eq!(err.reason(), Reason::InvalidArgument);
        let compressed = Bytes::from_static(&[1, 0, 0, 0, 0]);
        assert_eq!(
            string_field(&compressed, 1).unwrap_err().reason(),
            Reason::InvalidArgument
        );
    }
}

//! Domain [`Event`]s to and from `latch.events.v1` protobuf, the payload of
//! the Redis pub/sub channels. Each channel carries its own message type.

use chrono::{DateTime, Utc};
use latch_domain::{
    Error, Result, SessionId, UserId,
    events::{AuthzScope, Channel, Event, EventPayload},
};
use latch_proto::latch::events::v1 as pb;
use prost::Message;
use uuid::Uuid;

fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        // Below one billion, so it fits.
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// Encodes the event as the message of its channel ([`Event::channel`]).
pub fn encode(event: &Event) -> Vec<u8> {
    let event_id = event.id.to_string();
    let time = Some(timestamp(event.at));
    match &event.payload {
        EventPayload::UserCreated { user_id, email } => pb::UserCreated {
            event_id,
            time,
            user_id: user_id.to_string(),
            email: email.clone(),
        }
        .encode_to_vec(),
        EventPayload::UserUpdated {
            user_id,
            changed_fields,
        } => pb::UserUpdated {
            event_id,
            time,
            user_id: user_id.to_string(),
            changed_fields: changed_fields.clone(),
        }
        .encode_to_vec(),
        EventPayload::SessionCreated {
            session_id,
            user_id,
        } => pb::SessionCreated {
            event_id,
            time,
            session_id: session_id.to_string(),
            user_id: user_id.to_string(),
        }
        .encode_to_vec(),
        EventPayload::SessionRevoked {
            session_id,
            user_id,
            reason,
        } => pb::SessionRevoked {
            event_id,
            time,
            session_id: session_id.to_string(),
            user_id: user_id.to_string(),
            reason: reason.clone(),
        }
        .encode_to_vec(),
        EventPayload::UserDeleted { user_id } => pb::UserDeleted {
            event_id,
            time,
            user_id: user_id.to_string(),
        }
        .encode_to_vec(),
        EventPayload::AuthzChanged { scope } => pb::AuthzChanged {
            event_id,
            time,
            scope: Some(match scope {
                AuthzScope::User(user) => pb::authz_changed::Scope::UserId(user.to_string()),
                AuthzScope::Role(role) => pb::authz_changed::Scope::Role(role.clone()),
            }),
        }
        .encode_to_vec(),
    }
}

fn malformed(what: &str) -> Error {
    Error::internal_msg(format!("malformed event: {what}"))
}

fn decode_message<M: Message + Default>(bytes: &[u8]) -> Result<M> {
    M::decode(bytes).map_err(|_| malformed("not the channel's protobuf message"))
}

fn header(event_id: &str, time: Option<prost_types::Timestamp>) -> Result<(Uuid, DateTime<Utc>)> {
    let id = Uuid::parse_str(event_id).map_err(|_| malformed("event_id"))?;
    let time = time.ok_or_else(|| malformed("time missing"))?;
    let nanos = u32::try_from(time.nanos).map_err(|_| malformed("time"))?;
    let at = DateTime::from_timestamp(time.seconds, nanos).ok_or_else(|| malformed("time"))?;
    Ok((id, at))
}

fn user_id(value: &str) -> Result<UserId> {
    UserId::parse("user_id", value).map_err(|_| malformed("user_id"))
}

fn session_id(value: &str) -> Result<SessionId> {
    SessionId::parse("session_id", value).map_err(|_| malformed("session_id"))
}

/// Decodes a message received on `channel`; `INTERNAL` for bytes that are
/// not a valid message of that channel (a subscriber logs and skips them).
pub fn decode(channel: Channel, bytes: &[u8]) -> Result<Event> {
    let (id, at, payload) = match channel {
        Channel::UserCreated => {
            let m: pb::UserCreated = decode_message(bytes)?;
            let (id, at) = header(&m.event_id, m.time)?;
            let payload = EventPayload::UserCreated {
                user_id: user_id(&m.user_id)?,
                email: m.email,
            };
            (id, at, payload)
        }
        Channel::UserUpdated => {
            let m: pb::UserUpdated = decode_message(bytes)?;
            let (id, at) = header(&m.event_id, m.time)?;
            let payload = EventPayload::UserUpdated {
                user_id: user_id(&m.user_id)?,
                changed_fields: m.changed_fields,
            };
            (id, at, payload)
        }
        Channel::SessionCreated => {
            let m: pb::SessionCreated = decode_message(bytes)?;
            let (id, at) = header(&m.event_id, m.time)?;
            let payload = EventPayload::SessionCreated {
                session_id: session_id(&m.session_id)?,
                user_id: user_id(&m.user_id)?,
            };
            (id, at, payload)
        }
        Channel::SessionRevoked => {
            let m: pb::SessionRevoked = decode_message(bytes)?;
            let (id, at) = header(&m.event_id, m.time)?;
            let payload = EventPayload::SessionRevoked {
                session_id: session_id(&m.session_id)?,
                user_id: user_id(&m.user_id)?,
                reason: m.reason,
            };
            (id, at, payload)
        }
        Channel::UserDeleted => {
            let m: pb::UserDeleted = decode_message(bytes)?;
            let (id, at) = header(&m.event_id, m.time)?;
            let payload = EventPayload::UserDeleted {
                user_id: user_id(&m.user_id)?,
            };
            (id, at, payload)
        }
        Channel::AuthzChanged => {
            let m: pb::AuthzChanged = decode_message(bytes)?;
            let (id, at) = header(&m.event_id, m.time)?;
            let scope = match m.scope {
                Some(pb::authz_changed::Scope::UserId(user)) => AuthzScope::User(user_id(&user)?),
                Some(pb::authz_changed::Scope::Role(role)) => AuthzScope::Role(role),
                None => return Err(malformed("scope missing")),
            };
            (id, at, EventPayload::AuthzChanged { scope })
        }
    };
    Ok(Event { id, at, payload })
}

#[cfg(test)]
mod tests {
    use super::*;
    use latch_domain::{Clock, ManualClock};

    fn every_kind() -> Result<Vec<Event>> {
        let at = ManualClock::starting_now().now();
        let user = UserId::new();
        let session = SessionId::generate()?;
        Ok(vec![
            Event::new(
                at,
                EventPayload::UserCreated {
                    user_id: user,
                    email: "ada@example.com".into(),
                },
            ),
            Event::new(
                at,
                EventPayload::UserUpdated {
                    user_id: user,
                    changed_fields: vec!["email".into(), "status".into()],
                },
            ),
            Event::new(
                at,
                EventPayload::SessionCreated {
                    session_id: session.clone(),
                    user_id: user,
                },
            ),
            Event::new(
                at,
                EventPayload::SessionRevoked {
                    session_id: session,
                    user_id: user,
                    reason: "logout".into(),
                },
            ),
            Event::new(at, EventPayload::UserDeleted { user_id: user }),
        ])
    }

    #[test]
    fn every_kind_round_trips() -> Result<()> {
        for event in every_kind()? {
            let bytes = encode(&event);
            assert_eq!(decode(event.channel(), &bytes)?, event);
        }
        Ok(())
    }

    #[test]
    fn the_wire_format_is_the_proto_message() -> Result<()> {
        let event = every_kind()?.remove(3);
        let m =
            pb::SessionRevoked::decode(encode(&event).as_slice()).map_err(|_| malformed("test"))?;
        assert_eq!(m.reason, "logout");
        assert_eq!(m.event_id, event.id.to_string());
        assert_eq!(m.time.map(|t| t.seconds), Some(event.at.timestamp()));
        Ok(())
    }

    #[test]
    fn garbage_is_refused() {
        assert!(decode(Channel::SessionRevoked, b"\xff\xff\xff").is_err());
        let no_ids = pb::SessionRevoked::default().encode_to_vec();
        assert!(decode(Channel::SessionRevoked, &no_ids).is_err());
    }
}

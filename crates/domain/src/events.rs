//! Events other services and replicas react to. The bus adapter encodes them
//! as `latch.events.v1` protobuf on the channel named by [`Event::channel`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    Result, SessionId, UserId,
    ports::{NewOutboxMessage, OutboxMessage, outbox::KEY_MAX_LEN},
};

/// The outbox kind of an event waiting to be delivered (pub/sub and the
/// channel's stream). Every binary's worker handles it.
pub const DELIVER_EVENT_KIND: &str = "events.deliver";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub payload: EventPayload,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventPayload {
    UserCreated {
        user_id: UserId,
        email: String,
    },
    UserUpdated {
        user_id: UserId,
        changed_fields: Vec<String>,
    },
    SessionCreated {
        session_id: SessionId,
        user_id: UserId,
    },
    SessionRevoked {
        session_id: SessionId,
        user_id: UserId,
        reason: String,
    },
    /// The account is deleted (a tombstone at once, its rows in every
    /// service soon after): drop whatever is cached about the user.
    UserDeleted {
        user_id: UserId,
    },
    /// Roles, grants or assignments changed: drop cached authorization
    /// decisions of the user (an assignment) or of every holder of the role
    /// (a grant, a role's permissions or its deletion).
    AuthzChanged {
        scope: AuthzScope,
    },
}

/// Whose cached authorization an [`EventPayload::AuthzChanged`] voids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthzScope {
    /// One user's roles changed.
    User(UserId),
    /// A role's permissions changed (or the role or a permission was
    /// deleted): every holder is affected. Named by the role's name.
    Role(String),
}

/// The pub/sub channels; the names are the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    UserCreated,
    UserUpdated,
    SessionCreated,
    SessionRevoked,
    UserDeleted,
    AuthzChanged,
}

impl Channel {
    pub const ALL: [Channel; 6] = [
        Channel::UserCreated,
        Channel::UserUpdated,
        Channel::SessionCreated,
        Channel::SessionRevoked,
        Channel::UserDeleted,
        Channel::AuthzChanged,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::UserCreated => "user:created",
            Self::UserUpdated => "user:updated",
            Self::SessionCreated => "session:created",
            Self::SessionRevoked => "session:revoked",
            Self::UserDeleted => "user:deleted",
            Self::AuthzChanged => "authz:changed",
        }
    }
}

impl Event {
    pub fn new(at: DateTime<Utc>, payload: EventPayload) -> Self {
        Self {
            id: Uuid::now_v7(),
            at,
            payload,
        }
    }

    /// What the event is about: its order is kept among the events of one
    /// aggregate (a user, a session, a role), never across them.
    pub fn aggregate(&self) -> String {
        match &self.payload {
            EventPayload::UserCreated { user_id, .. }
            | EventPayload::UserUpdated { user_id, .. }
            | EventPayload::UserDeleted { user_id } => format!("user:{user_id}"),
            EventPayload::SessionCreated { session_id, .. }
            | EventPayload::SessionRevoked { session_id, .. } => format!("session:{session_id}"),
            EventPayload::AuthzChanged {
                scope: AuthzScope::User(user_id),
            } => format!("user:{user_id}"),
            EventPayload::AuthzChanged {
                scope: AuthzScope::Role(role),
            } => format!("role:{role}"),
        }
    }

    /// The outbox row that delivers this event once the transaction it is
    /// written in commits: written beside the change it reports, so an
    /// event exists exactly when its change does. Keyed by the aggregate,
    /// so the worker delivers one aggregate's events in order.
    pub fn to_outbox(&self) -> Result<NewOutboxMessage> {
        let mut key = self.aggregate();
        // A long role name is cut to the key's bound, on a character
        // boundary; the key only orders, so a shared prefix merely orders
        // two roles' events together.
        while key.len() > KEY_MAX_LEN {
            key.pop();
        }
        NewOutboxMessage::new(DELIVER_EVENT_KIND, &key, self, self.at)
    }

    /// The event an outbox row of [`DELIVER_EVENT_KIND`] carries;
    /// `INVALID_ARGUMENT` (permanent) when it does not decode.
    pub fn from_outbox(message: &OutboxMessage) -> Result<Event> {
        message.decode()
    }

    pub fn channel(&self) -> Channel {
        match self.payload {
            EventPayload::UserCreated { .. } => Channel::UserCreated,
            EventPayload::UserUpdated { .. } => Channel::UserUpdated,
            EventPayload::SessionCreated { .. } => Channel::SessionCreated,
            EventPayload::SessionRevoked { .. } => Channel::SessionRevoked,
            EventPayload::UserDeleted { .. } => Channel::UserDeleted,
            EventPayload::AuthzChanged { .. } => Channel::AuthzChanged,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::ports::{OutboxId, OutboxStatus};

    fn stored(message: NewOutboxMessage) -> OutboxMessage {
        OutboxMessage {
            id: message.id,
            kind: message.kind,
            key: message.key,
            payload: message.payload,
            status: OutboxStatus::Pending,
            attempts: 1,
            created_at: message.created_at,
            available_at: message.available_at,
            lease: None,
            last_error: None,
            finished_at: None,
        }
    }

    #[test]
    fn an_event_survives_its_outbox_row() {
        let at = Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap();
        let user = UserId::new();
        let events = [
            Event::new(
                at,
                EventPayload::UserUpdated {
                    user_id: user,
                    changed_fields: vec!["email".into(), "email_verified".into()],
                },
            ),
            Event::new(
                at,
                EventPayload::AuthzChanged {
                    scope: AuthzScope::Role("EDITOR".into()),
                },
            ),
            Event::new(
                at,
                EventPayload::SessionRevoked {
                    session_id: SessionId::generate().unwrap(),
                    user_id: user,
                    reason: "logout".into(),
                },
            ),
        ];
        for event in events {
            let row = event.to_outbox().unwrap();
            assert_eq!(row.kind, DELIVER_EVENT_KIND);
            assert_eq!(row.key, event.aggregate());
            assert_eq!(row.created_at, at);
            assert_eq!(Event::from_outbox(&stored(row)).unwrap(), event);
        }
    }

    #[test]
    fn one_users_events_share_an_aggregate_and_a_sessions_do_not() {
        let at = Utc::now();
        let user = UserId::new();
        let updated = Event::new(
            at,
            EventPayload::UserUpdated {
                user_id: user,
                changed_fields: vec![],
            },
        );
        let roles = Event::new(
            at,
            EventPayload::AuthzChanged {
                scope: AuthzScope::User(user),
            },
        );
        let session = Event::new(
            at,
            EventPayload::SessionCreated {
                session_id: SessionId::generate().unwrap(),
                user_id: user,
            },
        );
        assert_eq!(updated.aggregate(), roles.aggregate());
        assert_ne!(updated.aggregate(), session.aggregate());
    }

    #[test]
    fn a_long_role_name_still_fits_the_outbox_key() {
        let event = Event::new(
            Utc::now(),
            EventPayload::AuthzChanged {
                scope: AuthzScope::Role("é".repeat(100)),
            },
        );
        let row = event.to_outbox().unwrap();
        assert!(row.key.len() <= KEY_MAX_LEN);
        assert!(row.key.starts_with("role:é"));
    }

    #[test]
    fn a_row_that_is_not_an_event_is_refused_for_good() {
        let mut row = stored(
            NewOutboxMessage::new(DELIVER_EVENT_KIND, "user:x", &"nonsense", Utc::now()).unwrap(),
        );
        row.id = OutboxId::new();
        let error = Event::from_outbox(&row).unwrap_err();
        assert_eq!(error.kind(), crate::Kind::InvalidArgument);
    }
}

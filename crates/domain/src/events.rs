//! Events other services and replicas react to. The bus adapter encodes them
//! as `latch.events.v1` protobuf on the channel named by [`Event::channel`].

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{SessionId, UserId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub payload: EventPayload,
}

#[derive(Debug, Clone, PartialEq, Eq)]
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
#[derive(Debug, Clone, PartialEq, Eq)]
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

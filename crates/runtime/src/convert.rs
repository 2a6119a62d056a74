//! Converters shared by every edge where protobuf meets the domain: the
//! handlers of several services and the gRPC clients of the ports.

use chrono::{DateTime, TimeZone, Utc};
use latch_domain::{
    Error, Result, SessionId, UserId,
    model::{ClientInfo, TokenPair, UserStatus},
};
use latch_proto::latch::common::v1 as pb;
use prost_types::Timestamp;

/// A point in time for the wire, to the nanosecond.
pub fn timestamp(at: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

pub fn opt_timestamp(at: Option<DateTime<Utc>>) -> Option<Timestamp> {
    at.map(timestamp)
}

/// A timestamp a peer sent; `field` names it when it is missing or invalid.
pub fn datetime(field: &str, ts: Option<&Timestamp>) -> Result<DateTime<Utc>> {
    ts.and_then(|ts| {
        Utc.timestamp_opt(ts.seconds, u32::try_from(ts.nanos).ok()?)
            .single()
    })
    .ok_or_else(|| Error::invalid_field(field, "must be a valid timestamp"))
}

fn non_empty(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

/// The client a request claims; blank fields (after trimming) are absent.
pub fn client_info(client: Option<pb::ClientInfo>) -> Option<ClientInfo> {
    client.map(|c| ClientInfo {
        ip: non_empty(&c.ip),
        user_agent: non_empty(&c.user_agent),
    })
}

pub fn client_info_pb(client: &ClientInfo) -> pb::ClientInfo {
    pb::ClientInfo {
        ip: client.ip.clone().unwrap_or_default(),
        user_agent: client.user_agent.clone().unwrap_or_default(),
    }
}

/// Tokens for the wire, as `latch.common.v1.AuthResult`.
pub fn auth_result(pair: TokenPair) -> pb::AuthResult {
    pb::AuthResult {
        user_id: pair.user_id.to_string(),
        session_id: pair.session_id.to_string(),
        access_token: pair.access_token,
        access_token_expires_at: Some(timestamp(pair.access_token_expires_at)),
        refresh_token: pair.refresh_token,
        refresh_token_expires_at: Some(timestamp(pair.refresh_token_expires_at)),
    }
}

pub fn token_pair(auth: Option<pb::AuthResult>) -> Result<TokenPair> {
    let auth = auth.ok_or_else(|| Error::internal_msg("peer answered without auth"))?;
    Ok(TokenPair {
        user_id: UserId::parse("auth.user_id", &auth.user_id)?,
        session_id: SessionId::parse("auth.session_id", &auth.session_id)?,
        access_token_expires_at: datetime(
            "auth.access_token_expires_at",
            auth.access_token_expires_at.as_ref(),
        )?,
        refresh_token_expires_at: datetime(
            "auth.refresh_token_expires_at",
            auth.refresh_token_expires_at.as_ref(),
        )?,
        access_token: auth.access_token,
        refresh_token: auth.refresh_token,
    })
}

/// A user status for the wire.
pub fn user_status_pb(status: UserStatus) -> pb::UserStatus {
    match status {
        UserStatus::Pending => pb::UserStatus::Pending,
        UserStatus::Active => pb::UserStatus::Active,
        UserStatus::Suspended => pb::UserStatus::Suspended,
        UserStatus::Deactivated => pb::UserStatus::Deactivated,
    }
}

pub fn user_status(status: pb::UserStatus) -> Option<UserStatus> {
    match status {
        pb::UserStatus::Unspecified => None,
        pb::UserStatus::Pending => Some(UserStatus::Pending),
        pb::UserStatus::Active => Some(UserStatus::Active),
        pb::UserStatus::Suspended => Some(UserStatus::Suspended),
        pb::UserStatus::Deactivated => Some(UserStatus::Deactivated),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_to_the_microsecond() -> Result<()> {
        let at = Utc
            .timestamp_opt(1_700_000_000, 123_456_000)
            .single()
            .ok_or_else(|| Error::internal_msg("ts"))?;
        assert_eq!(datetime("t", Some(&timestamp(at)))?, at);
        assert!(datetime("t", None).is_err());
        Ok(())
    }

    #[test]
    fn timestamps_keep_subseconds() {
        let at = DateTime::from_timestamp(1_700_000_000, 123_456_000).unwrap();
        assert_eq!(
            timestamp(at),
            Timestamp {
                seconds: 1_700_000_000,
                nanos: 123_456_000
            }
        );
    }

    #[test]
    fn empty_client_fields_are_absent() {
        let info = client_info(Some(pb::ClientInfo {
            ip: " ".into(),
            user_agent: "curl/8".into(),
        }));
        assert_eq!(
            info,
            Some(ClientInfo {
                ip: None,
                user_agent: Some("curl/8".into())
            })
        );
        let client = client_info(Some(pb::ClientInfo {
            ip: " 203.0.113.7 ".to_owned(),
            user_agent: String::new(),
        }));
        assert_eq!(
            client,
            Some(ClientInfo {
                ip: Some("203.0.113.7".to_owned()),
                user_agent: None
            })
        );
        assert_eq!(client_info(None), None);
    }
}

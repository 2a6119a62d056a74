//! Opening a session.

use latch_domain::{
    Result, SessionId, UserId, client_fields,
    events::{Event, EventPayload},
    model::{ClientInfo, Session},
};

use crate::{Sessions, device::parse_user_agent};

impl Sessions {
    /// Stores a new session for `user`: a fresh 128-bit id, the client's
    /// fields as [`client_fields::normalize`] makes them fit to store (a
    /// long user agent is cut, not refused; an IP that is not one is
    /// dropped), browser, OS and device parsed from the user agent, the
    /// absolute end `absolute_ttl` from now. Its `session:created` event is
    /// written with it (the outbox delivers it). It is cached at once (it
    /// is about to be validated); a cache failure is logged, not returned,
    /// because the database already holds the truth.
    pub async fn open(&self, user: UserId, client: &ClientInfo) -> Result<Session> {
        let now = self.deps.clock.now();
        let client = client_fields::normalize(client);
        let device = client
            .user_agent
            .as_deref()
            .map(parse_user_agent)
            .unwrap_or_default();
        let location = self.locate(&client);
        let session = Session {
            id: SessionId::generate()?,
            user_id: user,
            client,
            device,
            location,
            created_at: now,
            last_active_at: now,
            expires_at: now + self.absolute_ttl,
            revoked_at: None,
            revoked_reason: None,
        };
        let created = Event::new(
            now,
            EventPayload::SessionCreated {
                session_id: session.id.clone(),
                user_id: user,
            },
        );
        self.deps
            .repo
            .create(&session, &[created.to_outbox()?])
            .await?;

        if let Err(error) = self.deps.cache.fill(&session, self.config.cache_ttl).await {
            tracing::warn!(%error, "session cache unavailable; new session not cached");
        }
        self.local.insert_valid(&session, now);
        Ok(session)
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use latch_domain::{
        Result, UserId,
        events::{Channel, EventPayload},
        model::ClientInfo,
        ports::{CachedSession, SessionCache, SessionRepository},
    };

    use crate::testing::{Harness, browser_client, next_event};

    #[tokio::test]
    async fn create_parses_the_user_agent_and_stores_the_session() -> Result<()> {
        let h = Harness::new().await;
        let sessions = h.replica();
        let user = UserId::new();
        let mut created = h.bus.subscribe(Channel::SessionCreated).await?;

        let session = sessions.open(user, &browser_client()).await?;

        assert_eq!(session.user_id, user);
        assert_eq!(session.device.browser.as_deref(), Some("Chrome"));
        assert_eq!(session.device.os.as_deref(), Some("Mac OSX"));
        assert_eq!(session.device.device.as_deref(), Some("desktop"));
        assert_eq!(session.client.ip.as_deref(), Some("203.0.113.7"));
        assert_eq!(session.expires_at - session.created_at, Duration::days(30));
        assert_eq!(h.repo.get(&session.id).await?, Some(session.clone()));
        assert_eq!(
            h.cache.get(&session.id).await?,
            Some(CachedSession::Valid(Box::new(session.clone())))
        );
        assert!(
            h.drain_outbox().await.len() == 1,
            "its event, in the outbox"
        );
        let event = next_event(&mut created).await;
        assert_eq!(
            event.payload,
            EventPayload::SessionCreated {
                session_id: session.id.clone(),
                user_id: user
            }
        );
        Ok(())
    }

    #[tokio::test]
    async fn client_fields_are_stored_bounded_and_canonical() -> Result<()> {
        let h = Harness::new().await;
        let client = ClientInfo {
            ip: Some(" ::ffff:203.0.113.7 ".into()),
            user_agent: Some(format!("\u{1b}[2J{}\r\n", "a".repeat(600))),
        };
        let session = h.replica().open(UserId::new(), &client).await?;
        let stored = h.repo.get(&session.id).await?.map(|s| s.client);
        let ua = "[2J".to_owned() + &"a".repeat(509);
        assert_eq!(
            stored,
            Some(ClientInfo {
                ip: Some("203.0.113.7".into()),
                user_agent: Some(ua),
            })
        );
        let odd = ClientInfo {
            ip: Some("unknown".into()),
            user_agent: Some(" \0 ".into()),
        };
        let session = h.replica().open(UserId::new(), &odd).await?;
        assert_eq!(session.client, ClientInfo::default());
        Ok(())
    }

    #[tokio::test]
    async fn every_session_gets_a_fresh_id() -> Result<()> {
        let h = Harness::new().await;
        let sessions = h.replica();
        let user = UserId::new();
        let a = sessions.open(user, &browser_client()).await?;
        let b = sessions.open(user, &browser_client()).await?;
        assert_ne!(a.id, b.id);
        Ok(())
    }

    #[tokio::test]
    async fn create_works_while_the_cache_is_down() -> Result<()> {
        let h = Harness::new().await;
        h.cache.set_down(true);
        let session = h.replica().open(UserId::new(), &browser_client()).await?;
        assert!(h.repo.get(&session.id).await?.is_some());
        Ok(())
    }
}

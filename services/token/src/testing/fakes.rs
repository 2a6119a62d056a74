//! Fakes of the sibling services the token service calls (session,
//! identity, authorization): legitimate stand-ins, since the real ones are
//! other services. They record what was asked of them.

use std::{
    collections::{HashMap, HashSet},
    sync::Mutex,
};

use async_trait::async_trait;
use chrono::TimeDelta;
use latch_domain::{
    Clock, Error, ManualClock, Reason, Result, SessionId, UserId,
    model::{ClientInfo, DeviceInfo, Session, UserStatus},
    ports::{RoleDirectory, SessionDirectory, UserDirectory},
};

pub(crate) struct FakeSessions {
    clock: ManualClock,
    sessions: Mutex<HashMap<SessionId, Session>>,
    /// Every revoke call: (session, reason).
    pub(crate) revocations: Mutex<Vec<(SessionId, String)>>,
    /// Every touch that recorded activity, in order.
    pub(crate) touches: Mutex<Vec<SessionId>>,
    /// While set, sessions idle this long are no longer live (the real
    /// service's idle TTL); unset, only revocation and expiry end them.
    pub(crate) idle_ttl: Mutex<Option<TimeDelta>>,
}

impl FakeSessions {
    pub(crate) fn new(clock: ManualClock) -> Self {
        Self {
            clock,
            sessions: Mutex::default(),
            revocations: Mutex::default(),
            touches: Mutex::default(),
            idle_ttl: Mutex::default(),
        }
    }

    /// A live session of `user`, ending in 30 days.
    pub(crate) fn open(&self, user: UserId) -> SessionId {
        let now = self.clock.now();
        let session = Session {
            id: SessionId::generate().unwrap(),
            user_id: user,
            client: ClientInfo::default(),
            device: DeviceInfo::default(),
            location: None,
            created_at: now,
            last_active_at: now,
            expires_at: now + TimeDelta::days(30),
            revoked_at: None,
            revoked_reason: None,
        };
        let id = session.id.clone();
        self.sessions.lock().unwrap().insert(id.clone(), session);
        id
    }

    pub(crate) fn revocations(&self) -> Vec<(SessionId, String)> {
        self.revocations.lock().unwrap().clone()
    }
}

#[async_trait]
impl SessionDirectory for FakeSessions {
    async fn create(&self, user: UserId, _client: &ClientInfo) -> Result<Session> {
        let id = self.open(user);
        Ok(self.sessions.lock().unwrap()[&id].clone())
    }

    async fn validate(&self, id: &SessionId) -> Result<Option<Session>> {
        let now = self.clock.now();
        let sessions = self.sessions.lock().unwrap();
        let idle_ttl = *self.idle_ttl.lock().unwrap();
        Ok(sessions
            .get(id)
            .filter(|s| s.revoked_at.is_none() && now < s.expires_at)
            .filter(|s| idle_ttl.is_none_or(|idle| now - s.last_active_at < idle))
            .cloned())
    }

    async fn touch(&self, id: &SessionId) -> Result<()> {
        if self.validate(id).await?.is_none() {
            return Err(Error::new(Reason::SessionRevoked, "the session has ended"));
        }
        let now = self.clock.now();
        if let Some(session) = self.sessions.lock().unwrap().get_mut(id) {
            session.last_active_at = now;
        }
        self.touches.lock().unwrap().push(id.clone());
        Ok(())
    }

    async fn revoke(&self, id: &SessionId, reason: &str) -> Result<bool> {
        self.revocations
            .lock()
            .unwrap()
            .push((id.clone(), reason.to_owned()));
        let now = self.clock.now();
        let mut sessions = self.sessions.lock().unwrap();
        Ok(match sessions.get_mut(id) {
            Some(s) if s.revoked_at.is_none() => {
                s.revoked_at = Some(now);
                s.revoked_reason = Some(reason.to_owned());
                true
            }
            _ => false,
        })
    }

    async fn revoke_all(
        &self,
        user: UserId,
        except: Option<&SessionId>,
        reason: &str,
    ) -> Result<u32> {
        let ids: Vec<SessionId> = {
            let sessions = self.sessions.lock().unwrap();
            sessions
                .values()
                .filter(|s| s.user_id == user && Some(&s.id) != except)
                .map(|s| s.id.clone())
                .collect()
        };
        let mut revoked = 0;
        for id in ids {
            revoked += u32::from(self.revoke(&id, reason).await?);
        }
        Ok(revoked)
    }
}

#[derive(Default)]
pub(crate) struct FakeUsers {
    statuses: Mutex<HashMap<UserId, UserStatus>>,
}

impl FakeUsers {
    pub(crate) fn set(&self, user: UserId, status: UserStatus) {
        self.statuses.lock().unwrap().insert(user, status);
    }
}

#[async_trait]
impl UserDirectory for FakeUsers {
    async fn status(&self, user: UserId) -> Result<Option<UserStatus>> {
        Ok(self.statuses.lock().unwrap().get(&user).copied())
    }
}

#[derive(Default)]
pub(crate) struct FakeRoles {
    roles: Mutex<HashMap<UserId, Vec<String>>>,
    permissions: Mutex<HashMap<UserId, HashSet<String>>>,
}

impl FakeRoles {
    pub(crate) fn grant_role(&self, user: UserId, role: &str) {
        self.roles
            .lock()
            .unwrap()
            .entry(user)
            .or_default()
            .push(role.to_owned());
    }

    pub(crate) fn grant_permission(&self, user: UserId, permission: &str) {
        self.permissions
            .lock()
            .unwrap()
            .entry(user)
            .or_default()
            .insert(permission.to_owned());
    }
}

#[async_trait]
impl RoleDirectory for FakeRoles {
    async fn role_names(&self, user: UserId) -> Result<Vec<String>> {
        Ok(self
            .roles
            .lock()
            .unwrap()
            .get(&user)
            .cloned()
            .unwrap_or_default())
    }

    async fn has_permission(&self, user: UserId, permission: &str) -> Result<bool> {
        Ok(self
            .permissions
            .lock()
            .unwrap()
            .get(&user)
            .is_some_and(|p| p.contains(permission)))
    }

    async fn assign(&self, user: UserId, role: &str) -> Result<bool> {
        self.grant_role(user, role);
        Ok(true)
    }

    async fn unassign(&self, user: UserId, role: &str) -> Result<bool> {
        let mut roles = self.roles.lock().unwrap();
        let held = roles.entry(user).or_default();
        let before = held.len();
        held.retain(|r| r != role);
        Ok(held.len() != before)
    }
}

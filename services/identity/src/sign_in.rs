//! The one way a proven user is signed in, whatever proved them (a
//! password, a password and a second factor): open a session with its
//! tokens, record the sign-in, queue the new-device notice with the
//! history row when the device is new to the user (`new_device`), and
//! forget the account's failed attempts (`lockout`).

use latch_domain::{
    Result,
    model::{ClientInfo, TokenPair, User},
};

use crate::{Identity, login::history_not_recorded, new_device::Device};

impl Identity {
    /// Signs `user` in from `client` (normalised already); `method` is what
    /// the login history calls the proof (`password`, `password+totp`, …).
    pub(crate) async fn sign_in(
        &self,
        user: &User,
        client: &ClientInfo,
        method: &str,
    ) -> Result<TokenPair> {
        let device = Device::of(client);
        // Asked before this sign-in is recorded, which makes it known.
        let new_device = self.is_new_device(user, &device).await;
        let (session, tokens) = self.start_session(user.id, client).await?;
        let now = self.deps.clock.now();
        // The tokens exist now; failing the request over bookkeeping would
        // leave a session nobody holds.
        if let Err(error) = self.deps.users.record_login(user.id, now).await {
            tracing::warn!(user = %user.id, %error, "last_login_at not recorded");
        }
        let notice: Vec<_> = new_device
            .then(|| self.new_device_notice(user, &device, session.location.as_deref(), now))
            .flatten()
            .into_iter()
            .collect();
        let success = self.attempt(user.id, client, method, None);
        if let Err(error) = self.deps.login_history.record(&success, &notice).await {
            history_not_recorded(&success, &error);
        }
        // A sign-in ends the backoff: every failure before it is forgotten.
        self.forget_failures(user).await;
        Ok(tokens)
    }
}

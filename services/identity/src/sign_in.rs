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
        // Asked before this sign-in is recorded, which makes it known; the
        // session does not record it, so both go at once. Each write here
        // waits for its own commit to reach the disk: steps that do not
        // depend on each other overlap rather than queue.
        let (new_device, started) = tokio::join!(
            self.is_new_device(user, &device),
            self.start_session(user.id, client),
        );
        let (session, tokens) = started?;
        let now = self.deps.clock.now();
        let notice: Vec<_> = new_device
            .then(|| self.new_device_notice(user, &device, session.location.as_deref(), now))
            .flatten()
            .into_iter()
            .collect();
        let success = self.attempt(user.id, client, method, None);
        // The tokens exist now; failing the request over bookkeeping would
        // leave a session nobody holds.
        let (recorded, history, ()) = tokio::join!(
            self.deps.users.record_login(user.id, now),
            self.deps.login_history.record(&success, &notice),
            // A sign-in ends the backoff: every failure before it is
            // forgotten.
            self.forget_failures(user),
        );
        if let Err(error) = recorded {
            tracing::warn!(user = %user.id, %error, "last_login_at not recorded");
        }
        if let Err(error) = history {
            history_not_recorded(&success, &error);
        }
        Ok(tokens)
    }
}

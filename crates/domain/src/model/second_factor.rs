/// A user's TOTP as stored, while it is on.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpRecord {
    /// The shared secret, sealed under the encryption key with the user id
    /// as associated data (`latch_domain::seal`).
    pub sealed_secret: Vec<u8>,
    /// The last time step (unix time / 30 s) whose code was accepted; a
    /// code is accepted only for a later step.
    pub last_step: Option<i64>,
}

impl std::fmt::Debug for TotpRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpRecord")
            .field("last_step", &self.last_step)
            .finish_non_exhaustive()
    }
}

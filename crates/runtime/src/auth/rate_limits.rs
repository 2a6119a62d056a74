//! Rate limits on every public RPC, applied by the auth layer from the
//! policy tables: each public RPC belongs to a [`RateGroup`] (named in its
//! service's `ServicePolicy::rate_groups`, else [`RateGroup::Default`], so
//! a new public RPC cannot go unlimited), and each group has a rate per
//! client address (`LATCH_RATE_LIMIT_<GROUP>`), counted by the one
//! [`RateLimiter`] under `ratelimit:{group}:ip:{bucket}`.
//!
//! The client address is the connection's peer, except for a gateway (a
//! service account with `forward_client_info`): its peer is the gateway,
//! so the address it forwards in `x-forwarded-for` is taken, the **last**
//! entry of the last such header. That is the one the gateway itself
//! appended (Envoy, nginx and most proxies append the address they were
//! connected from); everything left of it came from the client and could
//! be forged. Without a readable entry the gateway's own address is used.
//! Latch's own services (the service credential) are not limited: they
//! call on behalf of many clients, each limited where it came in.

use std::{
    net::IpAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use latch_domain::{
    Error, Result,
    ports::{Rate, RateLimiter, ip_bucket},
};

use super::{Caller, Principal, rate_leases::LeasedLimiter};
use crate::config::{ConfigSource, check_duration, format_duration, parse_duration};

/// Which limit a public RPC counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateGroup {
    /// Login, CompleteSecondFactor, passkey and OAuth sign-ins.
    SignIn,
    SignUp,
    /// RefreshTokens.
    Refresh,
    /// ValidateAccessToken, RevokeToken.
    TokenCheck,
    /// Email verification and password reset.
    Recovery,
    /// Every public RPC no group names (GetJwks, …).
    Default,
}

impl RateGroup {
    pub const ALL: [RateGroup; 6] = [
        RateGroup::SignIn,
        RateGroup::SignUp,
        RateGroup::Refresh,
        RateGroup::TokenCheck,
        RateGroup::Recovery,
        RateGroup::Default,
    ];

    /// The name in keys and logs: `sign_in`.
    pub fn name(self) -> &'static str {
        match self {
            RateGroup::SignIn => "sign_in",
            RateGroup::SignUp => "sign_up",
            RateGroup::Refresh => "refresh",
            RateGroup::TokenCheck => "token_check",
            RateGroup::Recovery => "recovery",
            RateGroup::Default => "default",
        }
    }

    /// `LATCH_RATE_LIMIT_SIGN_IN`.
    pub fn setting(self) -> String {
        format!("LATCH_RATE_LIMIT_{}", self.name().to_ascii_uppercase())
    }

    /// The rate when the setting is unset, per client address.
    pub fn default_rate(self) -> Rate {
        let minute = Duration::from_secs(60);
        match self {
            RateGroup::SignIn => Rate::per(60, minute),
            RateGroup::SignUp => Rate::per(20, Duration::from_secs(3600)),
            RateGroup::Refresh => Rate::per(120, minute),
            RateGroup::TokenCheck => Rate::per(3000, minute),
            RateGroup::Recovery => Rate::per(60, Duration::from_secs(15 * 60)),
            RateGroup::Default => Rate::per(600, minute),
        }
    }
}

/// Counts and bursts a setting may give: at least one, and few enough to
/// stay a limit (the bench's "out of the way" is 10^9).
const MAX_COUNT: u32 = 1_000_000_000;
/// A period shorter than a second is a burst; longer than a day, a ban.
const PERIODS: std::ops::RangeInclusive<Duration> =
    Duration::from_secs(1)..=Duration::from_secs(86_400);

/// `<n>/<period>` or `<n>/<period>,burst=<b>` (`30/1m`, `5/1s,burst=20`).
pub fn parse_rate(key: &str, raw: &str) -> Result<Rate> {
    let malformed = || {
        Error::internal_msg(format!(
            "{key}: cannot parse {raw:?}; write <n>/<period> or <n>/<period>,burst=<b> (e.g. 30/1m)"
        ))
    };
    let (rate, burst) = match raw.trim().split_once(',') {
        Some((rate, burst)) => {
            let burst = burst
                .trim()
                .strip_prefix("burst=")
                .ok_or_else(malformed)?
                .trim();
            (rate, Some(burst.parse::<u32>().map_err(|_| malformed())?))
        }
        None => (raw.trim(), None),
    };
    let (count, period) = rate.split_once('/').ok_or_else(malformed)?;
    let count: u32 = count.trim().parse().map_err(|_| malformed())?;
    let period = parse_duration(period).ok_or_else(malformed)?;
    for (what, n) in [("count", Some(count)), ("burst", burst)] {
        if let Some(n) = n.filter(|n| !(1..=MAX_COUNT).contains(n)) {
            return Err(Error::internal_msg(format!(
                "{key}: the {what} {n} is out of range, must be between 1 and {MAX_COUNT}"
            )));
        }
    }
    check_duration(key, period, PERIODS)?;
    let rate = Rate::per(count, period);
    Ok(burst.map_or(rate, |b| rate.with_burst(b)))
}

/// The rate of every group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRates(Vec<(RateGroup, Rate)>);

impl Default for GroupRates {
    fn default() -> Self {
        Self(
            RateGroup::ALL
                .iter()
                .map(|g| (*g, g.default_rate()))
                .collect(),
        )
    }
}

impl GroupRates {
    /// Reads `LATCH_RATE_LIMIT_<GROUP>` for every group; a malformed or
    /// out-of-range value stops the start with the key named.
    pub fn from_source(source: &dyn ConfigSource) -> Result<Self> {
        let mut rates = Self::default();
        for group in RateGroup::ALL {
            let key = group.setting();
            if let Some(raw) = source.get(&key) {
                rates = rates.with(group, parse_rate(&key, &raw)?);
            }
        }
        Ok(rates)
    }

    pub fn with(mut self, group: RateGroup, rate: Rate) -> Self {
        for entry in &mut self.0 {
            if entry.0 == group {
                entry.1 = rate;
            }
        }
        self
    }

    pub fn rate(&self, group: RateGroup) -> Rate {
        self.0
            .iter()
            .find(|(g, _)| *g == group)
            .map_or_else(|| group.default_rate(), |(_, rate)| *rate)
    }
}

/// What the auth layer applies to public RPCs: the one limiter and the
/// groups' rates.
#[derive(Clone)]
pub struct PublicRateLimits {
    limiter: Arc<LeasedLimiter>,
    rates: GroupRates,
    /// Whether a gateway without `x-forwarded-for` was reported already.
    warned: Arc<AtomicBool>,
}

impl PublicRateLimits {
    pub fn new(limiter: Arc<dyn RateLimiter>, rates: GroupRates) -> Self {
        Self {
            limiter: Arc::new(LeasedLimiter::new(limiter)),
            rates,
            warned: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The limiter with the rates of `LATCH_RATE_LIMIT_*`.
    pub fn from_source(source: &dyn ConfigSource, limiter: Arc<dyn RateLimiter>) -> Result<Self> {
        Ok(Self::new(limiter, GroupRates::from_source(source)?))
    }

    /// Counts one call of `group` by `caller` (`forwarded_for`: the last
    /// `x-forwarded-for` entry); `RATE_LIMITED` with the real wait when
    /// its client is over the group's rate.
    pub(crate) async fn check(
        &self,
        group: RateGroup,
        caller: &Caller,
        forwarded_for: Option<&str>,
    ) -> Result<()> {
        let Some(address) = limited_address(caller, forwarded_for) else {
            return Ok(());
        };
        if let Principal::Account(account) = &caller.principal
            && account.forwards_client_info
            && forwarded_for.and_then(forwarded_address).is_none()
            && !self.warned.swap(true, Ordering::Relaxed)
        {
            // Once per process: every call of it would flood the log.
            tracing::warn!(
                account = %account.name,
                "a gateway sent no readable x-forwarded-for: its clients share its own \
                 rate-limit bucket; make it append the client address"
            );
        }
        // No address at all (a transport without one): one shared bucket,
        // bounded rather than unlimited.
        let bucket = address
            .as_deref()
            .and_then(ip_bucket)
            .unwrap_or_else(|| "unknown".to_owned());
        let key = format!("{}:ip:{bucket}", group.name());
        self.limiter.acquire(&key, self.rates.rate(group)).await
    }

    /// For logs at start: `sign_in 60/1m, …`.
    pub fn describe(&self) -> String {
        RateGroup::ALL
            .iter()
            .map(|g| {
                let rate = self.rates.rate(*g);
                let mut text = format!(
                    "{} {}/{}",
                    g.name(),
                    rate.count(),
                    format_duration(rate.period())
                );
                if rate.burst() != rate.count() {
                    text.push_str(&format!(",burst={}", rate.burst()));
                }
                text
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The address a public call by `caller` is limited by: `None` for Latch's
/// own services (not limited), `Some(None)` when none is known.
fn limited_address(caller: &Caller, forwarded_for: Option<&str>) -> Option<Option<String>> {
    match &caller.principal {
        Principal::Service => None,
        Principal::Account(account) if account.forwards_client_info => Some(
            forwarded_for
                .and_then(forwarded_address)
                .or_else(|| caller.peer_ip.clone()),
        ),
        _ => Some(caller.peer_ip.clone()),
    }
}

/// The last entry of an `x-forwarded-for` value, as an address: `ip`,
/// `ip:port` or `[ipv6]:port`.
pub(crate) fn forwarded_address(header: &str) -> Option<String> {
    let entry = header.rsplit(',').next()?.trim();
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip.to_string());
    }
    entry
        .parse::<std::net::SocketAddr>()
        .ok()
        .map(|addr| addr.ip().to_string())
}

#[cfg(test)]
mod tests {
    use latch_domain::ManualClock;
    use latch_store::memory::MemoryRateLimiter;

    use super::*;
    use crate::config::MapSource;

    #[test]
    fn settings_parse_with_and_without_burst() {
        let rate = parse_rate("K", "30/1m").unwrap();
        assert_eq!(rate, Rate::per(30, Duration::from_secs(60)));
        let rate = parse_rate("K", " 5/1s, burst=20 ").unwrap();
        assert_eq!(rate, Rate::per(5, Duration::from_secs(1)).with_burst(20));
        for bad in ["30", "x/1m", "30/soon", "30/1m,20", "30/1m,burst=x", "0/1m"] {
            let err = parse_rate("LATCH_RATE_LIMIT_X", bad).unwrap_err();
            assert!(
                err.to_string().contains("LATCH_RATE_LIMIT_X"),
                "{bad}: {err}"
            );
        }
        for out_of_range in ["1/500ms", "1/2d", "1000000001/1m", "1/1m,burst=0"] {
            let err = parse_rate("LATCH_RATE_LIMIT_X", out_of_range).unwrap_err();
            assert!(
                err.to_string().contains("out of range"),
                "{out_of_range}: {err}"
            );
        }
    }

    #[test]
    fn every_group_has_a_setting_and_a_default() {
        let source = MapSource::new()
            .with("LATCH_RATE_LIMIT_SIGN_IN", "3/1m")
            .with("LATCH_RATE_LIMIT_TOKEN_CHECK", "10/1s,burst=50");
        let rates = GroupRates::from_source(&source).unwrap();
        assert_eq!(
            rates.rate(RateGroup::SignIn),
            Rate::per(3, Duration::from_secs(60))
        );
        assert_eq!(rates.rate(RateGroup::TokenCheck).burst(), 50);
        assert_eq!(
            rates.rate(RateGroup::SignUp),
            RateGroup::SignUp.default_rate()
        );
        let names: Vec<String> = RateGroup::ALL.iter().map(|g| g.setting()).collect();
        assert_eq!(
            names,
            [
                "LATCH_RATE_LIMIT_SIGN_IN",
                "LATCH_RATE_LIMIT_SIGN_UP",
                "LATCH_RATE_LIMIT_REFRESH",
                "LATCH_RATE_LIMIT_TOKEN_CHECK",
                "LATCH_RATE_LIMIT_RECOVERY",
                "LATCH_RATE_LIMIT_DEFAULT"
            ]
        );
        let bad = MapSource::new().with("LATCH_RATE_LIMIT_RECOVERY", "lots");
        let err = GroupRates::from_source(&bad).unwrap_err();
        assert!(
            err.to_string().contains("LATCH_RATE_LIMIT_RECOVERY"),
            "{err}"
        );
    }

    #[test]
    fn the_last_forwarded_entry_is_the_gateways() {
        for (header, want) in [
            ("203.0.113.9", Some("203.0.113.9")),
            ("198.51.100.1, 203.0.113.9", Some("203.0.113.9")),
            ("forged, 203.0.113.9:5123", Some("203.0.113.9")),
            ("[2001:db8::1]:443", Some("2001:db8::1")),
            ("203.0.113.9, junk", None),
            ("", None),
        ] {
            assert_eq!(forwarded_address(header).as_deref(), want, "{header:?}");
        }
    }

    #[tokio::test]
    async fn gateways_are_limited_per_forwarded_client_and_latch_not_at_all() {
        let clock = ManualClock::starting_now();
        let limits = PublicRateLimits::new(
            Arc::new(MemoryRateLimiter::new(Arc::new(clock))),
            GroupRates::default().with(RateGroup::SignIn, Rate::per(1, Duration::from_secs(60))),
        );
        let gateway = Caller {
            peer_ip: Some("10.0.0.2".to_owned()),
            ..Caller::for_account("edge", true)
        };
        let group = RateGroup::SignIn;
        limits
            .check(group, &gateway, Some("203.0.113.1"))
            .await
            .unwrap();
        limits
            .check(group, &gateway, Some("203.0.113.2"))
            .await
            .unwrap();
        let err = limits
            .check(group, &gateway, Some("198.51.100.7, 203.0.113.1"))
            .await
            .unwrap_err();
        assert_eq!(err.reason(), latch_domain::Reason::RateLimited);
        // A backend account is its own peer, whatever it forwards.
        let backend = Caller {
            peer_ip: Some("10.0.0.3".to_owned()),
            ..Caller::for_account("billing", false)
        };
        limits
            .check(group, &backend, Some("203.0.113.3"))
            .await
            .unwrap();
        assert!(
            limits
                .check(group, &backend, Some("203.0.113.4"))
                .await
                .is_err()
        );
        // Other groups count apart; Latch's services are not counted.
        limits
            .check(RateGroup::SignUp, &backend, None)
            .await
            .unwrap();
        for _ in 0..5 {
            limits
                .check(group, &Caller::for_service(), None)
                .await
                .unwrap();
        }
        // IPv6 by /64.
        let anonymous = |ip: &str| Caller::anonymous(Some(ip.to_owned()), None);
        limits
            .check(group, &anonymous("2001:db8:1:2::1"), None)
            .await
            .unwrap();
        assert!(
            limits
                .check(group, &anonymous("2001:db8:1:2::abcd"), None)
                .await
                .is_err()
        );
        assert_eq!(limits.describe().split(", ").next(), Some("sign_in 1/1m"));
    }
}

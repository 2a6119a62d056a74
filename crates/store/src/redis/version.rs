//! Which Redis answers: Latch needs Redis 7 (`PEXPIRE … NX` opens a rate
//! limit window only once; older servers refuse the option, so every
//! limited call would fail). Checked once at connect, from `INFO server`.

use latch_domain::{Error, Result};

/// The oldest Redis Latch runs on.
pub const MIN_VERSION: RedisVersion = RedisVersion {
    major: 7,
    minor: 0,
    patch: 0,
};

/// A Redis server version, as `INFO server` reports it in `redis_version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RedisVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl std::fmt::Display for RedisVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl RedisVersion {
    /// The `redis_version:` line of an `INFO` reply (`\r\n`-separated
    /// `key:value` lines under `# Section` headers); `None` without one or
    /// when it is not `major[.minor[.patch]]`.
    pub fn from_info(info: &str) -> Option<Self> {
        let value = info
            .lines()
            .find_map(|line| line.trim().strip_prefix("redis_version:"))?;
        Self::parse(value.trim())
    }

    /// `7.0.15`, `6.2`, `7`; a suffix on the last part (`7.2.4-rc1`) is ignored.
    pub fn parse(raw: &str) -> Option<Self> {
        let mut parts = raw.splitn(3, '.');
        let number = |part: Option<&str>| -> Option<u32> {
            match part {
                None => Some(0),
                Some(part) => {
                    let digits = part
                        .find(|c: char| !c.is_ascii_digit())
                        .map_or(part, |end| &part[..end]);
                    digits.parse().ok()
                }
            }
        };
        Some(Self {
            major: number(Some(parts.next()?))?,
            minor: number(parts.next())?,
            patch: number(parts.next())?,
        })
    }

    /// Ok on [`MIN_VERSION`] or newer; otherwise the message a start stops with.
    pub fn require_supported(self) -> Result<()> {
        if self >= MIN_VERSION {
            return Ok(());
        }
        Err(Error::internal_msg(format!(
            "Redis {self} is too old: Latch needs Redis {MIN_VERSION} or newer \
             (rate limits use PEXPIRE … NX); upgrade the server LATCH_REDIS_URL names"
        )))
    }
}

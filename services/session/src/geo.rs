//! Where a session was opened, from a MaxMind-format database (GeoIP2 or
//! GeoLite2, City or Country) named by `LATCH_GEOIP_DB`.
//!
//! The file is read once at start, whole, into memory, off the async
//! runtime; a lookup is then a walk of at most 128 tree nodes in memory,
//! cheap enough to run inline when a session opens. Without the setting
//! sessions carry no location and nothing else changes.
//!
//! The stored form (`sessions.location`, at most 128 characters): the
//! city's English name and the country's ISO 3166-1 code, `"Berlin, DE"`;
//! the code alone when the database knows no city (`"DE"`, always so with
//! a Country database); the city alone when it knows no country. Nothing
//! when the address is not in the database, is not one (absent, malformed),
//! or can have no place: loopback, private (RFC 1918, IPv6 unique local),
//! shared (100.64.0.0/10), link-local and unspecified addresses.

use std::{
    net::{IpAddr, Ipv4Addr},
    path::PathBuf,
    sync::Arc,
};

use latch_domain::{Error, Result, model::ClientInfo};
use latch_runtime::config::ConfigSource;
use maxminddb::{MaxMindDbError, Reader, geoip2};

use crate::Sessions;

/// The setting naming the database file.
pub const GEOIP_DB: &str = "LATCH_GEOIP_DB";

/// The width of `sessions.location`.
const MAX_CHARS: usize = 128;

/// Places an address; the session service's port to a GeoIP database, so
/// tests can put a fixed answer in its place.
pub trait GeoIp: Send + Sync {
    /// The location of `ip` in the stored form (see the module), `None`
    /// when it is unknown. Never fails: a session opens without a place.
    fn locate(&self, ip: IpAddr) -> Option<String>;
}

/// A MaxMind-format database held in memory.
pub struct MaxMindGeoIp {
    reader: Reader<Vec<u8>>,
}

impl std::fmt::Debug for MaxMindGeoIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let meta = self.reader.metadata();
        f.debug_struct("MaxMindGeoIp")
            .field("database_type", &meta.database_type)
            .field("ip_version", &meta.ip_version)
            .finish_non_exhaustive()
    }
}

impl MaxMindGeoIp {
    /// The database in `bytes`; one that is not a MaxMind DB (no metadata,
    /// a tree larger than the file, an unknown record size) is refused.
    pub fn from_bytes(bytes: Vec<u8>) -> std::result::Result<Self, MaxMindDbError> {
        Ok(Self {
            reader: Reader::from_source(bytes)?,
        })
    }

    /// Reads `path` whole on a blocking thread. A missing, unreadable or
    /// malformed file is an error naming the setting and the path.
    pub async fn open(path: PathBuf) -> Result<Self> {
        let shown = path.display().to_string();
        let read = tokio::task::spawn_blocking(move || {
            let bytes = std::fs::read(&path).map_err(|e| format!("cannot read it: {e}"))?;
            Self::from_bytes(bytes).map_err(|e| format!("not a MaxMind DB file: {e}"))
        })
        .await
        .map_err(Error::internal)?;
        read.map_err(|e| Error::internal_msg(format!("{GEOIP_DB} ({shown}): {e}")))
    }

    /// The database's `database_type` (e.g. `GeoLite2-City`), for the log
    /// line at start.
    pub fn database_type(&self) -> &str {
        &self.reader.metadata().database_type
    }
}

impl GeoIp for MaxMindGeoIp {
    fn locate(&self, ip: IpAddr) -> Option<String> {
        // IPv4-mapped IPv6 is the IPv4 address; an IPv4-only database
        // refuses IPv6 lookups, which only means "unknown" here.
        let ip = ip.to_canonical();
        if !has_a_place(ip) || (ip.is_ipv6() && self.reader.metadata().ip_version == 4) {
            return None;
        }
        let record = match self
            .reader
            .lookup(ip)
            .and_then(|found| found.decode::<geoip2::City<'_>>())
        {
            Ok(record) => record?,
            Err(error) => {
                // Not the address: it is personal data.
                tracing::warn!(%error, "GeoIP record unreadable; session stored without location");
                return None;
            }
        };
        format_location(record.city.names.english, record.country.iso_code)
    }
}

/// `"City, CC"`, `"CC"` or `"City"` (see the module), cut to the column's
/// width, control characters dropped; `None` when both are missing.
fn format_location(city: Option<&str>, country: Option<&str>) -> Option<String> {
    let clean = |s: Option<&str>| {
        s.map(|s| s.chars().filter(|c| !c.is_control()).collect::<String>())
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    let text = match (clean(city), clean(country)) {
        (Some(city), Some(country)) => format!("{city}, {country}"),
        (Some(only), None) | (None, Some(only)) => only,
        (None, None) => return None,
    };
    Some(text.chars().take(MAX_CHARS).collect())
}

/// False for addresses that name no place on the map.
fn has_a_place(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || is_shared(v4))
        }
        IpAddr::V6(v6) => {
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_unique_local()
                || v6.is_unicast_link_local())
        }
    }
}

/// 100.64.0.0/10, carrier-grade NAT (RFC 6598).
fn is_shared(v4: Ipv4Addr) -> bool {
    let [a, b, ..] = v4.octets();
    a == 100 && (b & 0xC0) == 64
}

/// The database `LATCH_GEOIP_DB` names, read now (off the runtime); `None`
/// when the setting is unset. A bad or missing file stops the start.
pub async fn from_source(source: &dyn ConfigSource) -> Result<Option<Arc<dyn GeoIp>>> {
    let Some(path) = source.get(GEOIP_DB).filter(|p| !p.trim().is_empty()) else {
        return Ok(None);
    };
    let db = MaxMindGeoIp::open(PathBuf::from(path)).await?;
    tracing::info!(
        database_type = db.database_type(),
        "GeoIP database loaded; sessions record their location"
    );
    Ok(Some(Arc::new(db)))
}

impl Sessions {
    /// Where `client` is, when a GeoIP database is configured and knows.
    pub(crate) fn locate(&self, client: &ClientInfo) -> Option<String> {
        let geoip = self.deps.geoip.as_ref()?;
        let ip: IpAddr = client.ip.as_deref()?.parse().ok()?;
        geoip.locate(ip)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use latch_domain::{UserId, ports::SessionRepository};
    use latch_runtime::config::MapSource;
    use latch_testkit::mmdb::{MmdbWriter, city_record};

    use super::*;
    use crate::{SessionConfig, SessionDeps, testing::Harness};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn test_db() -> MaxMindGeoIp {
        let mut db = MmdbWriter::new("GeoIP2-City");
        db.insert("81.2.69.0/24", city_record(Some("London"), "GB"))
            .insert("2001:db8:1::/48", city_record(Some("Berlin"), "DE"))
            .insert("198.51.100.0/24", city_record(None, "NL"))
            // A database that (wrongly) places private and loopback space.
            .insert("10.0.0.0/8", city_record(Some("Nowhere"), "US"))
            .insert("127.0.0.0/8", city_record(Some("Nowhere"), "US"));
        MaxMindGeoIp::from_bytes(db.to_bytes()).unwrap()
    }

    #[test]
    fn city_and_country_country_alone_or_nothing() {
        let db = test_db();
        assert_eq!(db.locate(ip("81.2.69.160")).as_deref(), Some("London, GB"));
        assert_eq!(
            db.locate(ip("2001:db8:1::7")).as_deref(),
            Some("Berlin, DE")
        );
        assert_eq!(db.locate(ip("198.51.100.23")).as_deref(), Some("NL"));
        assert_eq!(db.locate(ip("192.0.2.1")), None, "not in the database");
        assert_eq!(db.locate(ip("2001:db8:2::1")), None);
        assert_eq!(
            db.locate(ip("::ffff:81.2.69.160")).as_deref(),
            Some("London, GB"),
            "IPv4-mapped is the IPv4 address"
        );
    }

    #[test]
    fn private_loopback_and_link_local_addresses_have_no_place() {
        let db = test_db();
        for addr in [
            "10.1.2.3",
            "127.0.0.1",
            "192.168.1.1",
            "172.16.0.1",
            "100.64.0.1",
            "169.254.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::",
        ] {
            assert_eq!(db.locate(ip(addr)), None, "{addr}");
        }
        assert!(has_a_place(ip("100.128.0.1")));
        assert!(has_a_place(ip("203.0.113.7")));
    }

    #[test]
    fn an_ipv4_only_database_answers_ipv6_with_nothing() {
        let mut db = MmdbWriter::ipv4_only("GeoIP2-Country");
        db.insert("81.2.69.0/24", city_record(None, "GB"));
        let db = MaxMindGeoIp::from_bytes(db.to_bytes()).unwrap();
        assert_eq!(db.locate(ip("81.2.69.1")).as_deref(), Some("GB"));
        assert_eq!(db.locate(ip("2001:db8:1::7")), None);
    }

    #[test]
    fn the_stored_form_is_bounded_and_clean() {
        assert_eq!(
            format_location(Some("São Paulo"), Some("BR")).as_deref(),
            Some("São Paulo, BR")
        );
        assert_eq!(format_location(Some("Oslo"), None).as_deref(), Some("Oslo"));
        assert_eq!(format_location(Some(" \u{7} "), Some("")), None);
        assert_eq!(format_location(None, None), None);
        let long = format_location(Some(&"é".repeat(200)), Some("FR")).unwrap();
        assert_eq!(long.chars().count(), MAX_CHARS);
        assert_eq!(
            format_location(Some("Evil\r\nCity"), Some("X\u{1b}Y")).as_deref(),
            Some("EvilCity, XY")
        );
    }

    #[tokio::test]
    async fn the_setting_loads_the_file_or_stops_the_start() {
        assert!(from_source(&MapSource::new()).await.unwrap().is_none());

        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("city.mmdb");
        let mut db = MmdbWriter::new("GeoIP2-City");
        db.insert("81.2.69.0/24", city_record(Some("London"), "GB"));
        db.write_to(&good);
        let source = MapSource::new().with(GEOIP_DB, good.display().to_string());
        let geoip = from_source(&source).await.unwrap().unwrap();
        assert_eq!(geoip.locate(ip("81.2.69.9")).as_deref(), Some("London, GB"));

        let missing = dir.path().join("missing.mmdb");
        let bad = dir.path().join("bad.mmdb");
        std::fs::write(&bad, b"not a database at all").unwrap();
        for (path, says) in [(missing, "cannot read it"), (bad, "not a MaxMind DB file")] {
            let source = MapSource::new().with(GEOIP_DB, path.display().to_string());
            let err = from_source(&source).await.err().unwrap().to_string();
            assert!(err.contains(GEOIP_DB), "{err}");
            assert!(err.contains(&path.display().to_string()), "{err}");
            assert!(err.contains(says), "{err}");
        }
    }

    /// Answers from a table and remembers what it was asked.
    #[derive(Default)]
    struct FixedGeoIp {
        asked: Mutex<Vec<IpAddr>>,
    }

    impl GeoIp for FixedGeoIp {
        fn locate(&self, ip: IpAddr) -> Option<String> {
            self.asked.lock().unwrap().push(ip);
            (ip == IpAddr::from([203, 0, 113, 7])).then(|| "Berlin, DE".to_owned())
        }
    }

    fn client(ip: Option<&str>) -> ClientInfo {
        ClientInfo {
            ip: ip.map(str::to_owned),
            user_agent: None,
        }
    }

    #[tokio::test]
    async fn a_new_session_stores_the_location_of_its_address() -> Result<()> {
        let h = Harness::new().await;
        let geoip = Arc::new(FixedGeoIp::default());
        let sessions = Sessions::new(
            SessionDeps {
                geoip: Some(geoip.clone()),
                ..h.deps()
            },
            SessionConfig::default(),
        );
        let user = UserId::new();

        let known = sessions.open(user, &client(Some("203.0.113.7"))).await?;
        assert_eq!(known.location.as_deref(), Some("Berlin, DE"));
        let stored = h.repo.get(&known.id).await?.and_then(|s| s.location);
        assert_eq!(stored.as_deref(), Some("Berlin, DE"));

        let unknown = sessions.open(user, &client(Some("192.0.2.1"))).await?;
        assert_eq!(unknown.location, None);
        let no_ip = sessions.open(user, &client(None)).await?;
        assert_eq!(no_ip.location, None);
        // The address as normalized for storage is the one looked up.
        sessions
            .open(user, &client(Some(" ::ffff:203.0.113.7 ")))
            .await?;
        assert_eq!(
            *geoip.asked.lock().unwrap(),
            [ip("203.0.113.7"), ip("192.0.2.1"), ip("203.0.113.7")]
        );
        Ok(())
    }

    #[tokio::test]
    async fn without_a_database_sessions_have_no_location() -> Result<()> {
        let h = Harness::new().await;
        let session = h
            .replica()
            .open(UserId::new(), &client(Some("203.0.113.7")))
            .await?;
        assert_eq!(session.location, None);
        Ok(())
    }
}

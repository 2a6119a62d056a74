//! What a client says about itself (user agent, IP address), made fit to
//! store. Every table that keeps a client field (`login_history`,
//! `sessions`, `refresh_tokens`) goes through these functions, so a row
//! always fits its column whatever the client or a gateway sent: an odd
//! client must neither fail a write (PostgreSQL refuses a value wider than
//! its `VARCHAR` and a NUL in text) nor dodge the audit trail by making its
//! own rows fail, and what an administrator later reads cannot carry
//! terminal escapes or forged lines.

use std::net::{IpAddr, SocketAddr};

use crate::model::ClientInfo;

/// Width of every `user_agent` column (`VARCHAR(512)` in the migrations),
/// in characters, which is what PostgreSQL counts.
pub const USER_AGENT_MAX_CHARS: usize = 512;

/// Width of every `ip` column (`VARCHAR(64)`). A canonical address is at
/// most 39 characters (IPv6), so a stored IP always fits.
pub const IP_MAX_CHARS: usize = 64;

/// Both fields of `client`, each as [`user_agent`] and [`ip`] make it.
pub fn normalize(client: &ClientInfo) -> ClientInfo {
    ClientInfo {
        ip: ip(client.ip.as_deref()),
        user_agent: user_agent(client.user_agent.as_deref()),
    }
}

/// The user agent as stored: control characters (C0, DEL, C1: NUL, line
/// breaks, escapes) and bidirectional formatting characters removed, then
/// trimmed and cut to [`USER_AGENT_MAX_CHARS`] characters. A long header is
/// cut, not refused, so an odd client can still sign in; nothing left
/// becomes `None`.
pub fn user_agent(raw: Option<&str>) -> Option<String> {
    let cleaned: String = raw?.chars().filter(|c| !is_unprintable(*c)).collect();
    let trimmed = cleaned.trim();
    (!trimmed.is_empty()).then(|| trimmed.chars().take(USER_AGENT_MAX_CHARS).collect())
}

/// The IP address in canonical form (`2001:db8::1`; an IPv4-mapped IPv6
/// address as plain IPv4), or `None` when `raw` is not an address. An
/// address with a port (`203.0.113.7:443`, `[2001:db8::1]:443`), as some
/// proxies forward it, keeps the address.
pub fn ip(raw: Option<&str>) -> Option<String> {
    let raw = raw?.trim();
    let address = raw
        .parse::<IpAddr>()
        .or_else(|_| raw.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()?;
    Some(address.to_canonical().to_string())
}

/// Characters that do not print but change how the rest is shown.
fn is_unprintable(c: char) -> bool {
    c.is_control()
        || matches!(c,
            // left-to-right/right-to-left marks, embeddings, overrides, isolates
            '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_user_agents_are_cut_to_the_column_in_characters() {
        let kept = user_agent(Some(&"é".repeat(600))).unwrap_or_default();
        assert_eq!(kept.chars().count(), USER_AGENT_MAX_CHARS);
        let exact = "a".repeat(USER_AGENT_MAX_CHARS);
        assert_eq!(user_agent(Some(&exact)), Some(exact));
    }

    #[test]
    fn control_and_direction_characters_are_removed_then_trimmed() {
        assert_eq!(
            user_agent(Some("\t\u{1b}[31mcurl/8\0\r\nX-Forged: yes\u{7f}\u{85} ")).as_deref(),
            Some("[31mcurl/8X-Forged: yes")
        );
        assert_eq!(
            user_agent(Some("evil\u{202e}gnp.exe")).as_deref(),
            Some("evilgnp.exe")
        );
        assert_eq!(
            user_agent(Some("Mozilla/5.0 (X11)")).as_deref(),
            Some("Mozilla/5.0 (X11)")
        );
    }

    #[test]
    fn blank_or_missing_user_agents_are_none() {
        assert_eq!(user_agent(None), None);
        assert_eq!(user_agent(Some("   ")), None);
        assert_eq!(user_agent(Some("\0\r\n")), None);
    }

    #[test]
    fn ips_are_stored_canonical_or_dropped() {
        let cases = [
            ("203.0.113.7", Some("203.0.113.7")),
            (" 203.0.113.7\n", Some("203.0.113.7")),
            ("2001:DB8:0:0:0:0:0:1", Some("2001:db8::1")),
            ("::ffff:198.51.100.20", Some("198.51.100.20")),
            ("203.0.113.7:443", Some("203.0.113.7")),
            ("[2001:db8::1]:443", Some("2001:db8::1")),
            ("", None),
            ("localhost", None),
            ("203.0.113.7, 10.0.0.1", None),
            ("1.2.3.4\0", None),
        ];
        for (raw, stored) in cases {
            assert_eq!(ip(Some(raw)).as_deref(), stored, "{raw:?}");
        }
        assert_eq!(ip(None), None);
        let widest = ip(Some("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")).unwrap_or_default();
        assert!(widest.len() <= IP_MAX_CHARS);
    }

    #[test]
    fn normalize_applies_both() {
        let client = ClientInfo {
            ip: Some("not an address".into()),
            user_agent: Some(" curl/8 ".into()),
        };
        assert_eq!(
            normalize(&client),
            ClientInfo {
                ip: None,
                user_agent: Some("curl/8".into()),
            }
        );
    }
}

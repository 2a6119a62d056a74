//! What a client's fields say about its device: browser, operating system
//! and device class from the user agent (woothee's built-in data, no file
//! to load at run time), and the network an address belongs to. The
//! session service shows these on a session; identity compares them to tell
//! a new device from a known one. One parser, so both see the same device.

use std::net::IpAddr;

use crate::model::DeviceInfo;

/// Parses what woothee recognises; unknown parts stay `None`.
pub fn parse_user_agent(user_agent: &str) -> DeviceInfo {
    let Some(parsed) = woothee::parser::Parser::new().parse(user_agent) else {
        return DeviceInfo::default();
    };
    DeviceInfo {
        browser: known(parsed.name),
        os: known(parsed.os),
        device: known(parsed.category).map(device_class),
    }
}

/// The network an address belongs to, as people's connections move within
/// one: the IPv4 /24 (`203.0.113.0/24`) or the IPv6 /48 (`2001:db8:1::/48`).
/// `None` when `ip` is not an address.
pub fn network_prefix(ip: &str) -> Option<String> {
    match ip.trim().parse::<IpAddr>().ok()?.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            Some(format!("{a}.{b}.{c}.0/24"))
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let prefix = std::net::Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0);
            Some(format!("{prefix}/48"))
        }
    }
}

fn known(value: &str) -> Option<String> {
    (!value.is_empty() && value != woothee::woothee::VALUE_UNKNOWN).then(|| value.to_owned())
}

/// woothee's categories, with `pc` named the way people say it.
fn device_class(category: String) -> String {
    match category.as_str() {
        "pc" => "desktop".to_owned(),
        _ => category,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME_MAC: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) \
        AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
    const SAFARI_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) \
        AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";

    #[test]
    fn chrome_on_a_mac_is_a_desktop() {
        let device = parse_user_agent(CHROME_MAC);
        assert_eq!(device.browser.as_deref(), Some("Chrome"));
        assert_eq!(device.os.as_deref(), Some("Mac OSX"));
        assert_eq!(device.device.as_deref(), Some("desktop"));
    }

    #[test]
    fn safari_on_an_iphone_is_a_smartphone() {
        let device = parse_user_agent(SAFARI_IPHONE);
        assert_eq!(device.browser.as_deref(), Some("Safari"));
        assert_eq!(device.os.as_deref(), Some("iPhone"));
        assert_eq!(device.device.as_deref(), Some("smartphone"));
    }

    #[test]
    fn gibberish_leaves_everything_unknown() {
        assert_eq!(parse_user_agent("x"), DeviceInfo::default());
        assert_eq!(parse_user_agent(""), DeviceInfo::default());
    }

    #[test]
    fn networks_are_the_ipv4_slash_24_and_the_ipv6_slash_48() {
        assert_eq!(
            network_prefix("203.0.113.7").as_deref(),
            Some("203.0.113.0/24")
        );
        assert_eq!(
            network_prefix("203.0.113.250").as_deref(),
            Some("203.0.113.0/24")
        );
        assert_eq!(
            network_prefix("2001:db8:1:2::7").as_deref(),
            Some("2001:db8:1::/48")
        );
        assert_eq!(
            network_prefix("::ffff:198.51.100.9").as_deref(),
            Some("198.51.100.0/24"),
            "an IPv4-mapped address is its IPv4 network"
        );
        assert_eq!(network_prefix("not an ip"), None);
    }
}

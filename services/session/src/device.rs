//! Browser, operating system and device class from a user-agent header,
//! with woothee's built-in data (no file to load at run time).

use latch_domain::model::DeviceInfo;

/// Parses what woothee recognises; unknown parts stay `None`.
pub(crate) fn parse_user_agent(user_agent: &str) -> DeviceInfo {
    let Some(parsed) = woothee::parser::Parser::new().parse(user_agent) else {
        return DeviceInfo::default();
    };
    DeviceInfo {
        browser: known(parsed.name),
        os: known(parsed.os),
        device: known(parsed.category).map(device_class),
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
}

//! Browser, operating system and device class from a user-agent header:
//! the one parser in `latch_domain::device`, shared with identity's
//! new-device notice so both name a device alike (tests live there).

pub(crate) use latch_domain::device::parse_user_agent;

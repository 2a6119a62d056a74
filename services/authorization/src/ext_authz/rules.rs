//! The rules file of the Envoy check (`LATCH_EXT_AUTHZ_RULES`): which
//! permission an HTTP request needs, by method and path prefix. Read once
//! at start; a file that cannot be read or says something wrong stops it.
//!
//! ```toml
//! [[rule]]
//! method = "GET"            # an HTTP method, or "*" for any
//! path_prefix = "/admin/"   # a plain prefix of the path (the query is ignored)
//! permission = "users.read"
//! ```
//!
//! The longest matching prefix wins; on equal prefixes a rule naming the
//! method beats `*`. A request no rule matches needs only a valid user,
//! as every request does when no file is named.

use latch_domain::{Error, Result};
use latch_runtime::config::ConfigSource;
use serde::Deserialize;

use crate::grpc::convert;

/// The setting naming the rules file.
pub const EXT_AUTHZ_RULES: &str = "LATCH_EXT_AUTHZ_RULES";
/// Longest path prefix accepted; longer is a mistake, not a route.
const MAX_PREFIX_CHARS: usize = 1024;
/// Longest method name accepted (the registered ones are under 20).
const MAX_METHOD_CHARS: usize = 32;

/// The permission each kind of request needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    /// Longest prefix first, a named method before `*` on equal prefixes:
    /// the first match is the one that wins.
    rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    /// Upper case; `None` for `*`.
    method: Option<String>,
    prefix: String,
    permission: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    rule: Vec<RuleEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleEntry {
    method: String,
    path_prefix: String,
    permission: String,
}

impl Rules {
    /// No rules: any valid user passes.
    pub fn none() -> Self {
        Self::default()
    }

    /// The rules of the file named by `LATCH_EXT_AUTHZ_RULES`, none when
    /// it is unset. Read at start, before serving.
    pub fn from_source(source: &dyn ConfigSource) -> Result<Self> {
        let Some(path) = source.get(EXT_AUTHZ_RULES) else {
            return Ok(Self::none());
        };
        let text = std::fs::read_to_string(&path)
            .map_err(|e| start_error(format!("cannot read {EXT_AUTHZ_RULES} ({path}): {e}")))?;
        let rules = Self::parse(&text)?;
        tracing::info!(rules = rules.len(), file = %path, "Envoy ext_authz rules loaded");
        Ok(rules)
    }

    /// Parses and checks the TOML form; a mistake names the rule.
    pub fn parse(text: &str) -> Result<Self> {
        let file: File = toml::from_str(text)
            .map_err(|e| start_error(format!("{EXT_AUTHZ_RULES}: {}", e.message())))?;
        let mut rules: Vec<Rule> = Vec::with_capacity(file.rule.len());
        for (index, entry) in file.rule.into_iter().enumerate() {
            let rule = entry.into_rule(index + 1)?;
            if rules
                .iter()
                .any(|r| r.method == rule.method && r.prefix == rule.prefix)
            {
                return Err(start_error(format!(
                    "{EXT_AUTHZ_RULES}: rule {}: {} {} is listed twice",
                    index + 1,
                    rule.method.as_deref().unwrap_or("*"),
                    rule.prefix
                )));
            }
            rules.push(rule);
        }
        rules.sort_by(|a, b| {
            b.prefix
                .len()
                .cmp(&a.prefix.len())
                .then_with(|| b.method.is_some().cmp(&a.method.is_some()))
        });
        Ok(Self { rules })
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The permission a `method` request to `path` (no query) needs, if
    /// any rule matches.
    pub fn required_permission(&self, method: &str, path: &str) -> Option<&str> {
        self.rules
            .iter()
            .find(|rule| {
                path.starts_with(&rule.prefix)
                    && rule
                        .method
                        .as_deref()
                        .is_none_or(|m| m.eq_ignore_ascii_case(method))
            })
            .map(|rule| rule.permission.as_str())
    }
}

impl RuleEntry {
    fn into_rule(self, number: usize) -> Result<Rule> {
        let refuse = |why: String| start_error(format!("{EXT_AUTHZ_RULES}: rule {number}: {why}"));
        let method = match self.method.trim() {
            "*" => None,
            m if !m.is_empty()
                && m.len() <= MAX_METHOD_CHARS
                && m.chars().all(|c| c.is_ascii_alphabetic()) =>
            {
                Some(m.to_ascii_uppercase())
            }
            other => {
                return Err(refuse(format!(
                    "method {other:?} is not an HTTP method (GET, POST, …) or \"*\""
                )));
            }
        };
        let prefix = self.path_prefix;
        let prefix_ok = prefix.starts_with('/')
            && prefix.len() <= MAX_PREFIX_CHARS
            && !prefix
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '?' || c == '#');
        if !prefix_ok {
            return Err(refuse(format!(
                "path_prefix {prefix:?} must start with '/', hold no space, '?' or '#', \
                 and be at most {MAX_PREFIX_CHARS} characters"
            )));
        }
        let permission = convert::name("permission", &self.permission)
            .map_err(|e| refuse(e.message().into()))?;
        Ok(Rule {
            method,
            prefix,
            permission,
        })
    }
}

fn start_error(message: String) -> Error {
    Error::internal_msg(message)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use latch_runtime::config::MapSource;

    use super::*;

    const SAMPLE: &str = r#"
[[rule]]
method = "*"
path_prefix = "/admin/"
permission = "users.read"

[[rule]]
method = "post"
path_prefix = "/admin/"
permission = "users.write"

[[rule]]
method = "*"
path_prefix = "/admin/keys/"
permission = "keys.write"
"#;

    #[test]
    fn the_longest_prefix_wins_and_a_named_method_beats_the_star() {
        let rules = Rules::parse(SAMPLE).unwrap();
        assert_eq!(rules.len(), 3);
        let need = |method, path| rules.required_permission(method, path);
        assert_eq!(need("GET", "/admin/users"), Some("users.read"));
        assert_eq!(need("POST", "/admin/users"), Some("users.write"));
        // A longer prefix wins even over a named method.
        assert_eq!(need("POST", "/admin/keys/rotate"), Some("keys.write"));
        assert_eq!(
            need("GET", "/admin"),
            None,
            "a plain prefix: no slash, no match"
        );
        assert_eq!(need("GET", "/public"), None);
    }

    #[test]
    fn no_file_means_no_rule() {
        let rules = Rules::from_source(&MapSource::new()).unwrap();
        assert!(rules.is_empty());
        assert_eq!(rules.required_permission("DELETE", "/anything"), None);
    }

    #[test]
    fn an_unreadable_file_stops_the_start() {
        let source = MapSource::new().with(EXT_AUTHZ_RULES, "/nonexistent/latch-rules.toml");
        let err = Rules::from_source(&source).unwrap_err();
        assert!(err.to_string().contains(EXT_AUTHZ_RULES), "{err}");
    }

    #[test]
    fn mistakes_are_refused_with_the_rule_named() {
        let cases = [
            ("not toml [[", EXT_AUTHZ_RULES),
            (
                "[[rule]]\nmethod = \"GET\"\npath_prefix = \"/a\"\npermission = \"x\"\nextra = 1",
                "extra",
            ),
            (
                "[[rule]]\nmethod = \"GET\"\npath_prefix = \"/a\"",
                "permission",
            ),
            (
                "[[rule]]\nmethod = \"GE T\"\npath_prefix = \"/a\"\npermission = \"x\"",
                "rule 1: method",
            ),
            (
                "[[rule]]\nmethod = \"GET\"\npath_prefix = \"admin\"\npermission = \"x\"",
                "rule 1: path_prefix",
            ),
            (
                "[[rule]]\nmethod = \"GET\"\npath_prefix = \"/a?b\"\npermission = \"x\"",
                "rule 1: path_prefix",
            ),
            (
                "[[rule]]\nmethod = \"GET\"\npath_prefix = \"/a\"\npermission = \"has space\"",
                "rule 1: permission",
            ),
            (
                "[[rule]]\nmethod = \"GET\"\npath_prefix = \"/a\"\npermission = \"x\"\n\
                 [[rule]]\nmethod = \"get\"\npath_prefix = \"/a\"\npermission = \"y\"",
                "rule 2: GET /a is listed twice",
            ),
        ];
        for (text, named) in cases {
            let err = Rules::parse(text).unwrap_err();
            assert!(err.to_string().contains(named), "{text:?}: {err}");
        }
    }
}

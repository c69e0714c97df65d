//! URL patterns of a tenant's `urlPolicy`, matched against parsed URLs.
//!
//! A pattern is `scheme://host[:port][path]`:
//! - `scheme` is literal (case-insensitive);
//! - `host` is matched label by label: a first label `*` stands for one or more whole labels
//!   (`*.acme.com` matches `app.acme.com` and `a.b.acme.com`, not `acme.com`), a `*` inside
//!   another label matches any run of characters within that one label (`app-*.acme.com`),
//!   and `*` alone matches any host; an IPv6 host (`[::1]`) is literal;
//! - `port` is absent (the URL must use its scheme's default port), a number, or `*` (any);
//! - `path` (with the query and fragment, when the URL has them) is a glob where `*` matches
//!   any run without `/` and `**` matches anything; an absent path means `/`.
//!
//! The URL is parsed (WHATWG rules, as browsers do) before it is matched, so
//! `http://localhost:1@evil.example/cb` is a URL of host `evil.example` and
//! `https://evil.example?.acme.com/` one of host `evil.example`. A URL or a pattern with
//! user information (`user:password@`) never matches: the part before `@` is exactly what such
//! tricks hide a host in.

use std::fmt;

use url::Url;

/// Why a pattern is not a URL pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatternError {
    /// The pattern as written.
    pub pattern: String,
    /// What is wrong with it.
    pub problem: &'static str,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "'{}' is not a URL pattern: {}",
            crate::validation::shown(&self.pattern),
            self.problem
        )
    }
}

impl std::error::Error for PatternError {}

/// The port part of a pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
enum PortPattern {
    /// No port: the scheme's default.
    Default,
    /// `*`: any port.
    Any,
    /// This port.
    Exactly(u16),
}

/// The host part of a pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
enum HostPattern {
    /// `*`: any host.
    Any,
    /// `[v6]`, compared as written (lowercase).
    Literal(String),
    /// Labels, the first possibly `*` (one or more whole labels).
    Labels {
        /// The first label was `*`.
        any_prefix: bool,
        /// The other labels (globs within one label), lowercase.
        labels: Vec<String>,
    },
}

/// A parsed URL pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlPattern {
    scheme: String,
    host: HostPattern,
    port: PortPattern,
    path: String,
}

fn fail(pattern: &str, problem: &'static str) -> PatternError {
    PatternError {
        pattern: pattern.to_owned(),
        problem,
    }
}

fn is_label_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

impl UrlPattern {
    /// Parses `pattern`; see the module documentation for the syntax.
    pub fn parse(pattern: &str) -> Result<Self, PatternError> {
        if pattern.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(fail(
                pattern,
                "it contains white space or control characters",
            ));
        }
        let (scheme, rest) = pattern
            .split_once("://")
            .ok_or_else(|| fail(pattern, "it must start with scheme:// (e.g. https://)"))?;
        let mut chars = scheme.chars();
        let scheme_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !scheme_ok {
            return Err(fail(
                pattern,
                "the scheme must be literal letters, digits, '+', '-' or '.' (no '*')",
            ));
        }
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        if authority.contains('@') {
            return Err(fail(pattern, "user information ('@') is not allowed"));
        }
        if path.starts_with('#') {
            return Err(fail(pattern, "a fragment needs a path first ('/#...')"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (inside, after) = v6
                .split_once(']')
                .ok_or_else(|| fail(pattern, "an IPv6 host needs its closing ']'"))?;
            if inside.is_empty()
                || !inside
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
            {
                return Err(fail(pattern, "the IPv6 host is not an address"));
            }
            let port = match after {
                "" => None,
                p => Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| fail(pattern, "only ':port' may follow an IPv6 host"))?,
                ),
            };
            (
                HostPattern::Literal(format!("[{}]", inside.to_ascii_lowercase())),
                port,
            )
        } else {
            let (host, port) = match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            };
            (Self::host(pattern, host)?, port)
        };
        let port = match port {
            None => PortPattern::Default,
            Some("*") => PortPattern::Any,
            Some(p) => PortPattern::Exactly(
                p.parse::<u16>()
                    .map_err(|_| fail(pattern, "the port must be a number or '*'"))?,
            ),
        };
        let path = if path.is_empty() || path.starts_with('?') {
            format!("/{path}")
        } else {
            path.to_owned()
        };
        Ok(Self {
            scheme: scheme.to_ascii_lowercase(),
            host,
            port,
            path,
        })
    }

    fn host(pattern: &str, host: &str) -> Result<HostPattern, PatternError> {
        if host.is_empty() {
            return Err(fail(pattern, "it has no host"));
        }
        if host == "*" {
            return Ok(HostPattern::Any);
        }
        let mut labels: Vec<&str> = host.split('.').collect();
        let any_prefix = labels.first() == Some(&"*");
        if any_prefix {
            labels.remove(0);
        }
        for label in &labels {
            if label.is_empty() {
                return Err(fail(
                    pattern,
                    "the host has an empty label ('..' or a '.' at an end)",
                ));
            }
            if label.contains("**") {
                return Err(fail(pattern, "'**' is not allowed in the host"));
            }
            if !label.chars().all(|c| is_label_char(c) || c == '*') {
                return Err(fail(
                    pattern,
                    "host labels may hold only letters, digits, '-', '_' and '*'",
                ));
            }
        }
        Ok(HostPattern::Labels {
            any_prefix,
            labels: labels.iter().map(|l| l.to_ascii_lowercase()).collect(),
        })
    }

    /// Whether `value` (a URL, parsed here) matches the pattern.
    pub fn matches(&self, value: &str) -> bool {
        let Ok(url) = Url::parse(value) else {
            return false;
        };
        self.matches_url(&url)
    }

    /// Whether the parsed `url` matches the pattern.
    pub fn matches_url(&self, url: &Url) -> bool {
        if !url.username().is_empty() || url.password().is_some() {
            return false;
        }
        if url.scheme() != self.scheme {
            return false;
        }
        let Some(host) = url.host_str() else {
            return false;
        };
        if !self.host_matches(&host.to_ascii_lowercase()) {
            return false;
        }
        let port_ok = match self.port {
            PortPattern::Any => true,
            PortPattern::Default => url.port().is_none(),
            PortPattern::Exactly(port) => url.port_or_known_default() == Some(port),
        };
        if !port_ok {
            return false;
        }
        let mut rest = url.path().to_owned();
        if rest.is_empty() {
            rest.push('/');
        }
        if let Some(query) = url.query() {
            rest.push('?');
            rest.push_str(query);
        }
        if let Some(fragment) = url.fragment() {
            rest.push('#');
            rest.push_str(fragment);
        }
        crate::validation::glob_matches(&self.path, &rest)
    }

    fn host_matches(&self, host: &str) -> bool {
        match &self.host {
            HostPattern::Any => true,
            HostPattern::Literal(literal) => host == literal,
            HostPattern::Labels { any_prefix, labels } => {
                let found: Vec<&str> = host.split('.').collect();
                if found
                    .iter()
                    .any(|l| l.is_empty() || !l.chars().all(is_label_char))
                {
                    // Only plain DNS labels match (no percent-encoded opaque host).
                    return false;
                }
                let extra = match found.len().checked_sub(labels.len()) {
                    Some(0) if !any_prefix => 0,
                    Some(n) if *any_prefix && n >= 1 => n,
                    _ => return false,
                };
                found[extra..]
                    .iter()
                    .zip(labels)
                    .all(|(label, pattern)| label_matches(pattern, label))
            }
        }
    }
}

/// A glob within one label: `*` matches any run of label characters.
fn label_matches(pattern: &str, label: &str) -> bool {
    // A label has no '/', so the path glob's `*` is exactly "any run" here.
    crate::validation::glob_matches(pattern, label)
}

/// Whether `value` matches `pattern`; an invalid pattern matches nothing.
pub fn url_matches(pattern: &str, value: &str) -> bool {
    UrlPattern::parse(pattern).is_ok_and(|p| p.matches(value))
}

/// The errors of a list of patterns (a tenant's `urlPolicy` field).
pub fn invalid_patterns<'a>(patterns: impl IntoIterator<Item = &'a String>) -> Vec<PatternError> {
    patterns
        .into_iter()
        .filter_map(|p| UrlPattern::parse(p).err())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_never_hides_a_host() {
        // Issue 17: the raw-string match accepted these.
        assert!(!url_matches(
            "http://localhost:*/**",
            "http://localhost:1@evil.example/cb"
        ));
        assert!(!url_matches(
            "http://localhost:*/**",
            "http://user@localhost:3000/cb"
        ));
        assert!(url_matches(
            "http://localhost:*/**",
            "http://localhost:3000/cb"
        ));
        assert_eq!(
            UrlPattern::parse("https://user@app.acme.com/**").map_err(|e| e.problem),
            Err("user information ('@') is not allowed")
        );
    }

    #[test]
    fn a_query_does_not_extend_the_host() {
        assert!(!url_matches(
            "https://*.acme.com/**",
            "https://evil.example?.acme.com/"
        ));
        assert!(!url_matches(
            "https://*.acme.com/**",
            "https://evil.example#.acme.com/"
        ));
        assert!(!url_matches(
            "https://*.acme.com/**",
            "https://evil.example\\.acme.com/"
        ));
        assert!(!url_matches(
            "https://*.acme.com/**",
            "https://evil.example%2f.acme.com/"
        ));
        assert!(url_matches(
            "https://*.acme.com/**",
            "https://app.acme.com/?next=x.com"
        ));
    }

    #[test]
    fn accept_and_refuse_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("https://*.acme.com/**", "https://app.acme.com/cb/x", true),
            ("https://*.acme.com/**", "https://a.b.acme.com/cb", true),
            ("https://*.acme.com/**", "https://acme.com/cb", false),
            (
                "https://*.acme.com/**",
                "https://evil.com/.acme.com/x",
                false,
            ),
            (
                "https://*.acme.com/**",
                "https://app.acme.com.evil.io/",
                false,
            ),
            ("https://*.acme.com/**", "https://evilacme.com/", false),
            ("https://*.acme.com/**", "http://app.acme.com/", false),
            ("https://*.acme.com/**", "https://app.acme.com:8443/", false),
            ("https://*.acme.com/**", "https://APP.ACME.COM/cb", true),
            ("https://*.acme.com", "https://app.acme.com", true),
            ("https://*.acme.com", "https://app.acme.com/", true),
            ("https://*.acme.com", "https://app.acme.com/cb", false),
            (
                "https://app-*.acme.com/cb",
                "https://app-pr42.acme.com/cb",
                true,
            ),
            (
                "https://app-*.acme.com/cb",
                "https://app-x.y.acme.com/cb",
                false,
            ),
            ("https://app.acme.com/*", "https://app.acme.com/cb", true),
            (
                "https://app.acme.com/*",
                "https://app.acme.com/cb/deeper",
                false,
            ),
            (
                "https://app.acme.com/**",
                "https://app.acme.com/a/../b",
                true,
            ),
            (
                "https://app.acme.com/cb",
                "https://app.acme.com/cb?x=1",
                false,
            ),
            (
                "https://app.acme.com/cb?*",
                "https://app.acme.com/cb?x=1",
                true,
            ),
            (
                "https://app.acme.com:443/cb",
                "https://app.acme.com/cb",
                true,
            ),
            (
                "https://app.acme.com/cb",
                "https://app.acme.com:443/cb",
                true,
            ),
            ("http://localhost:*", "http://localhost:3000", true),
            ("http://localhost:*/**", "http://localhost/cb", true),
            (
                "http://localhost:3000/**",
                "http://localhost:3001/cb",
                false,
            ),
            (
                "http://localhost:*/**",
                "http://localhost.evil.io:3000/cb",
                false,
            ),
            ("http://127.0.0.1:*/**", "http://127.0.0.1:8080/cb", true),
            ("http://[::1]:*/**", "http://[::1]:8080/cb", true),
            ("http://[::1]:*/**", "http://[::2]:8080/cb", false),
            ("https://acme.com", "https://acme.com.evil.io", false),
            (
                "com.acme.app://*/**",
                "com.acme.app://acme.auth0.com/ios/cb",
                true,
            ),
            (
                "com.acme.app://*/**",
                "com.evil.app://acme.auth0.com/ios/cb",
                false,
            ),
            ("https://*/**", "https://anything.example/cb", true),
            ("https://*/**", "https://u:p@anything.example/cb", false),
            ("https://*.acme.com/**", "not a url", false),
            ("https://*.acme.com/**", "", false),
        ];
        for (pattern, value, expected) in cases {
            assert_eq!(
                url_matches(pattern, value),
                *expected,
                "{pattern} vs {value}"
            );
        }
    }

    #[test]
    fn patterns_are_validated() {
        for bad in [
            "**",
            "",
            "*.acme.com/**",
            "https://",
            "https:///cb",
            "htt*s://acme.com",
            "https://u:p@acme.com",
            "https://**.acme.com",
            "https://acme..com",
            "https://acme.com:http",
            "https://acme.com:99999",
            "https://ac me.com",
            "https://[::1/cb",
            "https://acme.com#x",
            "https://a/b.acme.com?.x",
        ] {
            let parsed = UrlPattern::parse(bad);
            if bad == "https://a/b.acme.com?.x" {
                // Valid: host `a`, path `/b.acme.com?.x`; it cannot match another host.
                assert!(
                    !parsed
                        .expect("valid")
                        .matches("https://evil.example/b.acme.com?.x")
                );
                continue;
            }
            assert!(parsed.is_err(), "{bad:?} must be refused");
        }
        let error = UrlPattern::parse("https://u@x.io").expect_err("refused");
        assert!(error.to_string().contains("https://u@x.io"), "{error}");
        assert_eq!(
            invalid_patterns(&["https://ok.io/**".to_owned(), "**".to_owned()]).len(),
            1
        );
    }
}

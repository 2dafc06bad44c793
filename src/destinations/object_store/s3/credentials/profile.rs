//! `~/.aws/credentials` and `~/.aws/config`: the INI files every AWS tool
//! shares. The credentials file names sections `[name]`; the config file names
//! them `[profile name]` (except `[default]`). The credentials file wins where
//! both set a key.

use super::Credentials;
use crate::destinations::retry::Failure;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A value and where it was read, for error messages.
#[derive(Clone, Debug)]
pub(super) struct Value {
    pub text: String,
    pub file: PathBuf,
    pub line: usize,
}

impl Value {
    fn at(&self) -> String {
        format!("{}:{}", self.file.display(), self.line)
    }
}

type Profiles = HashMap<String, HashMap<String, Value>>;

/// Parses one file's text. `config` selects the config file's section names.
pub(super) fn parse(text: &str, file: &Path, config: bool) -> Result<Profiles, Failure> {
    let mut profiles = Profiles::new();
    let mut current: Option<String> = None;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let bad = |why: &str| Failure::Parked {
            code: Some("MalformedProfile".into()),
            message: format!("{}:{line_no}: {why}", file.display()),
            hint: Some("fix the AWS shared credentials/config file".into()),
        };
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        // An indented line continues the previous key (nested settings such
        // as `s3 =` blocks); no credential lives there.
        if raw.starts_with([' ', '\t']) && current.is_some() {
            continue;
        }
        if let Some(section) = trimmed.strip_prefix('[') {
            let section = section
                .split_once(']')
                .map(|(name, _)| name.trim())
                .ok_or_else(|| bad("section header without ']'"))?;
            let name = if config {
                match section.strip_prefix("profile") {
                    Some(rest) if rest.starts_with([' ', '\t']) => Some(rest.trim()),
                    _ if section == "default" => Some("default"),
                    // `[sso-session x]`, `[services x]`: not profiles.
                    _ => None,
                }
            } else {
                Some(section)
            };
            current = name.map(str::to_owned);
            if let Some(n) = &current {
                if n.is_empty() {
                    return Err(bad("empty profile name"));
                }
                profiles.entry(n.clone()).or_default();
            } else {
                current = Some(String::new()); // a non-profile section: skip its keys
            }
            continue;
        }
        let Some((key, value)) = trimmed.split_once('=') else {
            return Err(bad("expected `key = value` or `[section]`"));
        };
        let Some(section) = &current else {
            return Err(bad("a setting before any [section]"));
        };
        if section.is_empty() {
            continue;
        }
        profiles.entry(section.clone()).or_default().insert(
            key.trim().to_ascii_lowercase(),
            Value {
                text: value.trim().to_owned(),
                file: file.to_path_buf(),
                line: line_no,
            },
        );
    }
    Ok(profiles)
}

/// The merged settings of `profile`, or `None` when neither file has it.
pub(super) fn settings(
    credentials_file: &Path,
    config_file: &Path,
    profile: &str,
) -> Result<Option<HashMap<String, Value>>, Failure> {
    let mut found = false;
    let mut merged = HashMap::new();
    // Config first, so that the credentials file overrides it.
    for (file, config) in [(config_file, true), (credentials_file, false)] {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(Failure::Parked {
                    code: Some("ProfileUnreadable".into()),
                    message: format!("{}: {e}", file.display()),
                    hint: None,
                });
            }
        };
        if let Some(section) = parse(&text, file, config)?.remove(profile) {
            found = true;
            merged.extend(section);
        }
    }
    Ok(found.then_some(merged))
}

/// Static keys from a profile's settings; `Ok(None)` when it has none.
pub(super) fn static_credentials(
    profile: &str,
    settings: &HashMap<String, Value>,
) -> Result<Option<Credentials>, Failure> {
    let key = settings.get("aws_access_key_id");
    let secret = settings.get("aws_secret_access_key");
    let token = settings.get("aws_session_token");
    match (key, secret) {
        (Some(k), Some(s)) if !k.text.is_empty() && !s.text.is_empty() => {
            Ok(Some(Credentials::new(
                &k.text,
                &s.text,
                token.map(|t| t.text.clone()).filter(|t| !t.is_empty()),
                None,
                "profile",
            )))
        }
        (Some(v), _) | (_, Some(v)) => Err(Failure::Parked {
            code: Some("IncompleteProfile".into()),
            message: format!(
                "{}: profile {profile:?} needs both aws_access_key_id and aws_secret_access_key",
                v.at()
            ),
            hint: None,
        }),
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sections_keys_comments_and_nested_blocks() {
        let text = "\
# comment
[default]
aws_access_key_id = AKIADEFAULT
AWS_Secret_Access_Key=secret=with=equals
s3 =
  max_concurrent_requests = 20
; another
[profile ops]
region = eu-west-1
[sso-session corp]
sso_region = us-east-1
";
        let config = parse(text, Path::new("cfg"), true).unwrap();
        assert_eq!(
            config["default"]["aws_secret_access_key"].text,
            "secret=with=equals"
        );
        assert_eq!(config["default"]["aws_secret_access_key"].line, 4);
        assert!(!config["default"].contains_key("max_concurrent_requests"));
        assert_eq!(config["ops"]["region"].text, "eu-west-1");
        assert_eq!(config.len(), 2);
        // In the credentials file, `[profile ops]` is a profile named so.
        let creds = parse(text, Path::new("creds"), false).unwrap();
        assert!(creds.contains_key("profile ops"));
    }

    #[test]
    fn malformed_lines_name_file_and_line() {
        let err = parse(
            "[default]\naws_access_key_id AKIA\n",
            Path::new("/h/.aws/credentials"),
            false,
        )
        .unwrap_err();
        assert!(err.to_string().contains("/h/.aws/credentials:2:"), "{err}");
        let err = parse("[default\n", Path::new("f"), false).unwrap_err();
        assert!(err.to_string().contains("f:1:"), "{err}");
    }

    #[test]
    fn half_a_key_pair_is_an_error_with_its_line() {
        let profiles = parse("[p]\n\naws_access_key_id = A\n", Path::new("c"), false).unwrap();
        let err = static_credentials("p", &profiles["p"]).unwrap_err();
        assert!(err.to_string().contains("c:3"), "{err}");
    }
}

//! AWS credentials, found the way AWS users expect, cached and refreshed
//! before they expire.
//!
//! The chain, first match wins: the `access-key()`/`secret-key()`/
//! `session-token()` options; the environment (`AWS_ACCESS_KEY_ID`...); the
//! shared files (`~/.aws/credentials`, `~/.aws/config`, profile `AWS_PROFILE`
//! or `default`); web identity (`AWS_WEB_IDENTITY_TOKEN_FILE` +
//! `AWS_ROLE_ARN`, through STS); the ECS container endpoint; EC2 instance
//! metadata (IMDSv2). With `role()`, the chain's answer only signs an STS
//! AssumeRole, whose session is what requests use.
//!
//! A link that is configured but broken stops the chain with an error naming
//! it, rather than falling through to credentials the operator did not mean.
//! Everything the chain reads from outside (environment, home directory,
//! endpoints) comes in through [`Inputs`], so tests need not touch the process.

mod json;
mod profile;
mod remote;

pub use aws_credential_types::Credentials;

use crate::destinations::retry::Failure;
use crate::net::http::HttpClient;
use remote::AssumeParams;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Credentials are renewed this long before they expire, so a request signed
/// just before renewal still reaches the store in time.
const REFRESH_EARLY: Duration = Duration::from_secs(5 * 60);

const IMDS_ENDPOINT: &str = "http://169.254.169.254";
const ECS_ENDPOINT: &str = "http://169.254.170.2";

/// The s3() options that concern credentials.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub access_key: Option<String>,
    pub secret_key: Option<String>,
    pub session_token: Option<String>,
    /// `role()`: assume this role with the chain's credentials.
    pub role: Option<AssumeRole>,
    /// The STS region (the bucket's region is a good choice).
    pub region: String,
}

#[derive(Clone, Debug)]
pub struct AssumeRole {
    pub arn: String,
    /// Defaults to `sluice-<unix time>`.
    pub session_name: Option<String>,
    pub external_id: Option<String>,
    pub duration: Duration,
}

impl AssumeRole {
    pub fn new(arn: impl Into<String>) -> AssumeRole {
        AssumeRole {
            arn: arn.into(),
            session_name: None,
            external_id: None,
            duration: Duration::from_secs(3600),
        }
    }
}

/// What the chain reads from the world.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    /// The environment (`AWS_*` variables).
    pub env: HashMap<String, String>,
    /// Where `~/.aws` is.
    pub home: Option<PathBuf>,
    /// Base of `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` (the ECS agent).
    pub ecs_endpoint: Option<String>,
}

impl Inputs {
    /// This process's environment and home directory.
    pub fn from_process() -> Inputs {
        let env: HashMap<String, String> = std::env::vars().collect();
        let home = env.get("HOME").map(PathBuf::from);
        Inputs {
            env,
            home,
            ecs_endpoint: None,
        }
    }

    fn var(&self, name: &str) -> Option<&str> {
        self.env
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A path from the environment, with `~/` expanded, or `~/.aws/<default>`.
    fn aws_file(&self, var: &str, default: &str) -> Option<PathBuf> {
        match self.var(var) {
            Some(p) => match (p.strip_prefix("~/"), &self.home) {
                (Some(rest), Some(home)) => Some(home.join(rest)),
                _ => Some(PathBuf::from(p)),
            },
            None => self.home.as_ref().map(|h| h.join(".aws").join(default)),
        }
    }
}

/// Why the credential options cannot work, found before anything connects.
#[derive(Debug, thiserror::Error)]
pub enum OptionsError {
    #[error("access-key() and secret-key() must be given together")]
    HalfAKeyPair,
    #[error("session-token() needs access-key() and secret-key()")]
    TokenWithoutKeys,
}

/// Hands out valid credentials. Share it (`Arc`) between clients.
pub struct Provider {
    source: Source,
    region: String,
    inputs: Inputs,
    http: HttpClient,
    cache: tokio::sync::Mutex<Option<Credentials>>,
}

enum Source {
    Fixed(Credentials),
    Chain,
    Role {
        role: AssumeRole,
        base: Box<Provider>,
    },
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = match &self.source {
            Source::Fixed(_) => "static".to_owned(),
            Source::Chain => "chain".to_owned(),
            Source::Role { role, .. } => format!("role {}", role.arn),
        };
        f.debug_struct("Provider")
            .field("source", &source)
            .finish_non_exhaustive()
    }
}

impl Provider {
    /// The provider `options` describe.
    pub fn new(options: Options, inputs: Inputs) -> Result<Provider, OptionsError> {
        Provider::with_http(options, inputs, HttpClient::system())
    }

    /// Like [`new`](Self::new), sharing `http` (and its CA file).
    pub fn with_http(
        options: Options,
        inputs: Inputs,
        http: HttpClient,
    ) -> Result<Provider, OptionsError> {
        let fixed = match (options.access_key, options.secret_key) {
            (Some(k), Some(s)) => Some(Credentials::new(
                k,
                s,
                options.session_token,
                None,
                "options",
            )),
            (None, None) if options.session_token.is_some() => {
                return Err(OptionsError::TokenWithoutKeys);
            }
            (None, None) => None,
            _ => return Err(OptionsError::HalfAKeyPair),
        };
        let base = Provider {
            source: fixed.map_or(Source::Chain, Source::Fixed),
            region: options.region.clone(),
            inputs: inputs.clone(),
            http: http.clone(),
            cache: tokio::sync::Mutex::new(None),
        };
        Ok(match options.role {
            None => base,
            Some(role) => Provider {
                source: Source::Role {
                    role,
                    base: Box::new(base),
                },
                region: options.region,
                inputs,
                http,
                cache: tokio::sync::Mutex::new(None),
            },
        })
    }

    /// A provider of fixed keys.
    pub fn fixed(access_key: &str, secret_key: &str, session_token: Option<&str>) -> Provider {
        Provider {
            source: Source::Fixed(Credentials::new(
                access_key,
                secret_key,
                session_token.map(str::to_owned),
                None,
                "options",
            )),
            region: String::new(),
            inputs: Inputs::default(),
            http: HttpClient::system(),
            cache: tokio::sync::Mutex::new(None),
        }
    }

    /// Valid credentials, from the cache while they have more than
    /// [`REFRESH_EARLY`] left.
    pub async fn credentials(&self) -> Result<Credentials, Failure> {
        self.credentials_at(SystemTime::now()).await
    }

    /// Forgets cached credentials (the store said they were stale).
    pub async fn invalidate(&self) {
        *self.cache.lock().await = None;
        if let Source::Role { base, .. } = &self.source {
            Box::pin(base.invalidate()).await;
        }
    }

    async fn credentials_at(&self, now: SystemTime) -> Result<Credentials, Failure> {
        if let Source::Fixed(c) = &self.source {
            return Ok(c.clone());
        }
        // Held across the refresh: concurrent callers wait for one fetch.
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache.as_ref()
            && c.expiry().is_none_or(|e| now + REFRESH_EARLY < e)
        {
            return Ok(c.clone());
        }
        match self.load(now).await {
            Ok(c) => {
                *cache = Some(c.clone());
                Ok(c)
            }
            Err(e) => match cache.as_ref() {
                // Renewal failed early: what we have still works for a while.
                Some(c) if c.expiry().is_some_and(|exp| now < exp) => {
                    tracing::warn!(
                        "renewing AWS credentials failed, using the current ones until they expire: {e}"
                    );
                    Ok(c.clone())
                }
                _ => Err(e),
            },
        }
    }

    async fn load(&self, now: SystemTime) -> Result<Credentials, Failure> {
        match &self.source {
            Source::Fixed(c) => Ok(c.clone()),
            Source::Chain => self.chain().await,
            Source::Role { role, base } => {
                let source = Box::pin(base.credentials_at(now)).await?;
                let session = session_name(role.session_name.as_deref(), now);
                let endpoint = self.sts_endpoint();
                let params = AssumeParams {
                    endpoint: &endpoint,
                    region: self.sts_region(),
                    role_arn: &role.arn,
                    session_name: &session,
                    external_id: role.external_id.as_deref(),
                    duration: role.duration,
                };
                remote::assume_role(&self.http, &params, &source)
                    .await
                    .map_err(|e| within("role() (STS AssumeRole)", e))
            }
        }
    }

    fn sts_region(&self) -> &str {
        if !self.region.is_empty() {
            return &self.region;
        }
        self.inputs
            .var("AWS_REGION")
            .or(self.inputs.var("AWS_DEFAULT_REGION"))
            .unwrap_or("us-east-1")
    }

    fn sts_endpoint(&self) -> String {
        match self.inputs.var("AWS_ENDPOINT_URL_STS") {
            Some(url) => url.to_owned(),
            None => format!("https://sts.{}.amazonaws.com/", self.sts_region()),
        }
    }

    async fn chain(&self) -> Result<Credentials, Failure> {
        let inputs = &self.inputs;
        let mut tried = Vec::new();

        match (
            inputs.var("AWS_ACCESS_KEY_ID"),
            inputs.var("AWS_SECRET_ACCESS_KEY"),
        ) {
            (Some(k), Some(s)) => {
                let token = inputs.var("AWS_SESSION_TOKEN").map(str::to_owned);
                return Ok(Credentials::new(k, s, token, None, "environment"));
            }
            (None, None) => tried.push("environment (AWS_ACCESS_KEY_ID unset)".to_owned()),
            _ => {
                return Err(no_credentials(
                    "environment: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together"
                        .into(),
                ));
            }
        }

        let explicit = inputs.var("AWS_PROFILE");
        let name = explicit.unwrap_or("default");
        let files = (
            inputs.aws_file("AWS_SHARED_CREDENTIALS_FILE", "credentials"),
            inputs.aws_file("AWS_CONFIG_FILE", "config"),
        );
        if let (Some(creds_file), Some(config_file)) = &files {
            let link = format!("profile {name:?}");
            match profile::settings(creds_file, config_file, name).map_err(|e| within(&link, e))? {
                Some(settings) => {
                    if let Some(c) = profile::static_credentials(name, &settings)
                        .map_err(|e| within(&link, e))?
                    {
                        return Ok(c);
                    }
                    let unsupported = [
                        "role_arn",
                        "credential_process",
                        "sso_session",
                        "sso_start_url",
                        "web_identity_token_file",
                    ]
                    .into_iter()
                    .find(|k| settings.contains_key(*k));
                    if let Some(key) = unsupported {
                        return Err(no_credentials(format!(
                            "{link} uses {key}, which sluice does not read; give the keys, or use role() / AWS_ROLE_ARN"
                        )));
                    }
                    tried.push(format!("{link} (no keys in it)"));
                }
                None if explicit.is_some() => {
                    return Err(no_credentials(format!(
                        "AWS_PROFILE names {link}, which is in neither {} nor {}",
                        creds_file.display(),
                        config_file.display()
                    )));
                }
                None => tried.push(format!("{link} (not in {})", creds_file.display())),
            }
        } else {
            tried.push("shared files (no home directory)".into());
        }

        if let (Some(token_file), Some(role_arn)) = (
            inputs.var("AWS_WEB_IDENTITY_TOKEN_FILE"),
            inputs.var("AWS_ROLE_ARN"),
        ) {
            let link = "web identity (AWS_WEB_IDENTITY_TOKEN_FILE)";
            // Re-read every time: the kubelet rotates the token in place.
            let token = std::fs::read_to_string(token_file)
                .map_err(|e| no_credentials(format!("{link}: {token_file}: {e}")))?;
            let session = session_name(inputs.var("AWS_ROLE_SESSION_NAME"), SystemTime::now());
            let endpoint = self.sts_endpoint();
            let params = AssumeParams {
                endpoint: &endpoint,
                region: self.sts_region(),
                role_arn,
                session_name: &session,
                external_id: None,
                duration: Duration::from_secs(3600),
            };
            return remote::assume_role_with_web_identity(&self.http, &params, token.trim())
                .await
                .map_err(|e| within(link, e));
        }
        tried.push("web identity (AWS_WEB_IDENTITY_TOKEN_FILE/AWS_ROLE_ARN unset)".into());

        let container_url = match (
            inputs.var("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
            inputs.var("AWS_CONTAINER_CREDENTIALS_FULL_URI"),
        ) {
            (Some(rel), _) => Some(format!(
                "{}{rel}",
                inputs
                    .ecs_endpoint
                    .as_deref()
                    .unwrap_or(ECS_ENDPOINT)
                    .trim_end_matches('/')
            )),
            (None, Some(full)) => Some(full.to_owned()),
            (None, None) => None,
        };
        if let Some(url) = container_url {
            let link = "container credentials (AWS_CONTAINER_CREDENTIALS_*)";
            let token = match (
                inputs.var("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
                inputs.var("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
            ) {
                (Some(file), _) => Some(
                    std::fs::read_to_string(file)
                        .map_err(|e| no_credentials(format!("{link}: {file}: {e}")))?,
                ),
                (None, token) => token.map(str::to_owned),
            };
            return remote::container(&self.http, &url, token)
                .await
                .map_err(|e| within(link, e));
        }
        tried.push("container credentials (AWS_CONTAINER_CREDENTIALS_* unset)".into());

        if inputs
            .var("AWS_EC2_METADATA_DISABLED")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        {
            tried.push("instance metadata (AWS_EC2_METADATA_DISABLED)".into());
        } else {
            let endpoint = inputs
                .var("AWS_EC2_METADATA_SERVICE_ENDPOINT")
                .unwrap_or(IMDS_ENDPOINT);
            let link = "instance metadata (IMDSv2)";
            match remote::instance_metadata(&self.http, endpoint)
                .await
                .map_err(|e| within(link, e))?
            {
                Some(c) => return Ok(c),
                None => tried.push(format!("instance metadata ({endpoint} did not answer)")),
            }
        }
        Err(no_credentials(format!(
            "no AWS credentials found; tried {}",
            tried.join(", ")
        )))
    }
}

fn session_name(configured: Option<&str>, now: SystemTime) -> String {
    match configured {
        Some(n) => n.to_owned(),
        None => format!(
            "sluice-{}",
            now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
        ),
    }
}

fn no_credentials(message: String) -> Failure {
    Failure::Parked {
        code: Some("NoCredentials".into()),
        message,
        hint: Some(
            "set access-key() and secret-key(), AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or a profile in ~/.aws/credentials"
                .into(),
        ),
    }
}

/// Prefixes a failure's message with the link of the chain it came from.
fn within(link: &str, f: Failure) -> Failure {
    match f {
        Failure::Retry {
            code,
            message,
            retry_after,
        } => Failure::Retry {
            code,
            message: format!("credentials from {link}: {message}"),
            retry_after,
        },
        Failure::Permanent {
            code,
            message,
            hint,
        } => Failure::Permanent {
            code,
            message: format!("credentials from {link}: {message}"),
            hint,
        },
        Failure::Parked {
            code,
            message,
            hint,
        } => Failure::Parked {
            code,
            message: format!("credentials from {link}: {message}"),
            hint,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    struct Dir(PathBuf);

    impl Dir {
        fn new() -> Dir {
            static N: AtomicUsize = AtomicUsize::new(0);
            let p = std::env::temp_dir().join(format!(
                "sluice-cred-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(p.join(".aws")).unwrap();
            Dir(p)
        }
        fn write(&self, rel: &str, text: &str) -> PathBuf {
            let p = self.0.join(rel);
            std::fs::write(&p, text).unwrap();
            p
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn inputs(home: &Dir, env: &[(&str, &str)]) -> Inputs {
        let mut env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        // Never wait on a real metadata service from a test.
        env.entry("AWS_EC2_METADATA_DISABLED".into())
            .or_insert_with(|| "true".into());
        Inputs {
            env,
            home: Some(home.0.clone()),
            ecs_endpoint: None,
        }
    }

    fn chain(inputs: Inputs) -> Provider {
        Provider::new(Options::default(), inputs).unwrap()
    }

    async fn key_of(p: &Provider) -> String {
        p.credentials().await.unwrap().access_key_id().to_owned()
    }

    #[tokio::test]
    async fn options_then_environment_then_profile() {
        let home = Dir::new();
        home.write(
            ".aws/credentials",
            "[default]\naws_access_key_id = FILE\naws_secret_access_key = s\n",
        );
        let env = [
            ("AWS_ACCESS_KEY_ID", "ENV"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
            ("AWS_SESSION_TOKEN", "t"),
        ];
        let opts = Options {
            access_key: Some("OPT".into()),
            secret_key: Some("s".into()),
            ..Options::default()
        };
        let p = Provider::new(opts, inputs(&home, &env)).unwrap();
        assert_eq!(key_of(&p).await, "OPT");
        let p = chain(inputs(&home, &env));
        let c = p.credentials().await.unwrap();
        assert_eq!((c.access_key_id(), c.session_token()), ("ENV", Some("t")));
        assert_eq!(key_of(&chain(inputs(&home, &[]))).await, "FILE");
        // Half a pair is a mistake, not a reason to look further.
        let err = chain(inputs(&home, &[("AWS_ACCESS_KEY_ID", "ENV")]))
            .credentials()
            .await
            .unwrap_err();
        assert!(err.to_string().contains("environment"), "{err}");
        assert!(matches!(
            Provider::new(
                Options {
                    access_key: Some("a".into()),
                    ..Options::default()
                },
                Inputs::default()
            ),
            Err(OptionsError::HalfAKeyPair)
        ));
    }

    #[tokio::test]
    async fn profile_selection_and_file_overrides() {
        let home = Dir::new();
        home.write(
            ".aws/config",
            "[default]\nregion = us-east-1\n[profile ops]\naws_access_key_id = CONFIG_OPS\naws_secret_access_key = s\n",
        );
        home.write(".aws/credentials", "[ops]\naws_access_key_id = CREDS_OPS\n");
        // The credentials file overrides the key; the secret comes from config.
        assert_eq!(
            key_of(&chain(inputs(&home, &[("AWS_PROFILE", "ops")]))).await,
            "CREDS_OPS"
        );
        // A profile named explicitly must exist.
        let err = chain(inputs(&home, &[("AWS_PROFILE", "nope")]))
            .credentials()
            .await
            .unwrap_err();
        assert!(err.to_string().contains("\"nope\""), "{err}");
        // The default profile has no keys: the chain goes on, and says so.
        let err = chain(inputs(&home, &[])).credentials().await.unwrap_err();
        assert_eq!(err.code(), Some("NoCredentials"));
        assert!(
            err.to_string()
                .contains("profile \"default\" (no keys in it)"),
            "{err}"
        );
        assert!(
            err.to_string().contains("AWS_EC2_METADATA_DISABLED"),
            "{err}"
        );
        // AWS_SHARED_CREDENTIALS_FILE / AWS_CONFIG_FILE move the files.
        let other = home.write(
            "elsewhere",
            "[default]\naws_access_key_id = MOVED\naws_secret_access_key = s\n",
        );
        let env = [
            ("AWS_SHARED_CREDENTIALS_FILE", other.to_str().unwrap()),
            ("AWS_CONFIG_FILE", "/nonexistent"),
        ];
        assert_eq!(key_of(&chain(inputs(&home, &env))).await, "MOVED");
        // A malformed file is reported with its line.
        let bad = home.write("bad", "[default]\naws_access_key_id\n");
        let err = chain(inputs(
            &home,
            &[("AWS_SHARED_CREDENTIALS_FILE", bad.to_str().unwrap())],
        ))
        .credentials()
        .await
        .unwrap_err();
        assert!(
            err.to_string().contains(&format!("{}:2:", bad.display())),
            "{err}"
        );
    }

    /// One recorded request.
    #[derive(Clone, Debug)]
    struct Seen {
        method: String,
        path: String,
        headers: Vec<(String, String)>,
        body: String,
    }

    impl Seen {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }
    }

    type Handler = Arc<dyn Fn(&Seen) -> (u16, String) + Send + Sync>;

    /// A loopback HTTP server answering canned responses, recording requests.
    async fn serve(handler: Handler) -> (String, Arc<Mutex<Vec<Seen>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let handler = handler.clone();
                let log = log.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    let head_end = loop {
                        let n = sock.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i;
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
                    let mut lines = head.split("\r\n");
                    let mut first = lines.next().unwrap_or("").split(' ');
                    let (method, path) = (
                        first.next().unwrap_or("").to_owned(),
                        first.next().unwrap_or("").to_owned(),
                    );
                    let headers: Vec<(String, String)> = lines
                        .filter_map(|l| l.split_once(':'))
                        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                        .collect();
                    let len: usize = headers
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                        .and_then(|(_, v)| v.parse().ok())
                        .unwrap_or(0);
                    while buf.len() < head_end + 4 + len {
                        let n = sock.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                    }
                    let body = String::from_utf8_lossy(&buf[head_end + 4..]).into_owned();
                    let req = Seen {
                        method,
                        path,
                        headers,
                        body,
                    };
                    let (status, text) = handler(&req);
                    log.lock().unwrap().push(req);
                    let resp = format!(
                        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                        text.len()
                    );
                    let _ = sock.write_all(resp.as_bytes()).await;
                });
            }
        });
        (url, seen)
    }

    fn rfc3339(t: SystemTime) -> String {
        chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }

    #[tokio::test]
    async fn container_endpoint_with_token_and_refresh_before_expiry() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        let expiry = SystemTime::now() + Duration::from_secs(20 * 60);
        let (url, seen) = serve(Arc::new(move |_| {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            let body = format!(
                r#"{{"AccessKeyId":"ECS{n}","SecretAccessKey":"s","Token":"tok","Expiration":"{}"}}"#,
                rfc3339(expiry)
            );
            (200, body)
        }))
        .await;
        let home = Dir::new();
        let token_file = home.write("token", "secret-token\n");
        let full = format!("{url}/creds");
        let env = [
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", full.as_str()),
            (
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                token_file.to_str().unwrap(),
            ),
        ];
        let p = chain(inputs(&home, &env));
        let now = SystemTime::now();
        let first = p.credentials_at(now).await.unwrap();
        assert_eq!(
            (first.access_key_id(), first.session_token()),
            ("ECS0", Some("tok"))
        );
        // 14 minutes later: 6 left, more than the 5-minute margin, cached.
        let later = p
            .credentials_at(now + Duration::from_secs(14 * 60))
            .await
            .unwrap();
        assert_eq!(later.access_key_id(), "ECS0");
        // 16 minutes later: inside the margin, renewed.
        let renewed = p
            .credentials_at(now + Duration::from_secs(16 * 60))
            .await
            .unwrap();
        assert_eq!(renewed.access_key_id(), "ECS1");
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].path, "/creds");
        assert_eq!(seen[0].header("authorization"), Some("secret-token"));
    }

    #[tokio::test]
    async fn container_relative_uri_uses_the_ecs_agent_address() {
        let (url, seen) = serve(Arc::new(|_| {
            (200, r#"{"AccessKeyId":"REL","SecretAccessKey":"s","Token":"t","Expiration":"2099-01-01T00:00:00Z"}"#.into())
        }))
        .await;
        let home = Dir::new();
        let mut i = inputs(
            &home,
            &[(
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                "/v2/credentials/abc",
            )],
        );
        i.ecs_endpoint = Some(url);
        assert_eq!(key_of(&chain(i)).await, "REL");
        assert_eq!(seen.lock().unwrap()[0].path, "/v2/credentials/abc");
    }

    #[tokio::test]
    async fn instance_metadata_v2_token_then_role_then_credentials() {
        let (url, seen) = serve(Arc::new(|req: &Seen| match (req.method.as_str(), req.path.as_str()) {
            ("PUT", "/latest/api/token") => (200, "TOKEN123".into()),
            (_, _) if req.header("x-aws-ec2-metadata-token") != Some("TOKEN123") => (401, String::new()),
            ("GET", "/latest/meta-data/iam/security-credentials/") => (200, "my-role\n".into()),
            ("GET", "/latest/meta-data/iam/security-credentials/my-role") => (
                200,
                r#"{"Code":"Success","LastUpdated":"2024-01-01T00:00:00Z","Type":"AWS-HMAC","AccessKeyId":"IMDS","SecretAccessKey":"s","Token":"t","Expiration":"2099-01-01T00:00:00Z"}"#.into(),
            ),
            _ => (404, String::new()),
        }))
        .await;
        let home = Dir::new();
        let env = [
            ("AWS_EC2_METADATA_DISABLED", "false"),
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", url.as_str()),
        ];
        let c = chain(inputs(&home, &env)).credentials().await.unwrap();
        assert_eq!((c.access_key_id(), c.session_token()), ("IMDS", Some("t")));
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[0].method, "PUT");
        assert_eq!(
            seen[0].header("x-aws-ec2-metadata-token-ttl-seconds"),
            Some("21600")
        );
    }

    #[tokio::test]
    async fn unreachable_instance_metadata_ends_the_chain_quickly() {
        // A bound-then-closed port: connection refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let home = Dir::new();
        let endpoint = format!("http://127.0.0.1:{port}");
        let env = [
            ("AWS_EC2_METADATA_DISABLED", "false"),
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", endpoint.as_str()),
        ];
        let started = std::time::Instant::now();
        let err = chain(inputs(&home, &env)).credentials().await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(err.code(), Some("NoCredentials"));
        assert!(err.to_string().contains("did not answer"), "{err}");
    }

    const STS_OK: &str = r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/logs/s</Arn><AssumedRoleId>AROA:s</AssumedRoleId></AssumedRoleUser>
    <Credentials>
      <AccessKeyId>ASIAROLE</AccessKeyId>
      <SecretAccessKey>rolesecret</SecretAccessKey>
      <SessionToken>roletoken</SessionToken>
      <Expiration>2099-01-01T00:00:00Z</Expiration>
    </Credentials>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ResponseMetadata>
</AssumeRoleResponse>"#;

    #[tokio::test]
    async fn role_assumes_with_a_signed_sts_post() {
        let (url, seen) = serve(Arc::new(|req: &Seen| {
            if req.body.contains("RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fdenied") {
                let err = r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not authorized to perform sts:AssumeRole</Message></Error><RequestId>x</RequestId></ErrorResponse>"#;
                (403, err.into())
            } else {
                (200, STS_OK.into())
            }
        }))
        .await;
        let home = Dir::new();
        let opts = |arn: &str| Options {
            access_key: Some("AKSOURCE".into()),
            secret_key: Some("sourcesecret".into()),
            role: Some(AssumeRole::new(arn)),
            region: "eu-west-1".into(),
            ..Options::default()
        };
        let env = [("AWS_ENDPOINT_URL_STS", url.as_str())];
        let p = Provider::new(
            opts("arn:aws:iam::123456789012:role/logs"),
            inputs(&home, &env),
        )
        .unwrap();
        let c = p.credentials().await.unwrap();
        assert_eq!(
            (c.access_key_id(), c.secret_access_key(), c.session_token()),
            ("ASIAROLE", "rolesecret", Some("roletoken"))
        );
        assert!(c.expiry().is_some());
        {
            let seen = seen.lock().unwrap();
            let req = &seen[0];
            assert_eq!(req.method, "POST");
            assert!(req.body.contains("Action=AssumeRole&"), "{}", req.body);
            assert!(req.body.contains("Version=2011-06-15"), "{}", req.body);
            assert!(req.body.contains("RoleSessionName=sluice-"), "{}", req.body);
            let auth = req.header("authorization").unwrap();
            assert!(
                auth.starts_with("AWS4-HMAC-SHA256 Credential=AKSOURCE/"),
                "{auth}"
            );
            assert!(auth.contains("/eu-west-1/sts/aws4_request"), "{auth}");
            assert!(req.header("x-amz-date").is_some());
        }
        // Cached: no second STS call.
        p.credentials().await.unwrap();
        assert_eq!(seen.lock().unwrap().len(), 1);

        let p = Provider::new(
            opts("arn:aws:iam::123456789012:role/denied"),
            inputs(&home, &env),
        )
        .unwrap();
        let err = p.credentials().await.unwrap_err();
        assert!(matches!(err, Failure::Parked { .. }), "{err:?}");
        assert_eq!(err.code(), Some("AccessDenied"));
        assert!(err.to_string().contains("role() (STS AssumeRole)"), "{err}");
    }

    #[tokio::test]
    async fn web_identity_posts_the_token_file() {
        let (url, seen) = serve(Arc::new(|_: &Seen| {
            (
                200,
                STS_OK
                    .replace("AssumeRoleResult", "AssumeRoleWithWebIdentityResult")
                    .replace("AssumeRoleResponse", "AssumeRoleWithWebIdentityResponse"),
            )
        }))
        .await;
        let home = Dir::new();
        let token = home.write("token", "eyJhbGciOi.jwt\n");
        let env = [
            ("AWS_WEB_IDENTITY_TOKEN_FILE", token.to_str().unwrap()),
            ("AWS_ROLE_ARN", "arn:aws:iam::1:role/pod"),
            ("AWS_ROLE_SESSION_NAME", "pod-1"),
            ("AWS_ENDPOINT_URL_STS", url.as_str()),
        ];
        assert_eq!(key_of(&chain(inputs(&home, &env))).await, "ASIAROLE");
        let seen = seen.lock().unwrap();
        assert!(seen[0].body.contains("Action=AssumeRoleWithWebIdentity&"));
        assert!(
            seen[0].body.contains("WebIdentityToken=eyJhbGciOi.jwt&"),
            "{}",
            seen[0].body
        );
        assert!(seen[0].body.contains("RoleSessionName=pod-1"));
        assert!(seen[0].header("authorization").is_none());
    }
}

//! Which remote cache, in which mode, with which credentials: parsed from the command line and
//! the environment. Pure, but for reading `~/.docker/config.json`.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use base64::Engine;

/// Whether this build may push what it builds, or only pull.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Pull entries; never push (developers' machines).
    ReadOnly,
    /// Pull entries, and push each stage output the store lacks (CI builders).
    ReadWrite,
}

/// Where the store is: an OCI registry and a repository prefix on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// `host[:port]`, as a registry reference names it.
    pub registry: String,
    /// Repository prefix, such as `team/appliance-cache`; each entry kind is a repository below.
    pub repository: String,
    /// `oci+http://`: plain HTTP, for a registry on the loopback or a private network.
    pub plain_http: bool,
}

/// `oci://HOST[:PORT]/REPO` (HTTPS) or `oci+http://HOST[:PORT]/REPO` (plain HTTP).
pub fn parse_url(url: &str) -> Result<Location> {
    let (plain_http, rest) = if let Some(rest) = url.strip_prefix("oci://") {
        (false, rest)
    } else if let Some(rest) = url.strip_prefix("oci+http://") {
        (true, rest)
    } else {
        bail!(
            "remote cache {url:?}: expected oci://HOST[:PORT]/REPOSITORY (HTTPS) or \
             oci+http://HOST[:PORT]/REPOSITORY (plain HTTP)"
        );
    };
    let (registry, repository) = rest
        .split_once('/')
        .with_context(|| format!("remote cache {url:?} names no repository after the host"))?;
    let repository = repository.trim_end_matches('/');
    let registry_ok = !registry.is_empty()
        && registry
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
    // The distribution spec's repository grammar: lower-case components joined by `/`.
    let repository_ok = !repository.is_empty()
        && repository.split('/').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && part.as_bytes()[0].is_ascii_alphanumeric()
        });
    if !registry_ok || !repository_ok {
        bail!(
            "remote cache {url:?}: the host is letters, digits, `.`, `-` and a port; the \
             repository lower-case letters, digits, `.`, `_` and `-`, in `/`-separated parts"
        );
    }
    Ok(Location {
        registry: registry.to_owned(),
        repository: repository.to_owned(),
        plain_http,
    })
}

/// HTTP Basic credentials for the registry, or none (anonymous).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, <password>)", self.user)
    }
}

/// The variable that holds `USER:PASSWORD` (or `USER:TOKEN`) for the registry.
pub const AUTH_ENV: &str = "APPLIANCE_REMOTE_CACHE_AUTH";

/// `$APPLIANCE_REMOTE_CACHE_AUTH`, else the registry's `auths` entry of
/// `$DOCKER_CONFIG/config.json` (default `~/.docker/config.json`), else none.
pub fn credentials(registry: &str) -> Result<Option<Credentials>> {
    if let Ok(pair) = std::env::var(AUTH_ENV) {
        return split_pair(&pair)
            .map(Some)
            .with_context(|| format!("{AUTH_ENV} must be USER:PASSWORD"));
    }
    let dir = match std::env::var_os("DOCKER_CONFIG") {
        Some(dir) => PathBuf::from(dir),
        None => match std::env::var_os("HOME") {
            Some(home) => PathBuf::from(home).join(".docker"),
            None => return Ok(None),
        },
    };
    let path = dir.join("config.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    docker_config_auth(&text, registry).with_context(|| format!("reading {}", path.display()))
}

/// The Basic credentials `auths.<registry>.auth` holds (base64 of `USER:PASSWORD`), as
/// `docker login` writes them. Credential helpers are not run.
pub fn docker_config_auth(text: &str, registry: &str) -> Result<Option<Credentials>> {
    let config: serde_json::Value = serde_json::from_str(text)?;
    let Some(auths) = config.get("auths").and_then(|a| a.as_object()) else {
        return Ok(None);
    };
    let entry = auths
        .iter()
        .find(|(name, _)| {
            let name = name
                .trim_start_matches("https://")
                .trim_start_matches("http://");
            name.trim_end_matches('/') == registry
        })
        .and_then(|(_, entry)| entry.get("auth"))
        .and_then(|auth| auth.as_str());
    let Some(encoded) = entry else {
        return Ok(None);
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .context("the `auth` of the registry is not base64")?;
    let pair = String::from_utf8(decoded).context("the `auth` of the registry is not UTF-8")?;
    split_pair(&pair).map(Some)
}

fn split_pair(pair: &str) -> Result<Credentials> {
    let (user, password) = pair
        .split_once(':')
        .context("credentials are not USER:PASSWORD")?;
    Ok(Credentials {
        user: user.to_owned(),
        password: password.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_registry_and_a_repository() {
        assert_eq!(
            parse_url("oci+http://127.0.0.1:5000/appliance/cache").unwrap(),
            Location {
                registry: "127.0.0.1:5000".into(),
                repository: "appliance/cache".into(),
                plain_http: true,
            }
        );
        assert!(!parse_url("oci://ghcr.io/acme/cache/").unwrap().plain_http);
        for bad in [
            "http://host/repo",
            "oci://host",
            "oci://host/",
            "oci://host/Upper",
            "oci://host/a//b",
            "oci://ho st/repo",
            "oci:///repo",
        ] {
            assert!(parse_url(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn docker_config_gives_the_registrys_basic_credentials() {
        let text = r#"{"auths": {"https://other.io": {"auth": "eDp5"},
                                 "reg.example:5000": {"auth": "YnVpbGRlcjpzM2NyZXQ="}}}"#;
        let found = docker_config_auth(text, "reg.example:5000")
            .unwrap()
            .unwrap();
        assert_eq!(
            (found.user.as_str(), found.password.as_str()),
            ("builder", "s3cret")
        );
        assert_eq!(docker_config_auth(text, "nowhere").unwrap(), None);
        assert!(!format!("{found:?}").contains("s3cret"));
        assert!(docker_config_auth(r#"{"auths": {"r": {"auth": "!!"}}}"#, "r").is_err());
        assert_eq!(docker_config_auth("{}", "r").unwrap(), None);
    }
}

//! The remote build cache: stage outputs shared between machines through an OCI registry,
//! keyed by each stage's own cache key. The local cache stays the first place a stage looks;
//! the remote is asked only on a local miss, and a read-write build offers the store each
//! output it lacks.
//!
//! Nothing here can fail a build: an unreachable store, a timeout or an HTTP error is a
//! warning, after which the remote is not asked again in this run; a pulled entry that is not
//! exactly what was pushed (digest, size, paths) is rejected with a warning naming it, and the
//! stage builds locally. With no remote configured every function returns at once.
//!
//! The remote is configured once per process ([`configure`], from the command line), like the
//! tracing subscriber, so that each stage module reaches it without threading it through the
//! orchestrator.

pub mod archive;
pub mod config;
mod record;
mod registry;

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use anyhow::{Context, Result, ensure};

use crate::cache;
use archive::Relocation;
pub use config::Mode;
use record::Record;
use registry::{Pulled, Registry};

/// The variables that name the remote and its mode when the flags do not.
pub const URL_ENV: &str = "APPLIANCE_REMOTE_CACHE";
pub const MODE_ENV: &str = "APPLIANCE_REMOTE_CACHE_MODE";
pub const KEYS_ENV: &str = "APPLIANCE_REMOTE_CACHE_KEYS";

struct Remote {
    registry: Registry,
    url: String,
    mode: Mode,
    /// The builder's certificate every pulled entry must be signed for, and its key to sign
    /// pushes with (see [`Trust`]).
    trust: Option<Trust>,
    /// Set after the store failed once: not asked again in this run.
    down: AtomicBool,
    /// Entries known to be in the store, so each is checked once per run.
    present: Mutex<BTreeSet<(String, String)>>,
    stats: Stats,
}

#[derive(Default)]
struct Stats {
    pulled: AtomicU64,
    pulled_bytes: AtomicU64,
    pushed: AtomicU64,
    pushed_bytes: AtomicU64,
    rejected: AtomicU64,
}

static REMOTE: OnceLock<Option<Remote>> = OnceLock::new();

/// The builder key of `--remote-cache-keys`: a keys folder as `cargo xtask keys generate`
/// makes it. Pulls need only its certificate; pushes sign each record with its private key.
struct Trust {
    cert: signing::Certificate,
    signer: Option<signing::LocalSigner>,
}

impl Trust {
    fn load(dir: &Path, mode: Mode) -> Result<Trust> {
        let paths = signing::KeyPaths::new(dir);
        let cert = signing::cert::load_certificate(&paths.cert_pem).with_context(|| {
            format!(
                "the remote cache's builder certificate in {}",
                dir.display()
            )
        })?;
        let signer = if mode == Mode::ReadWrite {
            let key = signing::keystore::load_private_key(&paths.key).with_context(|| {
                format!(
                    "a read-write remote cache signs what it pushes: no builder key in {}",
                    dir.display()
                )
            })?;
            Some(signing::LocalSigner::new(key))
        } else {
            None
        };
        Ok(Trust { cert, signer })
    }
}

/// Sets the remote for this process from `--remote-cache` (or `$APPLIANCE_REMOTE_CACHE`); `None`
/// leaves the build exactly as without this module.
pub fn configure(url: Option<&str>, mode: Mode, keys: Option<&Path>) -> Result<()> {
    let remote = match url.filter(|url| !url.is_empty()) {
        None => None,
        Some(url) => {
            let location = config::parse_url(url)?;
            let credentials = config::credentials(&location.registry)?;
            let trust = keys.map(|dir| Trust::load(dir, mode)).transpose()?;
            tracing::info!(
                "remote cache: {url} ({}{}{})",
                match mode {
                    Mode::ReadOnly => "read-only",
                    Mode::ReadWrite => "read-write",
                },
                if credentials.is_some() {
                    ", with credentials"
                } else {
                    ""
                },
                match &trust {
                    Some(trust) => format!(
                        ", entries signed by {}",
                        signing::cert::subject(&trust.cert)
                    ),
                    None => ", entries checked by digest only (no --remote-cache-keys)".to_owned(),
                }
            );
            Some(Remote {
                registry: Registry::new(location, credentials)?,
                url: url.to_owned(),
                mode,
                trust,
                down: AtomicBool::new(false),
                present: Mutex::default(),
                stats: Stats::default(),
            })
        }
    };
    REMOTE
        .set(remote)
        .map_err(|_| anyhow::anyhow!("the remote cache is configured once per run"))
}

/// The remote, unless none is configured or it failed earlier in this run.
fn remote() -> Option<&'static Remote> {
    REMOTE
        .get()
        .and_then(Option::as_ref)
        .filter(|remote| !remote.down.load(Ordering::Relaxed))
}

impl Remote {
    /// A failure of the store itself: warn once and stop asking it.
    fn failed(&self, what: &str, error: &anyhow::Error) {
        tracing::warn!(
            "remote cache {}: {what}: {error:#}; building locally, and not asking the store \
             again in this run",
            self.url
        );
        self.down.store(true, Ordering::Relaxed);
    }

    fn pull(&self, kind: &str, key: &str) -> Option<(Record, Vec<u8>)> {
        match self
            .registry
            .pull(kind, key, self.trust.as_ref().map(|trust| &trust.cert))
        {
            Ok(Pulled::Missing) => {
                tracing::debug!("remote cache: no {kind} {key}");
                None
            }
            Ok(Pulled::Rejected(reason)) => {
                self.reject(kind, key, &reason);
                None
            }
            Ok(Pulled::Entry(record, archive)) => Some((record, archive)),
            Err(error) => {
                self.failed(&format!("pulling {kind} {}", short(key)), &error);
                None
            }
        }
    }

    /// Whether a pulled entry was put in place: counted as pulled, or rejected with why.
    fn settle(&self, kind: &str, key: &str, bytes: usize, placed: Result<()>) -> bool {
        match placed {
            Ok(()) => {
                self.pulled(kind, key, bytes);
                true
            }
            Err(error) => {
                self.reject(kind, key, &error);
                false
            }
        }
    }

    fn reject(&self, kind: &str, key: &str, reason: &anyhow::Error) {
        self.stats.rejected.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            "remote cache: REJECTED the entry {kind}:{key} from {}: {reason:#}; building it \
             locally",
            self.url
        );
    }

    fn pulled(&self, kind: &str, key: &str, bytes: usize) {
        self.stats.pulled.fetch_add(1, Ordering::Relaxed);
        self.stats
            .pulled_bytes
            .fetch_add(bytes as u64, Ordering::Relaxed);
        tracing::info!("remote cache: pulled {kind} {} ({bytes} bytes)", short(key));
    }

    /// Pushes what `pack` makes unless the store has the entry; read-write only.
    fn offer(&self, kind: &str, key: &str, pack: impl FnOnce() -> Result<archive::Packed>) {
        if self.mode != Mode::ReadWrite {
            return;
        }
        let id = (kind.to_owned(), key.to_owned());
        if self.present.lock().is_ok_and(|p| p.contains(&id)) {
            return;
        }
        match self.registry.exists(kind, key) {
            Ok(true) => {}
            Ok(false) => {
                let pushed = pack().and_then(|packed| {
                    let record = Record {
                        format: record::FORMAT,
                        kind: kind.to_owned(),
                        key: key.to_owned(),
                        archive_sha256: cache::sha256_hex(&packed.bytes),
                        archive_bytes: packed.bytes.len() as u64,
                        unpacked_bytes: packed.unpacked_bytes,
                    };
                    let signer = self.trust.as_ref().and_then(|t| t.signer.as_ref());
                    self.registry.push(&record, packed.bytes, signer)?;
                    Ok(record.archive_bytes)
                });
                match pushed {
                    Ok(bytes) => {
                        self.stats.pushed.fetch_add(1, Ordering::Relaxed);
                        self.stats.pushed_bytes.fetch_add(bytes, Ordering::Relaxed);
                        tracing::info!(
                            "remote cache: pushed {kind} {} ({bytes} bytes)",
                            short(key)
                        );
                    }
                    Err(error) => {
                        self.failed(&format!("pushing {kind} {}", short(key)), &error);
                        return;
                    }
                }
            }
            Err(error) => {
                self.failed(&format!("checking {kind} {}", short(key)), &error);
                return;
            }
        }
        if let Ok(mut present) = self.present.lock() {
            present.insert(id);
        }
    }
}

fn short(key: &str) -> &str {
    &key[..key.len().min(16)]
}

/// Whether this run pushes: a read-write remote that has not failed.
pub fn pushes() -> bool {
    remote().is_some_and(|remote| remote.mode == Mode::ReadWrite)
}

/// Offers the store these files as the entry `kind:key` (read-write only; a no-op when the
/// store has it). Never fails the build.
pub fn publish(kind: &str, key: &str, files: &[(&str, &Path)]) {
    let Some(remote) = remote() else { return };
    let files: Vec<(String, std::path::PathBuf)> = files
        .iter()
        .map(|(name, path)| ((*name).to_owned(), path.to_path_buf()))
        .collect();
    remote.offer(kind, key, || archive::pack(&files, None));
}

/// Offers the store a whole folder, relocated (see [`archive`]).
pub fn publish_tree(kind: &str, key: &str, dir: &Path, relocation: &Relocation) {
    let Some(remote) = remote() else { return };
    remote.offer(kind, key, || {
        archive::pack(&[], Some((dir, Some(relocation))))
    });
}

/// Fetches the entry `kind:key` and moves its files to their destinations, in order (put a
/// stamp last). `check` sees the unpacked files first (a .deb's pinned sha256, say) and may
/// refuse them. True when every destination was written; otherwise nothing was.
pub fn restore(
    kind: &str,
    key: &str,
    files: &[(&str, &Path)],
    check: &dyn Fn(&Path) -> Result<()>,
) -> bool {
    let Some(remote) = remote() else {
        return false;
    };
    let Some((record, archive)) = remote.pull(kind, key) else {
        return false;
    };
    let Some(first) = files.first() else {
        return false;
    };
    let placed = (|| {
        let staging = cache::staging_dir_for(&first.1.with_extension("remote"))?;
        let unpacked = archive::unpack(&archive, staging.path(), record.unpacked_bytes, None)?;
        let mut expected: Vec<&str> = files.iter().map(|(name, _)| *name).collect();
        expected.sort_unstable();
        let mut found: Vec<String> = unpacked
            .iter()
            .map(|path| path.to_string_lossy().into_owned())
            .collect();
        found.sort_unstable();
        ensure!(found == expected, "it holds {found:?}, not {expected:?}");
        check(staging.path())?;
        for (name, destination) in files {
            if let Some(parent) = destination.parent() {
                fs::create_dir_all(parent)?;
            }
            fs::rename(staging.path().join(name), destination)
                .with_context(|| format!("moving {name} to {}", destination.display()))?;
        }
        Ok(())
    })();
    remote.settle(kind, key, archive.len(), placed)
}

/// Fetches the folder entry `kind:key` onto `target` (replacing it), relocated to this cache.
pub fn restore_tree(kind: &str, key: &str, target: &Path, relocation: &Relocation) -> bool {
    let Some(remote) = remote() else {
        return false;
    };
    let Some((record, archive)) = remote.pull(kind, key) else {
        return false;
    };
    let placed = (|| {
        let staging = cache::staging_dir_for(target)?;
        archive::unpack(
            &archive,
            staging.path(),
            record.unpacked_bytes,
            Some(relocation),
        )?;
        cache::promote_dir(staging, target)
    })();
    remote.settle(kind, key, archive.len(), placed)
}

/// The run's traffic, one line at the end of a build (the benchmark reads it).
pub fn log_summary() {
    let Some(remote) = REMOTE.get().and_then(Option::as_ref) else {
        return;
    };
    let s = &remote.stats;
    tracing::info!(
        "remote cache summary: pulled {} entries ({} bytes), pushed {} ({} bytes), rejected {}",
        s.pulled.load(Ordering::Relaxed),
        s.pulled_bytes.load(Ordering::Relaxed),
        s.pushed.load(Ordering::Relaxed),
        s.pushed_bytes.load(Ordering::Relaxed),
        s.rejected.load(Ordering::Relaxed),
    );
}

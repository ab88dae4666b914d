//! The remote cache against a real store: Debian's `docker-registry` (the CNCF distribution
//! registry) started on the loopback with its storage under `target/`, and `xtask image` run
//! as separate processes, each a "machine" with its own cache folder.
//!
//! The case: machine A (the suite's cache, read-write) builds and pushes; machine B (an empty
//! cache) pulls and must ship byte-identical outputs without running make in a kernel tree;
//! then two entries are damaged in the registry's own storage (one byte of the rootfs archive
//! flipped, the verity archive truncated) and a third build must reject both by name, build
//! them locally and still ship the same bytes; and a build whose store does not answer, or
//! answers HTTP 500 (a real registry whose storage is broken), must succeed with a warning. `cargo xtask bench remote-cache` times the same machines.

use std::fs;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use crate::exec::{Group, Tool};
use crate::project::Project;
use crate::stages::image::ImageRequest;
use crate::stages::outputs;
use crate::stages::sign::SignerChoice;

/// A `docker-registry` on 127.0.0.1, stopped when dropped.
pub struct Registry {
    process: Option<Group>,
    pub url: String,
    storage: PathBuf,
}

impl Registry {
    /// Starts a registry with empty storage in `dir` (emptied first).
    pub fn start(dir: &Path) -> Result<Registry> {
        Registry::start_with(dir, false)
    }

    /// Starts a registry whose storage is a plain file: it answers `/v2/`, and every request
    /// that touches storage fails with HTTP 500.
    pub fn start_failing(dir: &Path) -> Result<Registry> {
        Registry::start_with(dir, true)
    }

    fn start_with(dir: &Path, failing: bool) -> Result<Registry> {
        if dir.exists() {
            fs::remove_dir_all(dir).with_context(|| format!("emptying {}", dir.display()))?;
        }
        let storage = dir.join("storage");
        if failing {
            fs::create_dir_all(dir)?;
            fs::write(&storage, b"not a folder\n")?;
        } else {
            fs::create_dir_all(&storage)?;
        }
        let port = free_port()?;
        let config = dir.join("config.yml");
        fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
                 http:\n  addr: 127.0.0.1:{port}\n",
                storage.display()
            ),
        )?;
        // Its log goes to a file: a pipe nobody reads fills up after a few hundred requests,
        // and the registry then stops answering, blocked on writing a log line.
        let process = Tool::new("sh")
            .args([
                "-c",
                r#"exec docker-registry serve "$1" 2>>"$2""#,
                "docker-registry",
            ])
            .arg(&config)
            .arg(dir.join("registry.log"))
            .spawn_group()
            .context("starting docker-registry (installed by `cargo xtask setup`)")?;
        let started = Instant::now();
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            ensure!(
                started.elapsed() < Duration::from_secs(20),
                "docker-registry did not listen on 127.0.0.1:{port} within 20 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(Registry {
            process: Some(process),
            url: format!("oci+http://127.0.0.1:{port}/appliance-cache"),
            storage,
        })
    }

    /// The file holding the archive (the one layer) of the entry `kind:key`, in the
    /// registry's own storage layout.
    pub fn layer_blob(&self, kind: &str, key: &str) -> Result<PathBuf> {
        let v2 = self.storage.join("docker/registry/v2");
        let link = v2
            .join("repositories/appliance-cache")
            .join(kind)
            .join("_manifests/tags")
            .join(key)
            .join("current/link");
        let manifest_digest = fs::read_to_string(&link)
            .with_context(|| format!("the registry holds no {kind}:{key}"))?;
        let manifest: serde_json::Value =
            serde_json::from_slice(&fs::read(blob_path(&v2, manifest_digest.trim())?)?)?;
        let layer = manifest["layers"][0]["digest"]
            .as_str()
            .context("the manifest has no layer")?;
        blob_path(&v2, layer)
    }
}

fn blob_path(v2: &Path, digest: &str) -> Result<PathBuf> {
    let hex = digest
        .strip_prefix("sha256:")
        .with_context(|| format!("{digest} is not a sha256 digest"))?;
    Ok(v2
        .join("blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .join("data"))
}

impl Drop for Registry {
    fn drop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// One simulated machine: a cache folder of its own, and the builder key it trusts (and, for
/// a read-write remote, signs with): `--remote-cache-keys`.
pub struct Machine {
    pub cache: PathBuf,
    pub builder_keys: PathBuf,
    /// The checkout it builds in: its outputs and work folders are under its `target/`.
    pub checkout: PathBuf,
}

/// What one `xtask image` run did.
pub struct Run {
    pub seconds: f64,
    pub stderr: Vec<String>,
    /// The kernel objects make announced (`  CC      init/main.o`), from the build's log.
    pub kernel_steps: Vec<String>,
}

impl Run {
    /// `pulled N entries (B bytes), pushed M (B bytes), rejected R` from the summary line.
    pub fn traffic(&self) -> (u64, u64) {
        let line = self
            .stderr
            .iter()
            .rev()
            .find(|line| line.contains("remote cache summary:"));
        let numbers: Vec<u64> = line
            .map(|line| {
                line.split(|c: char| !c.is_ascii_digit())
                    .filter_map(|n| n.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        // pulled, pulled bytes, pushed, pushed bytes, rejected: the last five numbers.
        match numbers[numbers.len().saturating_sub(5)..] {
            [_, pulled, _, pushed, _] => (pulled, pushed),
            _ => (0, 0),
        }
    }

    pub fn said(&self, text: &str) -> bool {
        self.stderr.iter().any(|line| line.contains(text))
    }
}

/// `xtask image` as `name` on `machine`, with the layers, IPE and keys of `base` at `epoch`.
pub fn build(
    machine: &Machine,
    name: &str,
    base: &ImageRequest,
    epoch: u64,
    remote: Option<(&str, &str)>,
) -> Result<Run> {
    let SignerChoice::DevKeys(keys) = &base.signer else {
        bail!("the remote cache trial signs with development keys");
    };
    fs::create_dir_all(&machine.cache)?;
    let log = machine
        .checkout
        .join("target/appliance-work")
        .join(name)
        .with_extension("log");
    let mut tool = Tool::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["xtask", "image", "--name", name])
        .arg(format!("--source-date-epoch={epoch}"))
        .arg(format!("--layers={}", base.layers.join(",")))
        .arg(format!("--ipe={}", base.ipe.name()))
        .arg("--keys")
        .arg(keys)
        .current_dir(&machine.checkout)
        .env("APPLIANCE_CACHE", &machine.cache)
        .env("APPLIANCE_LOG", "info")
        .env(crate::remote_cache::URL_ENV, "");
    if let Some((url, mode)) = remote {
        tool = tool
            .arg(format!("--remote-cache={url}"))
            .arg(format!("--remote-cache-mode={mode}"))
            .arg("--remote-cache-keys")
            .arg(&machine.builder_keys);
    }
    let started = Instant::now();
    let mut group = tool.spawn_group()?;
    let mut stderr = Vec::new();
    while let Some(line) = group.next_line() {
        stderr.push(line);
    }
    let status = group.wait()?;
    let seconds = started.elapsed().as_secs_f64();
    ensure!(
        status.success(),
        "`xtask image --name {name}` failed ({status}):\n{}",
        stderr[stderr.len().saturating_sub(30)..].join("\n")
    );
    let kernel_steps = fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .filter_map(compiled_object)
        .collect();
    Ok(Run {
        seconds,
        stderr,
        kernel_steps,
    })
}

/// A kbuild step that compiles an object (`CC`, `RUSTC L`, `AS`, ... `path.o`), from a log
/// line.
fn compiled_object(line: &str) -> Option<String> {
    const COMPILERS: [&str; 6] = ["CC", "RUSTC", "AS", "HOSTCC", "HOSTRUSTC", "BINDGEN"];
    let tokens: Vec<&str> = line.split_whitespace().collect();
    let (object, before) = tokens.split_last()?;
    if !object.ends_with(".o") {
        return None;
    }
    let tool = before
        .iter()
        .rev()
        .take(2)
        .find(|token| COMPILERS.contains(token))?;
    Some(format!("{tool} {object}"))
}

/// The epoch of the trial's image: another than the suite's and the kill test's, so that A's
/// kernel is linked for it at least once (and its object tree is known to match its inputs).
pub fn trial_epoch(base: &ImageRequest) -> u64 {
    base.source_date_epoch + 2
}

pub fn check(project: &Project, base: &ImageRequest) -> Result<()> {
    let dir = project.root.join("target/remote-cache-test");
    let registry = Registry::start(&dir.join("registry"))?;
    let epoch = trial_epoch(base);
    let a_name = format!("{}-remote-a", base.name);
    let b_name = format!("{}-remote-b", base.name);
    let c_name = format!("{}-remote-c", base.name);
    for name in [&a_name, &b_name, &c_name] {
        let work = project.work_dir(name);
        if work.exists() {
            fs::remove_dir_all(&work)?;
        }
    }
    let SignerChoice::DevKeys(builder_keys) = &base.signer else {
        bail!("the remote cache trial signs with development keys");
    };
    let a = Machine {
        cache: project.cache.root.clone(),
        builder_keys: builder_keys.clone(),
        checkout: project.root.clone(),
    };
    let b = Machine {
        cache: dir.join("machine-b"),
        builder_keys: builder_keys.clone(),
        checkout: project.root.clone(),
    };
    if b.cache.exists() {
        fs::remove_dir_all(&b.cache)?;
    }
    seed_tools(project, &b.cache)?;
    let rw = Some((registry.url.as_str(), "read-write"));
    let ro = Some((registry.url.as_str(), "read-only"));

    let first = build(&a, &a_name, base, epoch, rw)?;
    let (_, pushed) = first.traffic();
    ensure!(pushed > 0, "A pushed nothing");
    let second = build(&b, &b_name, base, epoch, ro)?;
    ensure!(
        second.kernel_steps.is_empty() && !second.said("kernel: building"),
        "B ran make in a kernel tree: {:?}",
        second.kernel_steps
    );
    ensure!(
        second.said("kernel: from the remote cache"),
        "B did not pull the kernel"
    );
    outputs::compare(
        &project.output_dir(&a_name),
        &project.output_dir(&b_name),
        None,
    )
    .map_err(|difference| anyhow::anyhow!("B's outputs differ from A's: {difference}"))?;
    println!(
        "remote cache: A pushed {pushed} bytes in {:.1} s; B pulled {} bytes in {:.1} s, \
         compiled no kernel object, and shipped A's bytes",
        first.seconds,
        second.traffic().0,
        second.seconds
    );

    // Damage two entries where the registry keeps them.
    let work_a = project.work_dir(&a_name);
    let rootfs_key = fs::read_to_string(work_a.join("rootfs.key"))?;
    let verity: serde_json::Value = serde_json::from_slice(&fs::read(work_a.join("verity.json"))?)?;
    let verity_key = verity["key"].as_str().context("verity.json has no key")?;
    let poisoned = registry.layer_blob("rootfs", &rootfs_key)?;
    let mut bytes = fs::read(&poisoned)?;
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    fs::write(&poisoned, bytes)?;
    let truncated = registry.layer_blob("verity", verity_key)?;
    let length = fs::metadata(&truncated)?.len();
    fs::File::options()
        .write(true)
        .open(&truncated)?
        .set_len(length / 2)?;
    let third = build(&b, &c_name, base, epoch, ro)?;
    for (kind, key) in [("rootfs", rootfs_key.as_str()), ("verity", verity_key)] {
        ensure!(
            third.said(&format!("REJECTED the entry {kind}:{key}")),
            "the damaged {kind} entry was not rejected by name:\n{}",
            third.stderr.join("\n")
        );
    }
    ensure!(
        third.said("rootfs: packing erofs"),
        "the rootfs was not built locally"
    );
    outputs::compare(
        &project.output_dir(&a_name),
        &project.output_dir(&c_name),
        None,
    )
    .map_err(|difference| anyhow::anyhow!("after the rejections: {difference}"))?;

    // A store that does not answer: a warning, and the build goes on.
    let silent = format!("oci+http://127.0.0.1:{}/appliance-cache", free_port()?);
    let fourth = build(&b, &c_name, base, epoch, Some((&silent, "read-write")))?;
    ensure!(
        fourth.said("not asking the store again"),
        "no warning about the silent store:\n{}",
        fourth.stderr.join("\n")
    );
    // A store that answers every request with HTTP 500.
    let failing = Registry::start_failing(&dir.join("failing-registry"))?;
    let fifth = build(&b, &c_name, base, epoch, Some((&failing.url, "read-write")))?;
    ensure!(
        fifth.said("500") && fifth.said("not asking the store again"),
        "no warning about the failing store:\n{}",
        fifth.stderr.join("\n")
    );
    outputs::compare(
        &project.output_dir(&a_name),
        &project.output_dir(&c_name),
        None,
    )
    .map_err(|difference| anyhow::anyhow!("with a failing store: {difference}"))?;
    // A machine that trusts another builder: the entries A signed are refused, and the stages
    // they hold are built locally (its kernel image is in its cache already).
    let other_keys = dir.join("other-builder");
    if other_keys.exists() {
        fs::remove_dir_all(&other_keys)?;
    }
    signing::keystore::create(&other_keys, "another builder")?;
    let wary = Machine {
        cache: b.cache.clone(),
        builder_keys: other_keys,
        checkout: project.root.clone(),
    };
    let d_name = format!("{}-remote-d", base.name);
    let work_d = project.work_dir(&d_name);
    if work_d.exists() {
        fs::remove_dir_all(&work_d)?;
    }
    let sixth = build(&wary, &d_name, base, epoch, ro)?;
    ensure!(
        sixth.said(&format!("REJECTED the entry rootfs:{rootfs_key}"))
            && sixth.said("its signature is not by"),
        "an entry signed by another builder was not rejected:\n{}",
        sixth.stderr.join("\n")
    );
    outputs::compare(
        &project.output_dir(&a_name),
        &project.output_dir(&d_name),
        None,
    )
    .map_err(|difference| anyhow::anyhow!("with another builder's key: {difference}"))?;
    drop(registry);
    for name in [&a_name, &b_name, &c_name, &d_name] {
        fs::remove_dir_all(project.output_dir(name))?;
        fs::remove_dir_all(project.work_dir(name))?;
    }
    Ok(())
}

/// Tools another machine would have installed already, not build outputs: bindgen (a
/// compiler like rustc, and minutes of `cargo install`) is linked into the new cache.
pub fn seed_tools(project: &Project, cache: &Path) -> Result<()> {
    let from = project.cache.path("tools/bin/bindgen");
    let to = cache.join("tools/bin/bindgen");
    fs::create_dir_all(to.parent().context("no parent")?)?;
    if fs::hard_link(&from, &to).is_err() {
        fs::copy(&from, &to).with_context(|| format!("copying {}", from.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Run, compiled_object};

    #[test]
    fn the_summary_line_gives_the_bytes_moved() {
        let run = Run {
            seconds: 1.0,
            stderr: vec![
                "INFO remote cache: pulled rootfs 0123 (7 bytes)".to_owned(),
                "2026-11-29T22:31:57Z INFO remote cache summary: pulled 21 entries (181702139 \
                 bytes), pushed 0 (0 bytes), rejected 2"
                    .to_owned(),
            ],
            kernel_steps: Vec::new(),
        };
        assert_eq!(run.traffic(), (181702139, 0));
        assert!(run.said("pulled rootfs"));
    }

    #[test]
    fn kbuild_compile_steps_are_recognised() {
        let line = "2026-11-29T21:00:00Z DEBUG   CC      security/ipe/boot_policy.o";
        assert_eq!(
            compiled_object(line).as_deref(),
            Some("CC security/ipe/boot_policy.o")
        );
        assert_eq!(compiled_object("  LD      vmlinux.o"), None);
        assert_eq!(
            compiled_object("  RUSTC L rust/core.o").as_deref(),
            Some("RUSTC rust/core.o")
        );
        assert_eq!(compiled_object("kernel: up to date"), None);
    }
}

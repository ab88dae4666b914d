//! Stage `kernel`: patch the source, merge the config, check it, and build `bzImage` with
//! `LLVM=1` and Rust. Build trees persist in the cache so that a change rebuilds incrementally.
//!
//! Keys: the *tree* key hashes the kernel version and the patches (one source tree each, with an
//! object tree per flavour); the *config* key adds the fragments, the toolchain versions and
//! this stage's own sources (new code reconfigures and relinks; make rebuilds what it touched)
//! (one checked `.config`); the *image* key adds the final `.config`, the boot policy
//! and the trusted certificates (one `bzImage`).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};

use super::kbuild::{self, Reproducible};
use super::kconfig;
use super::setup::Toolchain;
use crate::cache::{self, Cache, KeyHasher};
use crate::exec::Tool;
use crate::remote_cache::{self, archive::Relocation};

pub struct KernelInputs<'a> {
    pub toolchain: &'a Toolchain,
    pub patches: Vec<PathBuf>,
    /// `kernel-config/*.config` then the layers' fragments, in merge order.
    pub fragments: Vec<PathBuf>,
    /// `(path in the tree, source)`: files copied into the patched tree when changed, before
    /// configuring and before each build (the Rust IPE's sources; see `ipe_rust.rs`).
    pub tree_files: Vec<(PathBuf, PathBuf)>,
    pub flavour: Flavour,
    /// The build time the kernel records (`UTS_VERSION`, the built-in initramfs), from
    /// `SOURCE_DATE_EPOCH`, so that two builds of the same inputs are identical.
    pub source_date_epoch: u64,
}

/// Which kernel of the tree: each flavour has its own object tree, so that building one never
/// undoes the other's objects.
pub enum Flavour {
    /// The appliance's kernel, with its boot policy and trusted certificates built in.
    Appliance(BuiltIn),
    /// The same sources and fragments plus a KUnit fragment (so its keys differ from the
    /// appliance's): the in-kernel tests run at boot. Nothing of the image is built in, so a
    /// new policy or key does not relink it.
    KUnit,
}

pub struct BuiltIn {
    /// The IPE policy compiled in as `CONFIG_IPE_BOOT_POLICY`.
    pub boot_policy: String,
    /// PEM certificates built into the kernel's trusted keys (`CONFIG_SYSTEM_TRUSTED_KEYS`):
    /// they verify signed policies.
    pub trusted_certs: String,
}

impl Flavour {
    fn objects_dir(&self) -> &'static str {
        match self {
            Flavour::Appliance(_) => "obj",
            Flavour::KUnit => "obj-kunit",
        }
    }
}

pub struct KernelOutput {
    pub bzimage: PathBuf,
    /// The uncompressed kernel, for checks that must see inside it.
    pub vmlinux: PathBuf,
    pub config: PathBuf,
    pub key: String,
}

struct BuildTree {
    dir: PathBuf,
    objects: &'static str,
}

impl BuildTree {
    fn src(&self) -> PathBuf {
        self.dir.join("src")
    }
    fn obj(&self) -> PathBuf {
        self.dir.join(self.objects)
    }
    /// A fixed path per tree, so that a new policy changes a file, not the `.config`.
    fn boot_policy(&self) -> PathBuf {
        self.dir.join(BOOT_POLICY_FILE)
    }
    /// Fixed for the same reason: new keys relink the kernel, they do not reconfigure it.
    fn trusted_certs(&self) -> PathBuf {
        self.dir.join(TRUSTED_CERTS_FILE)
    }
    /// How the `.config` names a file of the tree's folder: relative to the object tree, where
    /// kbuild runs (both object trees and `src/` sit in that folder), so that the `.config` is
    /// the same in every cache.
    fn from_objects(file: &str) -> String {
        format!("../{file}")
    }
}

const BOOT_POLICY_FILE: &str = "boot_policy.pol";
const TRUSTED_CERTS_FILE: &str = "trusted_certs.pem";

impl BuildTree {
    /// Held while the tree's sources or objects change (syncing files, building).
    fn lock(&self, cache: &Cache) -> Result<std::fs::File> {
        cache.lock(&format!(
            "kernel-{}",
            self.dir.file_name().unwrap_or_default().to_string_lossy()
        ))
    }
}

pub fn build(cache: &Cache, inputs: &KernelInputs) -> Result<KernelOutput> {
    let tree = prepare_tree(cache, inputs)?;
    // Under the tree's lock: another checkout may be building this tree from other sources.
    let tree_files = {
        let _lock = tree.lock(cache)?;
        sync_tree_files(&tree, &inputs.tree_files)?
    };
    let toolchain_versions = toolchain_versions(inputs.toolchain)?;
    let mut fragments = Vec::new();
    for path in &inputs.fragments {
        let text =
            fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        fragments.push((path.clone(), text));
    }
    if let Flavour::Appliance(_) = inputs.flavour {
        fragments.push((
            tree.dir.join("generated.config"),
            format!(
                "CONFIG_IPE_BOOT_POLICY=\"{}\"\nCONFIG_SYSTEM_TRUSTED_KEYS=\"{}\"\n",
                BuildTree::from_objects(BOOT_POLICY_FILE),
                BuildTree::from_objects(TRUSTED_CERTS_FILE),
            ),
        ));
    }

    let mut config_key = KeyHasher::default();
    config_key
        .input("code", super::stage_sources::KERNEL)
        .input(
            "tree",
            tree.dir.file_name().unwrap_or_default().as_encoded_bytes(),
        )
        .input("toolchain", &toolchain_versions)
        .input("tree-files", &tree_files);
    // By file name, not path: the checkout's and the cache's paths are no input.
    for (path, text) in &fragments {
        config_key.input(
            &path.file_name().unwrap_or_default().to_string_lossy(),
            text,
        );
    }
    let config_key = config_key.finish();
    let config_path = tree
        .dir
        .join("configs")
        .join(format!("{config_key}.config"));
    let config_entry = [("config", config_path.as_path())];
    if !config_path.is_file() {
        let _lock = cache.lock("kernel-config")?;
        // A pulled configuration must still grant every request of the fragments.
        let grants_every_request = |dir: &Path| {
            let pulled = fs::read_to_string(dir.join("config"))?;
            check_requests(&fragments, &pulled)
        };
        if !remote_cache::restore(
            "kernel-config",
            &config_key,
            &config_entry,
            &grants_every_request,
        ) {
            let config = merge_config(inputs.toolchain, &tree, &fragments)?;
            cache::write_atomic(&config_path, config.as_bytes())?;
        }
    }
    remote_cache::publish("kernel-config", &config_key, &config_entry);
    let config = fs::read_to_string(&config_path)?;

    let mut key = KeyHasher::default();
    key.input("config-key", &config_key)
        .input("config", &config);
    if let Flavour::Appliance(built_in) = &inputs.flavour {
        key.input("boot-policy", &built_in.boot_policy)
            .input("trusted-certs", &built_in.trusted_certs);
    }
    let key = key.finish();
    let image_dir = tree.dir.join("images").join(&key);
    let bzimage = image_dir.join("bzImage");
    let vmlinux = image_dir.join("vmlinux");
    let image_config = image_dir.join("config");
    // bzImage is written last, so its presence means the entry is complete.
    let image_entry = [
        ("vmlinux", vmlinux.as_path()),
        ("config", image_config.as_path()),
        ("bzImage", bzimage.as_path()),
    ];
    let relocation = Relocation::for_cache(&cache.root)?;
    if !bzimage.is_file() || !vmlinux.is_file() {
        let _lock = tree.lock(cache)?;
        let same_config = |dir: &Path| {
            ensure!(
                fs::read_to_string(dir.join("config"))? == config,
                "its config is not this kernel's"
            );
            Ok(())
        };
        if remote_cache::restore("kernel-image", &key, &image_entry, &same_config) {
            tracing::info!("kernel: from the remote cache ({})", &key[..16]);
        } else {
            kbuild::recover_interrupted(&tree.obj())?;
            if built_with(&tree) != Some(config_key.clone())
                && remote_cache::restore_tree(
                    "kernel-objects",
                    &config_key,
                    &tree.obj(),
                    &relocation,
                )
            {
                settle_pulled_objects(&tree)?;
            }
            sync_tree_files(&tree, &inputs.tree_files)?;
            if let Flavour::Appliance(built_in) = &inputs.flavour {
                cache::write_if_changed(&tree.boot_policy(), built_in.boot_policy.as_bytes())?;
                cache::write_if_changed(&tree.trusted_certs(), built_in.trusted_certs.as_bytes())?;
            }
            cache::write_if_changed(&tree.obj().join(".config"), config.as_bytes())?;
            let _ = fs::remove_file(tree.obj().join(BUILT_WITH));
            kbuild::make(
                inputs.toolchain,
                &tree.src(),
                &tree.obj(),
                &Reproducible::new(cache, inputs.source_date_epoch)?,
                &["bzImage"],
            )?;
            cache::write_atomic(&tree.obj().join(BUILT_WITH), config_key.as_bytes())?;
            cache::write_atomic(&vmlinux, &fs::read(tree.obj().join("vmlinux"))?)?;
            cache::write_atomic(&image_config, config.as_bytes())?;
            cache::write_atomic(
                &bzimage,
                &fs::read(tree.obj().join("arch/x86/boot/bzImage"))?,
            )?;
        }
    } else {
        tracing::info!("kernel: up to date ({})", &key[..16]);
    }
    remote_cache::publish("kernel-image", &key, &image_entry);
    if remote_cache::pushes() {
        // The object tree goes with its configuration key only when it is known to be built
        // from exactly those inputs, and not while a build changes it.
        let _lock = tree.lock(cache)?;
        if built_with(&tree) == Some(config_key.clone())
            && !tree.obj().join(kbuild::BUILDING_MARK).exists()
        {
            remote_cache::publish_tree("kernel-objects", &config_key, &tree.obj(), &relocation);
        }
    }
    Ok(KernelOutput {
        vmlinux,
        bzimage,
        config: config_path,
        key,
    })
}

/// In the object tree: the configuration key its last complete build was for. Written after
/// make succeeds, removed before make starts.
const BUILT_WITH: &str = ".appliance-config-key";

fn built_with(tree: &BuildTree) -> Option<String> {
    fs::read_to_string(tree.obj().join(BUILT_WITH)).ok()
}

/// After an object tree is pulled: its files get one modification time, now, so that make
/// finds every object up to date against this machine's sources (extracted and patched
/// earlier); then the boot policy and certificates are written again, later still, so that
/// make relinks the kernel with this build's, whatever the pulled tree was linked with.
fn settle_pulled_objects(tree: &BuildTree) -> Result<()> {
    let now = std::time::SystemTime::now();
    for entry in walkdir::WalkDir::new(tree.obj()).into_iter() {
        let entry = entry?;
        if entry.file_type().is_file() {
            fs::File::options()
                .write(true)
                .open(entry.path())?
                .set_modified(now)?;
        }
    }
    for file in [tree.boot_policy(), tree.trusted_certs()] {
        if file.is_file() {
            fs::File::options()
                .write(true)
                .open(&file)?
                .set_modified(std::time::SystemTime::now())?;
        }
    }
    Ok(())
}

/// Every option the fragments ask for has the value they ask.
fn check_requests(fragments: &[(PathBuf, String)], config: &str) -> Result<()> {
    let mut requests = Vec::new();
    for (path, text) in fragments {
        requests.extend(kconfig::parse_fragment(path, text).map_err(anyhow::Error::msg)?);
    }
    let values = kconfig::parse_config(config);
    let dropped = kconfig::dropped(&requests, &values);
    ensure!(
        dropped.is_empty(),
        "it does not grant {}",
        dropped
            .iter()
            .map(|r| format!("CONFIG_{}={}", r.symbol, r.value))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

/// The cache entry of the kernel with image key `key`, and the source tree it was built from.
pub fn find_image_entry(cache: &Cache, key: &str) -> Option<(PathBuf, PathBuf)> {
    fs::read_dir(cache.path("kernel"))
        .ok()?
        .flatten()
        .map(|tree| {
            (
                tree.path().join("images").join(key),
                tree.path().join("src"),
            )
        })
        .find(|(entry, _)| entry.is_dir())
}

/// The source tree with patches applied, made once per patch set from hard links to the
/// pristine source (patch replaces the files it changes, so the pristine tree stays intact).
fn prepare_tree(cache: &Cache, inputs: &KernelInputs) -> Result<BuildTree> {
    let mut key = KeyHasher::default();
    for patch in &inputs.patches {
        let text = fs::read(patch).with_context(|| format!("reading {}", patch.display()))?;
        key.input(
            &patch.file_name().unwrap_or_default().to_string_lossy(),
            text,
        );
    }
    let tree_key = &key.finish()[..16];
    let tree = BuildTree {
        dir: cache
            .path("kernel")
            .join(format!("{}-{tree_key}", inputs.toolchain.kernel_version)),
        objects: inputs.flavour.objects_dir(),
    };
    if tree.src().join("Makefile").is_file() {
        return Ok(tree);
    }
    let _lock = cache.lock("kernel-tree")?;
    if tree.src().join("Makefile").is_file() {
        return Ok(tree);
    }
    tracing::info!("kernel: preparing the source tree {}", tree.src().display());
    let staging = cache::staging_dir_for(&tree.src())?;
    let staged = staging.path().join("linux");
    Tool::new("cp")
        .arg("-al")
        .arg(&inputs.toolchain.kernel_source)
        .arg(&staged)
        .run()?;
    for patch in &inputs.patches {
        tracing::info!("kernel: applying {}", patch.display());
        Tool::new("patch")
            .args(["-p1", "--forward", "--batch", "-i"])
            .arg(patch)
            .current_dir(&staged)
            .run()
            .with_context(|| {
                format!(
                    "{} does not apply to Linux {}; rebase it",
                    patch.display(),
                    inputs.toolchain.kernel_version
                )
            })?;
    }
    fs::create_dir_all(&tree.dir)?;
    fs::rename(&staged, tree.src())?;
    fs::create_dir_all(tree.obj())?;
    Ok(tree)
}

/// Copies each file into the tree if its content changed (so kbuild rebuilds only what did),
/// and returns their paths and contents for the cache key.
fn sync_tree_files(tree: &BuildTree, files: &[(PathBuf, PathBuf)]) -> Result<Vec<u8>> {
    let mut key = KeyHasher::default();
    for (dest, source) in files {
        let text = fs::read(source).with_context(|| format!("reading {}", source.display()))?;
        cache::write_if_changed(&tree.src().join(dest), &text)?;
        key.input(&dest.to_string_lossy(), &text);
    }
    Ok(key.finish().into_bytes())
}

fn toolchain_versions(toolchain: &Toolchain) -> Result<String> {
    let mut text = String::new();
    for (program, arg) in [
        (Path::new("rustc"), "-vV"),
        (Path::new("clang"), "--version"),
        (toolchain.bindgen.as_path(), "--version"),
    ] {
        text.push_str(&String::from_utf8_lossy(
            &Tool::new(program).arg(arg).output()?,
        ));
    }
    text.push_str(&toolchain.rust_src_version);
    Ok(text)
}

/// tinyconfig, then each fragment appended in order, then olddefconfig; every request checked.
fn merge_config(
    toolchain: &Toolchain,
    tree: &BuildTree,
    fragments: &[(PathBuf, String)],
) -> Result<String> {
    let scratch = tree.dir.join("config-scratch");
    fs::create_dir_all(&scratch)?;
    tracing::info!(
        "kernel: merging {} config fragments over tinyconfig",
        fragments.len()
    );
    kbuild::make_tool(toolchain, &tree.src(), &scratch)
        .arg("-s")
        .arg("tinyconfig")
        .run()?;
    let mut merged = fs::read_to_string(scratch.join(".config"))?;
    let mut requests = Vec::new();
    for (path, text) in fragments {
        requests.extend(kconfig::parse_fragment(path, text).map_err(anyhow::Error::msg)?);
        merged.push_str(text);
        merged.push('\n');
    }
    fs::write(scratch.join(".config"), merged)?;
    kbuild::make_tool(toolchain, &tree.src(), &scratch)
        .arg("-s")
        .arg("olddefconfig")
        .run()?;
    let config = fs::read_to_string(scratch.join(".config"))?;
    let values = kconfig::parse_config(&config);
    let dropped = kconfig::dropped(&requests, &values);
    if !dropped.is_empty() {
        let deps = kconfig::dependencies(&kconfig_texts(&tree.src()));
        let lines: Vec<String> = dropped
            .iter()
            .map(|request| {
                format!(
                    "  {}:{}: CONFIG_{}={} became {}: {}",
                    request.file.display(),
                    request.line,
                    request.symbol,
                    request.value,
                    values.get(&request.symbol).map_or("unset", String::as_str),
                    kconfig::explain(&request.symbol, &deps, &values)
                )
            })
            .collect();
        bail!(
            "kernel config: {} requested option(s) did not take effect:\n{}",
            dropped.len(),
            lines.join("\n")
        );
    }
    Ok(config)
}

fn kconfig_texts(src: &Path) -> Vec<String> {
    walkdir::WalkDir::new(src)
        .into_iter()
        .flatten()
        .filter(|entry| {
            entry.file_name().to_string_lossy().starts_with("Kconfig")
                && entry.file_type().is_file()
        })
        .filter_map(|entry| fs::read_to_string(entry.path()).ok())
        .collect()
}

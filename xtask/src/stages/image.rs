//! Stage `image`: runs the stages in order and writes the appliance into the output folder.
//!
//! setup → layers → packages + binaries → rootfs → verity → policy → kernel → outputs

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{disk, ipe_rust, kernel, policy, rootfs, sealed, setup, sign, verity};
use crate::cache;
use crate::exec::Tool;
use crate::layers;
use crate::project::Project;

/// What to build.
pub struct ImageRequest {
    /// Layer names in order; later layers override earlier ones.
    pub layers: Vec<String>,
    /// The output folder's name under `target/appliance/`.
    pub name: String,
    pub source_date_epoch: u64,
    /// Which IPE the kernel gets; `Rust` appends the `ipe-rust` layer.
    pub ipe: crate::flags::Ipe,
    pub signer: sign::SignerChoice,
    /// Overrides the version in `policies/releases.toml`.
    pub policy_version: Option<String>,
}

/// Everything needed to boot the appliance, written as `boot.json` in the output folder.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BootSpec {
    pub kernel: PathBuf,
    pub disk: PathBuf,
    /// The sealed partition (ext4 with fs-verity), attached second, when a layer seals binaries.
    #[serde(default)]
    pub sealed_disk: Option<PathBuf>,
    pub cmdline: String,
    pub policy_name: String,
    pub policy_version: String,
    pub boot_policy_name: String,
    pub root_hash: String,
    /// The uncompressed kernel in the cache.
    pub vmlinux: PathBuf,
    /// The private signing key, which must appear in no output.
    pub private_key: Option<PathBuf>,
}

impl BootSpec {
    /// The image's disks in the order the guest sees them: `/dev/vda`, then `/dev/vdb`.
    pub fn disks(&self) -> Vec<PathBuf> {
        std::iter::once(self.disk.clone())
            .chain(self.sealed_disk.clone())
            .collect()
    }

    /// The guest's name for the first disk attached after the image's own, as tests do.
    pub fn extra_disk_device(&self) -> String {
        format!("/dev/vd{}", char::from(b'a' + self.disks().len() as u8))
    }
}

pub const BOOT_SPEC: &str = "boot.json";
/// The guest's name for the sealed partition: the second disk.
const SEALED_DEVICE: &str = "/dev/vdb";
/// The build record inside the image; also what the tamper test corrupts.
pub const BUILD_RECORD: &str = "/etc/appliance/build.json";
const STATIC_TARGET: &str = "x86_64-unknown-linux-gnu";

pub fn build(project: &Project, request: &ImageRequest) -> Result<BootSpec> {
    let out_dir = project.output_dir(&request.name);
    fs::create_dir_all(&out_dir)?;
    let toolchain = setup::run(project)?;

    let (loaded, resolved) = resolve_layers(project, &request.layers, request.ipe)?;
    tracing::info!("layers: {}", resolved.names.join(" → "));

    let mut debs = Vec::new();
    let mut packages = Vec::new();
    for name in &resolved.debian_packages {
        let pin = project
            .lock
            .get(name)
            .context("resolved a package that is not pinned")?;
        debs.push(setup::fetch_deb(&project.cache, pin)?);
        packages.push(pin.clone());
    }
    let binaries = build_binaries(project, &resolved)?;

    let layer_hashes: Vec<_> = loaded
        .iter()
        .map(|layer| json!({"name": layer.name, "description": layer.manifest.description, "sha256": cache::sha256_hex(layer.manifest_text.as_bytes())}))
        .collect();
    let mut binary_hashes = Vec::new();
    for (install, path) in &binaries {
        binary_hashes.push(json!({"path": install, "sha256": cache::sha256_file(path)?}));
    }
    let record = json!({"layers": layer_hashes, "packages": packages_json(&packages), "binaries": binary_hashes});
    let record_text = serde_json::to_string_pretty(&record)? + "\n";
    cache::write_if_changed(&out_dir.join("build.json"), record_text.as_bytes())?;

    let (sealed_binaries, rootfs_binaries): (Vec<_>, Vec<_>) = binaries
        .iter()
        .cloned()
        .partition(|(install, _)| resolved.binaries[install].sealed);
    let sealed = if sealed_binaries.is_empty() {
        None
    } else {
        Some(sealed::build(
            &sealed::SealedInputs {
                binaries: sealed_binaries,
                source_date_epoch: request.source_date_epoch,
            },
            &out_dir,
        )?)
    };
    let sealed_files = sealed.as_ref().map_or(&[][..], |s| &s.files[..]);

    let rootfs = rootfs::build(
        &rootfs::RootfsInputs {
            debs,
            overlays: resolved.overlays.clone(),
            binaries: rootfs_binaries,
            generated: vec![(BUILD_RECORD.to_owned(), record_text.clone().into_bytes())],
            source_date_epoch: request.source_date_epoch,
        },
        &out_dir,
    )?;
    let verity = verity::format_cached(
        &rootfs.image,
        &rootfs.key,
        &out_dir.join("rootfs.verity.img"),
    )?;

    let policy_name = resolved
        .policy_name
        .clone()
        .unwrap_or_else(|| "appliance".to_owned());
    let releases_path = project.root.join("policies/releases.toml");
    let releases = fs::read_to_string(&releases_path)
        .with_context(|| format!("reading {}", releases_path.display()))?;
    let policy_version =
        policy::release_version(&releases, &policy_name, request.policy_version.as_deref())
            .map_err(anyhow::Error::msg)?;
    let policy_inputs = policy::PolicyInputs {
        name: &policy_name,
        version: &policy_version,
        rootfs_root_hash: &verity.root_hash,
        sealed: sealed_files,
        layer_rules: &resolved.policy_rules,
    };
    let policy_text = policy::generate_checked(&policy_inputs)?;
    // Compiled in: the same rules under another name and the lowest version, enforcing from the
    // first process until the init activates the signed policy.
    let boot_policy_name = format!("{policy_name}{}", policy::BOOT_POLICY_SUFFIX);
    let boot_policy_text = policy::generate_checked(&policy::PolicyInputs {
        name: &boot_policy_name,
        version: policy::BOOT_POLICY_VERSION,
        ..policy_inputs
    })?;
    cache::write_if_changed(&out_dir.join("policy.pol"), policy_text.as_bytes())?;

    let keys = sign::load(&request.signer)?;
    let signed_policy = keys.sign_policy(&policy_text)?;
    cache::write_if_changed(&out_dir.join("policy.p7s"), &signed_policy)?;
    let disk_path = out_dir.join("disk.img");
    let slot = disk::assemble(&verity.disk, &signed_policy, &disk_path)?;

    let kernel = kernel::build(
        &project.cache,
        &kernel_inputs(
            project,
            &toolchain,
            &resolved,
            Vec::new(),
            kernel::Flavour::Appliance(kernel::BuiltIn {
                boot_policy: boot_policy_text,
                trusted_certs: keys.cert_pem.clone(),
            }),
            request.source_date_epoch,
        )?,
    )?;
    let bzimage = out_dir.join("bzImage");
    if cache::sha256_file(&bzimage).ok() != Some(cache::sha256_file(&kernel.bzimage)?) {
        cache::write_atomic(&bzimage, &fs::read(&kernel.bzimage)?)?;
    }

    let mut cmdline = resolved.kernel_cmdline.clone();
    cmdline.extend([
        "root=/dev/dm-0".to_owned(),
        "ro".to_owned(),
        "rootfstype=erofs".to_owned(),
        "dm-mod.waitfor=/dev/vda".to_owned(),
        format!("dm-mod.create=\"{}\"", verity.dm_table("/dev/vda")),
        slot.cmdline_arg(&policy_name, "/dev/vda"),
        "init=/sbin/init".to_owned(),
        "panic=-1".to_owned(),
    ]);
    if sealed.is_some() {
        // The init mounts it read-only there; see rootfs/init/src/sealed.rs.
        cmdline.push(format!(
            "appliance.sealed={SEALED_DEVICE},{}",
            layers::SEALED_MOUNT
        ));
    }
    let spec = BootSpec {
        kernel: bzimage,
        disk: disk_path,
        sealed_disk: sealed.as_ref().map(|s| s.image.clone()),
        cmdline: cmdline.join(" "),
        policy_name,
        policy_version,
        boot_policy_name,
        root_hash: verity.root_hash.clone(),
        private_key: keys.private_key.clone(),
        vmlinux: kernel.vmlinux.clone(),
    };
    let manifest = json!({
        "layers": record["layers"],
        "packages": record["packages"],
        "binaries": record["binaries"],
        "kernel": {
            "version": toolchain.kernel_version,
            "key": kernel.key,
            "config_sha256": cache::sha256_file(&kernel.config)?,
            "bzimage_sha256": cache::sha256_file(&spec.kernel)?,
        },
        "rootfs": {"erofs_sha256": cache::sha256_file(&rootfs.image)?, "key": rootfs.key},
        "verity": verity,
        "sealed": match &sealed {
            Some(s) => json!({"image_sha256": cache::sha256_file(&s.image)?, "files": s.files}),
            None => serde_json::Value::Null,
        },
        "policy": {"name": spec.policy_name, "version": spec.policy_version, "sha256": cache::sha256_hex(policy_text.as_bytes())},
        "cmdline": spec.cmdline,
        "source_date_epoch": request.source_date_epoch,
    });
    cache::write_if_changed(
        &out_dir.join("manifest.json"),
        (serde_json::to_string_pretty(&manifest)? + "\n").as_bytes(),
    )?;
    cache::write_if_changed(
        &out_dir.join("cmdline.txt"),
        (spec.cmdline.clone() + "\n").as_bytes(),
    )?;
    cache::write_if_changed(
        &out_dir.join(BOOT_SPEC),
        serde_json::to_string_pretty(&spec)?.as_bytes(),
    )?;
    tracing::info!(
        "image: {} (root hash {})",
        out_dir.display(),
        &spec.root_hash[..16]
    );
    Ok(spec)
}

/// The request's appliance kernel with another boot policy built in, for measurements: it is
/// cached beside the image's own.
pub fn kernel_with_boot_policy(
    project: &Project,
    request: &ImageRequest,
    boot_policy: String,
) -> Result<PathBuf> {
    let toolchain = setup::run(project)?;
    let (_, resolved) = resolve_layers(project, &request.layers, request.ipe)?;
    let keys = sign::load(&request.signer)?;
    let inputs = kernel_inputs(
        project,
        &toolchain,
        &resolved,
        Vec::new(),
        kernel::Flavour::Appliance(kernel::BuiltIn {
            boot_policy,
            trusted_certs: keys.cert_pem.clone(),
        }),
        request.source_date_epoch,
    )?;
    Ok(kernel::build(&project.cache, &inputs)?.bzimage)
}

/// The named layers, loaded and resolved; `--ipe rust` appends the `ipe-rust` layer.
pub fn resolve_layers(
    project: &Project,
    names: &[String],
    ipe: crate::flags::Ipe,
) -> Result<(Vec<layers::Layer>, layers::ResolvedLayers)> {
    let mut layer_names = names.to_vec();
    if ipe == crate::flags::Ipe::Rust && !layer_names.iter().any(|l| l == ipe_rust::LAYER) {
        layer_names.push(ipe_rust::LAYER.to_owned());
    }
    let loaded = layer_names
        .iter()
        .map(|name| layers::load(&project.layers_dir(), name))
        .collect::<Result<Vec<_>, _>>()?;
    let resolved = layers::resolve(&loaded, &|name| project.lock.get(name).is_some())?;
    Ok((loaded, resolved))
}

/// The kernel the resolved layers ask for: `kernel-config/*.config`, then the layers' fragments
/// and `extra_fragments`; the layers' patches; the Rust IPE's sources when its layer is in.
pub fn kernel_inputs<'a>(
    project: &Project,
    toolchain: &'a setup::Toolchain,
    resolved: &layers::ResolvedLayers,
    extra_fragments: Vec<PathBuf>,
    flavour: kernel::Flavour,
    source_date_epoch: u64,
) -> Result<kernel::KernelInputs<'a>> {
    let mut fragments = kernel_config_fragments(&project.root)?;
    fragments.extend(resolved.kernel_fragments.iter().cloned());
    fragments.extend(extra_fragments);
    Ok(kernel::KernelInputs {
        toolchain,
        patches: resolved.kernel_patches.clone(),
        fragments,
        tree_files: if resolved.names.iter().any(|l| l == ipe_rust::LAYER) {
            ipe_rust::tree_files(&project.root)?
        } else {
            Vec::new()
        },
        flavour,
        source_date_epoch,
    })
}

fn packages_json(packages: &[crate::lockfile::PinnedPackage]) -> serde_json::Value {
    packages
        .iter()
        .map(|p| json!({"name": p.name, "version": p.version, "sha256": p.sha256}))
        .collect()
}

/// `kernel-config/*.config`, sorted by name.
fn kernel_config_fragments(root: &Path) -> Result<Vec<PathBuf>> {
    let dir = root.join("kernel-config");
    let mut fragments: Vec<PathBuf> = fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "config"))
        .collect();
    fragments.sort();
    Ok(fragments)
}

/// Builds the layers' workspace binaries statically, so that the image needs no libc.
fn build_binaries(
    project: &Project,
    resolved: &layers::ResolvedLayers,
) -> Result<Vec<(String, PathBuf)>> {
    if resolved.binaries.is_empty() {
        return Ok(Vec::new());
    }
    let wanted: Vec<(&str, &str)> = resolved
        .binaries
        .values()
        .map(|binary| (binary.package.as_str(), binary.bin.as_str()))
        .collect();
    let release = build_static(project, &wanted)?;
    Ok(resolved
        .binaries
        .iter()
        .map(|(install, binary)| (install.clone(), release.join(&binary.bin)))
        .collect())
}

/// Builds workspace binaries, `(package, bin)`, statically linked; returns the folder they are in.
pub fn build_static(project: &Project, binaries: &[(&str, &str)]) -> Result<PathBuf> {
    let mut cargo = Tool::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["build", "--quiet", "--release", "--target", STATIC_TARGET])
        .current_dir(&project.root)
        .env(
            format!(
                "CARGO_TARGET_{}_RUSTFLAGS",
                STATIC_TARGET.to_uppercase().replace('-', "_")
            ),
            // The checkout's path is recorded in panic locations; map it away, so that every
            // checkout builds the same bytes.
            format!(
                "-C target-feature=+crt-static --remap-path-prefix={}=/appliance",
                project.root.display()
            ),
        );
    for (package, bin) in binaries {
        cargo = cargo.args(["--package", package, "--bin", bin]);
    }
    let names: Vec<&str> = binaries.iter().map(|(_, bin)| *bin).collect();
    tracing::info!("binaries: building {}", names.join(" "));
    cargo.run()?;
    Ok(project
        .root
        .join("target")
        .join(STATIC_TARGET)
        .join("release"))
}

/// Reads the boot spec of a built image.
pub fn load_boot_spec(out_dir: &Path) -> Result<BootSpec> {
    let path = out_dir.join(BOOT_SPEC);
    let text = fs::read_to_string(&path).with_context(|| {
        format!(
            "{} not found: build the image first with `cargo xtask image`",
            path.display()
        )
    })?;
    Ok(serde_json::from_str(&text)?)
}

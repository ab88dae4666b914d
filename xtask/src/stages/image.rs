//! Stage `image`: the orchestrator. Runs the stages in order and returns the appliance as a
//! value ([`Image`]), after publishing its deliverables into `target/appliance/<name>/`.
//!
//! layers → packages + binaries → sealed → rootfs → verity → policy → sign → disk plan →
//! kernel → uki → disk → sbom → outputs

use std::fs;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use anyhow::{Context, Result, bail};
use der::{Encode, EncodePem};
use ipe_lsm::host::PolicyText;
use serde_json::json;

use super::boot_spec::{BootFile, BootSpec};
use super::disk::SLOTS;
use super::kernel::{self, BuiltIn, Flavour};
use super::kernel_inputs::kernel_inputs;
use super::layer_stack::{Ipe, Layers};
use super::outputs::{Deliverable, publish};
use super::record::{self, BUILD_RECORD};
use super::sealed::{self, SealedOutput};
use super::session::Session;
use super::sign::{self, BundleSignerChoice, Keys, SignerChoice, UefiSignerChoice};
use super::timings::Timings;
use super::uki::{self, UkiInputs};
use super::validate::validate;
use super::verity::VerityOutput;
use super::{binaries, bundle, disk, policy, rauc_config, rootfs, sbom, setup, unpack, verity};
use crate::cache;
use crate::debian::trim;
use crate::firmware::{self, boot_entries};
use crate::layers;
use crate::project::Project;

/// What to build.
#[derive(Debug, Clone)]
pub struct ImageRequest {
    /// Layer names in order; later layers override earlier ones.
    pub layers: Vec<String>,
    /// The output folder's name under `target/appliance/`: a plain name.
    pub name: String,
    pub source_date_epoch: u64,
    /// Which IPE the kernel gets; `Rust` appends the `ipe-rust` layer.
    pub ipe: Ipe,
    pub signer: SignerChoice,
    /// Who signs the UKI for Secure Boot.
    pub uefi_signer: UefiSignerChoice,
    /// Who signs update bundles: an image with RAUC trusts its certificate (`/etc/rauc/`).
    pub bundle_signer: BundleSignerChoice,
    /// Overrides the version in `policies/releases.toml`.
    pub policy_version: Option<String>,
    /// `Qcow2` also ships `disk.qcow2`.
    pub disk_format: disk::DiskFormat,
}

/// The guest's name for the image's disk, whose partitions are `/dev/vda2`, ...
const DISK_DEVICE: &str = "/dev/vda";

/// A built appliance, as a value: tests and benchmarks derive their variants from it.
pub struct Image {
    pub request: ImageRequest,
    /// The shipped folder: deliverables, the manifest and the build record only.
    pub out_dir: PathBuf,
    /// Where tests of this image put their by-products.
    pub test_dir: PathBuf,
    pub boot: BootSpec,
    /// The signed policy the init activates, and the boot policy compiled into the kernel.
    pub policy: PolicyText,
    pub boot_policy: PolicyText,
    /// `policy.pol` signed, as the policy slot holds it (DER PKCS#7, policy attached).
    pub signed_policy: Vec<u8>,
    pub keys: Rc<Keys>,
    pub layers: Rc<Layers>,
    pub verity: VerityOutput,
    pub sealed: Option<SealedOutput>,
    /// `disk.img`'s partition table: both slots' partitions.
    pub partitions: crate::gpt::Table,
    /// `/etc/appliance/build.json` as shipped in the rootfs.
    pub build_record: String,
    /// The uncompressed kernel in the cache, for checks that must see inside it.
    pub vmlinux: PathBuf,
}

impl Image {
    /// This image's kernel relinked with another boot policy, cached beside its own.
    pub fn kernel_with_boot_policy(
        &self,
        session: &Session,
        policy: &PolicyText,
    ) -> Result<PathBuf> {
        let boot_policy = policy
            .render_checked()
            .map_err(|diagnostic| anyhow::anyhow!("the boot policy is invalid: {diagnostic}"))?;
        let inputs = kernel_inputs(
            &session.project.root,
            session.toolchain()?,
            &self.layers.resolved,
            Vec::new(),
            Flavour::Appliance(BuiltIn {
                boot_policy,
                trusted_certs: self.keys.cert_pem.clone(),
            }),
            self.request.source_date_epoch,
        )?;
        Ok(kernel::build(&session.project.cache, &inputs)?.bzimage)
    }
}

/// `--name` is a folder name under `target/appliance/`, never a path.
pub fn check_name(name: &str) -> Result<()> {
    let plain = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !plain {
        bail!(
            "image name {name:?} is not a plain name: use 1 to 64 letters, digits, `.`, `_` or \
             `-`, not starting with `.` (it names the folder target/appliance/<name>/)"
        );
    }
    Ok(())
}

/// The Debian package whose presence gives the image a RAUC configuration.
const RAUC_PACKAGE: &str = "rauc";

/// `/etc/rauc/system.conf` for the A/B slots, and the keyring: the certificate that signs
/// bundles, the same `cargo xtask bundle` signs with (a development key is made when missing).
fn rauc_files(
    request: &ImageRequest,
    policy_name: &str,
    sealed: bool,
) -> Result<Vec<(String, Vec<u8>)>> {
    let cert = sign::load_bundle_signer(&request.bundle_signer)?.cert;
    let keyring = cert
        .to_pem(der::pem::LineEnding::LF)
        .context("encoding the RAUC bundle certificate")?;
    let system_conf = rauc_config::system_conf(&rauc_config::RaucConfigInputs {
        compatible: &bundle::compatible(policy_name),
        disk_device: DISK_DEVICE,
        slots: &disk::SLOTS,
        sealed,
        pre_install_handler: rauc_config::PRE_INSTALL_HANDLER,
        keyring: rauc_config::KEYRING,
    });
    Ok(vec![
        (
            rauc_config::SYSTEM_CONF.to_owned(),
            system_conf.into_bytes(),
        ),
        (rauc_config::KEYRING.to_owned(), keyring.into_bytes()),
    ])
}

pub fn build(session: &Session, request: &ImageRequest) -> Result<Image> {
    check_name(&request.name)?;
    let project = &session.project;
    let work_dir = project.work_dir(&request.name);
    fs::create_dir_all(&work_dir)?;
    let _lock = lock_work_dir(&work_dir)?;
    let _log = crate::logfile::capture(&work_dir.with_extension("log"))?;
    remove_leftovers(&work_dir)?;
    let mut timings = Timings::default();

    // Everything checkable is checked before any download or build.
    let layers = timings.time("layers", || session.layers(&request.layers, request.ipe))?;
    let validated = timings.time("validate", || {
        validate(project, &layers, request.policy_version.as_deref())
    })?;
    let toolchain = timings.time("setup", || session.toolchain())?;
    let resolved = &layers.resolved;
    tracing::info!("layers: {}", resolved.names.join(" → "));

    let (debs, packages) = timings.time("packages", || fetch_packages(project, resolved))?;
    let binaries = timings.time("binaries", || {
        binaries::build_layer_binaries(project, resolved)
    })?;
    let record = record::build_record(&layers.loaded, &packages, &binaries)?;

    let (sealed_binaries, rootfs_binaries): (Vec<_>, Vec<_>) = binaries
        .iter()
        .cloned()
        .partition(|(install, _)| resolved.binaries[install].sealed);
    let sealed = timings.time("sealed", || {
        if sealed_binaries.is_empty() {
            return Ok(None);
        }
        let inputs = sealed::SealedInputs {
            binaries: sealed_binaries.clone(),
            source_date_epoch: request.source_date_epoch,
        };
        sealed::build(&inputs, &work_dir).map(Some)
    })?;
    let sealed_files = sealed.as_ref().map_or(&[][..], |s| &s.files[..]);

    let mut generated = vec![
        (BUILD_RECORD.to_owned(), record.text.clone().into_bytes()),
        (
            "/etc/os-release".to_owned(),
            uki::os_release(
                &validated.policy_name,
                &validated.policy_version.to_string(),
            )
            .into_bytes(),
        ),
    ];
    if packages.iter().any(|pin| pin.name == RAUC_PACKAGE) {
        let rauc_files = timings.time("rauc config", || {
            rauc_files(request, &validated.policy_name, sealed.is_some())
        })?;
        generated.extend(rauc_files);
    }

    let rootfs = timings.time("rootfs", || {
        let inputs = rootfs::RootfsInputs {
            debs: packages
                .iter()
                .zip(&debs)
                .map(|(pin, path)| unpack::Deb {
                    name: pin.name.clone(),
                    path: path.clone(),
                })
                .collect(),
            exclusions: trim::exclusions(&resolved.package_exclude).map_err(anyhow::Error::msg)?,
            accounts: resolved.accounts.clone(),
            overlays: resolved.overlays.clone(),
            binaries: rootfs_binaries,
            sealed: sealed_binaries,
            generated,
            source_date_epoch: request.source_date_epoch,
        };
        rootfs::build(&inputs, &work_dir)
    })?;
    let verity = timings.time("verity", || {
        verity::build(&rootfs.image, &rootfs.key, &work_dir)
    })?;

    let policy = timings.time("policy", || {
        policy::generate_checked(&policy::PolicyInputs {
            name: &validated.policy_name,
            version: validated.policy_version,
            rootfs_root_hash: &verity.root_hash(),
            sealed: sealed_files,
            layer_rules: &resolved.policy_rules,
        })
    })?;
    // Compiled in: the same rules under another name and the lowest version, enforcing from the
    // first process until the init activates the signed policy.
    let boot_policy = policy::boot_policy(&policy);
    let policy_text = policy.render();

    let keys = timings.time("keys", || session.keys(&request.signer))?;
    let signed_policy = timings.time("sign", || keys.sign_policy(policy_text.as_bytes()))?;
    let disk_inputs = disk::DiskInputs {
        product: policy.name(),
        verity: &verity,
        signed_policy: &signed_policy,
        sealed: sealed.as_ref().map(|sealed| sealed.image.as_path()),
    };
    // The UKI's command line names the partitions, so the layout comes before the kernel.
    let disk = disk::plan(&disk_inputs, &work_dir)?;

    let kernel = timings.time("kernel", || {
        let inputs = kernel_inputs(
            &project.root,
            toolchain,
            resolved,
            Vec::new(),
            Flavour::Appliance(BuiltIn {
                boot_policy: boot_policy.render(),
                trusted_certs: keys.cert_pem.clone(),
            }),
            request.source_date_epoch,
        )?;
        kernel::build(&project.cache, &inputs)
    })?;

    // One command line per slot: each opens its own slot's partitions.
    let cmdlines = SLOTS.map(|slot| {
        let mut cmdline = resolved.kernel_cmdline.clone();
        cmdline.extend([
            "root=/dev/dm-0".to_owned(),
            "ro".to_owned(),
            "rootfstype=erofs".to_owned(),
        ]);
        cmdline.extend(disk.cmdline(&slot, &verity, policy.name(), DISK_DEVICE));
        cmdline.extend(["init=/sbin/init".to_owned(), "panic=-1".to_owned()]);
        if let Some(device) = disk.sealed_device(&slot, DISK_DEVICE) {
            // The init mounts it read-only there; see rootfs/init/src/sealed.rs.
            cmdline.push(format!(
                "appliance.sealed={device},{}",
                layers::SEALED_MOUNT
            ));
        }
        cmdline.join(" ")
    });
    // Direct kernel boot (`run-qemu --direct`) boots slot A, as the factory disk does.
    let cmdline = cmdlines[0].clone();

    let uefi = timings.time("uefi keys", || sign::load_uefi_keys(&request.uefi_signer))?;
    let os_release = uki::uki_os_release(
        policy.name(),
        &policy.version().to_string(),
        &verity.root_hash(),
    );
    let ukis = timings.time("uki", || {
        SLOTS
            .iter()
            .zip(&cmdlines)
            .map(|(slot, cmdline)| {
                uki::build(
                    &UkiInputs {
                        stub: &toolchain.systemd_stub,
                        kernel: &kernel.bzimage,
                        cmdline,
                        os_release: &os_release,
                        signer: &uefi.db,
                    },
                    &work_dir,
                    &uki::file_name(slot.bootname),
                )
            })
            .collect::<Result<Vec<_>>>()
    })?;
    // A test machine's firmware with this build's keys enrolled and the slots' boot entries,
    // when the keys are all at hand.
    let firmware_vars = match &uefi.test_machine {
        Some(certs) => Some(timings.time("firmware", || {
            firmware::secure_boot_vars(
                &project.cache,
                &setup::virt_fw_vars_path(&project.cache),
                certs,
                &boot_entries::variables_json(&boot_entries::slot_entries(&disk.table)),
            )
        })?),
        None => None,
    };
    timings.time("disk", || {
        disk::write(
            &disk,
            &disk_inputs,
            &disk::BootPrograms {
                ukis: [&ukis[0], &ukis[1]],
                source_date_epoch: request.source_date_epoch,
            },
        )
    })?;
    let disk_path = disk.path.clone();
    let qcow2 = match request.disk_format {
        disk::DiskFormat::Raw => None,
        disk::DiskFormat::Qcow2 => Some(timings.time("qcow2", || {
            let qcow2 = work_dir.join("disk.qcow2");
            disk::convert_qcow2(&disk_path, &qcow2)?;
            anyhow::Ok(qcow2)
        })?),
    };

    let out_dir = project.output_dir(&request.name);
    let config_sha256 = cache::sha256_file(&kernel.config)?;
    let bzimage_sha256 = cache::sha256_file(&kernel.bzimage)?;
    let rootfs_sha256 = cache::sha256_file(&rootfs.image)?;
    let sealed_sha256 = match &sealed {
        Some(s) => Some(cache::sha256_file(&s.image)?),
        None => None,
    };
    let policy_sha256 = cache::sha256_hex(policy_text.as_bytes());
    let signed_sha256 = cache::sha256_hex(&signed_policy);
    let manifest = record::manifest(
        &record,
        vec![
            (
                "kernel",
                json!({
                    "version": toolchain.kernel_version,
                    "key": kernel.key,
                    "config_sha256": config_sha256,
                    "bzimage_sha256": bzimage_sha256,
                }),
            ),
            (
                "rootfs",
                json!({"erofs_sha256": rootfs_sha256, "key": rootfs.key}),
            ),
            ("verity", verity.summary()),
            ("disk", disk.summary()),
            (
                "uki",
                json!({
                    "sha256": ukis.iter().map(|uki| cache::sha256_file(uki)).collect::<Result<Vec<_>>>()?,
                    "systemd_stub": toolchain.systemd_stub.version,
                    "db_certificate_sha256": cache::sha256_hex(&uefi.db.cert.to_der()?),
                }),
            ),
            (
                "sealed",
                match &sealed {
                    Some(s) => json!({"image_sha256": sealed_sha256, "files": s.files}),
                    None => serde_json::Value::Null,
                },
            ),
            (
                "policy",
                json!({
                    "name": policy.name(),
                    "version": policy.version().to_string(),
                    "sha256": policy_sha256,
                    "signed_sha256": signed_sha256,
                }),
            ),
            ("cmdline", json!(cmdline)),
            ("source_date_epoch", json!(request.source_date_epoch)),
        ],
    )?;
    let sbom = timings.time("sbom", || {
        let mut debian = Vec::new();
        let kernel_source = project
            .lock
            .get(setup::KERNEL_SOURCE_PACKAGE)
            .context("packages.lock pins no kernel source")?;
        let systemd_stub = project
            .lock
            .get(setup::SYSTEMD_STUB_PACKAGE)
            .context("packages.lock pins no systemd-stub")?;
        let mut shipped: Vec<_> = packages.iter().zip(debs.clone()).collect();
        for pin in [kernel_source, systemd_stub] {
            shipped.push((pin, setup::fetch_deb(&project.cache, pin)?));
        }
        for (pin, deb) in shipped {
            debian.push(sbom::DebianPackage {
                pin: pin.clone(),
                facts: sbom::deb_facts(&project.cache, pin, &deb)?,
            });
        }
        let mut sbom_binaries = Vec::new();
        for (install, path) in &binaries {
            let package = &resolved.binaries[install].package;
            // Validation found each binary's package in the workspace.
            let krate = &validated.crates[package];
            sbom_binaries.push(sbom::WorkspaceBinary {
                install: install.clone(),
                package: package.clone(),
                version: krate.version.clone(),
                license: krate.license.clone(),
                sha256: cache::sha256_file(path)?,
                fsverity_digest: sealed_files
                    .iter()
                    .find(|file| &file.install == install)
                    .map(|file| file.digest.clone()),
            });
        }
        let mut patches = Vec::new();
        for patch in &resolved.kernel_patches {
            // Named from the checkout's root: no absolute path ships.
            let name = patch.strip_prefix(&project.root).unwrap_or(patch);
            patches.push((name.display().to_string(), cache::sha256_file(patch)?));
        }
        sbom::render(&sbom::SbomInputs {
            source_date_epoch: request.source_date_epoch,
            manifest_sha256: cache::sha256_hex(manifest.as_bytes()),
            debian,
            binaries: sbom_binaries,
            kernel: sbom::KernelSbom {
                version: toolchain.kernel_version.clone(),
                bzimage_sha256,
                config_sha256,
                patches,
                source_package: kernel_source.name.clone(),
            },
            rootfs_sha256,
            root_hash: verity.root_hash(),
            sealed_image_sha256: sealed_sha256,
            policy: sbom::PolicySbom {
                name: policy.name().to_owned(),
                version: policy.version().to_string(),
                sha256: policy_sha256,
                signed_sha256,
            },
        })
    })?;
    let uki_names = SLOTS.map(|slot| uki::file_name(slot.bootname));
    let boot_file = BootFile {
        kernel: "bzImage".to_owned(),
        disk: "disk.img".to_owned(),
        cmdline: cmdline.clone(),
        uki: uki::file_name(SLOTS[0].bootname),
        firmware_vars: firmware_vars
            .as_ref()
            .map(|_| super::boot_spec::FIRMWARE_VARS.to_owned()),
    };
    timings.time("outputs", || {
        let mut files = vec![
            ("bzImage", Deliverable::File(kernel.bzimage.clone())),
            ("disk.img", Deliverable::File(disk_path.clone())),
            (uki_names[0].as_str(), Deliverable::File(ukis[0].clone())),
            (uki_names[1].as_str(), Deliverable::File(ukis[1].clone())),
            (
                "policy.pol",
                Deliverable::Bytes(policy_text.clone().into_bytes()),
            ),
            ("policy.p7s", Deliverable::Bytes(signed_policy.clone())),
            (
                "cmdline.txt",
                Deliverable::Bytes(format!("{cmdline}\n").into_bytes()),
            ),
            ("manifest.json", Deliverable::Bytes(manifest.into_bytes())),
            (sbom::FILE, Deliverable::Bytes(sbom.into_bytes())),
            (
                "build.json",
                Deliverable::Bytes(record.text.clone().into_bytes()),
            ),
            (
                super::boot_spec::FILE,
                Deliverable::Bytes((serde_json::to_string_pretty(&boot_file)? + "\n").into_bytes()),
            ),
        ];
        if let Some(qcow2) = &qcow2 {
            files.push(("disk.qcow2", Deliverable::File(qcow2.clone())));
        }
        if let Some(vars) = &firmware_vars {
            files.push((
                super::boot_spec::FIRMWARE_VARS,
                Deliverable::File(vars.clone()),
            ));
        }
        publish(&out_dir, files)
    })?;
    let boot = boot_file.in_folder(&out_dir);
    timings.report();
    tracing::info!(
        "image: {} (root hash {})",
        out_dir.display(),
        &verity.root_hash()[..16]
    );
    Ok(Image {
        request: request.clone(),
        test_dir: project.test_dir(&request.name),
        out_dir,
        boot,
        policy,
        boot_policy,
        signed_policy,
        keys,
        layers: layers.clone(),
        verity,
        sealed,
        partitions: disk.table,
        build_record: record.text,
        vmlinux: kernel.vmlinux,
    })
}

/// The .debs of the layers' packages and of everything they depend on, as locked, verified,
/// sorted by name; and their pins.
pub(super) fn fetch_packages(
    project: &Project,
    resolved: &layers::ResolvedLayers,
) -> Result<(Vec<PathBuf>, Vec<crate::lockfile::PinnedPackage>)> {
    let mut closure = std::collections::BTreeMap::new();
    for name in &resolved.debian_packages {
        // The layers stage has checked every closure, naming the layer and line.
        for pin in project.lock.closure(name)? {
            closure.insert(pin.name.as_str(), pin);
        }
    }
    let mut debs = Vec::new();
    let mut packages = Vec::new();
    for pin in closure.into_values() {
        debs.push(setup::fetch_deb(&project.cache, pin)?);
        packages.push(pin.clone());
    }
    Ok((debs, packages))
}

/// One build of an image name at a time: they share the work directory.
fn lock_work_dir(work_dir: &Path) -> Result<fs::File> {
    let path = work_dir.with_extension("lock");
    let file = fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    if file.try_lock().is_err() {
        tracing::info!(
            "waiting for another build of this image ({})",
            path.display()
        );
        file.lock()
            .with_context(|| format!("locking {}", path.display()))?;
    }
    Ok(file)
}

/// Temporary files and folders of a build that was killed: never read, only in the way.
fn remove_leftovers(work_dir: &Path) -> Result<()> {
    for entry in fs::read_dir(work_dir)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.contains(".tmp") {
            let path = entry.path();
            tracing::debug!("removing {} left by an interrupted build", path.display());
            if path.is_dir() {
                fs::remove_dir_all(&path)?;
            } else {
                fs::remove_file(&path)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_plain_folder_names() {
        for good in ["default", "fw-1.2_x", "default-upstream"] {
            check_name(good).unwrap();
        }
        for bad in [
            "",
            "../../../tmp/x",
            "a/b",
            ".hidden",
            "..",
            "a b",
            &"x".repeat(65),
        ] {
            assert!(check_name(bad).is_err(), "{bad:?} accepted");
        }
    }
}

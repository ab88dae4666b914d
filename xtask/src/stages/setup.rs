//! Stage `setup`: host tools from Debian packages, and the pinned inputs (kernel source, Rust
//! standard library source, bindgen) in the shared cache. Idempotent and quick when done.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};

use super::apt_sources::{self, Mirrors, Profile};
use crate::cache::{self, Cache};
use crate::exec::Tool;
use crate::lockfile::PinnedPackage;
use crate::project::Project;
use crate::remote_cache;

/// Debian packages the build runs, from bookworm.
const HOST_PACKAGES: &[&str] = &[
    "clang",
    "lld",
    "llvm",
    "libclang-dev",
    "make",
    "flex",
    "bison",
    "bc",
    "libelf-dev",
    "libssl-dev",
    "libc6-dev",
    "patch",
    "xz-utils",
    "cpio",
    "e2fsprogs",
    "erofs-utils",
    "cryptsetup-bin",
    "fsverity",
    "openssl",
    // mkfs.vfat for disk.img's ESP; the tests' readers of disk.img: sfdisk (util-linux) and
    // systemd-dissect.
    "dosfstools",
    "fdisk",
    "systemd-container",
    // The signed-UKI building blocks' oracles in the workspace's unit tests: objdump and objcopy
    // (binutils), sbverify and sbsign (sbsigntool), and the systemd-stub they sign.
    "binutils",
    "sbsigntool",
    "systemd-boot-efi",
    // Secure Boot under QEMU: OVMF's firmware and variable store templates, and mtools to put
    // an EFI application into an ESP image without mounting it.
    "ovmf",
    "mtools",
    // Update bundles: mksquashfs packs their payload; rauc (`rauc info`, `rauc extract`) is the
    // oracle that checks them.
    "squashfs-tools",
    "rauc",
    // For the SPDX validator's and virt-firmware's venvs.
    "python3-venv",
    // The CNCF distribution registry, which the remote-cache tests and benchmark start on the
    // loopback as the store.
    "docker-registry",
];
/// QEMU must match the installed qemu-utils, which comes from bookworm-backports.
const QEMU_PACKAGE: &str = "qemu-system-x86";
const QEMU_UTILS: &str = "qemu-utils";
const BINDGEN_VERSION: &str = "0.73.2";
/// The SPDX project's validator (`pyspdxtools`), which the tests run on `sbom.spdx.json`.
const SPDX_TOOLS_VERSION: &str = "0.8.5";
/// `virt-fw-vars`, which enrolls our Secure Boot certificates in an OVMF variable store.
const VIRT_FIRMWARE_VERSION: &str = "26.10";
pub const KERNEL_SOURCE_PACKAGE: &str = "linux-source-6.12";
/// Debian's systemd-stub, the UKI's EFI program, pinned like the image's packages.
pub const SYSTEMD_STUB_PACKAGE: &str = "systemd-boot-efi";
const SYSTEMD_STUB_IN_PACKAGE: &str = "./usr/lib/systemd/boot/efi/linuxx64.efi.stub";
const RUST_SRC_PACKAGE: &str = "rust-src";

/// What later stages need from setup.
#[derive(Debug, Clone)]
pub struct Toolchain {
    /// The pristine kernel source tree.
    pub kernel_source: PathBuf,
    /// Upstream kernel version, such as `6.12.117`.
    pub kernel_version: String,
    /// `library/` of the Rust source matching the active rustc, for `RUST_LIB_SRC`.
    pub rust_lib_src: PathBuf,
    /// The pinned `rust-src` package's version, for cache keys (its path is the cache's).
    pub rust_src_version: String,
    pub bindgen: PathBuf,
    /// `pyspdxtools`, in a venv of the cache.
    pub spdx_validator: PathBuf,
    /// systemd-stub (`linuxx64.efi.stub`) from the pinned `systemd-boot-efi`.
    pub systemd_stub: SystemdStub,
}

/// The pinned systemd-stub, extracted into the cache.
#[derive(Debug, Clone)]
pub struct SystemdStub {
    pub path: PathBuf,
    /// The pinned .deb's sha256 and version, for cache keys and the SBOM.
    pub deb_sha256: String,
    pub version: String,
}

pub fn run(project: &Project) -> Result<Toolchain> {
    ensure_host_packages(&project.cache)?;
    let kernel_pin = pin(project, KERNEL_SOURCE_PACKAGE)?;
    let rust_pin = pin(project, RUST_SRC_PACKAGE)?;
    check_rust_src_matches_rustc(rust_pin)?;
    // Not part of the toolchain value yet: the firmware tests find it by its path.
    ensure_virt_firmware(&project.cache)?;
    // Extracted once, these .debs are not fetched again here; a read-write remote cache still
    // gets them, so that a new machine pulls them too.
    for pin in [kernel_pin, rust_pin] {
        let deb = cache_deb_path(&project.cache, pin);
        if deb.is_file() {
            remote_cache::publish("deb", &pin.sha256, &[(REMOTE_DEB_FILE, &deb)]);
        }
    }
    Ok(Toolchain {
        kernel_version: upstream_version(&kernel_pin.version),
        kernel_source: ensure_kernel_source(&project.cache, kernel_pin)?,
        rust_lib_src: ensure_rust_src(&project.cache, rust_pin)?,
        rust_src_version: rust_pin.version.clone(),
        bindgen: ensure_bindgen(&project.cache)?,
        spdx_validator: ensure_spdx_tools(&project.cache)?,
        systemd_stub: ensure_systemd_stub(&project.cache, pin(project, SYSTEMD_STUB_PACKAGE)?)?,
    })
}

fn pin<'a>(project: &'a Project, name: &str) -> Result<&'a PinnedPackage> {
    project.lock.get(name).with_context(|| {
        format!("packages.lock pins no `{name}`; add it with `cargo xtask lock {name}`")
    })
}

/// `6.12.117-1~deb12u1` → `6.12.117`.
fn upstream_version(debian_version: &str) -> String {
    let without_epoch = debian_version
        .split_once(':')
        .map_or(debian_version, |(_, v)| v);
    without_epoch
        .split(['-', '+'])
        .next()
        .unwrap_or(without_epoch)
        .to_owned()
}

/// The installed version of each package, in one dpkg-query call (one per package would cost
/// a noticeable share of a no-op build).
fn installed_versions(packages: &[&str]) -> Vec<Option<String>> {
    let listing = Tool::new("dpkg-query")
        .args(["-W", "-f", "${Package}|${Status}|${Version}\n"])
        .args(packages)
        .output()
        // dpkg-query fails when any package is unknown: then all count as missing, and apt
        // installs what is absent, a no-op for the rest.
        .unwrap_or_default();
    let listing = String::from_utf8_lossy(&listing);
    packages
        .iter()
        .map(|package| {
            listing.lines().find_map(|line| {
                let mut fields = line.split('|');
                let (name, status, version) = (fields.next()?, fields.next()?, fields.next()?);
                let name = name.split(':').next().unwrap_or(name);
                (name == *package && status.ends_with(" installed")).then(|| version.to_owned())
            })
        })
        .collect()
}

fn ensure_host_packages(cache: &Cache) -> Result<()> {
    let mut names: Vec<&str> = HOST_PACKAGES.to_vec();
    names.extend([QEMU_UTILS, QEMU_PACKAGE]);
    let versions = installed_versions(&names);
    let missing: Vec<&str> = HOST_PACKAGES
        .iter()
        .zip(&versions)
        .filter(|(_, version)| version.is_none())
        .map(|(name, _)| *name)
        .collect();
    let qemu_utils = versions[HOST_PACKAGES.len()].clone();
    let qemu_wanted = qemu_utils
        .clone()
        .unwrap_or_else(|| "1:10.0.2+ds-2+deb13u1~bpo12+1".to_owned());
    let qemu_ok = versions[HOST_PACKAGES.len() + 1].as_deref() == Some(qemu_wanted.as_str());
    if missing.is_empty() && qemu_ok {
        return Ok(());
    }
    let host = AptConfig::prepare(cache, Profile::Host)?;
    let mut install = host.apt_get();
    install = install
        .args(["install", "-y", "-q", "--no-install-recommends"])
        .args(&missing);
    let mut qemu_install = host.apt_get().args([
        "install",
        "-y",
        "-q",
        "--no-install-recommends",
        "-t",
        "bookworm-backports",
    ]);
    qemu_install = qemu_install.arg(format!("{QEMU_PACKAGE}={qemu_wanted}"));
    if qemu_utils.is_none() {
        qemu_install = qemu_install.arg(format!("{QEMU_UTILS}={qemu_wanted}"));
    }
    if !is_root() {
        bail!(
            "missing host packages: {}{}.\nInstall them as root with a private apt configuration \
             (it leaves /etc/apt as it is), then run this again:\n  sudo {}",
            missing.join(" "),
            if qemu_ok {
                String::new()
            } else {
                format!(" {QEMU_PACKAGE}={qemu_wanted}")
            },
            host.describe_install(&missing, &qemu_wanted)
        );
    }
    tracing::info!(
        "installing host packages: {} {QEMU_PACKAGE}",
        missing.join(" ")
    );
    host.update()?;
    if !missing.is_empty() {
        install.env("DEBIAN_FRONTEND", "noninteractive").run()?;
    }
    if !qemu_ok {
        qemu_install
            .env("DEBIAN_FRONTEND", "noninteractive")
            .run()?;
    }
    Ok(())
}

fn is_root() -> bool {
    Tool::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.trim_ascii() == b"0")
}

/// An apt configuration of our own: its sources list, package lists and archive cache live in
/// the project's cache; the system's dpkg database is used only for installing host tools.
struct AptConfig {
    dir: PathBuf,
}

impl AptConfig {
    fn prepare(cache: &Cache, profile: Profile) -> Result<AptConfig> {
        let dir = apt_dir(cache, profile);
        fs::create_dir_all(dir.join("lists/partial"))?;
        fs::create_dir_all(dir.join("archives/partial"))?;
        fs::create_dir_all(dir.join("parts"))?;
        let mirrors = system_mirrors()?;
        cache::write_if_changed(
            &dir.join("sources.list"),
            apt_sources::sources_list(&mirrors, profile).as_bytes(),
        )?;
        Ok(AptConfig { dir })
    }

    fn options(&self) -> Vec<String> {
        let d = self.dir.display();
        vec![
            format!("-oDir::Etc::SourceList={d}/sources.list"),
            format!("-oDir::Etc::SourceParts={d}/parts"),
            format!("-oDir::State::Lists={d}/lists"),
            format!("-oDir::Cache::Archives={d}/archives"),
            "-oDir::Cache::pkgcache=".to_owned(),
            "-oDir::Cache::srcpkgcache=".to_owned(),
            // Our cache directories belong to the invoking user, not to `_apt`.
            "-oAPT::Sandbox::User=root".to_owned(),
        ]
    }

    fn apt_get(&self) -> Tool {
        Tool::new("apt-get").args(self.options())
    }

    fn describe_install(&self, missing: &[&str], qemu_version: &str) -> String {
        let options = self.options().join(" ");
        format!(
            "apt-get {options} update && apt-get {options} install --no-install-recommends {} && apt-get {options} install --no-install-recommends -t bookworm-backports {QEMU_PACKAGE}={qemu_version}",
            missing.join(" ")
        )
    }

    fn update(&self) -> Result<()> {
        tracing::info!("updating the package lists of {}", self.dir.display());
        self.apt_get().args(["update", "-q"]).run()
    }

    fn has_lists(&self) -> bool {
        fs::read_dir(self.dir.join("lists"))
            .is_ok_and(|entries| entries.flatten().any(|e| e.path().is_file()))
    }

    /// Downloads one exact version into `dir` and returns the file.
    fn download(&self, package: &PinnedPackage, dir: &Path) -> Result<PathBuf> {
        if !self.has_lists() {
            self.update()?;
        }
        let spec = format!("{}={}", package.name, package.version);
        let attempt = || {
            self.apt_get()
                .args(["download", "-q", &spec])
                .current_dir(dir)
                .run()
        };
        if attempt().is_err() {
            // Lists go stale as suites move on; refresh once and retry.
            self.update()?;
            attempt()?;
        }
        let mut debs = fs::read_dir(dir)?
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "deb"));
        debs.next()
            .with_context(|| format!("apt-get download {spec} produced no .deb"))
    }
}

fn system_mirrors() -> Result<Mirrors> {
    if let (Ok(archive), Ok(security)) = (
        std::env::var("APPLIANCE_DEBIAN_MIRROR"),
        std::env::var("APPLIANCE_DEBIAN_SECURITY_MIRROR"),
    ) {
        return Ok(Mirrors { archive, security });
    }
    let mut texts = Vec::new();
    texts.extend(fs::read_to_string("/etc/apt/sources.list").ok());
    for entry in fs::read_dir("/etc/apt/sources.list.d")
        .into_iter()
        .flatten()
        .flatten()
    {
        let path = entry.path();
        if path
            .extension()
            .is_some_and(|ext| ext == "list" || ext == "sources")
        {
            texts.extend(fs::read_to_string(path).ok());
        }
    }
    apt_sources::find_mirrors(&texts).context(
        "could not find the bookworm and bookworm-security mirrors in /etc/apt; \
         set APPLIANCE_DEBIAN_MIRROR and APPLIANCE_DEBIAN_SECURITY_MIRROR",
    )
}

/// The verified .deb for a pinned package, downloading it on first use.
pub fn fetch_deb(cache: &Cache, package: &PinnedPackage) -> Result<PathBuf> {
    let path = cache_deb_path(cache, package);
    let entry = [(REMOTE_DEB_FILE, path.as_path())];
    if path.is_file() {
        remote_cache::publish("deb", &package.sha256, &entry);
        return Ok(path);
    }
    let _lock = cache.lock("debs")?;
    if path.is_file() {
        return Ok(path);
    }
    // Checked against the pin like a download: the store is no more trusted than a mirror.
    let pinned = |dir: &Path| {
        let actual = cache::sha256_file(&dir.join(REMOTE_DEB_FILE))?;
        ensure!(
            actual == package.sha256,
            "{} {}: sha256 is {actual}, but packages.lock pins {}",
            package.name,
            package.version,
            package.sha256
        );
        Ok(())
    };
    if remote_cache::restore("deb", &package.sha256, &entry, &pinned) {
        return Ok(path);
    }
    tracing::info!("downloading {} {}", package.name, package.version);
    let apt = AptConfig::prepare(cache, Profile::Pinned)?;
    let scratch = cache::staging_dir_for(&path)?;
    let downloaded = apt.download(package, scratch.path())?;
    let actual = cache::sha256_file(&downloaded)?;
    ensure!(
        actual == package.sha256,
        "{} {}: sha256 is {actual}, but packages.lock pins {}; if the archive really changed, re-pin it with `cargo xtask lock {}`",
        package.name,
        package.version,
        package.sha256,
        package.name
    );
    fs::rename(&downloaded, &path)?;
    remote_cache::publish("deb", &package.sha256, &entry);
    Ok(path)
}

/// Where a pinned .deb lives in the cache, by its sha256.
fn cache_deb_path(cache: &Cache, package: &PinnedPackage) -> PathBuf {
    cache.path("debs").join(format!("{}.deb", package.sha256))
}

/// The one file of a .deb's remote cache entry.
const REMOTE_DEB_FILE: &str = "package.deb";

/// Brings the pinned profile's package lists up to date, for `cargo xtask lock`.
pub fn update_pinned_lists(cache: &Cache) -> Result<()> {
    AptConfig::prepare(cache, Profile::Pinned)?.update()
}

/// The pinned profile's apt folder: `sources.list`, and `lists/` as apt keeps them.
pub fn pinned_apt_dir(cache: &Cache) -> PathBuf {
    apt_dir(cache, Profile::Pinned)
}

fn apt_dir(cache: &Cache, profile: Profile) -> PathBuf {
    cache.path("apt").join(profile.name())
}

/// Extracts `member` of a .deb's data tarball into `into`, stripping `strip` leading components.
fn extract_from_deb(deb: &Path, into: &Path, tar_args: &[&str]) -> Result<()> {
    let script = r#"dpkg-deb --fsys-tarfile "$1" | tar -x -C "$2" "${@:3}""#;
    Tool::new("bash")
        .args(["-o", "pipefail", "-c", script, "extract"])
        .arg(deb)
        .arg(into)
        .args(tar_args)
        .run()
}

fn ensure_kernel_source(cache: &Cache, pin: &PinnedPackage) -> Result<PathBuf> {
    let target = cache
        .path("src")
        .join(format!("linux-{}", upstream_version(&pin.version)));
    if target.join("Makefile").is_file() {
        return Ok(target);
    }
    let deb = fetch_deb(cache, pin)?;
    let _lock = cache.lock("kernel-source")?;
    if target.join("Makefile").is_file() {
        return Ok(target);
    }
    tracing::info!(
        "extracting the kernel source to {} (about a minute)",
        target.display()
    );
    let staging = cache::staging_dir_for(&target)?;
    let script = r#"dpkg-deb --fsys-tarfile "$1" | tar -xO --wildcards './usr/src/linux-source-*.tar.xz' | tar -xJ --strip-components=1 -C "$2""#;
    Tool::new("bash")
        .args(["-o", "pipefail", "-c", script, "extract"])
        .arg(&deb)
        .arg(staging.path())
        .run()?;
    cache::promote_dir(staging, &target)?;
    Ok(target)
}

fn ensure_rust_src(cache: &Cache, pin: &PinnedPackage) -> Result<PathBuf> {
    let target = cache.path("rust-src").join(upstream_version(&pin.version));
    let library = target.join("library");
    if library.join("core/src/lib.rs").is_file() {
        return Ok(library);
    }
    let deb = fetch_deb(cache, pin)?;
    let staging = cache::staging_dir_for(&target)?;
    let member = format!("./usr/src/rustc-{}/library", upstream_version(&pin.version));
    extract_from_deb(&deb, staging.path(), &["--strip-components=4", &member])?;
    cache::promote_dir(staging, &target)?;
    Ok(library)
}

/// The stub out of its pinned .deb, in `tools/systemd-stub/<the .deb's sha256>/`.
fn ensure_systemd_stub(cache: &Cache, pin: &PinnedPackage) -> Result<SystemdStub> {
    let target = cache.path("tools/systemd-stub").join(&pin.sha256);
    let stub = target.join("linuxx64.efi.stub");
    if !stub.is_file() {
        let deb = fetch_deb(cache, pin)?;
        let staging = cache::staging_dir_for(&target)?;
        extract_from_deb(
            &deb,
            staging.path(),
            &["--strip-components=6", SYSTEMD_STUB_IN_PACKAGE],
        )?;
        cache::promote_dir(staging, &target)?;
    }
    Ok(SystemdStub {
        path: stub,
        deb_sha256: pin.sha256.clone(),
        version: pin.version.clone(),
    })
}

/// The kernel's Rust must use the library source of exactly the rustc that compiles it.
fn check_rust_src_matches_rustc(pin: &PinnedPackage) -> Result<()> {
    let rustc = Tool::new("rustc").arg("--version").output()?;
    let rustc = String::from_utf8_lossy(&rustc);
    let wanted = upstream_version(&pin.version);
    ensure!(
        rustc.split_whitespace().nth(1) == Some(wanted.as_str()),
        "the active {} does not match the pinned rust-src {wanted}; the kernel's Rust needs both \
         to be the same version: pin the matching rust-src in packages.lock",
        rustc.trim()
    );
    Ok(())
}

fn ensure_bindgen(cache: &Cache) -> Result<PathBuf> {
    let root = cache.path("tools");
    let bindgen = root.join("bin/bindgen");
    let version_ok = |path: &Path| {
        Tool::new(path).arg("--version").output().is_ok_and(|out| {
            String::from_utf8_lossy(&out).split_whitespace().nth(1) == Some(BINDGEN_VERSION)
        })
    };
    if bindgen.is_file() && version_ok(&bindgen) {
        return Ok(bindgen);
    }
    let _lock = cache.lock("tools")?;
    tracing::info!(
        "installing bindgen-cli {BINDGEN_VERSION} into {} (a few minutes)",
        root.display()
    );
    Tool::new("cargo")
        .args(["install", "--locked", "--root"])
        .arg(&root)
        .arg(format!("bindgen-cli@{BINDGEN_VERSION}"))
        .run()?;
    ensure!(
        version_ok(&bindgen),
        "{} does not report version {BINDGEN_VERSION}",
        bindgen.display()
    );
    Ok(bindgen)
}

/// Where setup installs `pyspdxtools`; unit tests find it here too.
pub fn spdx_validator_path(cache: &Cache) -> PathBuf {
    cache.path("tools/spdx-venv/bin/pyspdxtools")
}

/// `spdx-tools` from PyPI into a venv of the cache, never into the system's Python.
fn ensure_spdx_tools(cache: &Cache) -> Result<PathBuf> {
    ensure_venv(
        cache,
        &Venv {
            name: "spdx-venv",
            program: spdx_validator_path(cache),
            project: "spdx-tools",
            dist_info: "spdx_tools",
            version: SPDX_TOOLS_VERSION,
        },
    )
}

/// Where setup installs `virt-fw-vars`; the firmware tests find it here too.
pub fn virt_fw_vars_path(cache: &Cache) -> PathBuf {
    cache.path("tools/virt-firmware-venv/bin/virt-fw-vars")
}

/// `virt-firmware` from PyPI (bookworm has no package of it) into a venv of the cache.
fn ensure_virt_firmware(cache: &Cache) -> Result<()> {
    ensure_venv(
        cache,
        &Venv {
            name: "virt-firmware-venv",
            program: virt_fw_vars_path(cache),
            project: "virt-firmware",
            dist_info: "virt_firmware",
            version: VIRT_FIRMWARE_VERSION,
        },
    )
    .map(drop)
}

/// One PyPI project, pinned, in a venv of its own under the cache.
struct Venv {
    /// The venv's folder under the cache's `tools/`, and its lock's name.
    name: &'static str,
    /// The program the build runs from it.
    program: PathBuf,
    /// The name pip installs.
    project: &'static str,
    /// The name of its `.dist-info` folder (the project's, normalised).
    dist_info: &'static str,
    version: &'static str,
}

fn ensure_venv(cache: &Cache, wanted: &Venv) -> Result<PathBuf> {
    let Venv {
        program, version, ..
    } = wanted;
    let venv = cache.path("tools").join(wanted.name);
    let python = venv.join("bin/python3");
    // pip's own record of the version, read without starting Python: a no-op build stays quick.
    let dist_info = format!("{}-{version}.dist-info", wanted.dist_info);
    let version_ok = || {
        fs::read_dir(venv.join("lib"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|python| {
                python
                    .path()
                    .join("site-packages")
                    .join(&dist_info)
                    .is_dir()
            })
    };
    if program.is_file() && version_ok() {
        return Ok(program.clone());
    }
    let _lock = cache.lock(wanted.name)?;
    if program.is_file() && version_ok() {
        return Ok(program.clone());
    }
    tracing::info!(
        "installing {} {version} into {}",
        wanted.project,
        venv.display()
    );
    // Debian's interpreter, which python3-venv serves, not whichever is first on PATH.
    Tool::new("/usr/bin/python3")
        .args(["-m", "venv", "--clear"])
        .arg(&venv)
        .run()?;
    Tool::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .arg(format!("{}=={version}", wanted.project))
        .run()?;
    ensure!(
        program.is_file() && version_ok(),
        "{} is not from {} {version}",
        program.display(),
        wanted.project
    );
    Ok(program.clone())
}

#[cfg(test)]
mod tests {
    use super::upstream_version;

    #[test]
    fn upstream_version_drops_epoch_and_debian_revision() {
        assert_eq!(upstream_version("6.12.117-1~deb12u1"), "6.12.117");
        assert_eq!(upstream_version("1.95.0+dfsg1-2~bpo13+1"), "1.95.0");
        assert_eq!(upstream_version("1:1.35.0-4+deb12u1+b1"), "1.35.0");
    }
}

//! The command line: one definition for parsing and for `--help`.

use clap::{Args, Parser, Subcommand};

use crate::args::{ImageArgs, LayersArg};
use crate::stages::layer_stack::Ipe;

/// Builds sealed Linux appliances: a kernel with IPE, a dm-verity root filesystem and an IPE
/// policy generated from exactly what was built; boots and tests them in QEMU.
///
/// Start with `cargo xtask image` to build the default appliance, then `cargo xtask run-qemu`
/// to boot it, or `cargo xtask test` to prove in a guest that the policy is enforced.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version)]
pub struct Cli {
    /// More detail: -v shows each command run, -vv every line the kernel build prints.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// A remote build cache shared between machines: an OCI registry, as
    /// oci://HOST[:PORT]/REPOSITORY (HTTPS) or oci+http://HOST[:PORT]/REPOSITORY (plain HTTP).
    /// On a local miss each stage (the kernel's configuration, image and object tree, the
    /// rootfs, verity and sealed outputs, the .debs) is pulled from it by its cache key; every
    /// entry is checked against the digest recorded at push. Credentials:
    /// $APPLIANCE_REMOTE_CACHE_AUTH (USER:PASSWORD), else the registry's entry in
    /// ~/.docker/config.json. A store that cannot be reached is a warning, never a failure.
    #[arg(long, value_name = "URL", global = true, env = crate::remote_cache::URL_ENV)]
    pub remote_cache: Option<String>,
    /// read-only pulls only; read-write also pushes every stage output the store lacks (for
    /// the builders that feed it).
    #[arg(
        long,
        value_enum,
        global = true,
        default_value = "read-only",
        env = crate::remote_cache::MODE_ENV
    )]
    pub remote_cache_mode: crate::remote_cache::Mode,
    /// The builder key of the remote cache: a keys folder as `cargo xtask keys generate` makes
    /// it. Every pulled entry must carry its signature (only the certificate is needed);
    /// read-write also signs each pushed entry with its private key. Without it, entries are
    /// checked by digest only and the registry's write access is the trust boundary.
    #[arg(long, value_name = "DIR", global = true, env = crate::remote_cache::KEYS_ENV)]
    pub remote_cache_keys: Option<std::path::PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Install the host tools and fetch the pinned inputs into the cache.
    ///
    /// Host tools come from Debian packages (as root they are installed with apt; otherwise the
    /// exact command is printed). The kernel source, the Rust library source and bindgen go
    /// into the cache ($APPLIANCE_CACHE, else $XDG_CACHE_HOME/ipe-appliance), never the system.
    /// `image` runs this itself.
    Setup,
    /// Build the appliance from layers into target/appliance/<name>/.
    ///
    /// Writes bzImage, disk.img (GPT: ESP, erofs rootfs, dm-verity hash tree, signed policy,
    /// sealed partition), policy.pol, policy.p7s, cmdline.txt, manifest.json (everything that
    /// went in and came out, with hashes), build.json and boot.json: the folder is written whole
    /// under a temporary name and swapped in. Intermediates live in target/appliance-work/<name>/,
    /// the build log beside it. Every stage is cached by a hash of its inputs and code: an
    /// unchanged build finishes in well under a second, and a change to the rootfs relinks the
    /// kernel (its boot policy) without recompiling it.
    Image(ImageCmdArgs),
    /// Build the image, then a signed RAUC update bundle of it in target/bundles/<name>/.
    ///
    /// Takes the image's arguments (layers, name, keys, signers, policy version) and builds the
    /// image first, then writes target/bundles/<name>/update-<version>.raucb: a RAUC bundle in
    /// `verity` format holding one A/B slot's images, `esp.img` (slot class `efi`: the ESP with
    /// both slots' UKIs), `rootfs.img` (`rootfs`, the erofs), `rootfs-verity.img` (`verity`, its
    /// dm-verity tree), `policy.img` (`policy`, the signed policy padded to its 64 KiB slot) and
    /// `sealed.img` (`sealed`, when a layer seals binaries). The manifest says
    /// `compatible=ipe-appliance-<policy name>` and `version=<policy version>`, the product's
    /// release: build N+1 with a higher --policy-version (or policies/releases.toml).
    ///
    /// The manifest is CMS-signed by the RAUC key, a role of its own: keys/rauc/ (created as a
    /// development key when missing; `keys generate` makes it too), or --bundle-cert with
    /// --bundle-external-signer for an HSM. Check a bundle with
    /// `rauc info --keyring keys/rauc/signing_cert.pem <bundle>`. The same inputs give the same
    /// bytes.
    Bundle(crate::cmd::bundle::BundleArgs),
    /// Boot the built appliance in QEMU with its serial console on this terminal.
    ///
    /// Press Ctrl-A X to quit. Uses software emulation (TCG) unless a quick probe shows that
    /// KVM boots this kernel.
    RunQemu(crate::cmd::run_qemu::RunArgs),
    /// Run the unit tests, the in-kernel KUnit suite, then the integration suite in QEMU guests
    /// under each IPE, and check that both IPEs behaved alike.
    ///
    /// Builds the images and the KUnit kernel first. Prints a result per case and a closing
    /// `N passed, N failed` line, and exits non-zero on any failure.
    Test(TestArgs),
    /// Build the KUnit kernel and run the Rust IPE's in-kernel parser suite in QEMU.
    ///
    /// The appliance's kernel configuration plus ipe-lsm/kernel/kunit.config, in its own object
    /// tree: every golden vector of ipe-lsm/vectors goes through the in-kernel parser. `test`
    /// runs this too.
    Kunit(KunitArgs),
    /// Show what the layers resolve to, after checking everything, without building.
    ///
    /// Each layer in order and what it adds (overlay files, packages, binaries, kernel
    /// fragments, patches and command line, policy rules), then the merged configuration and
    /// what later layers override. Every problem is reported at once, with its file and line:
    /// layer files, policy rules (checked by the kernel's own parser), binary names, the policy
    /// version, package pins and Kconfig fragment syntax. `image` runs the same checks first.
    Layers(crate::cmd::layers::LayersArgs),
    /// Build the image a second time, in a scratch checkout and cache, and compare the two.
    ///
    /// The second build runs from a copy of this checkout's tracked files at another path,
    /// with an empty cache of its own (only verified downloads are shared), so it compiles the
    /// kernel and every binary again. Two builds of the same inputs must give byte-identical
    /// bzImage, disk.img, policy.p7s, manifest.json and build.json; otherwise it
    /// names the first file and offset that differ and fails.
    Repro(crate::cmd::repro::ReproArgs),
    /// Pin Debian packages with their whole dependency closure in packages.lock.
    Lock(LockArgs),
    /// Check IPE policy files exactly as Linux 6.12 IPE parses them.
    Policy(crate::cmd::policy::PolicyArgs),
    /// Manage the signing keys: the IPE policy key and the Secure Boot roles.
    Keys(crate::cmd::keys::KeysArgs),
    /// Sign an IPE policy or an fs-verity digest (PKCS#7 the kernel accepts).
    Sign(crate::cmd::sign::SignArgs),
    /// dm-verity hash trees, byte-identical to `veritysetup format`.
    Verity(crate::cmd::verity::VerityArgs),
    /// fs-verity file digests, as `fsverity digest` prints them.
    Fsverity(crate::cmd::fsverity::FsverityArgs),
    /// Benchmarks against the reference tools, run in one go.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Our dm-verity and fs-verity against `veritysetup format` and `fsverity digest`.
    Verity(crate::cmd::bench_verity::BenchVerityArgs),
    /// Exec latency in the guest: no IPE, upstream's C IPE and the Rust IPE, with the
    /// appliance's policy and with a policy of many digest rules; prints the ratios.
    Exec(Box<crate::cmd::bench_exec::BenchExecArgs>),
    /// Boot time under OVMF with Secure Boot (the signed UKI from the ESP) against QEMU's
    /// direct kernel boot, on the same image; prints the medians and their ratio.
    Boot(Box<crate::cmd::bench_boot::BenchBootArgs>),
    /// The remote cache: machine A builds and pushes to a docker-registry on the loopback,
    /// machine B (an empty cache) pulls and builds the same image, then an image whose rootfs
    /// alone differs; prints the times, their ratio, the bytes moved and the kernel objects B
    /// compiled, and checks that B's outputs equal A's.
    RemoteCache(Box<crate::cmd::bench_remote_cache::BenchRemoteCacheArgs>),
    /// A full field-update cycle in QEMU: from a fresh factory disk, RAUC installs the next
    /// release's bundle into slot B, and the device reboots into it until it is marked good;
    /// prints the medians of each part.
    Update(Box<crate::cmd::bench_update::BenchUpdateArgs>),
}

#[derive(Debug, Args)]
pub struct ImageCmdArgs {
    #[command(flatten)]
    pub image: ImageArgs,
    /// Which IPE LSM the kernel gets: upstream's C IPE, or the Rust policy engine
    /// (`SECURITY_IPE_RUST`, built from ipe-lsm/). Both register as `ipe` and behave alike.
    #[arg(long, value_enum, default_value = "rust", env = "APPLIANCE_IPE")]
    pub ipe: Ipe,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    #[command(flatten)]
    pub image: ImageArgs,
    /// The IPEs to run the suite under, comma separated. The image for `rust` goes to
    /// target/appliance/<name>/, the others to <name>-<ipe>/. With both, their observations
    /// must match.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "rust,upstream"
    )]
    pub ipe: Vec<Ipe>,
    /// Skip the workspace's unit tests and run only the QEMU suites.
    #[arg(long)]
    pub integration_only: bool,
    /// Seconds allowed for one guest to boot to its shell.
    #[arg(long, default_value_t = 120)]
    pub boot_timeout: u64,
    /// Run one group of cases alone, without the unit tests, KUnit or guests.
    #[arg(long, value_enum)]
    pub only: Option<Only>,
}

/// Groups of `cargo xtask test` cases that run on their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Only {
    /// The remote cache against a real `docker-registry` on the loopback: machine A pushes,
    /// machine B (an empty cache) pulls identical outputs without compiling the kernel, and
    /// damaged entries are rejected (under the Rust IPE).
    RemoteCache,
    /// Field updates across reboots: RAUC installs the next release into the other slot, the
    /// firmware boots it, bad bundles are refused and a release that cannot come up falls back
    /// (under the Rust IPE).
    Updates,
}

#[derive(Debug, Args)]
pub struct KunitArgs {
    /// The layers whose kernel configuration the KUnit kernel takes.
    #[command(flatten)]
    pub layers: LayersArg,
    /// Seconds allowed for the KUnit kernel to run its suites and power off.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct LockArgs {
    /// Debian package names.
    #[arg(required = true)]
    pub packages: Vec<String>,
    /// Pin only these packages, without their dependencies: inputs that setup extracts for
    /// their files (the kernel and Rust sources), never installed.
    #[arg(long)]
    pub no_deps: bool,
    /// With `--no-deps`: the suite to take each from (default: the newest version in bookworm,
    /// bookworm-updates and bookworm-security).
    #[arg(long, requires = "no_deps")]
    pub suite: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_signer_flags_are_one_definition_for_image_and_sign() {
        let image = Cli::try_parse_from([
            "cargo xtask",
            "image",
            "--cert",
            "c.pem",
            "--external-signer",
            "openssl",
        ]);
        assert!(image.is_ok());
        let old_name = Cli::try_parse_from([
            "cargo xtask",
            "image",
            "--signing-cert",
            "c.pem",
            "--external-signer",
            "openssl",
        ]);
        assert!(old_name.is_ok());
        let sign = Cli::try_parse_from([
            "cargo xtask",
            "sign",
            "policy",
            "in",
            "out",
            "--cert",
            "c.pem",
            "--signature",
            "s",
        ]);
        assert!(sign.is_ok());
    }
}

//! The command line: one definition for parsing and for `--help`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

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
    /// Writes bzImage, disk.img (erofs rootfs + dm-verity hash tree), policy.pol, cmdline.txt,
    /// manifest.json (everything that went in, with hashes) and boot.json. Every stage is
    /// cached by a hash of its inputs: an unchanged build finishes in well under a second, and
    /// a change to the rootfs relinks the kernel (its boot policy) without recompiling it.
    Image(ImageCmdArgs),
    /// Boot the built appliance in QEMU with its serial console on this terminal.
    ///
    /// Press Ctrl-A X to quit. Uses software emulation (TCG) unless a quick probe shows that
    /// KVM boots this kernel.
    RunQemu(RunArgs),
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
    /// Pin a Debian package at its current candidate version in packages.lock.
    Lock(LockArgs),
    /// Check IPE policy files exactly as Linux 6.12 IPE parses them.
    Policy(crate::cmd::policy::PolicyArgs),
    /// Manage the signing key and certificate.
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
    Exec(crate::cmd::bench_exec::BenchExecArgs),
}

#[derive(Debug, Args, Clone)]
pub struct ImageArgs {
    #[command(flatten)]
    pub layers: LayersArg,
    /// The output folder's name under target/appliance/.
    #[arg(long, default_value = "default")]
    pub name: String,
    /// Timestamp for every file in the rootfs, for reproducible images.
    #[arg(long, env = "SOURCE_DATE_EPOCH", default_value_t = 0)]
    pub source_date_epoch: u64,
    /// Development keys: created here on first use; the kernel trusts their certificate.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "keys",
        env = "APPLIANCE_KEYS"
    )]
    pub keys: PathBuf,
    /// Certificate (PEM or DER) of the key behind --external-signer; the kernel trusts it.
    #[arg(
        long,
        value_name = "FILE",
        requires = "external_signer",
        env = "APPLIANCE_SIGNING_CERT"
    )]
    pub signing_cert: Option<PathBuf>,
    /// Shell command that reads the bytes to sign on stdin and prints the raw RSA PKCS#1 v1.5
    /// SHA-256 signature on stdout, for an HSM or PKCS#11 token: the private key then never has
    /// to be on this machine. For example `openssl dgst -sha256 -binary -sign KEY.pem`.
    #[arg(
        long,
        value_name = "CMD",
        requires = "signing_cert",
        env = "APPLIANCE_EXTERNAL_SIGNER"
    )]
    pub external_signer: Option<String>,
    /// The policy version to build, instead of the one in policies/releases.toml. It must be
    /// higher than the last released version recorded there.
    #[arg(long, value_name = "MAJOR.MINOR.REVISION")]
    pub policy_version: Option<String>,
}

#[derive(Debug, Args, Clone)]
pub struct LayersArg {
    /// Layers in order, comma separated; later ones override earlier ones.
    #[arg(
        long = "layers",
        value_delimiter = ',',
        default_value = "core,qemu-x86_64,firewall",
        env = "APPLIANCE_LAYERS"
    )]
    pub names: Vec<String>,
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

/// The IPE implementation built into the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Ipe {
    /// Linux 6.12's own security/ipe (C).
    Upstream,
    /// security/ipe_rust: the C shim with the ipe-lsm engine in Rust.
    Rust,
}

impl Ipe {
    pub fn name(self) -> &'static str {
        match self {
            Ipe::Upstream => "upstream",
            Ipe::Rust => "rust",
        }
    }

    /// The output folder of an image with this IPE when tests or benchmarks build both: the
    /// default IPE's is the plain name.
    pub fn output_name(self, name: &str) -> String {
        match self {
            Ipe::Rust => name.to_owned(),
            Ipe::Upstream => format!("{name}-upstream"),
        }
    }
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Which built image to boot, by its folder under target/appliance/.
    #[arg(long, default_value = "default")]
    pub name: String,
    /// Force an accelerator instead of probing: tcg or kvm.
    #[arg(long, value_parser = ["tcg", "kvm"])]
    pub accel: Option<String>,
    /// Extra kernel command-line arguments, appended.
    #[arg(long)]
    pub append: Option<String>,
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
    /// The suite to take each from.
    #[arg(long, default_value = "bookworm")]
    pub suite: String,
}

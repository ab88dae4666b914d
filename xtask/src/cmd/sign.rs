//! `cargo xtask sign`: sign an IPE policy or an fs-verity digest by hand, with
//! the development key, an external signer (HSM) or a signature made offline.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use signing::FsVerityDigest;

use crate::args::SignerArgs;
use crate::stages::sign::{self, Keys, SignerChoice};

/// Sign IPE policies and fs-verity digests.
#[derive(Debug, Args)]
#[command(
    long_about = "Sign IPE policies and fs-verity digests for the kernel.\n\n\
    The signature comes from one of three places:\n\n\
    Development key (default): keys/ as made by `cargo xtask keys generate`, or --keys DIR \
    (relative to the workspace).\n\n\
    External signer: --cert CERT --external-signer CMD. CMD runs under `sh -c`, gets the exact \
    bytes to sign on stdin, and must print the raw RSASSA-PKCS1-v1_5 SHA-256 signature on stdout \
    and exit 0; its stderr is shown. The private key never touches this machine. Examples:\n  \
    --external-signer 'openssl dgst -sha256 -binary -sign /secure/key.pem'\n  \
    --external-signer 'pkcs11-tool --sign -m SHA256-RSA-PKCS --id 01 -i /dev/stdin -o /dev/stdout'\n\n\
    Offline, in two steps: --cert CERT --signature SIG. First sign the bytes elsewhere (for a \
    policy, the policy file itself; for fs-verity, the output of `sign fsverity-tbs`), e.g. \
    `openssl dgst -sha256 -sign KEY -out SIG FILE`; then run the same command with \
    --signature SIG to assemble the PKCS#7.\n\n\
    Every signature is verified against the certificate before anything is written, and a \
    policy is first parsed exactly as the kernel parses it: one the kernel would refuse, or one \
    whose PKCS#7 exceeds the kernel's 64 KiB limit, is never signed."
)]
pub struct SignArgs {
    #[command(subcommand)]
    pub command: SignCommand,
}

#[derive(Debug, Subcommand)]
pub enum SignCommand {
    /// Sign an IPE policy: DER PKCS#7 with the policy attached, for securityfs `new_policy`.
    #[command(long_about = "Sign an IPE policy.\n\n\
        Writes DER PKCS#7 SignedData with the policy text attached, no signed attributes and \
        rsaEncryption as the signature algorithm: the only form IPE's securityfs `new_policy` \
        and `update` accept, byte for byte what \
        `openssl smime -sign -noattr -nodetach -binary -outform der -md sha256` makes.\n\n\
        Example:\n  cargo xtask sign policy policy.txt policy.p7s\n  \
        cat policy.p7s > /sys/kernel/security/ipe/new_policy")]
    Policy {
        /// The policy text
        input: PathBuf,
        /// Where to write the signed policy
        output: PathBuf,
        #[command(flatten)]
        signer: SignerArgs,
    },

    /// Sign a file's fs-verity digest: the detached signature `fsverity enable --signature` takes.
    #[command(long_about = "Sign a file's fs-verity digest.\n\n\
        DIGEST is what `fsverity digest FILE` prints before the file name, e.g. sha256:1f2e...; \
        the output is byte for byte what `fsverity sign FILE OUT --key K --cert C` writes: a \
        detached PKCS#7 signature over the fsverity_formatted_digest, without certificates.\n\n\
        Example:\n  cargo xtask sign fsverity \"$(fsverity digest bin/app | cut -d' ' -f1)\" app.sig\n  \
        fsverity enable bin/app --signature app.sig")]
    Fsverity {
        /// The digest, ALGORITHM:HEX as printed by `fsverity digest`
        digest: FsVerityDigest,
        /// Where to write the DER signature
        output: PathBuf,
        #[command(flatten)]
        signer: SignerArgs,
    },

    /// Write the exact bytes an fs-verity signature covers, for offline signing.
    #[command(
        long_about = "Write the exact bytes an fs-verity signature covers (the \
        fsverity_formatted_digest: \"FSVerity\", le16 algorithm, le16 size, digest), for the \
        first step of offline signing. Sign them elsewhere, then assemble with \
        `cargo xtask sign fsverity DIGEST OUT --cert C --signature SIG`.\n\n\
        Example:\n  cargo xtask sign fsverity-tbs sha256:1f2e... app.tbs\n  \
        openssl dgst -sha256 -sign KEY -out app.rawsig app.tbs   # on the signing machine"
    )]
    FsverityTbs {
        /// The digest, ALGORITHM:HEX as printed by `fsverity digest`
        digest: FsVerityDigest,
        /// Where to write the bytes to sign
        output: PathBuf,
    },
}

/// The configured signer's keys; development keys must exist already (`keys generate`).
fn keys(signer: &SignerArgs, workspace: &Path) -> Result<Keys> {
    let choice = signer.choice(workspace);
    if let SignerChoice::DevKeys(dir) = &choice {
        signing::keystore::load(dir).with_context(|| {
            format!(
                "no signing keys in {}: create them with `cargo xtask keys generate`",
                dir.display()
            )
        })?;
    }
    sign::load(&choice)
}

pub fn run(args: &SignArgs, workspace: &Path) -> Result<()> {
    match &args.command {
        SignCommand::Policy {
            input,
            output,
            signer,
        } => {
            let policy =
                std::fs::read(input).with_context(|| format!("reading {}", input.display()))?;
            let keys = keys(signer, workspace)?;
            let signed = keys
                .sign_policy(&policy)
                .with_context(|| format!("signing {}", input.display()))?;
            crate::cache::write_atomic(output, &signed)?;
            eprintln!(
                "signed {} with {} -> {}",
                input.display(),
                keys.describe(),
                output.display()
            );
        }
        SignCommand::Fsverity {
            digest,
            output,
            signer,
        } => {
            let keys = keys(signer, workspace)?;
            let signature = keys.sign_fsverity_digest(digest)?;
            crate::cache::write_atomic(output, &signature)?;
            eprintln!(
                "signed {digest} with {} -> {}",
                keys.describe(),
                output.display()
            );
        }
        SignCommand::FsverityTbs { digest, output } => {
            crate::cache::write_atomic(output, &digest.formatted())?;
            eprintln!(
                "wrote the bytes to sign for {digest} to {}",
                output.display()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        sign: SignArgs,
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("sign").chain(args.iter().copied()))
    }

    #[test]
    fn signer_options_must_be_coherent() {
        assert!(parse(&["policy", "in", "out"]).is_ok());
        assert!(
            parse(&[
                "policy",
                "in",
                "out",
                "--cert",
                "c",
                "--external-signer",
                "x"
            ])
            .is_ok()
        );
        assert!(parse(&["policy", "in", "out", "--cert", "c", "--signature", "s"]).is_ok());
        for bad in [
            &["policy", "in", "out", "--cert", "c"][..],
            &["policy", "in", "out", "--external-signer", "x"],
            &[
                "policy",
                "in",
                "out",
                "--cert",
                "c",
                "--external-signer",
                "x",
                "--signature",
                "s",
            ],
            &[
                "policy",
                "in",
                "out",
                "--keys",
                "k",
                "--cert",
                "c",
                "--signature",
                "s",
            ],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn digests_are_parsed_like_fsverity_prints_them() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        assert!(parse(&["fsverity-tbs", &digest, "out"]).is_ok());
        let err = parse(&["fsverity-tbs", "sha256:abc", "out"]).err().unwrap();
        assert!(err.to_string().contains("fsverity digest"), "{err}");
    }
}

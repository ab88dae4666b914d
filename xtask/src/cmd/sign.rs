//! `cargo xtask sign`: sign an IPE policy or an fs-verity digest by hand, with
//! the development key, an external signer (HSM) or a signature made offline.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{ArgGroup, Args, Subcommand};
use signing::{
    Certificate, ExternalSigner, FsVerityDigest, LocalSigner, SignatureFile, Signer, keystore,
};

use super::keys::default_keys_dir;

/// Sign IPE policies and fs-verity digests.
#[derive(Debug, Args)]
#[command(
    long_about = "Sign IPE policies and fs-verity digests for the kernel.\n\n\
    The signature comes from one of three places:\n\n\
    Development key (default): keys/ as made by `cargo xtask keys generate`, or --keys DIR.\n\n\
    External signer: --cert CERT --external-signer CMD. CMD runs under `sh -c`, gets the exact \
    bytes to sign on stdin, and must print the raw RSASSA-PKCS1-v1_5 SHA-256 signature on stdout \
    and exit 0; its stderr is shown. The private key never touches this machine. Examples:\n  \
    --external-signer 'openssl dgst -sha256 -binary -sign /secure/key.pem'\n  \
    --external-signer 'pkcs11-tool --sign -m SHA256-RSA-PKCS --id 01 -i /dev/stdin -o /dev/stdout'\n\n\
    Offline, in two steps: --cert CERT --signature SIG. First sign the bytes elsewhere (for a \
    policy, the policy file itself; for fs-verity, the output of `sign fsverity-tbs`), e.g. \
    `openssl dgst -sha256 -sign KEY -out SIG FILE`; then run the same command with \
    --signature SIG to assemble the PKCS#7.\n\n\
    Every signature is verified against the certificate before anything is written."
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

/// Where signatures come from. Reusable: `#[command(flatten)]` it into any command that signs.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("remote").args(["external_signer", "signature"])))]
pub struct SignerArgs {
    /// Development keys directory, used unless --cert is given [default: <workspace>/keys]
    #[arg(long, value_name = "DIR", conflicts_with = "cert")]
    pub keys: Option<PathBuf>,

    /// Certificate (PEM or DER) of the key used by --external-signer or --signature
    #[arg(long, value_name = "FILE", requires = "remote")]
    pub cert: Option<PathBuf>,

    /// Shell command that reads the bytes to sign on stdin and prints the raw RSA signature
    #[arg(long, value_name = "CMD", requires = "cert")]
    pub external_signer: Option<String>,

    /// Raw RSA signature made offline over the bytes to sign (two-step signing)
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub signature: Option<PathBuf>,
}

impl SignerArgs {
    /// The configured signer and the certificate its signatures must verify with.
    pub fn resolve(&self) -> Result<(Box<dyn Signer>, Certificate)> {
        let Some(cert_path) = &self.cert else {
            let dir = self.keys.clone().unwrap_or_else(default_keys_dir);
            let keys = keystore::load(&dir)?;
            return Ok((Box::new(LocalSigner::new(keys.pair.key)), keys.pair.cert));
        };
        let cert = signing::cert::load_certificate(cert_path)?;
        let signer: Box<dyn Signer> = match (&self.external_signer, &self.signature) {
            (Some(command), _) => Box::new(ExternalSigner::shell(command)),
            (None, Some(path)) => Box::new(SignatureFile::read(path)?),
            // clap's `requires = "remote"` on --cert rules this out.
            (None, None) => anyhow::bail!("--cert needs --external-signer or --signature"),
        };
        Ok((signer, cert))
    }
}

pub fn run(args: &SignArgs) -> Result<()> {
    match &args.command {
        SignCommand::Policy {
            input,
            output,
            signer,
        } => {
            let policy =
                std::fs::read(input).with_context(|| format!("reading {}", input.display()))?;
            let (signer, cert) = signer.resolve()?;
            let signed = signing::sign_attached(&policy, signer.as_ref(), &cert)?;
            signing::write_file(output, &signed, 0o644)?;
            eprintln!(
                "signed {} with {} -> {}",
                input.display(),
                signer.describe(),
                output.display()
            );
        }
        SignCommand::Fsverity {
            digest,
            output,
            signer,
        } => {
            let (signer, cert) = signer.resolve()?;
            let signature = signing::sign_fsverity_digest(digest, signer.as_ref(), &cert)?;
            signing::write_file(output, &signature, 0o644)?;
            eprintln!(
                "signed {digest} with {} -> {}",
                signer.describe(),
                output.display()
            );
        }
        SignCommand::FsverityTbs { digest, output } => {
            signing::write_file(output, &digest.formatted(), 0o644)?;
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
    use clap::{CommandFactory, Parser};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        sign: SignArgs,
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("sign").chain(args.iter().copied()))
    }

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
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

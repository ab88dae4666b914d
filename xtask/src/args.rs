//! Argument groups several commands share, defined once: the layers, the signer and the image
//! options. Commands flatten them into their own arguments.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::{ArgGroup, Args};

use crate::stages::image::ImageRequest;
use crate::stages::layer_stack::Ipe;
use crate::stages::sign::{BundleSignerChoice, SignerChoice, UefiSignerChoice};

#[derive(Debug, Args, Clone)]
pub struct LayersArg {
    /// Layers in order, comma separated; later ones override earlier ones.
    #[arg(
        long = "layers",
        value_delimiter = ',',
        default_value = "core,qemu-x86_64,firewall,updates",
        env = "APPLIANCE_LAYERS"
    )]
    pub names: Vec<String>,
}

/// Where signatures come from: development keys, an external signer, or a signature made
/// offline.
#[derive(Debug, Args, Clone)]
#[command(group(ArgGroup::new("remote").args(["external_signer", "signature"])))]
pub struct SignerArgs {
    /// Development keys, relative to the workspace: created on first use by `image`; the
    /// kernel trusts their certificate.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "keys",
        env = "APPLIANCE_KEYS",
        conflicts_with = "cert"
    )]
    pub keys: PathBuf,
    /// Certificate (PEM or DER) of the key behind --external-signer or --signature; the
    /// kernel trusts it.
    #[arg(
        long,
        alias = "signing-cert",
        value_name = "FILE",
        requires = "remote",
        env = "APPLIANCE_SIGNING_CERT"
    )]
    pub cert: Option<PathBuf>,
    /// Shell command that reads the bytes to sign on stdin and prints the raw RSA PKCS#1 v1.5
    /// SHA-256 signature on stdout, for an HSM or PKCS#11 token: the private key then never has
    /// to be on this machine. For example `openssl dgst -sha256 -binary -sign KEY.pem`.
    #[arg(
        long,
        value_name = "CMD",
        requires = "cert",
        env = "APPLIANCE_EXTERNAL_SIGNER"
    )]
    pub external_signer: Option<String>,
    /// Raw RSA signature made offline over the one input to sign (two-step signing; `sign`
    /// only).
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub signature: Option<PathBuf>,
    /// Certificate (PEM or DER) of the Secure Boot `db` key behind --uefi-external-signer: the
    /// devices' firmware holds it in `db`. Without these two, the UKI is signed by the `db`
    /// key in the keys folder (`<keys>/secure-boot/db/`).
    #[arg(
        long,
        value_name = "FILE",
        requires = "uefi_external_signer",
        env = "APPLIANCE_UEFI_CERT"
    )]
    pub uefi_cert: Option<PathBuf>,
    /// Like --external-signer, for the UKI's Secure Boot signature by the `db` key, a role of
    /// its own: the command gets the bytes to sign on stdin and prints the raw RSA signature.
    #[arg(
        long,
        value_name = "CMD",
        requires = "uefi_cert",
        env = "APPLIANCE_UEFI_EXTERNAL_SIGNER"
    )]
    pub uefi_external_signer: Option<String>,
    /// Certificate (PEM or DER) of the key behind --bundle-external-signer: the devices' RAUC
    /// keyring holds it. Without these two, bundles are signed by the RAUC key in the keys
    /// folder (`<keys>/rauc/`, created as a development key when missing), and the image's
    /// keyring holds its certificate.
    #[arg(
        long,
        value_name = "FILE",
        requires = "bundle_external_signer",
        env = "APPLIANCE_BUNDLE_CERT"
    )]
    pub bundle_cert: Option<PathBuf>,
    /// Like --external-signer, for the bundle's signature by the RAUC key, a role of its own:
    /// the command gets the bytes to sign (the manifest) on stdin and prints the raw RSA
    /// PKCS#1 v1.5 SHA-256 signature.
    #[arg(
        long,
        value_name = "CMD",
        requires = "bundle_cert",
        env = "APPLIANCE_BUNDLE_EXTERNAL_SIGNER"
    )]
    pub bundle_external_signer: Option<String>,
}

impl SignerArgs {
    pub fn choice(&self, workspace: &Path) -> SignerChoice {
        match (&self.cert, &self.external_signer, &self.signature) {
            (Some(cert), Some(command), _) => SignerChoice::External {
                cert: cert.clone(),
                command: command.clone(),
            },
            (Some(cert), None, Some(signature)) => SignerChoice::Offline {
                cert: cert.clone(),
                signature: signature.clone(),
            },
            // clap's `requires` rules out a certificate alone.
            _ => SignerChoice::DevKeys(workspace.join(&self.keys)),
        }
    }

    /// Who signs the UKI. A build whose policy key is external never falls back to the keys
    /// folder for the `db` key: that would ship a development signature unnoticed.
    pub fn uefi_choice(&self, workspace: &Path) -> Result<UefiSignerChoice> {
        match (&self.uefi_cert, &self.uefi_external_signer, &self.cert) {
            (Some(cert), Some(command), _) => Ok(UefiSignerChoice::External {
                cert: cert.clone(),
                command: command.clone(),
            }),
            (_, _, Some(_)) => bail!(
                "the policy is signed by an external key, so the UKI must be too: give the \
                 Secure Boot db key's certificate and signer with --uefi-cert and \
                 --uefi-external-signer"
            ),
            _ => Ok(UefiSignerChoice::KeysDir(workspace.join(&self.keys))),
        }
    }

    /// Who signs update bundles, whose certificate the image's RAUC keyring holds. A build
    /// whose policy key is external never falls back to the keys folder for the bundle key:
    /// that would ship a development signature unnoticed.
    pub fn bundle_choice(&self, workspace: &Path) -> Result<BundleSignerChoice> {
        match (&self.bundle_cert, &self.bundle_external_signer, &self.cert) {
            (Some(cert), Some(command), _) => Ok(BundleSignerChoice::External {
                cert: cert.clone(),
                command: command.clone(),
            }),
            (_, _, Some(_)) => bail!(
                "the policy is signed by an external key, so the bundle must be too: give the \
                 RAUC key's certificate and signer with --bundle-cert and \
                 --bundle-external-signer"
            ),
            _ => Ok(BundleSignerChoice::KeysDir(workspace.join(&self.keys))),
        }
    }
}

#[derive(Debug, Args, Clone)]
pub struct ImageArgs {
    #[command(flatten)]
    pub layers: LayersArg,
    /// The output folder's name under target/appliance/: a plain name.
    #[arg(long, default_value = "default")]
    pub name: String,
    /// Timestamp for every file in the rootfs and for the kernel, for reproducible images.
    #[arg(long, env = "SOURCE_DATE_EPOCH", default_value_t = 0)]
    pub source_date_epoch: u64,
    #[command(flatten)]
    pub signer: SignerArgs,
    /// The policy version to build, instead of the one in policies/releases.toml. It must be
    /// higher than the last released version recorded there.
    #[arg(long, value_name = "MAJOR.MINOR.REVISION")]
    pub policy_version: Option<String>,
    /// `qcow2` also ships disk.qcow2, disk.img converted by qemu-img.
    #[arg(long, value_enum, default_value = "raw")]
    pub format: crate::stages::disk::DiskFormat,
}

impl ImageArgs {
    pub fn request(&self, workspace: &Path, ipe: Ipe) -> Result<ImageRequest> {
        if self.signer.signature.is_some() {
            bail!(
                "--signature signs one input known in advance; an image signs what it builds: \
                 use --external-signer, or sign the policy afterwards with `cargo xtask sign policy`"
            );
        }
        Ok(ImageRequest {
            layers: self.layers.names.clone(),
            name: self.name.clone(),
            source_date_epoch: self.source_date_epoch,
            ipe,
            signer: self.signer.choice(workspace),
            uefi_signer: self.signer.uefi_choice(workspace)?,
            bundle_signer: self.signer.bundle_choice(workspace)?,
            policy_version: self.policy_version.clone(),
            disk_format: self.format,
        })
    }
}

//! `cargo xtask bundle`: the image for the given layers, then a signed RAUC update bundle of it.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::Args;

use crate::args::ImageArgs;
use crate::stages::layer_stack::Ipe;
use crate::stages::session::Session;
use crate::stages::sign::{self, BundleSignerChoice};
use crate::stages::{bundle, image};

#[derive(Debug, Args)]
pub struct BundleArgs {
    #[command(flatten)]
    pub image: ImageArgs,
    /// Which IPE LSM the image's kernel gets, as for `image`.
    #[arg(long, value_enum, default_value = "rust", env = "APPLIANCE_IPE")]
    pub ipe: Ipe,
    /// Certificate (PEM or DER) of the key behind --bundle-external-signer: the devices' RAUC
    /// keyring holds it. Without these two, the bundle is signed by the RAUC key in the keys
    /// folder (`<keys>/rauc/`, created as a development key when missing).
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

impl BundleArgs {
    /// Who signs the bundle. A build whose policy key is external never falls back to the keys
    /// folder for the bundle key: that would ship a development signature unnoticed.
    fn signer_choice(&self, workspace: &Path) -> Result<BundleSignerChoice> {
        match (
            &self.bundle_cert,
            &self.bundle_external_signer,
            &self.image.signer.cert,
        ) {
            (Some(cert), Some(command), _) => Ok(BundleSignerChoice::External {
                cert: cert.clone(),
                command: command.clone(),
            }),
            (_, _, Some(_)) => bail!(
                "the policy is signed by an external key, so the bundle must be too: give the \
                 RAUC key's certificate and signer with --bundle-cert and \
                 --bundle-external-signer"
            ),
            _ => Ok(BundleSignerChoice::KeysDir(
                workspace.join(&self.image.signer.keys),
            )),
        }
    }
}

pub fn run(session: &Session, args: &BundleArgs) -> Result<()> {
    let project = &session.project;
    let request = args.image.request(&project.root, args.ipe)?;
    // Checked before the image is built: a wrong flag costs nothing.
    let choice = args.signer_choice(&project.root)?;
    let signer = sign::load_bundle_signer(&choice)?;
    let image = image::build(session, &request)?;
    let inputs = bundle::for_image(&image, &signer);
    let path = project
        .bundle_dir(&request.name)
        .join(format!("update-{}.raucb", inputs.version));
    bundle::write(&inputs, &path)?;
    println!("{}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        bundle: BundleArgs,
    }

    fn choice(args: &[&str]) -> Result<BundleSignerChoice> {
        let cli = Cli::try_parse_from(std::iter::once("bundle").chain(args.iter().copied()))?;
        cli.bundle.signer_choice(Path::new("/w"))
    }

    #[test]
    fn the_bundle_key_is_the_keys_folder_s_unless_an_external_one_is_named() {
        assert_eq!(
            choice(&[]).unwrap(),
            BundleSignerChoice::KeysDir("/w/keys".into())
        );
        let external = ["--bundle-cert", "r.pem", "--bundle-external-signer", "hsm"];
        assert_eq!(
            choice(&external).unwrap(),
            BundleSignerChoice::External {
                cert: "r.pem".into(),
                command: "hsm".to_owned()
            }
        );
        assert!(choice(&["--bundle-cert", "r.pem"]).is_err());
        // An external policy key never falls back to a development bundle key.
        let policy = ["--cert", "p.pem", "--external-signer", "hsm"];
        let error = choice(&policy).unwrap_err().to_string();
        assert!(error.contains("--bundle-external-signer"), "{error}");
        assert!(choice(&[&policy[..], &external[..]].concat()).is_ok());
    }
}

//! `cargo xtask bundle`: the image for the given layers, then a signed RAUC update bundle of it.

use anyhow::Result;
use clap::Args;

use crate::args::ImageArgs;
use crate::stages::layer_stack::Ipe;
use crate::stages::session::Session;
use crate::stages::sign;
use crate::stages::{bundle, image};

#[derive(Debug, Args)]
pub struct BundleArgs {
    /// The image's arguments; its signer arguments name the bundle key too (--bundle-cert,
    /// --bundle-external-signer), whose certificate the image's RAUC keyring holds.
    #[command(flatten)]
    pub image: ImageArgs,
    /// Which IPE LSM the image's kernel gets, as for `image`.
    #[arg(long, value_enum, default_value = "rust", env = "APPLIANCE_IPE")]
    pub ipe: Ipe,
}

pub fn run(session: &Session, args: &BundleArgs) -> Result<()> {
    let project = &session.project;
    // Checked before the image is built: a wrong flag costs nothing.
    let request = args.image.request(&project.root, args.ipe)?;
    let signer = sign::load_bundle_signer(&request.bundle_signer)?;
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
    use std::path::Path;

    use super::*;
    use crate::stages::sign::BundleSignerChoice;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        bundle: BundleArgs,
    }

    fn choice(args: &[&str]) -> Result<BundleSignerChoice> {
        let cli = Cli::try_parse_from(std::iter::once("bundle").chain(args.iter().copied()))?;
        cli.bundle.image.signer.bundle_choice(Path::new("/w"))
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

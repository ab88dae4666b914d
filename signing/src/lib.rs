//! Host-side signing for the appliance image.
//!
//! - [`keystore`]: the development key directory (create once, load, never overwrite).
//! - [`keygen`]: a new RSA key and self-signed certificate, in memory.
//! - [`cert`]: reading certificates and their RSA public keys.
//! - [`signer`]: the [`Signer`] contract, the in-process [`LocalSigner`] and
//!   the offline [`SignatureFile`].
//! - [`external`]: [`ExternalSigner`], a command that signs (HSM, smart card).
//! - [`sign`]: [`sign_attached`] (IPE policies) and [`sign_detached`].
//! - [`fsverity`]: the formatted digest an fs-verity builtin signature covers.
//! - [`authenticode`]: Authenticode signatures of EFI applications (Secure Boot).
//! - [`secure_boot`]: the Secure Boot key roles (PK, KEK, db) beside the policy key.
//! - [`rauc`]: the RAUC bundle key role beside them.
//! - `pkcs7`: pure DER assembly of the SignedData message.
//! - `spc`: pure DER assembly of Authenticode's SignedData.
//! - `atomic`: temp-file-and-rename writes.
//!
//! Invariant: private keys never enter an image. Only certificates and
//! signatures leave this crate for the image; the key stays in the keys
//! directory or behind an external signer.

mod atomic;
pub mod authenticode;
pub mod cert;
mod error;
pub mod external;
pub mod fsverity;
pub mod keygen;
pub mod keystore;
mod pkcs7;
pub mod rauc;
pub mod secure_boot;
pub mod sign;
pub mod signer;
mod spc;

pub use atomic::write_file;
pub use authenticode::{authenticode_hash, authenticode_to_be_signed, sign_efi_image};
pub use error::{Error, Result};
pub use external::ExternalSigner;
pub use fsverity::{FsVerityDigest, sign_fsverity_digest};
pub use keygen::KeyPair;
pub use keystore::{DevKeys, KeyPaths, load_or_create_dev_keys};
pub use secure_boot::{DbSigner, SecureBootKeys};
pub use sign::{sign_attached, sign_detached, verify_raw};
pub use signer::{LocalSigner, SignatureFile, Signer};
pub use x509_cert::Certificate;

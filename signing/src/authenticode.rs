//! Authenticode signatures for EFI applications (UEFI Secure Boot).
//!
//! The firmware hashes the image (see `pe_image::authenticode` for which
//! bytes), finds the hash in the signed `SpcIndirectDataContent` of the
//! PKCS#7 in the image's certificate table, and checks the signature against
//! its `db`. The result verifies with `sbverify`, and unlike sbsign's it is
//! deterministic (no signingTime).
//!
//! Offline signing works like the other formats: step one hands
//! [`authenticode_to_be_signed`] to the key holder, step two signs with a
//! [`crate::SignatureFile`] holding their raw signature.

use pe_image::authenticode::UnsignedImage;
use sha2::{Digest, Sha256};
use x509_cert::Certificate;

use crate::error::Result;
use crate::sign::checked_signature;
use crate::signer::Signer;
use crate::spc;

/// Signs the unsigned EFI application `image` and returns the signed image.
///
/// Refuses an image that is already signed or is not a well-formed PE/COFF.
pub fn sign_efi_image(image: &[u8], signer: &dyn Signer, cert: &Certificate) -> Result<Vec<u8>> {
    let (unsigned, content) = prepare(image)?;
    let to_be_signed = content.to_be_signed()?;
    let signature = checked_signature(&to_be_signed, signer, cert)?;
    let pkcs7 = content.encode(&signature, cert)?;
    Ok(unsigned.attach_signature(&pkcs7)?)
}

/// The exact bytes a signer signs for `image`: what an offline key holder
/// gets in step one (`openssl dgst -sha256 -sign KEY -binary` of them).
pub fn authenticode_to_be_signed(image: &[u8]) -> Result<Vec<u8>> {
    prepare(image)?.1.to_be_signed()
}

/// The SHA-256 Authenticode hash of an unsigned image, as `sbverify` and
/// `pesign --hash` report it.
pub fn authenticode_hash(image: &[u8]) -> Result<[u8; 32]> {
    Ok(image_hash(&UnsignedImage::new(image)?))
}

fn prepare(image: &[u8]) -> Result<(UnsignedImage, spc::Unsigned)> {
    let unsigned = UnsignedImage::new(image)?;
    let content = spc::Unsigned::new(&image_hash(&unsigned))?;
    Ok((unsigned, content))
}

fn image_hash(image: &UnsignedImage) -> [u8; 32] {
    let mut hasher = Sha256::new();
    image.hashed_parts().for_each(|part| hasher.update(part));
    hasher.finalize().into()
}

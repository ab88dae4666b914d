//! The crate's error type. Every variant names the file or command involved
//! and, where there is one, the way out.

use std::path::PathBuf;
use std::process::ExitStatus;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while creating, loading or using signing keys.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A filesystem operation failed.
    #[error("{}: {action} failed: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// What was being done ("read", "write", "rename", ...).
        action: &'static str,
        /// The underlying error.
        source: std::io::Error,
    },

    /// `keys generate` found a key or certificate already in place.
    #[error(
        "{} already exists; refusing to overwrite a signing key. Keep using the existing keys, \
         or move the directory {} aside (kernels built with its certificate will no longer accept \
         new signatures) and run `cargo xtask keys generate` again",
        path.display(), dir.display()
    )]
    AlreadyExists {
        /// The existing file.
        path: PathBuf,
        /// The keys directory.
        dir: PathBuf,
    },

    /// Some, but not all, of the key files are present.
    #[error(
        "incomplete key set: {} exists but {} is missing; restore the missing file, or move {} \
         aside and run `cargo xtask keys generate`",
        present.display(), missing.display(), dir.display()
    )]
    IncompleteKeySet {
        /// A file that exists.
        present: PathBuf,
        /// A file that does not.
        missing: PathBuf,
        /// The keys directory.
        dir: PathBuf,
    },

    /// None of the key files exist where a signing command expected them.
    #[error(
        "no signing key in {}: run `cargo xtask keys generate --dir {}` for a development key, \
         or sign with --external-signer / --signature and --cert",
        dir.display(), dir.display()
    )]
    NoKeys {
        /// The keys directory.
        dir: PathBuf,
    },

    /// A private key file could not be decoded.
    #[error(
        "{}: not an unencrypted PKCS#8 PEM RSA private key ({reason}); convert one with \
         `openssl pkcs8 -topk8 -nocrypt -in OLD.pem -out {}`",
        path.display(), path.display()
    )]
    BadPrivateKey {
        /// The key file.
        path: PathBuf,
        /// Why decoding failed.
        reason: String,
    },

    /// A certificate file could not be decoded.
    #[error("{}: not a PEM or DER X.509 certificate ({reason})", path.display())]
    BadCertificate {
        /// The certificate file.
        path: PathBuf,
        /// Why decoding failed.
        reason: String,
    },

    /// The certificate's public key is not an RSA key this crate can verify with.
    #[error(
        "certificate \"{subject}\" does not carry an RSA public key ({reason}); only RSA \
         (rsaEncryption) signing keys are supported"
    )]
    NotRsa {
        /// The certificate's subject.
        subject: String,
        /// Why the key was rejected.
        reason: String,
    },

    /// The private key does not belong to the certificate.
    #[error(
        "{} does not belong to the certificate {}: they were not generated together; restore the \
         matching pair, or move their directory aside and run `cargo xtask keys generate`",
        key.display(), cert.display()
    )]
    KeyCertMismatch {
        /// The private key file.
        key: PathBuf,
        /// The certificate file.
        cert: PathBuf,
    },

    /// The PEM and DER copies of the certificate differ.
    #[error(
        "{} and {} hold different certificates; one of them was replaced by hand. Restore the \
         pair, or convert the right one with `openssl x509 -in {} -outform der -out {}`",
        pem.display(), der.display(), pem.display(), der.display()
    )]
    CertCopiesDiffer {
        /// The PEM copy.
        pem: PathBuf,
        /// The DER copy.
        der: PathBuf,
    },

    /// The common name given for a new certificate is unusable.
    #[error("invalid common name {0:?}: it must be 1 to 64 characters long")]
    BadCommonName(String),

    /// The fs-verity digest given on the command line is malformed.
    #[error(
        "invalid fs-verity digest {0:?}: expected ALGORITHM:HEX as printed by `fsverity digest`, \
         e.g. sha256: followed by 64 hex digits (or sha512: and 128)"
    )]
    BadFsVerityDigest(String),

    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed: {0}")]
    Random(String),

    /// An RSA operation failed in the local signer or key generator.
    #[error("RSA {action} failed: {source}")]
    Rsa {
        /// What was being done.
        action: &'static str,
        /// The underlying error.
        source: rsa::Error,
    },

    /// Building the self-signed certificate failed.
    #[error("building the self-signed certificate failed: {0}")]
    Certificate(#[from] x509_cert::builder::Error),

    /// DER encoding failed (only for values outside what the structures allow).
    #[error("DER encoding failed: {0}")]
    Der(#[from] der::Error),

    /// Encoding a key as SPKI or PKCS#8 failed.
    #[error("encoding the {what} failed: {reason}")]
    KeyEncoding {
        /// Which key.
        what: &'static str,
        /// Why.
        reason: String,
    },

    /// The external signing command could not be started or fed.
    #[error(
        "external signer `{command}`: {action} failed: {source}; check that the command exists \
         and reads the data to sign from stdin"
    )]
    ExternalIo {
        /// The command as configured.
        command: String,
        /// What was being done ("start", "write stdin", ...).
        action: &'static str,
        /// The underlying error.
        source: std::io::Error,
    },

    /// The external signing command exited unsuccessfully.
    #[error("external signer `{command}` failed ({status}); its messages are above")]
    ExternalFailed {
        /// The command as configured.
        command: String,
        /// How it exited.
        status: ExitStatus,
    },

    /// An EFI image could not be signed.
    #[error("EFI image: {0}")]
    Pe(#[from] pe_image::Error),

    /// A signature does not verify with the certificate's public key.
    #[error(
        "the signature from {signer} does not verify with the public key of certificate \
         \"{subject}\": the signer holds a different key, signed different bytes, or did not \
         produce a raw RSASSA-PKCS1-v1_5 SHA-256 signature"
    )]
    BadSignature {
        /// Description of the signer.
        signer: String,
        /// The certificate's subject.
        subject: String,
    },
}

impl Error {
    /// Shorthand for [`Error::Io`].
    pub(crate) fn io(
        path: impl Into<PathBuf>,
        action: &'static str,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            path: path.into(),
            action,
            source,
        }
    }
}

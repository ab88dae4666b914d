//! The development key directory: `signing_key.pem` (PKCS#8, mode 0600),
//! `signing_cert.pem` and `signing_cert.der`.
//!
//! Keys are created once and never overwritten: a kernel built with the
//! certificate accepts only signatures from that key.

use std::fs::DirBuilder;
use std::io::ErrorKind;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use der::pem::LineEnding;
use der::{Decode, Encode, EncodePem};
use rsa::PrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use x509_cert::Certificate;

use crate::atomic;
use crate::cert;
use crate::error::{Error, Result};
use crate::keygen::{self, KeyPair};

/// File name of the private key inside the keys directory.
pub const KEY_FILE: &str = "signing_key.pem";
/// File name of the PEM certificate (for `CONFIG_SYSTEM_TRUSTED_KEYS`).
pub const CERT_PEM_FILE: &str = "signing_cert.pem";
/// File name of the DER certificate.
pub const CERT_DER_FILE: &str = "signing_cert.der";

/// Where the files of a keys directory live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPaths {
    /// The keys directory.
    pub dir: PathBuf,
    /// The private key, PKCS#8 PEM.
    pub key: PathBuf,
    /// The certificate, PEM.
    pub cert_pem: PathBuf,
    /// The certificate, DER.
    pub cert_der: PathBuf,
}

impl KeyPaths {
    /// The standard file names inside `dir`.
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            key: dir.join(KEY_FILE),
            cert_pem: dir.join(CERT_PEM_FILE),
            cert_der: dir.join(CERT_DER_FILE),
        }
    }

    fn all(&self) -> [&Path; 3] {
        [&self.key, &self.cert_pem, &self.cert_der]
    }
}

/// A key pair read from, or just written to, a keys directory.
pub struct DevKeys {
    /// The key and certificate.
    pub pair: KeyPair,
    /// Where they are.
    pub paths: KeyPaths,
    /// Whether this call generated them.
    pub created: bool,
}

/// Generates a key pair and writes it to `dir` (created with mode 0700 if
/// missing). Refuses if any of the three files already exists.
pub fn create(dir: &Path, common_name: &str) -> Result<DevKeys> {
    let paths = KeyPaths::new(dir);
    refuse_existing(&paths)?;
    let pair = keygen::generate(common_name)?;
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::io(dir, "create directory", e))?;
    // Checked again: generation takes a while and something may have appeared.
    refuse_existing(&paths)?;
    let key_pem = pair
        .key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| Error::KeyEncoding {
            what: "private key",
            reason: e.to_string(),
        })?;
    let cert_der = pair.cert.to_der()?;
    let cert_pem = pair.cert.to_pem(LineEnding::LF)?;
    atomic::write_file(&paths.key, key_pem.as_bytes(), 0o600)?;
    atomic::write_file(&paths.cert_pem, cert_pem.as_bytes(), 0o644)?;
    atomic::write_file(&paths.cert_der, &cert_der, 0o644)?;
    Ok(DevKeys {
        pair,
        paths,
        created: true,
    })
}

/// Reads the key pair in `dir`, checking that the key belongs to the
/// certificate and that both certificate copies agree.
pub fn load(dir: &Path) -> Result<DevKeys> {
    let paths = KeyPaths::new(dir);
    match presence(&paths)? {
        Presence::All => {}
        Presence::None => {
            return Err(Error::NoKeys {
                dir: dir.to_owned(),
            });
        }
        Presence::Partial { present, missing } => {
            return Err(Error::IncompleteKeySet {
                present,
                missing,
                dir: dir.to_owned(),
            });
        }
    }
    let key = load_private_key(&paths.key)?;
    let cert = cert::load_certificate(&paths.cert_pem)?;
    let der = std::fs::read(&paths.cert_der).map_err(|e| Error::io(&paths.cert_der, "read", e))?;
    if Certificate::from_der(&der).ok().as_ref() != Some(&cert) {
        return Err(Error::CertCopiesDiffer {
            pem: paths.cert_pem,
            der: paths.cert_der,
        });
    }
    if cert::public_key(&cert)? != key.to_public_key() {
        return Err(Error::KeyCertMismatch {
            key: paths.key,
            cert: paths.cert_pem,
        });
    }
    Ok(DevKeys {
        pair: KeyPair { key, cert },
        paths,
        created: false,
    })
}

/// What the image build calls: loads the keys in `dir`, or, if there are none
/// at all, generates a development key pair there and warns on stderr.
pub fn load_or_create_dev_keys(dir: &Path) -> Result<DevKeys> {
    if presence(&KeyPaths::new(dir))? != Presence::None {
        return load(dir);
    }
    let keys = create(dir, keygen::DEFAULT_COMMON_NAME)?;
    eprintln!(
        "warning: generated a new DEVELOPMENT signing key in {}; only kernels built with {} \
         accept what it signs. Keep the directory (it is git-ignored) and never ship the key.",
        dir.display(),
        keys.paths.cert_pem.display()
    );
    Ok(keys)
}

/// Reads an unencrypted PKCS#8 PEM RSA private key.
pub fn load_private_key(path: &Path) -> Result<PrivateKey> {
    let pem = std::fs::read_to_string(path).map_err(|e| Error::io(path, "read", e))?;
    PrivateKey::from_pkcs8_pem(&pem).map_err(|e| Error::BadPrivateKey {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

#[derive(Debug, PartialEq, Eq)]
enum Presence {
    None,
    All,
    Partial { present: PathBuf, missing: PathBuf },
}

fn presence(paths: &KeyPaths) -> Result<Presence> {
    let mut present = None;
    let mut missing = None;
    for path in paths.all() {
        match path.symlink_metadata() {
            Ok(_) => present = present.or(Some(path)),
            Err(e) if e.kind() == ErrorKind::NotFound => missing = missing.or(Some(path)),
            Err(e) => return Err(Error::io(path, "inspect", e)),
        }
    }
    Ok(match (present, missing) {
        (Some(p), Some(m)) => Presence::Partial {
            present: p.to_owned(),
            missing: m.to_owned(),
        },
        (Some(_), None) => Presence::All,
        (None, _) => Presence::None,
    })
}

fn refuse_existing(paths: &KeyPaths) -> Result<()> {
    match paths
        .all()
        .into_iter()
        .find(|p| p.symlink_metadata().is_ok())
    {
        Some(path) => Err(Error::AlreadyExists {
            path: path.to_owned(),
            dir: paths.dir.clone(),
        }),
        None => Ok(()),
    }
}

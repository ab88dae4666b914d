//! Our PKCS#7 output against the reference implementations: `openssl smime`
//! and `fsverity sign` produce the same bytes from the same key and content
//! (RSASSA-PKCS1-v1_5 is deterministic), and openssl verifies what we make.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::{run, try_run};
use signing::keystore::{self, DevKeys};
use signing::{
    ExternalSigner, FsVerityDigest, LocalSigner, SignatureFile, Signer, sign_attached,
    sign_detached, sign_fsverity_digest,
};

const POLICY: &[u8] = b"policy_name=appliance policy_version=0.0.1\n\
DEFAULT action=DENY\n\
op=EXECUTE dmverity_signature=TRUE action=ALLOW\n\
op=EXECUTE fsverity_signature=TRUE action=ALLOW\n";

/// A keys directory with a freshly generated development key, shared by the tests.
pub struct Fixture {
    _dir: tempfile::TempDir,
    pub keys: DevKeys,
}

pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temporary directory");
        let keys = keystore::create(&dir.path().join("keys"), "signing interop test")
            .expect("generate keys");
        Fixture { _dir: dir, keys }
    })
}

/// Writes `bytes` to a new file `name` in `dir`.
pub fn temp_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write temporary file");
    path
}

fn local() -> LocalSigner {
    LocalSigner::new(fixture().keys.pair.key.clone())
}

#[test]
fn attached_is_byte_identical_to_openssl_smime() {
    let keys = &fixture().keys;
    let dir = tempfile::tempdir().unwrap();
    let policy = temp_file(dir.path(), "policy.txt", POLICY);
    let expected = run(
        "openssl",
        &[
            &"smime",
            &"-sign",
            &"-noattr",
            &"-nodetach",
            &"-binary",
            &"-outform",
            &"der",
            &"-md",
            &"sha256",
            &"-in",
            &policy,
            &"-signer",
            &keys.paths.cert_pem,
            &"-inkey",
            &keys.paths.key,
        ],
    );
    let ours = sign_attached(POLICY, &local(), &keys.pair.cert).unwrap();
    assert_eq!(
        ours, expected,
        "differs from openssl smime; compare with `openssl asn1parse -inform der`"
    );
}

#[test]
fn attached_verifies_with_openssl_against_the_certificate() {
    let keys = &fixture().keys;
    let dir = tempfile::tempdir().unwrap();
    let signed = temp_file(
        dir.path(),
        "policy.p7s",
        &sign_attached(POLICY, &local(), &keys.pair.cert).unwrap(),
    );
    let content = run(
        "openssl",
        &[
            &"smime",
            &"-verify",
            &"-binary",
            &"-inform",
            &"der",
            &"-in",
            &signed,
            &"-CAfile",
            &keys.paths.cert_pem,
            &"-purpose",
            &"any",
        ],
    );
    assert_eq!(content, POLICY);
}

#[test]
fn detached_is_byte_identical_to_openssl_smime_nocerts_and_verifies() {
    let keys = &fixture().keys;
    let dir = tempfile::tempdir().unwrap();
    let content = temp_file(dir.path(), "content", POLICY);
    let expected = run(
        "openssl",
        &[
            &"smime",
            &"-sign",
            &"-noattr",
            &"-nocerts",
            &"-binary",
            &"-outform",
            &"der",
            &"-md",
            &"sha256",
            &"-in",
            &content,
            &"-signer",
            &keys.paths.cert_pem,
            &"-inkey",
            &keys.paths.key,
        ],
    );
    let ours = sign_detached(POLICY, &local(), &keys.pair.cert).unwrap();
    assert_eq!(ours, expected);
    let sig = temp_file(dir.path(), "content.p7s", &ours);
    run(
        "openssl",
        &[
            &"smime",
            &"-verify",
            &"-binary",
            &"-inform",
            &"der",
            &"-in",
            &sig,
            &"-content",
            &content,
            &"-certfile",
            &keys.paths.cert_pem,
            &"-CAfile",
            &keys.paths.cert_pem,
            &"-purpose",
            &"any",
        ],
    );
}

#[test]
fn fsverity_signature_is_byte_identical_to_fsverity_sign() {
    let keys = &fixture().keys;
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..10_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let file = temp_file(dir.path(), "binary", &data);
    let sig_path = dir.path().join("binary.sig");
    run(
        "fsverity",
        &[
            &"sign",
            &file,
            &sig_path,
            &"--key",
            &keys.paths.key,
            &"--cert",
            &keys.paths.cert_pem,
        ],
    );
    // Prints "sha256:HEX FILE".
    let printed = String::from_utf8(run("fsverity", &[&"digest", &file])).unwrap();
    let digest: FsVerityDigest = printed.split_whitespace().next().unwrap().parse().unwrap();
    let ours = sign_fsverity_digest(&digest, &local(), &keys.pair.cert).unwrap();
    assert_eq!(ours, std::fs::read(&sig_path).unwrap());
}

/// An external signer script that signs with the dev key through openssl.
fn openssl_signer(key: &std::path::Path) -> ExternalSigner {
    ExternalSigner::new(
        "openssl",
        ["dgst", "-sha256", "-binary", "-sign"]
            .map(Into::into)
            .into_iter()
            .chain([key.as_os_str().to_owned()]),
    )
}

#[test]
fn external_signer_output_is_byte_identical_to_local_signer() {
    let keys = &fixture().keys;
    let external = openssl_signer(&keys.paths.key);
    assert_eq!(
        external.sign(POLICY).unwrap(),
        local().sign(POLICY).unwrap()
    );
    assert_eq!(
        sign_attached(POLICY, &external, &keys.pair.cert).unwrap(),
        sign_attached(POLICY, &local(), &keys.pair.cert).unwrap()
    );
    // Through a shell, as the command line configures it.
    let shell = ExternalSigner::shell(&format!(
        "cat | openssl dgst -sha256 -binary -sign '{}'",
        keys.paths.key.display()
    ));
    assert_eq!(
        sign_detached(POLICY, &shell, &keys.pair.cert).unwrap(),
        sign_detached(POLICY, &local(), &keys.pair.cert).unwrap()
    );
}

#[test]
fn two_step_signature_file_is_byte_identical_to_local_signer() {
    let keys = &fixture().keys;
    let dir = tempfile::tempdir().unwrap();
    // Step one: the bytes to sign are the policy itself; sign them "offline".
    let policy = temp_file(dir.path(), "policy.txt", POLICY);
    let sig = dir.path().join("policy.sig");
    run(
        "openssl",
        &[
            &"dgst",
            &"-sha256",
            &"-sign",
            &keys.paths.key,
            &"-out",
            &sig,
            &policy,
        ],
    );
    // Step two: assemble.
    let file = SignatureFile::read(&sig).unwrap();
    assert_eq!(
        sign_attached(POLICY, &file, &keys.pair.cert).unwrap(),
        sign_attached(POLICY, &local(), &keys.pair.cert).unwrap()
    );
}

#[test]
fn signature_from_another_key_is_rejected() {
    let keys = &fixture().keys;
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other.pem");
    run(
        "openssl",
        &[
            &"genpkey",
            &"-algorithm",
            &"RSA",
            &"-pkeyopt",
            &"rsa_keygen_bits:2048",
            &"-out",
            &other,
        ],
    );
    let err = sign_attached(POLICY, &openssl_signer(&other), &keys.pair.cert).unwrap_err();
    assert!(matches!(err, signing::Error::BadSignature { .. }), "{err}");
    assert!(err.to_string().contains("does not verify"), "{err}");
}

#[test]
fn signature_over_other_bytes_is_rejected() {
    let keys = &fixture().keys;
    let dir = tempfile::tempdir().unwrap();
    let sig = temp_file(dir.path(), "sig", &local().sign(b"something else").unwrap());
    let err =
        sign_detached(POLICY, &SignatureFile::read(&sig).unwrap(), &keys.pair.cert).unwrap_err();
    assert!(
        err.to_string().contains(&sig.display().to_string()),
        "{err}"
    );
}

#[test]
fn failing_or_missing_external_commands_are_reported() {
    let cert = &fixture().keys.pair.cert;
    let err = sign_attached(
        POLICY,
        &ExternalSigner::shell("echo no HSM here >&2; exit 3"),
        cert,
    )
    .unwrap_err();
    assert!(
        matches!(err, signing::Error::ExternalFailed { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("exit 3"), "{err}");
    let err = sign_attached(
        POLICY,
        &ExternalSigner::new("/nonexistent/signer", [""; 0]),
        cert,
    )
    .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/signer"), "{err}");
}

#[test]
fn generated_certificate_has_the_extensions_the_kernel_uses() {
    let keys = &fixture().keys;
    let text = String::from_utf8(run(
        "openssl",
        &[&"x509", &"-noout", &"-text", &"-in", &keys.paths.cert_pem],
    ))
    .unwrap();
    for expected in [
        "Signature Algorithm: sha256WithRSAEncryption",
        "Public-Key: (3072 bit)",
        "X509v3 Key Usage: critical\n                Digital Signature",
        "X509v3 Basic Constraints: critical\n                CA:FALSE",
        "X509v3 Subject Key Identifier",
        "X509v3 Authority Key Identifier",
        "Subject: CN = signing interop test",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    // Self-signature valid; DER file is the PEM file converted.
    run(
        "openssl",
        &[
            &"verify",
            &"-CAfile",
            &keys.paths.cert_pem,
            &"-partial_chain",
            &keys.paths.cert_pem,
        ],
    );
    let der = run(
        "openssl",
        &[&"x509", &"-in", &keys.paths.cert_pem, &"-outform", &"der"],
    );
    assert_eq!(der, std::fs::read(&keys.paths.cert_der).unwrap());
    // The private key is an RSA PKCS#8 key openssl accepts.
    let check = try_run(
        "openssl",
        &[&"pkey", &"-in", &keys.paths.key, &"-check", &"-noout"],
    );
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let pem = std::fs::read_to_string(&keys.paths.key).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "not PKCS#8");
}

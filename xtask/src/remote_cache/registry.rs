//! The store: an OCI registry, through `oci-client`. Each entry is an artifact in the
//! repository `<prefix>/<kind>`, tagged with its cache key: one config blob (the [`Record`])
//! and one layer (the archive). Every call runs under a timeout on a one-thread runtime.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::OciImageManifest;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use super::config::{Credentials, Location};
use super::record::{self, Record};

/// Connecting, and each read, give up after this.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// A whole operation (an existence check, a push or a pull) gives up after this.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(600);

pub struct Registry {
    client: Client,
    auth: RegistryAuth,
    location: Location,
    runtime: tokio::runtime::Runtime,
}

impl Registry {
    pub fn new(location: Location, credentials: Option<Credentials>) -> Result<Registry> {
        let config = ClientConfig {
            protocol: if location.plain_http {
                ClientProtocol::Http
            } else {
                ClientProtocol::Https
            },
            connect_timeout: Some(CONNECT_TIMEOUT),
            read_timeout: Some(READ_TIMEOUT),
            ..ClientConfig::default()
        };
        let auth = match credentials {
            Some(c) => RegistryAuth::Basic(c.user, c.password),
            None => RegistryAuth::Anonymous,
        };
        Ok(Registry {
            client: Client::new(config),
            auth,
            location,
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the remote cache's I/O runtime")?,
        })
    }

    fn reference(&self, kind: &str, key: &str) -> Result<Reference> {
        if !record::valid_tag(key) {
            bail!("the key {key:?} is not a valid tag");
        }
        Ok(Reference::with_tag(
            self.location.registry.clone(),
            format!("{}/{kind}", self.location.repository),
            key.to_owned(),
        ))
    }

    fn block_on<T>(&self, what: &str, work: impl Future<Output = Result<T>>) -> Result<T> {
        self.runtime.block_on(async {
            match tokio::time::timeout(OPERATION_TIMEOUT, work).await {
                Ok(result) => result,
                Err(_) => bail!("{what}: no answer within {} s", OPERATION_TIMEOUT.as_secs()),
            }
        })
    }

    /// Whether the store holds the entry (its manifest); an error is not an answer.
    pub fn exists(&self, kind: &str, key: &str) -> Result<bool> {
        let reference = self.reference(kind, key)?;
        self.block_on("checking the entry", async {
            match self
                .client
                .fetch_manifest_digest(&reference, &self.auth)
                .await
            {
                Ok(_) => Ok(true),
                Err(error) if is_not_found(&error) => Ok(false),
                Err(error) => Err(error.into()),
            }
        })
    }

    /// Pushes the entry; `signer` (the builder's key), if given, signs the record's bytes.
    pub fn push(
        &self,
        record: &Record,
        archive: Vec<u8>,
        signer: Option<&signing::LocalSigner>,
    ) -> Result<()> {
        use signing::Signer;
        let reference = self.reference(&record.kind, &record.key)?;
        let bytes = serde_json::to_vec(record)?;
        let annotations = match signer {
            Some(signer) => Some(BTreeMap::from([(
                record::SIGNATURE_ANNOTATION.to_owned(),
                hex::encode(signer.sign(&bytes)?),
            )])),
            None => None,
        };
        let config = Config::new(bytes, record::CONFIG_MEDIA_TYPE.to_owned(), None);
        let layers = [ImageLayer::new(
            archive,
            record::LAYER_MEDIA_TYPE.to_owned(),
            None,
        )];
        let manifest = OciImageManifest::build(&layers, &config, annotations);
        self.block_on("pushing the entry", async {
            self.client
                .push(&reference, &layers, config, &self.auth, Some(manifest))
                .await?;
            Ok(())
        })
    }

    /// The entry's record, checked against its manifest, then its archive, checked against
    /// the record. An error is the store's failure; a refused entry is [`Pulled::Rejected`].
    pub fn pull(
        &self,
        kind: &str,
        key: &str,
        trusted: Option<&signing::Certificate>,
    ) -> Result<Pulled> {
        let reference = self.reference(kind, key)?;
        self.block_on("pulling the entry", async {
            let pulled = self
                .client
                .pull_manifest_and_config(&reference, &self.auth)
                .await;
            let (manifest, _digest, config) = match pulled {
                Ok(found) => found,
                Err(error) if is_not_found(&error) => return Ok(Pulled::Missing),
                Err(error) => return Err(error.into()),
            };
            if let Some(trusted) = trusted {
                let signature = manifest
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(record::SIGNATURE_ANNOTATION));
                let checked = record::check_signature(
                    config.as_bytes(),
                    signature.map(String::as_str),
                    trusted,
                );
                if let Err(error) = checked {
                    return Ok(Pulled::Rejected(error));
                }
            }
            let record: Record = match serde_json::from_str(&config) {
                Ok(record) => record,
                Err(error) => {
                    return Ok(Pulled::Rejected(anyhow::anyhow!(
                        "its config is not an entry record: {error}"
                    )));
                }
            };
            let layers: Vec<(String, String, i64)> = manifest
                .layers
                .iter()
                .map(|l| (l.media_type.clone(), l.digest.clone(), l.size))
                .collect();
            if let Err(error) = record::check_manifest(&record, kind, key, &layers) {
                return Ok(Pulled::Rejected(error));
            }
            let mut archive = Vec::with_capacity(record.archive_bytes as usize);
            match self
                .client
                .pull_blob(&reference, &manifest.layers[0], &mut archive)
                .await
            {
                Ok(()) => {}
                // oci-client checks the blob against the manifest's digest as it streams.
                Err(OciDistributionError::DigestError(error)) => {
                    return Ok(Pulled::Rejected(anyhow::anyhow!(
                        "poisoned: its layer does not match its digest: {error}"
                    )));
                }
                Err(error) => return Err(error.into()),
            }
            if let Err(error) = record::check_archive(&record, &archive) {
                return Ok(Pulled::Rejected(error));
            }
            Ok(Pulled::Entry(record, archive))
        })
    }
}

/// What a pull found.
pub enum Pulled {
    Missing,
    /// The store answered with something that is not this entry as pushed.
    Rejected(anyhow::Error),
    Entry(Record, Vec<u8>),
}

/// The registry's ways of saying that it holds no such entry (or no such repository yet).
fn is_not_found(error: &OciDistributionError) -> bool {
    match error {
        OciDistributionError::ImageManifestNotFoundError(_) => true,
        OciDistributionError::ServerError { code, .. } => *code == 404,
        OciDistributionError::RegistryError { envelope, .. } => envelope.errors.iter().any(|e| {
            matches!(
                e.code,
                OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown | OciErrorCode::NotFound
            )
        }),
        _ => false,
    }
}

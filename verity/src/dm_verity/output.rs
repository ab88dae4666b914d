//! Where the hash area is written: in place, or into a temporary file renamed into place.
//!
//! * Hash area in the data file itself (`--hash-offset` past the data): written in place.
//! * An existing block device, or an existing separate file with a non-zero
//!   `--hash-offset`: written in place, because the device node must stay and the bytes
//!   before the offset belong to someone else (veritysetup does the same).
//! * Otherwise: a new temporary file beside the target, sized to the hash area, synced and
//!   renamed over the target, so readers never see a half-written tree.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use tempfile::NamedTempFile;

use crate::Error;

/// An open hash device being written.
pub(crate) enum HashOutput<'a> {
    /// The data file, opened for writing by the caller.
    Shared(&'a File),
    /// An existing separate file updated in place.
    InPlace(File),
    /// A new file, renamed over the target by [`HashOutput::commit`].
    Temp(NamedTempFile),
}

impl<'a> HashOutput<'a> {
    /// Opens the output for `hash_path`; `shared` is the data file when both are the same
    /// file; a new file is created with `len` zero bytes.
    pub(crate) fn open(
        hash_path: &Path,
        shared: Option<&'a File>,
        hash_offset: u64,
        len: u64,
    ) -> Result<Self, Error> {
        if let Some(file) = shared {
            return Ok(Self::Shared(file));
        }
        let existing = fs::metadata(hash_path).ok();
        if existing.is_some_and(|meta| hash_offset > 0 || !meta.is_file()) {
            let file = OpenOptions::new()
                .write(true)
                .read(true)
                .open(hash_path)
                .map_err(Error::io(hash_path, "open the hash device for writing"))?;
            return Ok(Self::InPlace(file));
        }
        let dir = match hash_path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let temp = tempfile::Builder::new()
            .prefix(".verity-hash-")
            .tempfile_in(dir)
            .map_err(Error::io(
                dir,
                "create a temporary hash file in the directory",
            ))?;
        temp.as_file()
            .set_len(len)
            .map_err(Error::io(temp.path(), "size the temporary hash file"))?;
        Ok(Self::Temp(temp))
    }

    /// The file to write the hash area into.
    pub(crate) fn file(&self) -> &File {
        match self {
            Self::Shared(file) => file,
            Self::InPlace(file) => file,
            Self::Temp(temp) => temp.as_file(),
        }
    }

    /// Grows a regular file to at least `len` bytes (as veritysetup's block-wise superblock
    /// write does), flushes it to disk and, for a temporary file, renames it into place.
    pub(crate) fn commit(self, hash_path: &Path, len: u64) -> Result<(), Error> {
        let file = self.file();
        let meta = file
            .metadata()
            .map_err(Error::io(hash_path, "stat the hash device"))?;
        if meta.is_file() && meta.len() < len {
            file.set_len(len)
                .map_err(Error::io(hash_path, "extend the hash device"))?;
        }
        file.sync_data()
            .map_err(Error::io(hash_path, "sync the hash device"))?;
        if let Self::Temp(temp) = self {
            temp.persist(hash_path).map_err(|e| {
                Error::io(hash_path, "rename the new hash device into place")(e.error)
            })?;
        }
        Ok(())
    }
}

/// Whether `a` and `b` name the same existing file.
pub(crate) fn same_file(a: &Path, b: &Path) -> Result<bool, Error> {
    let meta_a = fs::metadata(a).map_err(Error::io(a, "stat the data file"))?;
    match fs::metadata(b) {
        Ok(meta_b) => Ok(meta_a.dev() == meta_b.dev() && meta_a.ino() == meta_b.ino()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io(b, "stat the hash device")(e)),
    }
}

//! Where leaf data comes from: positional reads, so parallel tasks need no shared cursor.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::Error;

/// Random-access, thread-safe byte source.
pub(crate) trait BlockSource: Sync {
    /// Fills `buf` with the bytes starting at `offset`; the whole range must exist.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<(), Error>;
}

/// A file read with `pread`, named in errors.
pub(crate) struct FileSource<'a> {
    pub(crate) file: &'a File,
    pub(crate) path: &'a Path,
}

impl BlockSource for FileSource<'_> {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<(), Error> {
        self.file.read_exact_at(buf, offset).map_err(Error::io(
            self.path,
            "read data (did the file shrink while being hashed?)",
        ))
    }
}

impl BlockSource for [u8] {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<(), Error> {
        let bytes = usize::try_from(offset)
            .ok()
            .and_then(|start| self.get(start..start.checked_add(buf.len())?));
        match bytes {
            Some(bytes) => {
                buf.copy_from_slice(bytes);
                Ok(())
            }
            None => Err(Error::Io {
                path: "<memory>".into(),
                action: "read data",
                source: io::ErrorKind::UnexpectedEof.into(),
            }),
        }
    }
}

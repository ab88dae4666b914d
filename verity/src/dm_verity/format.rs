//! `veritysetup format`: hashes a data file and writes its hash device.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::source::FileSource;
use crate::{Digest, Error};

use super::build::build_tree;
use super::geometry::count_data_blocks;
use super::output::{HashOutput, same_file};
use super::{Geometry, Params, Superblock};

/// What [`format`] produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Formatted {
    /// The root hash to pass to the kernel (`roothash` in the dm-verity table).
    pub root_hash: Digest,
    /// Where the superblock and tree were written.
    pub geometry: Geometry,
}

/// Builds the hash tree of `data_path` and writes it (and the superblock unless
/// `params.superblock` is `None`) to `hash_path`, exactly as `veritysetup format` does.
///
/// `hash_path` may be `data_path` itself, with `params.hash_offset` at or past the data
/// end (veritysetup's `--hash-offset` on one file); the file then grows to
/// `geometry.hash_end`. Otherwise a new hash file is written beside `hash_path` and
/// renamed into place (see `output`). Memory use is bounded whatever the data size.
pub fn format(data_path: &Path, hash_path: &Path, params: &Params) -> Result<Formatted, Error> {
    params.validate()?;
    let shared = same_file(data_path, hash_path)?;
    let data = if shared {
        OpenOptions::new().read(true).write(true).open(data_path)
    } else {
        File::open(data_path)
    }
    .map_err(Error::io(data_path, "open the data file"))?;
    let size = data
        .metadata()
        .map_err(Error::io(data_path, "stat the data file"))?
        .len();
    let geometry = Geometry::new(params, count_data_blocks(data_path, size, params)?)?;
    let data_end = geometry.data_blocks * u64::from(params.data_block_size);
    if shared && geometry.hash_start() < data_end {
        return Err(Error::Overlap {
            path: data_path.into(),
            hash_start: geometry.hash_start(),
            data_end,
        });
    }

    let output = HashOutput::open(
        hash_path,
        shared.then_some(&data),
        params.hash_offset,
        geometry.written_len(),
    )?;
    let out = output.file();
    let write = |bytes: &[u8], offset: u64| {
        out.write_all_at(bytes, offset)
            .map_err(Error::io(hash_path, "write the hash device"))
    };
    if let Some(offset) = geometry.superblock_offset {
        write(
            &Superblock::from_params(params, geometry.data_blocks).encode(),
            offset,
        )?;
    }
    let source = FileSource {
        file: &data,
        path: data_path,
    };
    let root_hash = build_tree(
        &source,
        params,
        &geometry,
        |level: usize, index: u64, block: &[u8]| write(block, geometry.block_offset(level, index)),
    )?;
    output.commit(hash_path, geometry.written_len())?;
    Ok(Formatted {
        root_hash,
        geometry,
    })
}

/// Appends the hash tree (and superblock, if any) to `image` at its current end, which
/// must be a whole number of data blocks: `veritysetup format IMG IMG --hash-offset SIZE`.
/// `params.hash_offset` and `params.data_blocks` are ignored. For the kernel, the data
/// blocks are `geometry.data_blocks` and the hash start block is
/// `geometry.tree_offset / hash_block_size` (see [`Formatted::table`]).
pub fn format_appended(image: &Path, params: &Params) -> Result<Formatted, Error> {
    let size = std::fs::metadata(image)
        .map_err(Error::io(image, "stat the image"))?
        .len();
    if size % u64::from(params.data_block_size) != 0 {
        return Err(Error::Unaligned {
            path: image.into(),
            size,
            block_size: params.data_block_size,
        });
    }
    let params = Params {
        hash_offset: size,
        data_blocks: None,
        ..params.clone()
    };
    format(image, image, &params)
}

impl Formatted {
    /// The dm-verity target parameters for a device-mapper table line, e.g. for
    /// `dm-mod.create="root,,,ro,0 SECTORS verity TABLE"`: version, devices, block sizes,
    /// data blocks, hash start block, algorithm, root hash and salt (`-` if none).
    pub fn table(&self, params: &Params, data_device: &str, hash_device: &str) -> String {
        let salt = if params.salt.is_empty() {
            "-".to_owned()
        } else {
            hex::encode(&params.salt)
        };
        format!(
            "1 {data_device} {hash_device} {} {} {} {} {} {} {salt}",
            params.data_block_size,
            params.hash_block_size,
            self.geometry.data_blocks,
            self.geometry.tree_offset / u64::from(params.hash_block_size),
            params.hash,
            self.root_hash,
        )
    }

    /// Size of the protected data in 512-byte sectors (the table line's length).
    pub fn data_sectors(&self, params: &Params) -> u64 {
        self.geometry.data_blocks * u64::from(params.data_block_size) / 512
    }
}

/// [`format`] for data in memory: returns the result and the bytes of a new hash device
/// file (`geometry.written_len()` long, zeros before the hash area). For tests and small images.
pub fn format_bytes(data: &[u8], params: &Params) -> Result<(Formatted, Vec<u8>), Error> {
    params.validate()?;
    let geometry = Geometry::new(
        params,
        count_data_blocks(Path::new("<memory>"), data.len() as u64, params)?,
    )?;
    let mut device = vec![
        0;
        usize::try_from(geometry.written_len())
            .map_err(|_| Error::TooLarge(geometry.data_blocks))?
    ];
    if let Some(offset) = geometry.superblock_offset {
        let offset = offset as usize;
        device[offset..offset + super::superblock::SUPERBLOCK_LEN]
            .copy_from_slice(&Superblock::from_params(params, geometry.data_blocks).encode());
    }
    let root_hash = build_tree(
        data,
        params,
        &geometry,
        |level: usize, index: u64, block: &[u8]| {
            let offset = geometry.block_offset(level, index) as usize;
            device[offset..offset + block.len()].copy_from_slice(block);
            Ok(())
        },
    )?;
    Ok((
        Formatted {
            root_hash,
            geometry,
        },
        device,
    ))
}

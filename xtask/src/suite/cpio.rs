//! The `newc` cpio format the kernel unpacks an initramfs from (see the kernel's
//! `Documentation/driver-api/early-userspace/buffer-format.rst`). Pure.

/// One archive member; every one is owned by root.
pub enum Entry<'a> {
    Dir {
        path: &'a str,
    },
    File {
        path: &'a str,
        mode: u32,
        data: &'a [u8],
    },
    Symlink {
        path: &'a str,
        target: &'a str,
    },
    CharDevice {
        path: &'a str,
        major: u32,
        minor: u32,
    },
}

const S_IFMT: u32 = 0o170000;
const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;

/// The archive: each entry in order, then the trailer.
pub fn archive(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let inode = index as u32 + 1;
        let (path, mode, data, (major, minor)) = match entry {
            Entry::Dir { path } => (*path, S_IFDIR | 0o755, &[][..], (0, 0)),
            Entry::File { path, mode, data } => (*path, S_IFREG | mode, *data, (0, 0)),
            Entry::Symlink { path, target } => (*path, S_IFLNK | 0o777, target.as_bytes(), (0, 0)),
            Entry::CharDevice { path, major, minor } => {
                (*path, S_IFCHR | 0o600, &[][..], (*major, *minor))
            }
        };
        member(&mut out, inode, path, mode, data, major, minor);
    }
    member(&mut out, 0, "TRAILER!!!", 0, &[], 0, 0);
    out
}

fn member(
    out: &mut Vec<u8>,
    inode: u32,
    path: &str,
    mode: u32,
    data: &[u8],
    major: u32,
    minor: u32,
) {
    let nlink = if mode & S_IFMT == S_IFDIR { 2 } else { 1 };
    let fields = [
        inode,
        mode,
        0, // uid
        0, // gid
        nlink,
        0, // mtime
        data.len() as u32,
        0, // dev major
        0, // dev minor
        major,
        minor,
        path.len() as u32 + 1,
        0, // check
    ];
    out.extend_from_slice(b"070701");
    for field in fields {
        out.extend_from_slice(format!("{field:08x}").as_bytes());
    }
    out.extend_from_slice(path.as_bytes());
    out.push(0);
    pad(out);
    out.extend_from_slice(data);
    pad(out);
}

/// Header plus name, and data, each start on a 4-byte boundary.
fn pad(out: &mut Vec<u8>) {
    out.resize(out.len().next_multiple_of(4), 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_member_has_the_newc_layout() {
        let bytes = archive(&[Entry::File {
            path: "init",
            mode: 0o755,
            data: b"#!/bin/sh\n",
        }]);
        assert_eq!(&bytes[..6], b"070701");
        // inode 1, then mode 0100755
        assert_eq!(&bytes[6..22], b"00000001000081ed");
        // 110-byte header, then "init\0" padded to 116, then 10 bytes of data padded to 128.
        assert_eq!(&bytes[110..115], b"init\0");
        assert_eq!(&bytes[116..126], b"#!/bin/sh\n");
        assert_eq!(&bytes[128..134], b"070701");
        assert_eq!(bytes.len() % 4, 0);
        assert!(bytes.windows(10).any(|w| w == b"TRAILER!!!"));
    }

    #[test]
    fn a_device_records_its_numbers() {
        let bytes = archive(&[Entry::CharDevice {
            path: "dev/console",
            major: 5,
            minor: 1,
        }]);
        let field = |n: usize| std::str::from_utf8(&bytes[6 + 8 * n..14 + 8 * n]).unwrap();
        assert_eq!(field(1), "00002180");
        assert_eq!((field(9), field(10)), ("00000005", "00000001"));
    }
}

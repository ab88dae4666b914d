//! GUID Partition Tables (UEFI 2.10, chapter 5), written in memory: the protective MBR, the
//! primary header and entry array at the start of the disk, their backup at its end. Pure: the
//! caller places partition contents and writes the bytes.
//!
//! Chosen over driving `sfdisk` on the file because the layout is ours to compute anyway (sizes,
//! alignment, UUIDs from the root hash), the format is small and fixed, and a pure function is
//! unit-testable and reproducible without a tool's version in the loop; `sfdisk --json` is the
//! oracle in the tests.

use std::fmt;

pub const SECTOR: u64 = 512;
/// The entry array's size in the UEFI default: 128 entries of 128 bytes, 32 sectors.
const ENTRIES: u32 = 128;
const ENTRY_SIZE: u32 = 128;
const ENTRY_SECTORS: u64 = (ENTRIES * ENTRY_SIZE) as u64 / SECTOR;
const HEADER_SIZE: u32 = 92;
/// Partition names are at most 36 UTF-16 code units.
const NAME_UNITS: usize = 36;

/// GPT attribute bit 60: read-only (Discoverable Partitions Specification).
pub const ATTR_READ_ONLY: u64 = 1 << 60;

/// A GUID as its text reads (`xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`), bytes in text order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Guid(pub [u8; 16]);

impl Guid {
    /// Parses the 8-4-4-4-12 hex form, either case.
    pub const fn parse(text: &str) -> Guid {
        let text = text.as_bytes();
        assert!(text.len() == 36, "a GUID is 36 characters");
        let mut bytes = [0u8; 16];
        let mut i = 0;
        let mut n = 0;
        while i < 36 {
            if text[i] == b'-' {
                assert!(matches!(i, 8 | 13 | 18 | 23), "misplaced `-` in a GUID");
                i += 1;
                continue;
            }
            bytes[n / 2] |= hex_digit(text[i]) << if n % 2 == 0 { 4 } else { 0 };
            n += 1;
            i += 1;
        }
        assert!(n == 32, "a GUID has 32 hex digits");
        Guid(bytes)
    }

    /// The on-disk form: the first three fields little-endian, the rest as they read.
    pub fn to_disk(self) -> [u8; 16] {
        let b = self.0;
        let mut out = b;
        out[..4].copy_from_slice(&[b[3], b[2], b[1], b[0]]);
        out[4..6].copy_from_slice(&[b[5], b[4]]);
        out[6..8].copy_from_slice(&[b[7], b[6]]);
        out
    }

    /// A version-4 (random-form) GUID from 16 bytes of a hash: reproducible, yet shaped like any
    /// other partition or disk GUID.
    pub fn v4_from(bytes: [u8; 16]) -> Guid {
        let mut b = bytes;
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        Guid(b)
    }
}

const fn hex_digit(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => panic!("not a hex digit in a GUID"),
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, byte) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

/// One partition: sectors `first..first + sectors`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    /// Its entry's index from 1 (the kernel's and sfdisk's partition number); entries between
    /// stay empty.
    pub number: u32,
    pub type_guid: Guid,
    pub guid: Guid,
    pub first: u64,
    pub sectors: u64,
    pub attributes: u64,
    pub name: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("partition {0}: its number must be 1 to {ENTRIES}, each used once")]
    Number(u32),
    #[error("partition {0} is empty or lies outside the usable sectors {1}..={2}")]
    Outside(u32, u64, u64),
    #[error("partitions {0} and {1} overlap")]
    Overlap(u32, u32),
    #[error("partition {0}'s name is longer than {NAME_UNITS} UTF-16 units")]
    Name(u32),
}

/// The first sector a partition may use: after the protective MBR, the header and the entries.
pub const FIRST_USABLE: u64 = 2 + ENTRY_SECTORS;

/// The sectors the backup GPT takes at the end of a disk: the entries, then the header.
pub const BACKUP_SECTORS: u64 = ENTRY_SECTORS + 1;

/// The partition table of a disk of `total_sectors` sectors.
pub struct Table {
    pub disk_guid: Guid,
    pub total_sectors: u64,
    pub partitions: Vec<Partition>,
}

/// The bytes to write: `primary` at sector 0, `backup` at `backup_offset` (bytes).
pub struct Written {
    pub primary: Vec<u8>,
    pub backup: Vec<u8>,
    pub backup_offset: u64,
}

impl Table {
    /// Where partition `number` lies on the disk, in bytes.
    pub fn byte_range(&self, number: u32) -> Option<std::ops::Range<usize>> {
        let p = self.partitions.iter().find(|p| p.number == number)?;
        Some((p.first * SECTOR) as usize..((p.first + p.sectors) * SECTOR) as usize)
    }

    pub fn last_usable(&self) -> u64 {
        self.total_sectors - BACKUP_SECTORS - 1
    }

    fn check(&self) -> Result<(), Error> {
        let mut sorted: Vec<&Partition> = self.partitions.iter().collect();
        sorted.sort_by_key(|p| p.first);
        let mut numbers = std::collections::BTreeSet::new();
        for p in &sorted {
            if p.number == 0 || p.number > ENTRIES || !numbers.insert(p.number) {
                return Err(Error::Number(p.number));
            }
            let last = p.first + p.sectors;
            if p.sectors == 0 || p.first < FIRST_USABLE || last - 1 > self.last_usable() {
                return Err(Error::Outside(p.number, FIRST_USABLE, self.last_usable()));
            }
            if p.name.encode_utf16().count() > NAME_UNITS {
                return Err(Error::Name(p.number));
            }
        }
        for pair in sorted.windows(2) {
            if pair[0].first + pair[0].sectors > pair[1].first {
                return Err(Error::Overlap(pair[0].number, pair[1].number));
            }
        }
        Ok(())
    }

    /// The protective MBR, both headers and both entry arrays.
    pub fn write(&self) -> Result<Written, Error> {
        if self.total_sectors < FIRST_USABLE + BACKUP_SECTORS + 1 {
            return Err(Error::Outside(0, FIRST_USABLE, 0));
        }
        self.check()?;
        let mut entries = vec![0u8; (ENTRIES * ENTRY_SIZE) as usize];
        for p in &self.partitions {
            let at = (p.number as usize - 1) * ENTRY_SIZE as usize;
            let entry = &mut entries[at..at + ENTRY_SIZE as usize];
            entry[0..16].copy_from_slice(&p.type_guid.to_disk());
            entry[16..32].copy_from_slice(&p.guid.to_disk());
            entry[32..40].copy_from_slice(&p.first.to_le_bytes());
            entry[40..48].copy_from_slice(&(p.first + p.sectors - 1).to_le_bytes());
            entry[48..56].copy_from_slice(&p.attributes.to_le_bytes());
            for (i, unit) in p.name.encode_utf16().enumerate() {
                entry[56 + 2 * i..58 + 2 * i].copy_from_slice(&unit.to_le_bytes());
            }
        }
        let entries_crc = crc32(&entries);
        let last = self.total_sectors - 1;
        let header = |current: u64, backup: u64, entries_lba: u64| {
            let mut h = vec![0u8; SECTOR as usize];
            h[0..8].copy_from_slice(b"EFI PART");
            h[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
            h[12..16].copy_from_slice(&HEADER_SIZE.to_le_bytes());
            h[24..32].copy_from_slice(&current.to_le_bytes());
            h[32..40].copy_from_slice(&backup.to_le_bytes());
            h[40..48].copy_from_slice(&FIRST_USABLE.to_le_bytes());
            h[48..56].copy_from_slice(&self.last_usable().to_le_bytes());
            h[56..72].copy_from_slice(&self.disk_guid.to_disk());
            h[72..80].copy_from_slice(&entries_lba.to_le_bytes());
            h[80..84].copy_from_slice(&ENTRIES.to_le_bytes());
            h[84..88].copy_from_slice(&ENTRY_SIZE.to_le_bytes());
            h[88..92].copy_from_slice(&entries_crc.to_le_bytes());
            let crc = crc32(&h[..HEADER_SIZE as usize]);
            h[16..20].copy_from_slice(&crc.to_le_bytes());
            h
        };
        let mut primary = protective_mbr(self.total_sectors);
        primary.extend(header(1, last, 2));
        primary.extend(&entries);
        let mut backup = entries;
        backup.extend(header(last, 1, last - ENTRY_SECTORS));
        Ok(Written {
            primary,
            backup,
            backup_offset: (last - ENTRY_SECTORS) * SECTOR,
        })
    }
}

/// One partition of type 0xEE over the whole disk (as far as 32 bits reach), so that MBR-only
/// tools see the disk as used.
fn protective_mbr(total_sectors: u64) -> Vec<u8> {
    let mut mbr = vec![0u8; SECTOR as usize];
    let entry = &mut mbr[446..462];
    entry[1..4].copy_from_slice(&[0x00, 0x02, 0x00]);
    entry[4] = 0xee;
    entry[5..8].copy_from_slice(&[0xff, 0xff, 0xff]);
    entry[8..12].copy_from_slice(&1u32.to_le_bytes());
    let size = u32::try_from(total_sectors - 1).unwrap_or(u32::MAX);
    entry[12..16].copy_from_slice(&size.to_le_bytes());
    mbr[510] = 0x55;
    mbr[511] = 0xaa;
    mbr
}

/// CRC-32 as GPT uses it (IEEE 802.3, reflected, polynomial 0xEDB88320): 15 lines instead of a
/// dependency.
pub fn crc32(bytes: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            table[i] = c;
            i += 1;
        }
        table
    };
    !bytes.iter().fold(!0u32, |c, &b| {
        TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn guids_round_trip_and_go_mixed_endian_on_disk() {
        let text = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b";
        let guid = Guid::parse(text);
        assert_eq!(guid.to_string(), text);
        assert_eq!(
            hex::encode(guid.to_disk()),
            "28732ac11ff8d211ba4b00a0c93ec93b"
        );
        let v4 = Guid::v4_from([0xff; 16]).to_string();
        assert_eq!(v4, "ffffffff-ffff-4fff-bfff-ffffffffffff");
    }

    fn partition(number: u32, first: u64, sectors: u64) -> Partition {
        Partition {
            number,
            type_guid: Guid::parse("0fc63daf-8483-4772-8e79-3d69d8477de4"),
            guid: Guid::v4_from([number as u8; 16]),
            first,
            sectors,
            attributes: 0,
            name: "p".into(),
        }
    }

    #[test]
    fn refuses_overlaps_and_partitions_outside_the_usable_sectors() {
        let table = |partitions| Table {
            disk_guid: Guid([1; 16]),
            total_sectors: 4096,
            partitions,
        };
        assert_eq!(
            table(vec![partition(1, 2048, 100), partition(2, 2100, 10)])
                .write()
                .err(),
            Some(Error::Overlap(1, 2))
        );
        assert!(matches!(
            table(vec![partition(1, 33, 1)]).write(),
            Err(Error::Outside(1, ..))
        ));
        assert!(matches!(
            table(vec![partition(1, 2048, 4096 - 2048 - 32)]).write(),
            Err(Error::Outside(1, ..))
        ));
        assert!(
            table(vec![partition(1, 2048, 4096 - 2048 - 33)])
                .write()
                .is_ok()
        );
        assert_eq!(
            table(vec![partition(1, 2048, 1), partition(1, 3000, 1)])
                .write()
                .err(),
            Some(Error::Number(1))
        );
    }

    /// sfdisk (util-linux) reads what we write: types, UUIDs, names, attributes, places, and
    /// the disk GUID; `--verify` finds nothing wrong with either header.
    #[test]
    fn sfdisk_reads_the_table() {
        let total_sectors = 8192;
        let table = Table {
            disk_guid: Guid::parse("11111111-2222-4333-8444-555555555555"),
            total_sectors,
            partitions: vec![
                Partition {
                    attributes: ATTR_READ_ONLY,
                    name: "root-x86-64".into(),
                    ..partition(2, 2048, 1000)
                },
                partition(4, 4096, 8),
            ],
        };
        let written = table.write().unwrap();
        let work = tempfile::tempdir().unwrap();
        let path = work.path().join("disk.img");
        let mut disk = vec![0u8; (total_sectors * SECTOR) as usize];
        disk[..written.primary.len()].copy_from_slice(&written.primary);
        let at = written.backup_offset as usize;
        disk[at..at + written.backup.len()].copy_from_slice(&written.backup);
        assert_eq!(at + written.backup.len(), disk.len());
        std::fs::write(&path, &disk).unwrap();

        let json = crate::exec::Tool::new("sfdisk")
            .arg("--json")
            .arg(&path)
            .output()
            .expect("sfdisk (util-linux's fdisk package) reads the table");
        let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
        let pt = &json["partitiontable"];
        assert_eq!(pt["label"], "gpt");
        assert_eq!(pt["id"], "11111111-2222-4333-8444-555555555555");
        assert_eq!(pt["firstlba"], 34);
        assert_eq!(pt["lastlba"], total_sectors - 34);
        let parts = pt["partitions"].as_array().unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0]["node"], format!("{}2", path.display()));
        assert_eq!(parts[0]["start"], 2048);
        assert_eq!(parts[0]["size"], 1000);
        assert_eq!(parts[0]["type"], "0FC63DAF-8483-4772-8E79-3D69D8477DE4");
        assert_eq!(
            parts[0]["uuid"],
            Guid::v4_from([2; 16]).to_string().to_uppercase()
        );
        assert_eq!(parts[0]["name"], "root-x86-64");
        assert_eq!(parts[0]["attrs"], "GUID:60");
        assert_eq!(parts[1]["node"], format!("{}4", path.display()));
        assert_eq!(parts[1]["start"], 4096);

        crate::exec::Tool::new("sfdisk")
            .arg("--verify")
            .arg(&path)
            .run()
            .expect("sfdisk --verify finds the table sound");
    }
}

//! UKI assembly against binutils, on the real systemd-stub.
//!
//! The stub comes from Debian's `systemd-boot-efi`. Point `SYSTEMD_STUB` at it,
//! or install the package; without it these tests fail (they are oracles):
//!
//! ```text
//! cd /tmp && apt-get download systemd-boot-efi && dpkg-deb -x systemd-boot-efi_*.deb stub
//! SYSTEMD_STUB=/tmp/stub/usr/lib/systemd/boot/efi/linuxx64.efi.stub cargo test -p pe-image
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;

use pe_image::uki::{UkiParts, assemble};
use pe_image::{PeImage, Section, checksum};

const DEFAULT_STUB: &str = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub";
const OSREL: &[u8] = b"ID=appliance\nVERSION_ID=1\n";
const CMDLINE: &[u8] = b"console=ttyS0 root=/dev/dm-0\n";

fn stub() -> Vec<u8> {
    let path =
        std::env::var_os("SYSTEMD_STUB").map_or_else(|| PathBuf::from(DEFAULT_STUB), PathBuf::from);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read systemd-stub at {} ({e}): install systemd-boot-efi or set SYSTEMD_STUB \
             (see this file's header)",
            path.display()
        )
    })
}

/// A stand-in kernel and initrd: sizes that are not multiples of the file alignment.
fn linux() -> Vec<u8> {
    (0..300_001u32).map(|i| (i * 7 + i / 251) as u8).collect()
}
fn initrd() -> Vec<u8> {
    (0..5_000u32).map(|i| (i * 13) as u8).collect()
}

fn run(program: &str, args: &[&dyn AsRef<std::ffi::OsStr>]) -> String {
    let output = Command::new(program)
        .args(args.iter().map(|a| a.as_ref()))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} ({e}): install binutils"));
    assert!(
        output.status.success(),
        "{program} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn ours() -> Vec<u8> {
    let (linux, initrd) = (linux(), initrd());
    let parts = UkiParts {
        osrel: OSREL,
        cmdline: CMDLINE,
        linux: &linux,
        initrd: Some(&initrd),
    };
    assemble(&stub(), &parts).unwrap()
}

/// The (name, VMA, size) of each section `objdump -h` lists.
fn objdump_sections(path: &Path) -> Vec<(String, u64, u64)> {
    run("objdump", &[&"-h", &path])
        .lines()
        .filter_map(|line| {
            let fields: Vec<_> = line.split_whitespace().collect();
            let index_first = fields.first()?.parse::<u32>().is_ok();
            (index_first && fields.len() >= 7).then(|| {
                let hex = |s: &str| u64::from_str_radix(s, 16).unwrap();
                (fields[1].to_owned(), hex(fields[3]), hex(fields[2]))
            })
        })
        .collect()
}

#[test]
fn the_stubs_own_checksum_is_reproduced() {
    let stub = stub();
    let mut copy = stub.clone();
    checksum::update(&mut copy).unwrap();
    assert_eq!(copy, stub, "the linker's CheckSum differs from ours");
}

#[test]
fn objdump_lists_the_sections_at_ascending_page_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let uki = write(dir.path(), "uki.efi", &ours());
    let sections = objdump_sections(&uki);
    let stub_sections = PeImage::parse(&stub()).unwrap().sections().len();
    let added: Vec<_> = sections[stub_sections..].to_vec();
    // The Debian 252 stub's last section, .sdmagic, ends at 0x19134.
    let linux_end = 0x1c000 + linux().len() as u64;
    assert_eq!(
        added,
        [
            (".osrel".to_owned(), 0x1a000, OSREL.len() as u64),
            (".cmdline".to_owned(), 0x1b000, CMDLINE.len() as u64),
            (".linux".to_owned(), 0x1c000, linux().len() as u64),
            (
                ".initrd".to_owned(),
                linux_end.next_multiple_of(4096),
                initrd().len() as u64
            ),
        ]
    );
}

#[test]
fn section_table_equals_objcopys() {
    let dir = tempfile::tempdir().unwrap();
    let ours = ours();
    let sections = PeImage::parse(&ours).unwrap().sections().to_vec();
    let added = &sections[PeImage::parse(&stub()).unwrap().sections().len()..];
    let files = [
        write(dir.path(), "osrel", OSREL),
        write(dir.path(), "cmdline", CMDLINE),
        write(dir.path(), "linux", &linux()),
        write(dir.path(), "initrd", &initrd()),
    ];
    let stub = write(dir.path(), "stub.efi", &stub());
    let reference = dir.path().join("objcopy.efi");
    let mut args: Vec<String> = Vec::new();
    for (section, file) in added.iter().zip(&files) {
        let name = section.name();
        args.push(format!("--add-section={name}={}", file.display()));
        args.push(format!(
            "--change-section-vma={name}={:#x}",
            section.virtual_address
        ));
    }
    let mut argv: Vec<&dyn AsRef<std::ffi::OsStr>> = args.iter().map(|a| a as _).collect();
    argv.push(&stub);
    argv.push(&reference);
    run("objcopy", &argv);
    let reference = std::fs::read(&reference).unwrap();
    let table =
        |image: &[u8]| -> Vec<Section> { PeImage::parse(image).unwrap().sections().to_vec() };
    assert_eq!(table(&ours), table(&reference));
    // The headers objcopy updates too; the optional header is 24 bytes past e_lfanew.
    let optional = u32::from_le_bytes(ours[0x3c..0x40].try_into().unwrap()) as usize + 24;
    for (field, at) in [("SizeOfInitializedData", 8), ("SizeOfImage", 56)] {
        let at = optional + at..optional + at + 4;
        assert_eq!(ours[at.clone()], reference[at], "{field}");
    }
}

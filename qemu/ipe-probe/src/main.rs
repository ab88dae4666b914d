//! `ipe-probe mmap-exec FILE | mprotect-exec FILE | anon-exec`: asks the kernel for one
//! executable mapping and prints `ok` or the error, so that a test can watch IPE's `mmap_file`
//! and `file_mprotect` hooks decide. Statically linked for the test initramfs.

use std::process::ExitCode;

use rustix::fs::{Mode, OFlags, open};
use rustix::mm::{MapFlags, MprotectFlags, ProtFlags, mmap, mmap_anonymous, mprotect, munmap};

const LEN: usize = 4096;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["mmap-exec", file] => map_file(file, ProtFlags::READ | ProtFlags::EXEC, false),
        ["mprotect-exec", file] => map_file(file, ProtFlags::READ, true),
        ["anon-exec"] => anonymous_then_exec(),
        _ => {
            eprintln!("usage: ipe-probe mmap-exec FILE | mprotect-exec FILE | anon-exec");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => {
            println!("ok");
            ExitCode::SUCCESS
        }
        Err(error) => {
            println!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Maps the file's first page with `prot`; with `then_exec`, then asks for `PROT_EXEC` on it.
fn map_file(path: &str, prot: ProtFlags, then_exec: bool) -> std::io::Result<()> {
    let fd = open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
    // SAFETY: a fresh private mapping that nothing else refers to; it is unmapped below.
    let address = unsafe { mmap(std::ptr::null_mut(), LEN, prot, MapFlags::PRIVATE, &fd, 0) }?;
    let result = if then_exec {
        // SAFETY: the mapping above, whole.
        unsafe { mprotect(address, LEN, MprotectFlags::READ | MprotectFlags::EXEC) }
    } else {
        Ok(())
    };
    // SAFETY: as above; nothing reads it.
    unsafe { munmap(address, LEN) }?;
    Ok(result?)
}

/// Anonymous memory made executable, as a JIT does: IPE has no file to judge.
fn anonymous_then_exec() -> std::io::Result<()> {
    // SAFETY: a fresh private anonymous mapping, unmapped below.
    let address = unsafe {
        mmap_anonymous(
            std::ptr::null_mut(),
            LEN,
            ProtFlags::READ | ProtFlags::WRITE,
            MapFlags::PRIVATE,
        )
    }?;
    // SAFETY: the mapping above, whole.
    let result = unsafe { mprotect(address, LEN, MprotectFlags::READ | MprotectFlags::EXEC) };
    // SAFETY: as above.
    unsafe { munmap(address, LEN) }?;
    Ok(result?)
}

//! `ipe-probe mmap-exec FILE | mprotect-exec FILE | anon-exec | dlopen FILE`: asks the kernel
//! for one executable mapping, or glibc's loader for a library, and prints `ok` or the error, so
//! that a test can watch IPE's `mmap_file` and `file_mprotect` hooks decide. Statically linked
//! for the test initramfs; dynamically linked (where `dlopen` exists) in the debug layer.
//!
//! For the lockdown tests: `ipe-probe service CMD ARGS...` runs a command with the privileges
//! the init gives a service (the same code), and `proc-mem-write | ptrace-poke | iopl |
//! syscall NAME` try the ways around IPE that the appliance must refuse.

mod lockdown;
/// The init's own module: what a service may do.
#[allow(
    dead_code,
    reason = "the init parses `caps=` too; the probe only applies the default"
)]
#[path = "../../../rootfs/init/src/privileges.rs"]
mod privileges;

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
        ["dlopen", file] => dlopen(file),
        ["service", program, ..] => lockdown::as_service(program, &args[2..]),
        ["proc-mem-write"] => lockdown::proc_mem_write(),
        ["ptrace-poke"] => lockdown::ptrace_poke(),
        ["iopl"] => lockdown::iopl(),
        ["syscall", name] => lockdown::syscall(name),
        _ => {
            eprintln!(
                "usage: ipe-probe mmap-exec FILE | mprotect-exec FILE | anon-exec | dlopen FILE\n\
                 \x20      | service CMD ARGS... | proc-mem-write | ptrace-poke | iopl | syscall NAME"
            );
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

/// Loads a shared library as a plugin host would; glibc's message on failure.
#[cfg(not(target_feature = "crt-static"))]
fn dlopen(path: &str) -> std::io::Result<()> {
    let path = std::ffi::CString::new(path)?;
    // SAFETY: a NUL-terminated path; the handle is never used, and the library stays loaded.
    let handle = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW) };
    if !handle.is_null() {
        return Ok(());
    }
    // SAFETY: dlerror returns NULL or a NUL-terminated message owned by glibc, read at once.
    let message = unsafe { libc::dlerror() };
    let text = if message.is_null() {
        "dlopen failed".to_owned()
    } else {
        // SAFETY: as above.
        unsafe { std::ffi::CStr::from_ptr(message) }
            .to_string_lossy()
            .into_owned()
    };
    Err(std::io::Error::other(text))
}

/// A static binary has no dynamic loader to ask.
#[cfg(target_feature = "crt-static")]
fn dlopen(_path: &str) -> std::io::Result<()> {
    Err(std::io::Error::other(
        "dlopen needs the dynamically linked build (the debug layer's)",
    ))
}

//! Ways a root process could put unsealed code into a verified process or the kernel. Each
//! prints `ok` if the kernel let it through, or the error that refused it.

use std::io::{Error, Result};
use std::os::unix::fs::FileExt;
use std::os::unix::process::CommandExt;

use crate::privileges;

/// Replaces this process with `program`, limited as the init limits a service without `caps=`.
pub fn as_service(program: &str, args: &[String]) -> Result<()> {
    privileges::limit_bounding_set(privileges::allowed(None))?;
    Err(std::process::Command::new(program).args(args).exec())
}

/// The address of some code of ours: in a read-only, executable private mapping.
fn text_address() -> u64 {
    text_address as *const () as u64
}

/// Writes one byte of our own code, unchanged, through `/proc/self/mem`: a kernel that forces
/// such writes through read-only mappings lets any root process patch a verified program.
pub fn proc_mem_write() -> Result<()> {
    let mem = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/proc/self/mem")?;
    let mut byte = [0u8];
    mem.read_exact_at(&mut byte, text_address())?;
    mem.write_all_at(&byte, text_address())
}

/// Attaches to a child and writes a word of its code, unchanged, with `PTRACE_POKETEXT`.
pub fn ptrace_poke() -> Result<()> {
    // SAFETY: the child only pauses until it is killed; it touches no state of ours.
    let child = unsafe { libc::fork() };
    if child < 0 {
        return Err(Error::last_os_error());
    }
    if child == 0 {
        loop {
            // SAFETY: async-signal-safe; the child waits here to be killed.
            unsafe { libc::pause() };
        }
    }
    let result = attach_and_poke(child);
    // SAFETY: our own child.
    unsafe {
        libc::kill(child, libc::SIGKILL);
        libc::waitpid(child, std::ptr::null_mut(), 0);
    }
    result
}

fn attach_and_poke(child: libc::pid_t) -> Result<()> {
    let address = text_address() as *mut libc::c_void;
    // SAFETY: ptrace on our own child, at an address mapped in it (fork copied our layout).
    unsafe {
        if libc::ptrace(libc::PTRACE_ATTACH, child, 0, 0) < 0 {
            return Err(Error::last_os_error());
        }
        libc::waitpid(child, std::ptr::null_mut(), 0);
        *libc::__errno_location() = 0;
        let word = libc::ptrace(libc::PTRACE_PEEKTEXT, child, address, 0);
        if word == -1 && *libc::__errno_location() != 0 {
            return Err(Error::last_os_error());
        }
        if libc::ptrace(libc::PTRACE_POKETEXT, child, address, word) < 0 {
            return Err(Error::last_os_error());
        }
    }
    Ok(())
}

/// Asks for port I/O, the way to reach devices, and the kernel's memory, around every driver.
pub fn iopl() -> Result<()> {
    // SAFETY: a system call with a plain integer; it changes only our I/O privilege level.
    if unsafe { libc::iopl(3) } < 0 {
        return Err(Error::last_os_error());
    }
    Ok(())
}

/// Calls a system call that loads code into the kernel or lets code change memory behind
/// IPE's back, with arguments it rejects; `Function not implemented` means it is compiled out.
pub fn syscall(name: &str) -> Result<()> {
    let number = match name {
        "bpf" => libc::SYS_bpf,
        "io_uring_setup" => libc::SYS_io_uring_setup,
        "userfaultfd" => libc::SYS_userfaultfd,
        "kexec_load" => libc::SYS_kexec_load,
        "kexec_file_load" => libc::SYS_kexec_file_load,
        _ => {
            return Err(Error::other(format!(
                "{name}: not a system call this probe knows"
            )));
        }
    };
    // SAFETY: every argument is zero: each of these calls then fails without side effects, or
    // does not exist.
    if unsafe { libc::syscall(number, 0, 0, 0, 0, 0) } < 0 {
        return Err(Error::last_os_error());
    }
    Ok(())
}

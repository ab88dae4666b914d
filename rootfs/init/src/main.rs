//! The appliance's PID 1: mounts the pseudo filesystems and the sealed partition, loads the
//! signed IPE policy, locks ptrace away, runs the required services (the firewall's ruleset),
//! then starts the others listed in `/etc/appliance/services.d` and reaps orphans forever.

/// `eprintln!` for PID 1: a line to the console, dropped if the console refuses it, where
/// `eprintln!` would panic, and a panicking PID 1 takes the kernel down with it.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod cmdline;
mod mounts;
mod policy;
mod privileges;
mod sealed;
mod services;

#[cfg(test)]
mod fuzz;

fn main() {
    if std::process::id() != 1 {
        say!("init: must run as PID 1; it is started by the kernel");
        std::process::exit(2);
    }
    mounts::mount_all();
    let cmdline = cmdline::read();
    sealed::mount_sealed(&cmdline);
    set_hostname();
    policy::load_signed(&cmdline);
    report_ipe();
    if let Err(problem) = forbid_ptrace() {
        stop(&problem);
    }
    let specs = services::load_dir(services::CONFIG_DIR);
    if let Err(problem) = services::run_required(&specs) {
        stop(&problem);
    }
    services::supervise(specs);
}

/// Yama's `ptrace_scope` 3: no process attaches to another, root included, until the next
/// boot; a debugger could otherwise write code into a process that IPE approved.
fn forbid_ptrace() -> Result<(), String> {
    const SCOPE: &str = "/proc/sys/kernel/yama/ptrace_scope";
    std::fs::write(SCOPE, "3").map_err(|error| format!("{SCOPE}: {error}"))
}

/// Halts instead of coming up without what the appliance needs, saying why on the console.
fn stop(problem: &str) -> ! {
    say!("init: {problem}; the appliance stops here rather than come up without it");
    rustix::fs::sync();
    let halted = rustix::system::reboot(rustix::system::RebootCommand::Halt);
    say!("init: halt failed ({halted:?}); waiting forever");
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}

fn set_hostname() {
    if let Ok(name) = std::fs::read_to_string("/etc/hostname")
        && let Err(error) = rustix::system::sethostname(name.trim().as_bytes())
    {
        say!("init: sethostname: {error}");
    }
}

/// Prints whether IPE enforces and which policy is active, for the console and the tests.
fn report_ipe() {
    use policy::IPE;
    let read = |path: &str| std::fs::read_to_string(path).map(|text| text.trim().to_owned());
    let Ok(enforce) = read(&format!("{IPE}/enforce")) else {
        say!("init: IPE is not active (no {IPE})");
        return;
    };
    let active = std::fs::read_dir(format!("{IPE}/policies"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .find(|dir| read(&format!("{}/active", dir.display())).is_ok_and(|a| a == "1"));
    match active {
        Some(dir) => {
            let name = read(&format!("{}/name", dir.display())).unwrap_or_default();
            let version = read(&format!("{}/version", dir.display())).unwrap_or_default();
            say!("init: IPE enforce={enforce}, active policy {name} {version}");
        }
        None => say!("init: IPE enforce={enforce}, no active policy"),
    }
}

//! Services from the files in `/etc/appliance/services.d`, read in name order, one per line:
//! `required|once|respawn|console [user=NAME] [caps=CAP,...] COMMAND ARGS...`. Each layer adds
//! files of its own there. A service runs as root without the capabilities that
//! `privileges::WITHHELD` names, or, with `caps=`, with exactly the ones listed
//! (`caps=net_admin`); with `user=`, as that account of `/etc/passwd`, with only `caps=`.
//!
//! `required` commands run first, one after the other, before any other service starts; if
//! one fails, the appliance stops rather than come up without it (a firewall's ruleset).
//! `console` is `respawn` with the console as controlling terminal, for an interactive shell.

use std::collections::HashMap;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use rustix::process::{WaitOptions, wait};
use rustix::thread::CapabilitySet;

use crate::privileges;

const PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

pub const CONFIG_DIR: &str = "/etc/appliance/services.d";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    Required,
    Once,
    Respawn,
    Console,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub restart: Restart,
    /// Granted by `caps=`; `None`: all but the withheld ones.
    pub caps: Option<CapabilitySet>,
    /// `user=`: run as this account of `/etc/passwd`, not as root.
    pub user: Option<String>,
    pub program: String,
    pub args: Vec<String>,
}

/// A line of the services file that is skipped, and why.
#[derive(Debug, PartialEq, Eq)]
pub struct LineError {
    /// From 1.
    pub line: usize,
    pub problem: String,
}

/// The services of every file in `dir`, files in name order, lines in file order.
pub fn load_dir(dir: &str) -> Vec<Service> {
    let mut files: Vec<_> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.flatten().map(|entry| entry.path()).collect(),
        Err(error) => {
            say!("init: {dir}: {error}; starting no services");
            return Vec::new();
        }
    };
    files.sort();
    files
        .iter()
        .flat_map(|file| load(&file.to_string_lossy()))
        .collect()
}

pub fn load(path: &str) -> Vec<Service> {
    // Bytes, so that a line that is not UTF-8 costs that line only, not every service.
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(error) => {
            say!("init: {path}: {error}; starting no services");
            return Vec::new();
        }
    };
    let mut services = Vec::new();
    for entry in parse(&text) {
        match entry {
            Ok(service) => services.push(service),
            Err(error) => say!(
                "init: {path}:{}: {}; line skipped",
                error.line,
                error.problem
            ),
        }
    }
    services
}

/// Parses the service list: a service or an error for each line that is neither blank nor a
/// comment, in order.
pub fn parse(text: &[u8]) -> Vec<Result<Service, LineError>> {
    let lines = text.split(|&b| b == b'\n');
    let lines = lines.map(|line| line.strip_suffix(b"\r").unwrap_or(line));
    (1..)
        .zip(lines)
        .filter_map(|(number, line)| {
            parse_line(line).map(|parsed| {
                parsed.map_err(|problem| LineError {
                    line: number,
                    problem,
                })
            })
        })
        .collect()
}

/// A line's service; `None` for a blank line or a comment.
fn parse_line(line: &[u8]) -> Option<Result<Service, String>> {
    let Ok(line) = std::str::from_utf8(line) else {
        // A comment in another encoding is still a comment.
        let lossy = String::from_utf8_lossy(line);
        return match lossy.split_whitespace().next() {
            Some(word) if word.starts_with('#') => None,
            _ => Some(Err(format!(
                "{lossy:?} is not UTF-8 text; write the file in UTF-8"
            ))),
        };
    };
    let mut words = line.split_whitespace();
    let first = words.next()?;
    let restart = match first {
        word if word.starts_with('#') => return None,
        "required" => Restart::Required,
        "once" => Restart::Once,
        "respawn" => Restart::Respawn,
        "console" => Restart::Console,
        other => {
            return Some(Err(format!(
                "{other:?} is not required, once, respawn or console; start the line with one of them"
            )));
        }
    };
    let mut caps = None;
    let mut user = None;
    let mut next = words.next();
    while let Some((option, value)) = next.and_then(|word| word.split_once('=')) {
        if option.starts_with('/') {
            break;
        }
        match option {
            "caps" if caps.is_none() => match privileges::parse_caps(value) {
                Ok(set) => caps = Some(set),
                Err(problem) => return Some(Err(format!("caps={value:?}: {problem}"))),
            },
            "user" if user.is_none() => match privileges::check_user_name(value) {
                Ok(()) => user = Some(value.to_owned()),
                Err(problem) => return Some(Err(format!("user={value:?}: {problem}"))),
            },
            "caps" | "user" => {
                return Some(Err(format!("{option}= is given twice; give it once")));
            }
            _ => {
                return Some(Err(format!(
                    "{option:?} is not an option; before the program come only caps= and user="
                )));
            }
        }
        next = words.next();
    }
    let Some(program) = next else {
        return Some(Err(format!(
            "{first:?} and no command; name the program to run after it"
        )));
    };
    let args: Vec<String> = words.map(str::to_owned).collect();
    // Checked here, where the line is known: exec would refuse it later, without the line.
    if line.contains('\0') {
        return Some(Err(format!(
            "{line:?} holds a NUL byte, which no program or argument can; remove it"
        )));
    }
    Some(Ok(Service {
        restart,
        caps,
        user,
        program: program.to_owned(),
        args,
    }))
}

/// The service's command, with its identity and capabilities set before it runs; an error if
/// its user is not an account of the image.
fn command(service: &Service) -> Result<Command, String> {
    let mut command = Command::new(&service.program);
    command.args(&service.args).env("PATH", PATH);
    let allowed = privileges::allowed(service.caps);
    let account = match &service.user {
        None => {
            command.env("HOME", "/root");
            None
        }
        Some(name) => {
            let passwd = std::fs::read_to_string(PASSWD).unwrap_or_default();
            let account = privileges::find_account(&passwd, name).ok_or_else(|| {
                format!("no user {name:?} in {PASSWD}; declare it in a layer's [[users]]")
            })?;
            command.env("HOME", &account.home).env("USER", name);
            Some((account.uid, account.gid))
        }
    };
    let granted = service.caps.unwrap_or(CapabilitySet::empty());
    // SAFETY: only system calls run between fork and exec, and nothing allocates.
    unsafe {
        command.pre_exec(move || {
            privileges::limit_bounding_set(allowed)?;
            match account {
                Some((uid, gid)) => privileges::become_user(uid, gid, granted),
                None => Ok(()),
            }
        });
    }
    Ok(command)
}

const PASSWD: &str = "/etc/passwd";

fn start(service: &Service) -> Option<u32> {
    let mut command = match command(service) {
        Ok(command) => command,
        Err(problem) => {
            say!("init: cannot start {}: {problem}", service.program);
            return None;
        }
    };
    if service.restart == Restart::Console {
        // A session of its own with the console as controlling terminal, so ^C reaches it.
        // SAFETY: only async-signal-safe system calls run between fork and exec.
        unsafe {
            command.pre_exec(|| {
                rustix::process::setsid()?;
                rustix::process::ioctl_tiocsctty(rustix::stdio::stdin())?;
                Ok(())
            });
        }
    }
    match command.spawn() {
        Ok(child) => Some(child.id()),
        Err(error) => {
            say!(
                "init: cannot start {} {}: {error}",
                service.program,
                service.args.join(" ")
            );
            None
        }
    }
}

/// Runs the `required` services in order, each to its end; the first that cannot start or
/// fails is returned with what went wrong.
pub fn run_required(services: &[Service]) -> Result<(), String> {
    for service in services.iter().filter(|s| s.restart == Restart::Required) {
        let line = format!("{} {}", service.program, service.args.join(" "));
        let status = command(service)
            .map_err(|problem| format!("cannot start {line}: {problem}"))?
            .status()
            .map_err(|error| format!("cannot start {line}: {error}"))?;
        if !status.success() {
            return Err(format!("{line} failed ({status})"));
        }
        say!("init: {line}: done");
    }
    Ok(())
}

/// Starts every service but the required ones, then reaps children forever, restarting the
/// ones that respawn.
pub fn supervise(services: Vec<Service>) -> ! {
    let mut running: HashMap<u32, (usize, Instant)> = HashMap::new();
    for (index, service) in services.iter().enumerate() {
        if service.restart == Restart::Required {
            continue;
        }
        if let Some(pid) = start(service) {
            running.insert(pid, (index, Instant::now()));
        }
    }
    loop {
        let Ok(Some((pid, _))) = wait(WaitOptions::empty()) else {
            // No children at all: nothing will ever wake us but a signal.
            std::thread::sleep(Duration::from_secs(60));
            continue;
        };
        let Some((index, started)) = running.remove(&pid.as_raw_nonzero().get().unsigned_abs())
        else {
            continue;
        };
        let service = &services[index];
        if service.restart == Restart::Once {
            continue;
        }
        // A service that dies at once would otherwise spin the CPU.
        if started.elapsed() < Duration::from_secs(1) {
            std::thread::sleep(Duration::from_secs(1));
        }
        if let Some(pid) = start(service) {
            running.insert(pid, (index, Instant::now()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(restart: Restart, argv: &[&str]) -> Service {
        Service {
            restart,
            caps: None,
            user: None,
            program: argv[0].into(),
            args: argv[1..].iter().map(|&arg| arg.into()).collect(),
        }
    }

    #[test]
    fn parses_services_and_skips_bad_lines() {
        let text = "# comment\nconsole /bin/sh -l\n\nbogus /x\nonce\nrespawn /sbin/agent --quiet\nrequired /usr/sbin/nft -f /etc/nftables.conf\n";
        let services = parse(text.as_bytes());
        assert_eq!(
            services,
            [
                Ok(service(Restart::Console, &["/bin/sh", "-l"])),
                Err(LineError {
                    line: 4,
                    problem:
                        "\"bogus\" is not required, once, respawn or console; start the line with one of them"
                            .into()
                }),
                Err(LineError {
                    line: 5,
                    problem: "\"once\" and no command; name the program to run after it".into()
                }),
                Ok(service(Restart::Respawn, &["/sbin/agent", "--quiet"])),
                Ok(service(
                    Restart::Required,
                    &["/usr/sbin/nft", "-f", "/etc/nftables.conf"]
                )),
            ]
        );
    }

    /// `load` used to read the file as one UTF-8 string: one byte that is not UTF-8, even in a
    /// comment, started no services at all, the console shell included.
    #[test]
    fn a_line_that_is_not_utf8_costs_that_line_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("services");
        std::fs::write(&path, b"# caf\xe9\nonce /bin/caf\xe9\nconsole /bin/sh -l\n").unwrap();
        assert_eq!(
            load(path.to_str().unwrap()),
            [service(Restart::Console, &["/bin/sh", "-l"])]
        );
        let errors: Vec<_> = parse(&std::fs::read(&path).unwrap())
            .into_iter()
            .filter_map(Result::err)
            .collect();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 2);
        assert!(errors[0].problem.contains("not UTF-8"), "{:?}", errors[0]);
    }

    #[test]
    fn a_nul_byte_is_reported_at_its_line() {
        let errors = parse(b"once /bin/true\nonce /bin/a\0b\n");
        assert!(errors[0].is_ok());
        let error = errors[1].as_ref().unwrap_err();
        assert!(
            error.line == 2 && error.problem.contains("NUL"),
            "{error:?}"
        );
    }

    #[test]
    fn caps_options_grant_exactly_their_capabilities() {
        let parsed = parse(b"required caps=net_admin /usr/sbin/nft -f x\nonce caps=bogus /bin/x\n");
        let first = parsed[0].as_ref().unwrap();
        assert_eq!(first.caps, Some(CapabilitySet::NET_ADMIN));
        assert_eq!(first.program, "/usr/sbin/nft");
        let error = parsed[1].as_ref().unwrap_err();
        assert!(
            error.problem.contains("\"bogus\" is not a capability"),
            "{error:?}"
        );
    }

    #[test]
    fn files_are_read_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("50-web"), "respawn /bin/httpd -f\n").unwrap();
        std::fs::write(
            dir.path().join("10-firewall"),
            "required /usr/sbin/nft -f x\n",
        )
        .unwrap();
        let services = load_dir(dir.path().to_str().unwrap());
        let programs: Vec<&str> = services.iter().map(|s| s.program.as_str()).collect();
        assert_eq!(programs, ["/usr/sbin/nft", "/bin/httpd"]);
    }

    #[test]
    fn required_services_stop_at_the_first_failure() {
        let services = [
            service(Restart::Respawn, &["/bin/false"]),
            service(Restart::Required, &["/bin/true"]),
            service(Restart::Required, &["/bin/false", "ruleset"]),
            service(Restart::Required, &["/nonexistent"]),
        ];
        let error = run_required(&services).unwrap_err();
        assert!(error.starts_with("/bin/false ruleset failed"), "{error}");
        let error = run_required(&services[3..]).unwrap_err();
        assert!(error.starts_with("cannot start /nonexistent"), "{error}");
        assert_eq!(run_required(&services[..2]), Ok(()));
    }
}

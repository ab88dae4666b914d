//! Services from `/etc/appliance/services`, one per line: `once|respawn|console COMMAND ARGS...`.
//! `console` is `respawn` with the console as controlling terminal, for an interactive shell.

use std::collections::HashMap;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use rustix::process::{WaitOptions, wait};

pub const CONFIG: &str = "/etc/appliance/services";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    Once,
    Respawn,
    Console,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub restart: Restart,
    pub argv: Vec<String>,
}

pub fn load(path: &str) -> Vec<Service> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text, path),
        Err(error) => {
            say!("init: {path}: {error}; starting no services");
            Vec::new()
        }
    }
}

/// Parses the service list; a bad line is reported with its number and skipped.
pub fn parse(text: &str, path: &str) -> Vec<Service> {
    let mut services = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let mut words = line.split_whitespace();
        let restart = match words.next() {
            None => continue,
            Some(word) if word.starts_with('#') => continue,
            Some("once") => Restart::Once,
            Some("respawn") => Restart::Respawn,
            Some("console") => Restart::Console,
            Some(other) => {
                say!(
                    "init: {path}:{}: `{other}` is not once, respawn or console; line skipped",
                    index + 1
                );
                continue;
            }
        };
        let argv: Vec<String> = words.map(str::to_owned).collect();
        if argv.is_empty() {
            say!("init: {path}:{}: no command; line skipped", index + 1);
            continue;
        }
        services.push(Service { restart, argv });
    }
    services
}

fn start(service: &Service) -> Option<u32> {
    let mut command = Command::new(&service.argv[0]);
    command
        .args(&service.argv[1..])
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("HOME", "/root");
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
            say!("init: cannot start {}: {error}", service.argv.join(" "));
            None
        }
    }
}

/// Starts every service, then reaps children forever, restarting the ones that respawn.
pub fn supervise(services: Vec<Service>) -> ! {
    let mut running: HashMap<u32, (usize, Instant)> = HashMap::new();
    for (index, service) in services.iter().enumerate() {
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

    #[test]
    fn parses_services_and_skips_bad_lines() {
        let text = "# comment\nconsole /bin/sh -l\n\nbogus /x\nonce\nrespawn /sbin/agent --quiet\n";
        let services = parse(text, "services");
        assert_eq!(
            services,
            [
                Service {
                    restart: Restart::Console,
                    argv: vec!["/bin/sh".into(), "-l".into()]
                },
                Service {
                    restart: Restart::Respawn,
                    argv: vec!["/sbin/agent".into(), "--quiet".into()]
                },
            ]
        );
    }
}

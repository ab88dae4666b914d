//! A headless guest whose serial console runs a shell: boot, run commands, read their output
//! and exit status. Every wait has a timeout, and the guest is killed when dropped.

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use crate::machine::{Machine, QEMU};

#[derive(Debug, thiserror::Error)]
pub enum GuestError {
    #[error("could not start {QEMU}: {0}; install it with `cargo xtask setup`")]
    Spawn(std::io::Error),
    #[error(
        "timed out after {seconds}s waiting for {waiting_for:?}; the console's last lines:\n{tail}"
    )]
    Timeout {
        waiting_for: String,
        seconds: u64,
        tail: String,
    },
    #[error(
        "the guest stopped while waiting for {waiting_for:?}; the console's last lines:\n{tail}"
    )]
    Exited { waiting_for: String, tail: String },
    #[error("writing to the guest's console: {0}")]
    Write(std::io::Error),
}

/// What a command printed and its exit status.
#[derive(Debug, Clone)]
pub struct Output {
    pub text: String,
    pub status: i32,
}

pub struct Guest {
    child: Child,
    stdin: ChildStdin,
    bytes: Receiver<Vec<u8>>,
    /// Everything the console printed, `\r` removed.
    transcript: String,
    /// Where the next wait starts searching.
    cursor: usize,
    commands: u32,
}

impl Guest {
    pub fn start(machine: &Machine) -> Result<Guest, GuestError> {
        let mut child = Command::new(QEMU)
            .args(machine.headless_args())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(GuestError::Spawn)?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| GuestError::Spawn(std::io::Error::other("no stdin")))?;
        let mut stdout = child
            .stdout
            .take()
            .ok_or_else(|| GuestError::Spawn(std::io::Error::other("no stdout")))?;
        let (sender, bytes) = channel();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(read @ 1..) = stdout.read(&mut buffer) {
                if sender.send(buffer[..read].to_vec()).is_err() {
                    break;
                }
            }
        });
        Ok(Guest {
            child,
            stdin,
            bytes,
            transcript: String::new(),
            cursor: 0,
            commands: 0,
        })
    }

    pub fn transcript(&self) -> &str {
        &self.transcript
    }

    fn tail(&self) -> String {
        let lines: Vec<&str> = self.transcript.lines().collect();
        lines[lines.len().saturating_sub(25)..].join("\n")
    }

    /// Waits until `needle` appears after everything already consumed; returns the text up to
    /// and including it.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> Result<String, GuestError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(found) = self.transcript[self.cursor..].find(needle) {
                let end = self.cursor + found + needle.len();
                let text = self.transcript[self.cursor..end].to_owned();
                self.cursor = end;
                return Ok(text);
            }
            if !self.read_more(deadline, needle, timeout)? {
                return Err(GuestError::Exited {
                    waiting_for: needle.to_owned(),
                    tail: self.tail(),
                });
            }
        }
    }

    /// Waits until the guest powers off (QEMU exits), and returns everything it printed since
    /// the last wait.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> Result<String, GuestError> {
        let deadline = Instant::now() + timeout;
        while self.read_more(deadline, "the guest to power off", timeout)? {}
        let text = self.transcript[self.cursor..].to_owned();
        self.cursor = self.transcript.len();
        Ok(text)
    }

    /// Appends the console's next output to the transcript; `false` once QEMU has exited.
    fn read_more(
        &mut self,
        deadline: Instant,
        waiting_for: &str,
        timeout: Duration,
    ) -> Result<bool, GuestError> {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.bytes.recv_timeout(left) {
            Ok(chunk) => {
                self.transcript
                    .push_str(&String::from_utf8_lossy(&chunk).replace('\r', ""));
                Ok(true)
            }
            Err(RecvTimeoutError::Timeout) => Err(GuestError::Timeout {
                waiting_for: waiting_for.to_owned(),
                seconds: timeout.as_secs(),
                tail: self.tail(),
            }),
            Err(RecvTimeoutError::Disconnected) => Ok(false),
        }
    }

    pub fn send_line(&mut self, line: &str) -> Result<(), GuestError> {
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .map_err(GuestError::Write)?;
        self.stdin.flush().map_err(GuestError::Write)
    }

    /// Runs a shell command in the guest and returns its output and status. The markers are
    /// computed by the guest's shell, so the terminal's echo of the command never matches them.
    pub fn run(&mut self, command: &str, timeout: Duration) -> Result<Output, GuestError> {
        self.commands += 1;
        let n = self.commands;
        let begin = format!("@@B{n}@@");
        let end = format!("@@E{n}@@");
        self.send_line(&format!(
            "echo @@B$(({n}))@@; {command}; echo @@E$(({n}))@@ $?"
        ))?;
        self.wait_for(&format!("{begin}\n"), timeout)?;
        let body = self.wait_for(&end, timeout)?;
        let status_line = self.wait_for("\n", timeout)?;
        let text = body[..body.len() - end.len()].to_owned();
        Ok(Output {
            text,
            status: status_line.trim().parse().unwrap_or(-1),
        })
    }

    /// Stops the guest at once: its disks are read-only, so nothing is lost.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a guest with its console on this terminal until it powers off or Ctrl-A X.
pub fn run_interactive(machine: &Machine) -> Result<std::process::ExitStatus, GuestError> {
    Command::new(QEMU)
        .args(machine.interactive_args())
        .status()
        .map_err(GuestError::Spawn)
}

/// Whether `machine` reaches `marker` on its console within `timeout`: for probing KVM, under
/// which some hosts hang or make QEMU assert.
pub fn boots_to(machine: &Machine, marker: &str, timeout: Duration) -> bool {
    Guest::start(machine).is_ok_and(|mut guest| guest.wait_for(marker, timeout).is_ok())
}

impl Drop for Guest {
    fn drop(&mut self) {
        self.kill();
    }
}

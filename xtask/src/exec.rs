//! The only module that spawns processes: every external tool runs through [`Tool`], so that
//! each call is logged and each failure names the command and shows what it printed.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

pub struct Tool {
    command: Command,
}

impl Tool {
    pub fn new(program: impl AsRef<OsStr>) -> Tool {
        Tool {
            command: Command::new(program),
        }
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Tool {
        self.command.arg(arg);
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(mut self, args: I) -> Tool {
        self.command.args(args);
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Tool {
        self.command.env(key, value);
        self
    }

    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Tool {
        self.command.current_dir(dir);
        self
    }

    fn describe(&self) -> String {
        let mut text = self.command.get_program().to_string_lossy().into_owned();
        for arg in self.command.get_args() {
            text.push(' ');
            text.push_str(&arg.to_string_lossy());
        }
        text
    }

    /// Runs to completion and returns stdout; a failure carries the tail of stderr.
    pub fn output(mut self) -> Result<Vec<u8>> {
        let description = self.describe();
        tracing::debug!("running {description}");
        let output = self
            .command
            .stdin(Stdio::null())
            .output()
            .with_context(|| {
                format!("could not start `{description}`: is it installed? Try `cargo xtask setup`")
            })?;
        if !output.status.success() {
            bail!(
                "`{description}` failed ({}):\n{}",
                output.status,
                tail(&String::from_utf8_lossy(&output.stderr), 40)
            );
        }
        Ok(output.stdout)
    }

    pub fn run(self) -> Result<()> {
        self.output().map(drop)
    }

    /// Runs a long job, handing each line it prints to `on_line` as it comes, for progress.
    /// Stderr is merged into the lines; the last of them are shown on failure.
    pub fn run_streaming(mut self, mut on_line: impl FnMut(&str)) -> Result<()> {
        let description = self.describe();
        tracing::debug!("running {description}");
        let (reader, writer) = std::io::pipe()?;
        let mut child = self
            .command
            .stdin(Stdio::null())
            .stdout(writer.try_clone()?)
            .stderr(writer)
            .spawn()
            .with_context(|| format!("could not start `{description}`"))?;
        // The command holds the only write ends now; drop ours so the read ends at exit.
        drop(self.command);
        let mut recent = std::collections::VecDeque::with_capacity(60);
        for line in BufReader::new(reader).lines() {
            let line = line?;
            on_line(&line);
            if recent.len() == 60 {
                recent.pop_front();
            }
            recent.push_back(line);
        }
        let status = child.wait()?;
        if !status.success() {
            let shown: Vec<String> = recent.into_iter().collect();
            bail!("`{description}` failed ({status}):\n{}", shown.join("\n"));
        }
        Ok(())
    }
}

/// A command started in a process group of its own, whose stderr is read line by line, and
/// which can be killed whole: the test that interrupts builds uses it.
pub struct Group {
    child: std::process::Child,
    lines: std::io::Lines<BufReader<std::process::ChildStderr>>,
}

impl Tool {
    pub fn spawn_group(mut self) -> Result<Group> {
        use std::os::unix::process::CommandExt;
        let description = self.describe();
        tracing::debug!("starting {description} in its own process group");
        let mut child = self
            .command
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("could not start `{description}`"))?;
        let stderr = child.stderr.take().context("the child has no stderr")?;
        Ok(Group {
            child,
            lines: BufReader::new(stderr).lines(),
        })
    }
}

impl Group {
    /// The next line the group prints on stderr, or `None` once it closed it.
    pub fn next_line(&mut self) -> Option<String> {
        self.lines.next().and_then(|line| line.ok())
    }

    /// SIGKILL to every process of the group: nothing of it gets to clean up.
    pub fn kill(&mut self) -> Result<()> {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32)
            .context("the child has no process id")?;
        rustix::process::kill_process_group(pid, rustix::process::Signal::KILL)
            .context("killing the process group")?;
        Ok(())
    }

    /// Waits for the group's leader, reading what is left of its output.
    pub fn wait(mut self) -> Result<std::process::ExitStatus> {
        while self.next_line().is_some() {}
        Ok(self.child.wait()?)
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

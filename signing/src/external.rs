//! A [`Signer`] that runs a command, so the private key can stay in an HSM, a
//! smart card or on another machine.
//!
//! Contract: the command gets the exact bytes to be signed on stdin (stdin is
//! then closed), must write only the raw RSASSA-PKCS1-v1_5 SHA-256 signature
//! to stdout and exit 0. Its stderr is passed through. For example
//! `openssl dgst -sha256 -sign KEY -binary`, or
//! `pkcs11-tool --sign -m SHA256-RSA-PKCS --id ID -i /dev/stdin -o /dev/stdout`.

use std::ffi::OsString;
use std::io::Write;
use std::process::{Command, Stdio};

use crate::error::{Error, Result};
use crate::signer::Signer;

/// Runs a command to sign; see the module documentation for the contract.
#[derive(Clone, Debug)]
pub struct ExternalSigner {
    program: OsString,
    args: Vec<OsString>,
    shown: String,
}

impl ExternalSigner {
    /// Runs `program` with `args` directly (no shell).
    pub fn new(
        program: impl Into<OsString>,
        args: impl IntoIterator<Item = impl Into<OsString>>,
    ) -> Self {
        let program = program.into();
        let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        let shown = std::iter::once(&program)
            .chain(&args)
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ");
        Self {
            program,
            args,
            shown,
        }
    }

    /// Runs `command` with `sh -c`, so it may contain pipes and quoting.
    pub fn shell(command: &str) -> Self {
        Self {
            shown: command.to_owned(),
            ..Self::new("sh", ["-c", command])
        }
    }
}

impl Signer for ExternalSigner {
    fn sign(&self, content: &[u8]) -> Result<Vec<u8>> {
        let fail = |action, source| Error::ExternalIo {
            command: self.shown.clone(),
            action,
            source,
        };
        let mut child = Command::new(&self.program)
            .args(&self.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| fail("start", e))?;
        // Feed stdin from another thread: a command that starts writing before it
        // has read everything would otherwise deadlock against us.
        let stdin = child.stdin.take();
        let output = std::thread::scope(|scope| {
            let writer = scope.spawn(move || match stdin {
                Some(mut stdin) => stdin.write_all(content),
                None => Ok(()),
            });
            let output = child.wait_with_output();
            (writer.join(), output)
        });
        let output = match output {
            (_, Err(e)) => return Err(fail("wait", e)),
            (Ok(Err(e)), Ok(out)) if out.status.success() => return Err(fail("write stdin", e)),
            (_, Ok(out)) => out,
        };
        if !output.status.success() {
            return Err(Error::ExternalFailed {
                command: self.shown.clone(),
                status: output.status,
            });
        }
        Ok(output.stdout)
    }

    fn describe(&self) -> String {
        format!("external signer `{}`", self.shown)
    }
}

//! The build log: what `tracing` records, down to debug level (every command run and every
//! kernel build line) and without colours, also goes to the log file of the image being built,
//! `target/appliance-work/<name>.log`, beside its work directory.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use anyhow::{Context, Result};

static SINK: Mutex<Option<File>> = Mutex::new(None);

/// Logs go to the file until this is dropped.
pub struct Capture(());

pub fn capture(path: &Path) -> Result<Capture> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    *SINK.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(file);
    Ok(Capture(()))
}

impl Drop for Capture {
    fn drop(&mut self) {
        *SINK.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
    }
}

/// The `tracing` writer for the log file; it writes nothing while no build captures.
pub struct LogFile;

impl Write for LogFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(file) = SINK
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .as_mut()
        {
            file.write_all(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogFile {
    type Writer = LogFile;

    fn make_writer(&'a self) -> LogFile {
        LogFile
    }
}

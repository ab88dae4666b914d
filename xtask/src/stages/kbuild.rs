//! Running kbuild: the `make` command line, what makes its output reproducible, progress with
//! a total and an estimate, and recovery from a build that was killed.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::setup::Toolchain;
use crate::cache::{self, Cache};
use crate::exec::Tool;

/// `make` in `src` with objects in `obj`.
pub fn make_tool(toolchain: &Toolchain, src: &Path, obj: &Path) -> Tool {
    Tool::new("make")
        .current_dir(src)
        .arg(format!("O={}", obj.display()))
        .arg("LLVM=1")
        .arg(format!("BINDGEN={}", toolchain.bindgen.display()))
        .env("RUST_LIB_SRC", &toolchain.rust_lib_src)
        .env("KBUILD_BUILD_USER", "appliance")
        .env("KBUILD_BUILD_HOST", "builder")
}

/// What makes two builds of the same inputs byte-identical, in any cache and at any time.
pub struct Reproducible {
    /// The cache's real path, mapped away in file names the compilers record (Rust's panic
    /// locations, C's `__FILE__`): the tree and `RUST_LIB_SRC` both live below it.
    cache_root: PathBuf,
    source_date_epoch: u64,
}

impl Reproducible {
    pub fn new(cache: &Cache, source_date_epoch: u64) -> Result<Reproducible> {
        Ok(Reproducible {
            cache_root: fs::canonicalize(&cache.root)
                .with_context(|| format!("resolving {}", cache.root.display()))?,
            source_date_epoch,
        })
    }

    fn apply(&self, make: Tool) -> Tool {
        let root = self.cache_root.display();
        make.env(
            "KBUILD_BUILD_TIMESTAMP",
            kbuild_timestamp(self.source_date_epoch),
        )
        // Not the link counter kbuild keeps in `.version`.
        .env("KBUILD_BUILD_VERSION", "1")
        .env("KCFLAGS", format!("-ffile-prefix-map={root}/="))
        .env("KRUSTFLAGS", format!("--remap-path-prefix={root}/="))
    }
}

/// `SOURCE_DATE_EPOCH` as `date -u` prints it, the form kbuild puts in `UTS_VERSION` and hands
/// to `date -d` for the built-in initramfs.
fn kbuild_timestamp(epoch: u64) -> String {
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let [year, month, day, hour, minute, second] = civil_time(epoch);
    format!(
        "{} {} {day:>2} {hour:02}:{minute:02}:{second:02} UTC {year}",
        WEEKDAYS[(epoch / 86_400 % 7) as usize],
        MONTHS[(month - 1) as usize],
    )
}

/// `[year, month, day, hour, minute, second]` in UTC of seconds since 1970-01-01.
pub(super) fn civil_time(epoch: u64) -> [u64; 6] {
    let days = epoch / 86_400;
    let seconds = epoch % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let shifted = days + 719_468;
    let era = shifted / 146_097;
    let day_of_era = shifted % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    [
        year,
        month,
        day,
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60,
    ]
}

/// Marks an object tree while make writes to it. Compilers and the linker here write through a
/// temporary file, but kbuild's own scripts write in place; a killed build can leave a
/// half-written file newer than its inputs, which make would then trust. So every file written
/// since the mark of a build that never finished is removed before the next one, and make
/// builds those again.
pub const BUILDING_MARK: &str = ".appliance-building";

/// Run under the tree's lock before anything is written to the object tree.
pub fn recover_interrupted(obj: &Path) -> Result<()> {
    let mark = obj.join(BUILDING_MARK);
    let Ok(since) = fs::metadata(&mark).and_then(|meta| meta.modified()) else {
        return Ok(());
    };
    let mut removed = 0usize;
    for entry in walkdir::WalkDir::new(obj).into_iter().flatten() {
        let written = entry.metadata().ok().and_then(|meta| meta.modified().ok());
        if entry.file_type().is_file() && written.is_some_and(|time| time >= since) {
            fs::remove_file(entry.path())
                .with_context(|| format!("removing {}", entry.path().display()))?;
            removed += 1;
        }
    }
    tracing::warn!(
        "kernel: the last build in {} was interrupted; removed the {removed} files it wrote, so \
         they are built again",
        obj.display()
    );
    Ok(())
}

/// Runs make for `targets` in the tree, with progress, marking the tree while it runs.
pub fn make(
    toolchain: &Toolchain,
    src: &Path,
    obj: &Path,
    reproducible: &Reproducible,
    targets: &[&str],
) -> Result<()> {
    fs::create_dir_all(obj)?;
    let mark = obj.join(BUILDING_MARK);
    fs::write(&mark, b"")?;
    let jobs = std::thread::available_parallelism().map_or(2, usize::from);
    let cold = !obj.join("vmlinux").exists();
    // The estimate: the step count of the last build of this tree of the same kind.
    let record = obj.join(if cold {
        ".appliance-steps-cold"
    } else {
        ".appliance-steps-warm"
    });
    let expected: Option<u64> = fs::read_to_string(&record)
        .ok()
        .and_then(|text| text.trim().parse().ok());
    tracing::info!(
        "kernel: building {} in {} with {jobs} jobs ({})",
        targets.join(" "),
        obj.display(),
        match expected {
            Some(steps) => format!("about {steps} steps, as last time"),
            None if cold => "a clean build is about 25 CPU-minutes".to_owned(),
            None => "an incremental build".to_owned(),
        }
    );
    let mut progress = Progress::new(expected);
    reproducible
        .apply(make_tool(toolchain, src, obj))
        .arg(format!("-j{jobs}"))
        .args(targets)
        .run_streaming(|line| {
            tracing::debug!(target: "kbuild", "{line}");
            // Each step kbuild announces (`  CC      init/main.o`) is indented.
            if line.starts_with("  ") {
                progress.step(line.trim());
            }
        })?;
    let steps = progress.finish();
    cache::write_atomic(&record, steps.to_string().as_bytes())?;
    fs::remove_file(&mark)?;
    Ok(())
}

/// A bar with a total and an estimate on a terminal; otherwise a line every 500 steps.
struct Progress {
    bar: ProgressBar,
    expected: Option<u64>,
    steps: u64,
    started: Instant,
}

impl Progress {
    fn new(expected: Option<u64>) -> Progress {
        let bar = ProgressBar::with_draw_target(expected, ProgressDrawTarget::stderr());
        let template = if expected.is_some() {
            "kernel {bar:30} {pos}/{len} steps, {elapsed}, about {eta} left  {wide_msg}"
        } else {
            "kernel {spinner} {pos} steps, {elapsed}  {wide_msg}"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress {
            bar,
            expected,
            steps: 0,
            started: Instant::now(),
        }
    }

    fn step(&mut self, what: &str) {
        self.steps += 1;
        if self.expected.is_some_and(|total| self.steps > total) {
            self.bar.set_length(self.steps);
        }
        self.bar.set_position(self.steps);
        self.bar.set_message(what.to_owned());
        if self.bar.is_hidden() && self.steps.is_multiple_of(500) {
            let elapsed = self.started.elapsed().as_secs();
            let estimate = match self.expected {
                Some(total) if total > self.steps => format!(
                    " of about {total}, about {}s left",
                    elapsed * (total - self.steps) / self.steps
                ),
                _ => String::new(),
            };
            tracing::info!(
                "kernel: {} steps{estimate}, {elapsed}s, at {what}",
                self.steps
            );
        }
    }

    fn finish(self) -> u64 {
        self.bar.finish_and_clear();
        tracing::info!(
            "kernel: built in {}s ({} steps)",
            self.started.elapsed().as_secs(),
            self.steps
        );
        self.steps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_build_timestamp_reads_as_date_prints_it() {
        assert_eq!(kbuild_timestamp(0), "Thu Jan  1 00:00:00 UTC 1970");
        // `date -u -d @1700000000`
        assert_eq!(
            kbuild_timestamp(1_700_000_000),
            "Tue Nov 14 22:13:20 UTC 2023"
        );
        // A leap day: `date -u -d @951825599`
        assert_eq!(
            kbuild_timestamp(951_825_599),
            "Tue Feb 29 11:59:59 UTC 2000"
        );
    }

    #[test]
    fn files_written_by_an_interrupted_build_are_removed() {
        let obj = tempfile::tempdir().unwrap();
        let before = obj.path().join("kept.o");
        fs::write(&before, b"complete").unwrap();
        std::thread::sleep(Duration::from_millis(20));
        fs::write(obj.path().join(BUILDING_MARK), b"").unwrap();
        fs::create_dir(obj.path().join("sub")).unwrap();
        let during = obj.path().join("sub/half.o");
        fs::write(&during, b"hal").unwrap();
        recover_interrupted(obj.path()).unwrap();
        assert!(before.exists());
        assert!(!during.exists());
        assert!(!obj.path().join(BUILDING_MARK).exists());
    }

    #[test]
    fn a_finished_build_leaves_nothing_to_recover() {
        let obj = tempfile::tempdir().unwrap();
        fs::write(obj.path().join("kept.o"), b"complete").unwrap();
        recover_interrupted(obj.path()).unwrap();
        assert!(obj.path().join("kept.o").exists());
    }
}

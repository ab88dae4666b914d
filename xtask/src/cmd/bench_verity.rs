//! `cargo xtask bench verity`: the in-process verity code against veritysetup and fsverity,
//! and against the machine's raw SHA-256 throughput, in one run.

use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use clap::Args;
use verity::HashAlgorithm;

use crate::exec::Tool;
use verity::dm_verity::{self, Params};
use verity::fs_verity;

/// Benchmark dm-verity and fs-verity hashing against the reference tools.
#[derive(Debug, Args)]
#[command(
    long_about = "Benchmark the in-process dm-verity and fs-verity code.\n\n\
    Writes a scratch image of --size-mib MiB, reads it once so every contender hashes from \
    the page cache, then times, best of --runs:\n  \
    1. raw SHA-256 over 4 KiB blocks in memory, one thread and all cores: the speed limit;\n  \
    2. `veritysetup format` against `cargo xtask verity format` (same salt and UUID; the root \
    hashes must agree);\n  \
    3. `fsverity digest` against `cargo xtask fsverity digest` on the same file.\n\n\
    It prints throughputs and the ratios: speed-up over the reference tool and share of the \
    all-core SHA-256 limit, by wall-clock time and by CPU time (user + system, including the \
    tools' processes). Other load skews wall-clock figures far more than CPU figures; the load \
    average is printed too. \
    Build optimised for meaningful numbers: the workspace sets opt-level 3 for sha2 and \
    verity even in dev builds."
)]
pub struct BenchVerityArgs {
    /// Size of the scratch image in MiB
    #[arg(long, value_name = "MIB", default_value_t = 1024)]
    pub size_mib: u64,
    /// Timed runs per contender; the fastest counts
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub runs: u32,
    /// Directory for the scratch files (default: the system temp dir); needs ~1.02 × size free
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

const SALT: &str = "5a17c0ffee5a17c0ffee5a17c0ffee5a17c0ffee5a17c0ffee5a17c0ffee5a17";
const UUID: &str = "0badcafe-0000-4000-8000-000000000001";

pub fn run(args: &BenchVerityArgs) -> Result<()> {
    ensure!(
        args.size_mib > 0 && args.runs > 0,
        "--size-mib and --runs must be at least 1"
    );
    let veritysetup = find_tool("veritysetup")?;
    let fsverity = find_tool("fsverity")?;
    let dir = match &args.dir {
        Some(dir) => tempfile::tempdir_in(dir),
        None => tempfile::tempdir(),
    }
    .context("creating the scratch directory")?;
    let bytes = args.size_mib << 20;
    let data = dir.path().join("data.img");
    println!(
        "cores: {}, load average before: {}",
        cores(),
        load_average()
    );
    write_scratch(&data, bytes)?;

    let one = raw_sha256(false, args.runs)?;
    let limit = raw_sha256(true, args.runs)?;
    println!(
        "raw SHA-256, 4 KiB blocks: {:.0} MB/s on one thread, {:.0} MB/s on all cores (the limit)",
        mb_per_s(RAW_BYTES, one.wall),
        mb_per_s(RAW_BYTES, limit.wall),
    );
    let limit = (RAW_BYTES, limit);

    let (theirs, ours) = bench_dm_verity(&veritysetup, &data, dir.path(), args.runs)?;
    report(
        &format!("dm-verity format, {} MiB", args.size_mib),
        "veritysetup",
        bytes,
        theirs,
        ours,
        limit,
    );

    let (theirs, ours) = bench_fs_verity(&fsverity, &data, args.runs)?;
    report(
        &format!("fs-verity digest, {} MiB", args.size_mib),
        "fsverity",
        bytes,
        theirs,
        ours,
        limit,
    );
    println!("load average after: {}", load_average());
    Ok(())
}

fn bench_dm_verity(tool: &Path, data: &Path, dir: &Path, runs: u32) -> Result<(Timing, Timing)> {
    let (want, got) = (dir.join("want.hash"), dir.join("got.hash"));
    let params = Params {
        salt: verity::parse_hex("salt", SALT)?,
        superblock: Some(UUID.parse()?),
        ..Params::default()
    };
    let mut want_root = String::new();
    let theirs = best_of(runs, || {
        let _ = fs::remove_file(&want);
        let out = Tool::new(tool)
            .arg("format")
            .arg(data)
            .arg(&want)
            .args(["--salt", SALT, "--uuid", UUID])
            .output()?;
        let stdout = String::from_utf8_lossy(&out);
        want_root = stdout
            .lines()
            .find_map(|l| l.strip_prefix("Root hash:"))
            .unwrap_or_default()
            .trim()
            .to_owned();
        Ok(())
    })?;
    let mut got_root = String::new();
    let ours = best_of(runs, || {
        let _ = fs::remove_file(&got);
        got_root = dm_verity::format(data, &got, &params)?.root_hash.to_hex();
        Ok(())
    })?;
    ensure!(
        want_root == got_root,
        "root hashes differ: veritysetup {want_root}, ours {got_root}"
    );
    ensure!(fs::read(&want)? == fs::read(&got)?, "hash devices differ");
    Ok((theirs, ours))
}

fn bench_fs_verity(tool: &Path, data: &Path, runs: u32) -> Result<(Timing, Timing)> {
    let mut want = String::new();
    let theirs = best_of(runs, || {
        let out = Tool::new(tool).arg("digest").arg(data).output()?;
        want = String::from_utf8_lossy(&out)
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned();
        Ok(())
    })?;
    let mut got = String::new();
    let ours = best_of(runs, || {
        got = fs_verity::digest_file(data, &fs_verity::Params::default())?.to_string();
        Ok(())
    })?;
    ensure!(want == got, "digests differ: fsverity {want}, ours {got}");
    Ok((theirs, ours))
}

/// Bytes of the in-memory buffer the raw SHA-256 speed is measured on.
const RAW_BYTES: u64 = 256 << 20;

/// Hashing the 4 KiB blocks of a `RAW_BYTES` in-memory buffer, nothing else.
fn raw_sha256(parallel: bool, runs: u32) -> Result<Timing> {
    let buffer = verity::random_salt(RAW_BYTES as usize)?;
    best_of(runs, || {
        std::hint::black_box(verity::raw::hash_blocks(
            HashAlgorithm::Sha256,
            &buffer,
            4096,
            parallel,
        ));
        Ok(())
    })
}

/// Prints a comparison; `limit` is the raw SHA-256 timing for `limit_bytes` on all cores.
fn report(what: &str, tool: &str, bytes: u64, theirs: Timing, ours: Timing, limit: (u64, Timing)) {
    let (limit_bytes, limit) = limit;
    let (theirs_mb, ours_mb) = (mb_per_s(bytes, theirs.wall), mb_per_s(bytes, ours.wall));
    println!(
        "{what}:\n  wall: {tool} {:.2} s ({theirs_mb:.0} MB/s), ours {:.2} s ({ours_mb:.0} MB/s): \
         {:.2}x {tool}, {:.0}% of the all-core SHA-256 limit\n  \
         CPU:  {tool} {:.2} s, ours {:.2} s: {:.2}x less CPU; ours hashes at {:.0}% of raw SHA-256 per CPU second",
        theirs.wall.as_secs_f64(),
        ours.wall.as_secs_f64(),
        ours_mb / theirs_mb,
        100.0 * ours_mb / mb_per_s(limit_bytes, limit.wall),
        theirs.cpu.as_secs_f64(),
        ours.cpu.as_secs_f64(),
        theirs.cpu.as_secs_f64() / ours.cpu.as_secs_f64().max(1e-9),
        100.0 * mb_per_s(bytes, ours.cpu) / mb_per_s(limit_bytes, limit.cpu),
    );
}

/// The fastest wall-clock time and the least CPU time (this process and the children it
/// waited for) over the runs. CPU time is far less disturbed by other load than wall time.
#[derive(Clone, Copy, Debug)]
struct Timing {
    wall: Duration,
    cpu: Duration,
}

fn best_of(runs: u32, mut f: impl FnMut() -> Result<()>) -> Result<Timing> {
    let mut best = Timing {
        wall: Duration::MAX,
        cpu: Duration::MAX,
    };
    for _ in 0..runs {
        let (start, cpu_start) = (Instant::now(), cpu_time());
        f()?;
        best.wall = best.wall.min(start.elapsed());
        best.cpu = best.cpu.min(cpu_time().saturating_sub(cpu_start));
    }
    Ok(best)
}

/// User + system time of this process and its waited-for children, from /proc/self/stat
/// (in USER_HZ = 100 ticks per second); zero if unavailable.
fn cpu_time() -> Duration {
    let stat = fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime is field 14 of the whole line.
    let fields: Vec<u64> = stat
        .rsplit(')')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(11)
        .take(4)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    Duration::from_millis(fields.iter().sum::<u64>() * 10)
}

fn mb_per_s(bytes: u64, time: Duration) -> f64 {
    bytes as f64 / 1e6 / time.as_secs_f64().max(1e-9)
}

/// Writes `bytes` of random-looking data (a random MiB, each copy stamped with its index),
/// then reads it back so that every contender hashes from the page cache.
fn write_scratch(path: &Path, bytes: u64) -> Result<()> {
    let mut chunk = verity::random_salt(1 << 20)?;
    let mut out =
        BufWriter::new(File::create(path).with_context(|| format!("creating {}", path.display()))?);
    for index in 0..bytes >> 20 {
        chunk[..8].copy_from_slice(&index.to_le_bytes());
        out.write_all(&chunk)?;
    }
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    let mut file = File::open(path)?;
    let mut sink = vec![0; 1 << 20];
    while file.read(&mut sink)? > 0 {}
    Ok(())
}

fn find_tool(name: &str) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path).chain(["/usr/sbin", "/sbin"].map(PathBuf::from));
    for dir in dirs {
        if dir.join(name).is_file() {
            return Ok(dir.join(name));
        }
    }
    bail!("{name} is not installed: run `cargo xtask setup`")
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

//! fs-verity digests must equal those of `fsverity digest` (fsverity-utils).

mod common;

use std::path::Path;

use common::{EDGE_SIZES, Rng, run_ok, tool};
use verity::HashAlgorithm;
use verity::fs_verity::{Params, digest_file};

/// Runs `fsverity digest` once over many files with the same parameters.
fn fsverity_digests(files: &[&Path], params: &Params) -> Vec<String> {
    let fsverity = tool("fsverity", "fsverity");
    let mut args = vec![
        "digest".to_owned(),
        format!("--hash-alg={}", params.hash),
        format!("--block-size={}", params.block_size),
    ];
    if !params.salt.is_empty() {
        args.push(format!("--salt={}", hex::encode(&params.salt)));
    }
    args.extend(files.iter().map(|f| f.to_str().unwrap().to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_ok(&fsverity, &args)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn check(files: &[&Path], params: &Params) {
    let want = fsverity_digests(files, params);
    assert_eq!(want.len(), files.len());
    for (file, want) in files.iter().zip(want) {
        let got = format!("{} {}", digest_file(file, params).unwrap(), file.display());
        assert_eq!(got, want, "params {params:?}");
    }
}

#[test]
fn edge_sizes_match_fsverity() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(1);
    let files: Vec<_> = EDGE_SIZES
        .iter()
        .map(|&size| {
            let path = dir.path().join(format!("f{size}"));
            std::fs::write(&path, rng.bytes(size)).unwrap();
            path
        })
        .collect();
    let files: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    for hash in [HashAlgorithm::Sha256, HashAlgorithm::Sha512] {
        for salt in [vec![], vec![0xab], rng.bytes(32)] {
            check(
                &files,
                &Params {
                    hash,
                    block_size: 4096,
                    salt,
                },
            );
        }
    }
}

#[test]
fn random_sizes_salts_and_block_sizes_match_fsverity() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(2);
    for round in 0..24 {
        let hash = *rng.pick(&[HashAlgorithm::Sha256, HashAlgorithm::Sha512]);
        let block_size = *rng.pick(&[1024, 2048, 4096, 4096, 4096, 8192, 65536]);
        let salt_len = rng.below(33) as usize;
        let params = Params {
            hash,
            block_size,
            salt: rng.bytes(salt_len),
        };
        let files: Vec<_> = (0..12)
            .map(|i| {
                // Mostly small files; some span several tree levels at small block sizes.
                let size = match rng.below(10) {
                    0 => rng.below(600_000),
                    1..=3 => rng.below(3) * u64::from(block_size) + rng.below(3),
                    _ => rng.below(40_000),
                } as usize;
                let path = dir.path().join(format!("r{round}-{i}"));
                std::fs::write(&path, rng.bytes(size)).unwrap();
                path
            })
            .collect();
        let files: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
        check(&files, &params);
    }
}

#[test]
fn formatted_digest_matches_for_builtin_sig() {
    let fsverity = tool("fsverity", "fsverity");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("file");
    std::fs::write(&path, Rng::new(3).bytes(12345)).unwrap();
    for hash in ["sha256", "sha512"] {
        let params = Params {
            hash: hash.parse().unwrap(),
            ..Params::default()
        };
        let want = run_ok(
            &fsverity,
            &[
                "digest",
                "--compact",
                "--for-builtin-sig",
                "--hash-alg",
                hash,
                path.to_str().unwrap(),
            ],
        );
        let got = hex::encode(digest_file(&path, &params).unwrap().formatted());
        assert_eq!(got, want.trim());
    }
}

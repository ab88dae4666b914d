//! Arbitrary bytes into the parser. Must never panic; whatever parses must
//! survive a print/parse round trip, and the digest index must decide as the
//! linear scan for the policy's own digests.
#![no_main]

use ipe_lsm::host::{parse_host, parse_indexed, to_text};
use ipe_lsm::{Config, FactDigest, Facts, Op, Property, decide};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(policy) = parse_host(data) else {
        return;
    };
    let canonical = to_text(&policy);
    let reparsed = parse_host(&canonical).expect("canonical text must parse");
    assert!(reparsed == policy, "round trip changed the policy");

    let indexed = parse_indexed(data).expect("indexing a valid policy");
    let digests = policy.rules().iter().flat_map(|rule| policy.props(rule)).filter_map(|property| {
        match property {
            Property::FsVerityDigest(d) | Property::DmVerityRootHash(d) => {
                FactDigest::new(d.alg(), &d.bytes().collect::<Vec<_>>())
            }
            _ => None,
        }
    });
    for (n, digest) in digests.take(64).enumerate() {
        let facts = Facts {
            has_file: true,
            initramfs: n % 2 == 0,
            has_bdev: n % 3 != 0,
            dm_verity_signed: n % 5 == 0,
            dm_verity_root_hash: digest,
            fs_verity_signed: n % 7 == 0,
            fs_verity_digest: digest,
        };
        for op in Op::ALL {
            assert_eq!(
                indexed.decide(Some(op), &facts, &Config::ALL),
                decide(&policy, Some(op), &facts, &Config::ALL)
            );
        }
    }
});

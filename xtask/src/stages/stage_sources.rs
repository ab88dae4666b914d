//! Each stage's source hash, made by `xtask/build.rs`: part of the stage's cache key, so that
//! new code never reuses what old code built.

include!(concat!(env!("OUT_DIR"), "/stage_sources.rs"));

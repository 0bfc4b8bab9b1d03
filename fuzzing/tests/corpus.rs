//! Every fuzz target over its committed corpus (`fuzz/corpus/TARGET/`: the seeds, and the inputs of
//! every crash found, kept as regressions), on stable Rust: what `cargo test --workspace` runs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};

fn corpus(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

/// Runs `target` over its corpus; each input is named if it panics.
fn run(target: &str) {
    let Some(&(_, run)) = pinauth_fuzzing::TARGETS.iter().find(|(t, _)| *t == target) else {
        panic!("no target {target}");
    };
    let dir = corpus(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} has no seeds", dir.display());
    for file in &files {
        let data = std::fs::read(file).unwrap();
        let outcome = std::panic::catch_unwind(|| run(&data));
        assert!(outcome.is_ok(), "{target} panicked on {}", file.display());
    }
    eprintln!("{target}: {} inputs", files.len());
}

#[test]
fn every_target_has_a_fuzz_target_and_a_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    for (target, _) in pinauth_fuzzing::TARGETS {
        let source = root.join("fuzz_targets").join(format!("{target}.rs"));
        let text = std::fs::read_to_string(&source)
            .unwrap_or_else(|e| panic!("{}: {e}", source.display()));
        assert!(
            text.contains(&format!("pinauth_fuzzing::{target}(")),
            "{} does not call pinauth_fuzzing::{target}",
            source.display()
        );
        assert!(corpus(target).is_dir(), "no corpus for {target}");
    }
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let bins = manifest.matches("[[bin]]").count();
    assert_eq!(
        bins,
        pinauth_fuzzing::TARGETS.len(),
        "fuzz/Cargo.toml's targets"
    );
}

#[test]
fn query() {
    run("query");
}

#[test]
fn body() {
    run("body");
}

#[test]
fn sott() {
    run("sott");
}

#[test]
fn phc() {
    run("phc");
}

#[test]
fn stored_event() {
    run("stored_event");
}

#[test]
fn snapshot() {
    run("snapshot");
}

#[test]
fn config() {
    run("config");
}

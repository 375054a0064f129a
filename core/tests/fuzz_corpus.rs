//! Replays the committed fuzz corpus (`core/fuzz/corpus/<target>/`) and the
//! regression inputs found by fuzzing (`core/tests/fuzz_regressions/<target>/`)
//! through the same harness functions `make fuzz` runs under libFuzzer, so
//! every `cargo test` re-checks them on stable.

#[path = "../fuzz/src/lib.rs"]
mod harness;

use std::path::Path;

fn replay(dir: &Path, target: &str, run: fn(&[u8])) -> usize {
    let Ok(entries) = std::fs::read_dir(dir.join(target)) else {
        return 0;
    };
    let mut n = 0;
    for entry in entries {
        let path = entry.expect("directory entry").path();
        let data = std::fs::read(&path).expect("corpus file");
        let outcome = std::panic::catch_unwind(|| run(&data));
        assert!(outcome.is_ok(), "{target}: {} fails", path.display());
        n += 1;
    }
    n
}

#[test]
fn the_fuzz_corpus_and_regressions_pass_every_harness() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (target, run) in harness::TARGETS {
        let corpus = replay(&root.join("fuzz/corpus"), target, *run);
        assert!(corpus > 0, "the corpus of {target} is empty");
        replay(&root.join("tests/fuzz_regressions"), target, *run);
    }
}

#[test]
fn hostile_shapes_pass_every_harness() {
    // Empty, non-UTF-8, and nesting far past the JSON depth bound.
    for (_, run) in harness::TARGETS {
        run(b"");
        run(&[0xff; 5000]);
        run(&[b'['; 70_000]);
    }
}

#[test]
fn errors_never_carry_megabytes_of_input() {
    // Error messages quote the offending text; a hostile argument of
    // megabytes comes back cut to the bound (found by the Python
    // hostile-input suite: a 2 MiB algorithm name came back whole).
    let huge = "é".repeat(1 << 20);
    let errors = [
        bastion_core::token::Algorithm::parse(&huge).unwrap_err(),
        bastion_core::ratelimit::Algorithm::parse(&huge).unwrap_err(),
        bastion_core::netaddr::ForwardedHeader::parse(&huge).unwrap_err(),
        bastion_core::netaddr::Cidr::parse(&huge).unwrap_err(),
    ];
    for e in errors {
        let m = e.message();
        assert!(
            m.len() <= bastion_core::error::MAX_MESSAGE_LEN,
            "{} bytes",
            m.len()
        );
        assert!(m.ends_with('…'), "{m}");
        assert!(e.to_string().len() <= bastion_core::error::MAX_MESSAGE_LEN + 64);
    }
}

//! Shared by the corpus tests: the committed corpus.

use kgroup_protocol::trace::Trace;
use std::path::{Path, PathBuf};

pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("traces")
}

/// The committed traces, in file-name order.
pub fn committed() -> Vec<Trace> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("conformance/traces exists")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).expect("readable");
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()))
        })
        .collect()
}

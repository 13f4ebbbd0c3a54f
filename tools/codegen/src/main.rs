//! `cargo run -p strongroom-codegen` writes every generated file from the
//! core's one operation table and one error table; `-- --check` only
//! compares and fails (exit 1, listing the stale files) when one is out of
//! date, which `make test` runs.
//!
//! The input is [`model::build`]: Strongroom's service model, derived from
//! the core's own request and response types (traced through their serde
//! impls) and written in botocore's format (`operations`, `shapes`, error
//! shapes with `exception`), so it can be held against AWS's model
//! (`check`, a test) and every emitter reads one format.
//! Each emitter returns `(path relative to the repo root, contents)`.

// the comparison runs as a test (`cargo test -p strongroom-codegen`); the
// binary reads only its lists and AWS's model (docs/operations.md)
#[cfg_attr(not(test), allow(dead_code))]
mod check;
mod docs;
mod kotlin;
mod model;
mod python;
mod typescript;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub type Output = (String, String);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn main() -> ExitCode {
    let check = std::env::args().any(|a| a == "--check");
    let model = match model::build() {
        Ok(model) => model,
        Err(e) => {
            eprintln!("deriving the service model from the core's types: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut outputs: Vec<Output> = Vec::new();
    outputs.extend(model::emit(&model));
    outputs.extend(docs::emit(&model));
    outputs.extend(python::emit(&model));
    outputs.extend(typescript::emit(&model));
    outputs.extend(kotlin::emit(&model));

    let root = repo_root();
    let mut stale = Vec::new();
    for (rel, text) in &outputs {
        let path = root.join(rel);
        let current = std::fs::read_to_string(&path).ok();
        if current.as_deref() == Some(text.as_str()) {
            continue;
        }
        if check {
            stale.push(rel.clone());
        } else {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).expect("create output directory");
            }
            std::fs::write(&path, text).unwrap_or_else(|e| panic!("{rel}: {e}"));
            eprintln!("wrote {rel}");
        }
    }
    if !stale.is_empty() {
        eprintln!(
            "generated files are out of date (run `cargo run -p strongroom-codegen`):\n  {}",
            stale.join("\n  ")
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

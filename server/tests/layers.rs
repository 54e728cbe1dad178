//! The server's layers depend one way (see `server/src/lib.rs`): a module folder may name only
//! the folders of lower layers. Read from the source, so a new `use` that points up fails here.
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)] // a panic is the test's failure report

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Each top-level module folder and its layer; a folder may depend only on lower layers.
const LAYERS: &[(&str, u8)] = &[
    ("platform", 0),
    ("usage", 1),
    ("channels", 1),
    ("sources", 2),
    ("delivery", 2),
    ("notifications", 3),
    ("http", 4),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable source folder") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules a file names as `crate::<module>`.
fn named_modules(source: &str) -> BTreeSet<&str> {
    source
        .match_indices("crate::")
        .filter_map(|(at, _)| {
            let rest = &source[at + "crate::".len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            LAYERS.iter().map(|(name, _)| *name).find(|name| *name == &rest[..end])
        })
        .collect()
}

fn violations(src: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for (module, layer) in LAYERS {
        let mut files = Vec::new();
        rust_files(&src.join(module), &mut files);
        assert!(!files.is_empty(), "server/src/{module} has no Rust files");
        for file in files {
            let source = std::fs::read_to_string(&file).expect("readable source file");
            for named in named_modules(&source) {
                let other = LAYERS.iter().find(|(n, _)| *n == named).map(|(_, l)| *l).unwrap_or(0);
                if named != *module && other >= *layer {
                    found.push(format!("{} names crate::{named}", file.display()));
                }
            }
        }
    }
    found
}

#[test]
fn each_layer_names_only_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = violations(&src);
    assert!(
        found.is_empty(),
        "dependencies pointing up or sideways:\n{}",
        found.join("\n")
    );
}

#[test]
fn a_dependency_pointing_up_is_found() {
    let dir = std::env::temp_dir().join(format!("hn-layers-{}", std::process::id()));
    for (module, _) in LAYERS {
        std::fs::create_dir_all(dir.join(module)).unwrap();
        std::fs::write(dir.join(module).join("mod.rs"), "//! empty\n").unwrap();
    }
    std::fs::write(dir.join("usage").join("x.rs"), "use crate::notifications::render;\n").unwrap();
    std::fs::write(dir.join("channels").join("y.rs"), "use crate::usage::spending;\n").unwrap();
    let found = violations(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found.iter().any(|f| f.ends_with("x.rs names crate::notifications")));
    assert!(found.iter().any(|f| f.ends_with("y.rs names crate::usage")));
}

//! Crate-wide checks: the module layering stated in the crate docs
//! (`src/lib.rs`, *Layers*).
//!
//! The table is read from those docs, so it lives in one place. Every
//! source file under `src/` except test files (a name containing `tests`,
//! and the `#[cfg(test)] mod` blocks inside a file) is scanned,
//! comment lines left out, for `crate::name` and `crate::{name, ...}`
//! paths; a path to a module of a higher layer than the file's own module
//! fails the test, naming the file, the line and both layers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The layers of the crate docs, top first: (layer, modules).
fn layer_table(lib_rs: &str) -> Vec<(String, Vec<String>)> {
    let mut table = Vec::new();
    let mut in_section = false;
    for line in lib_rs.lines() {
        let Some(doc) = line.strip_prefix("//!") else {
            continue;
        };
        let doc = doc.trim();
        if doc.starts_with('#') {
            in_section = doc == "# Layers";
            continue;
        }
        if !in_section {
            continue;
        }
        let Some(item) = doc.strip_prefix("- ") else {
            continue;
        };
        let Some((head, mods)) = item.split_once(':') else {
            continue;
        };
        let name = head.split_whitespace().next().unwrap_or_default();
        let mods: Vec<String> = mods
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect();
        table.push((name.to_string(), mods));
    }
    table
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read src")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The file's lines that are code: comment lines and `#[cfg(test)]`
/// modules (to their closing brace, by counting braces) left out. Keeps
/// the line numbers.
fn code_lines(text: &str) -> Vec<(usize, &str)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut skip_depth: Option<i64> = None;
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        if t.starts_with("//") {
            continue;
        }
        if let Some(depth) = &mut skip_depth {
            *depth += t.matches('{').count() as i64 - t.matches('}').count() as i64;
            if *depth <= 0 {
                skip_depth = None;
            }
            continue;
        }
        if t == "#[cfg(test)]" {
            let next = lines[i + 1..]
                .iter()
                .map(|l| l.trim())
                .find(|l| !l.is_empty());
            if next.is_some_and(|n| n.starts_with("mod ") && n.ends_with('{')) {
                skip_depth = Some(0);
                continue;
            }
        }
        out.push((i + 1, *line));
    }
    out
}

/// The top-level modules named by `crate::` paths in `code` (one line or
/// several joined), each with the index of the line it starts on.
fn crate_paths(code: &[(usize, &str)]) -> Vec<(usize, String)> {
    let mut text = String::new();
    let mut starts = Vec::new();
    for (n, line) in code {
        starts.push((text.len(), *n));
        text.push_str(line);
        text.push('\n');
    }
    let line_at = |pos: usize| {
        let i = starts.partition_point(|&(s, _)| s <= pos);
        starts[i - 1].1
    };
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(k) = text[from..].find("crate::") {
        let at = from + k;
        from = at + "crate::".len();
        let before = text[..at].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$') {
            continue; // `$crate::`, `my_crate::`
        }
        let rest = &text[from..];
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a, b::c, d::{e, f}}`: the first segment of each
            // item at the group's own depth.
            let mut depth = 0;
            let mut item_start = true;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && (c.is_ascii_alphabetic() || c == '_') => {
                        item_start = false;
                        found.push((line_at(from + 1 + j), ident(&group[j..])));
                    }
                    _ => {}
                }
            }
        } else {
            found.push((line_at(at), ident(rest)));
        }
    }
    found
}

#[test]
fn layers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib_rs = std::fs::read_to_string(root.join("lib.rs")).expect("read lib.rs");
    let table = layer_table(&lib_rs);
    assert!(
        table.len() >= 2,
        "no layer table in the crate docs (# Layers)"
    );
    // Rank: 0 for the bottom layer.
    let mut rank: BTreeMap<&str, (usize, &str)> = BTreeMap::new();
    for (i, (layer, mods)) in table.iter().enumerate() {
        for m in mods {
            let prev = rank.insert(m, (table.len() - 1 - i, layer));
            assert!(prev.is_none(), "module {m} is in two layers");
        }
    }
    // Every module the crate declares has a layer.
    let mut problems = Vec::new();
    let mut test_only = false;
    for line in lib_rs.lines() {
        let t = line.trim();
        if t == "#[cfg(test)]" {
            test_only = true;
            continue;
        }
        let decl = t
            .strip_prefix("pub mod ")
            .or_else(|| t.strip_prefix("pub(crate) mod "))
            .or_else(|| t.strip_prefix("mod "));
        if let Some(name) = decl.and_then(|d| d.strip_suffix(';')) {
            if !test_only && !rank.contains_key(name) {
                problems.push(format!("module {name} is in no layer of the table"));
            }
        }
        test_only = false;
    }

    let mut files = Vec::new();
    rust_files(&root, &mut files);
    for path in files {
        let rel = path.strip_prefix(&root).expect("under src");
        let name = rel.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.contains("tests") {
            continue;
        }
        let first = rel.components().next().expect("a component");
        let module = first.as_os_str().to_str().unwrap_or_default();
        let module = module.strip_suffix(".rs").unwrap_or(module);
        let Some(&(own, own_layer)) = rank.get(module) else {
            continue; // lib.rs
        };
        let text = std::fs::read_to_string(&path).expect("read source");
        for (line, target) in crate_paths(&code_lines(&text)) {
            if let Some(&(theirs, their_layer)) = rank.get(target.as_str()) {
                if theirs > own {
                    problems.push(format!(
                        "src/{}:{line}: {module} ({own_layer}) imports crate::{target} \
                         ({their_layer}), a higher layer",
                        rel.display()
                    ));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "the layering of the crate docs (src/lib.rs, # Layers) is broken:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_scan_sees_groups_and_skips_comments() {
    let src = "use crate::{a, b::{c, d}, e::f};\n\
               // crate::commented\n\
               /// crate::doc\n\
               fn x() { crate::g::h(); $crate::no; }\n\
               #[cfg(test)]\n\
               mod tests {\n\
               use crate::in_tests;\n\
               fn y() { if true { crate::nested(); } }\n\
               }\n\
               use crate::after;\n";
    let found: Vec<String> = crate_paths(&code_lines(src))
        .into_iter()
        .map(|(_, m)| m)
        .collect();
    assert_eq!(found, ["a", "b", "e", "g", "after"]);
}

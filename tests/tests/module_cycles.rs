//! No import cycle inside any crate (issue 11): reads every `src/**/*.rs` of `shm-layout`,
//! `ingest` and `gateway`, collects each module's paths into its own crate (`crate::…`,
//! `super::…`, `self::…` and `use child::…`), and fails with the modules of any cycle.
//!
//! A module is one file (`a/b.rs` is `a::b`, `a/mod.rs` is `a`). Comments and `#[cfg(test)] mod
//! tests` blocks do not count (doc links and test helpers are not the design). A module may use
//! what an ancestor defines — a folder's `mod.rs` holds the types its files share — so edges to
//! an ancestor are not counted; every other edge is, and an edge goes to the deepest module a
//! path names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module path (`""` for the crate root) → its source, comments and test modules removed.
fn modules(src: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap().with_extension("");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts.last().is_some_and(|p| p == "mod") {
                parts.pop();
            }
            if parts == ["lib"] || parts == ["main"] {
                parts.clear();
            }
            let text = std::fs::read_to_string(&path).unwrap();
            out.insert(parts.join("::"), strip(&text));
        }
    }
    out
}

/// The source without comments, string contents and `#[cfg(test)] mod … { … }` blocks.
fn strip(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            i += 2;
            while i < b.len() && !b[i..].starts_with(b"*/") {
                i += 1;
            }
            i += 2;
        } else if b[i] == b'"' {
            // A string: skip its contents (a path inside a sentence is not a use).
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i..].starts_with(b"#[cfg(test)]") {
            // Skip the item that follows when it is a module: up to its matching brace.
            let rest = &text[i + 12..];
            let item = rest.trim_start();
            if item.starts_with("mod ") || item.starts_with("pub mod ") {
                let open = i + 12 + rest.find('{').unwrap_or(rest.len());
                let mut depth = 0;
                let mut j = open;
                while j < b.len() {
                    match b[j] {
                        b'{' => depth += 1,
                        b'}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                i = j + 1;
            } else {
                out.push_str("#[cfg(test)]");
                i += 12;
            }
        } else {
            let c = text[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Every path a `use` tree names, brace groups expanded: `a::{b, c::{d}}` → `a::b`, `a::c::d`.
fn expand_use(tree: &str) -> Vec<String> {
    // `x as y` keeps `x`; then white space goes.
    let tree: String = tree
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace(" as ", "@")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let mut out = Vec::new();
    expand(&tree, "", &mut out);
    out
}

fn expand(tree: &str, prefix: &str, out: &mut Vec<String>) {
    // Split at top-level commas.
    let mut depth = 0;
    let mut start = 0;
    let mut parts = Vec::new();
    for (i, c) in tree.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&tree[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&tree[start..]);
    for part in parts.into_iter().filter(|p| !p.is_empty()) {
        match part.find('{') {
            Some(open) => {
                let head = part[..open].trim_end_matches("::");
                let inner = &part[open + 1..part.len() - 1];
                expand(inner, &join(prefix, head), out);
            }
            None => {
                let path = part.split('@').next().unwrap_or(part);
                out.push(join(prefix, path));
            }
        }
    }
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_owned(),
        (_, true) => a.to_owned(),
        _ => format!("{a}::{b}"),
    }
}

/// The paths a module names, made absolute (`crate::` dropped).
fn paths_of(module: &str, src: &str, children: &BTreeSet<String>) -> Vec<String> {
    let parent = match module.rfind("::") {
        Some(i) => &module[..i],
        None => "",
    };
    let absolute = |p: &str| -> Option<String> {
        if let Some(rest) = p.strip_prefix("crate::") {
            Some(rest.to_owned())
        } else if let Some(rest) = p.strip_prefix("super::") {
            let mut base = parent.to_owned();
            let mut rest = rest;
            while let Some(r) = rest.strip_prefix("super::") {
                base = match base.rfind("::") {
                    Some(i) => base[..i].to_owned(),
                    None => String::new(),
                };
                rest = r;
            }
            Some(join(&base, rest))
        } else if let Some(rest) = p.strip_prefix("self::") {
            Some(join(module, rest))
        } else {
            let first = p.split("::").next().unwrap_or("");
            children
                .contains(&join(module, first))
                .then(|| join(module, p))
        }
    };
    let mut out = Vec::new();
    // `use` statements, brace groups included.
    let mut rest = src;
    while let Some(at) = rest.find("use ") {
        let before_ok = at == 0 || !is_ident(rest[..at].chars().next_back().unwrap());
        let stmt = &rest[at + 4..];
        let end = stmt.find(';').unwrap_or(stmt.len());
        if before_ok {
            out.extend(expand_use(&stmt[..end]).iter().filter_map(|p| absolute(p)));
        }
        rest = &stmt[end.min(stmt.len())..];
    }
    // Paths written inline: `crate::a::b::f()`, `super::x::Y`.
    for key in ["crate::", "super::"] {
        let mut rest = src;
        while let Some(at) = rest.find(key) {
            let before_ok = at == 0 || !is_ident(rest[..at].chars().next_back().unwrap());
            let tail = &rest[at..];
            let len = tail
                .char_indices()
                .find(|(_, c)| !(is_ident(*c) || *c == ':'))
                .map_or(tail.len(), |(i, _)| i);
            if before_ok {
                out.extend(absolute(tail[..len].trim_end_matches(':')));
            }
            rest = &tail[len.max(key.len())..];
        }
    }
    out
}

/// module → the modules it uses (ancestors and itself left out).
fn edges(mods: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let names: BTreeSet<String> = mods.keys().cloned().collect();
    let mut out = BTreeMap::new();
    for (m, src) in mods {
        let mut to = BTreeSet::new();
        for p in paths_of(m, src, &names) {
            // The deepest module the path names.
            let segs: Vec<&str> = p.split("::").collect();
            let target = (1..=segs.len())
                .rev()
                .map(|n| segs[..n].join("::"))
                .find(|t| names.contains(t));
            let Some(t) = target else { continue };
            let is_ancestor = t.is_empty() || *m == t || m.starts_with(&format!("{t}::"));
            if !is_ancestor {
                to.insert(t);
            }
        }
        out.insert(m.clone(), to);
    }
    out
}

/// The strongly connected components with more than one module (Tarjan).
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Tarjan<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    impl<'a> Tarjan<'a> {
        fn visit(&mut self, v: &'a str) {
            self.index.insert(v, self.next);
            self.low.insert(v, self.next);
            self.next += 1;
            self.stack.push(v);
            self.on.insert(v);
            for w in self.edges.get(v).into_iter().flatten() {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let l = self.low[v].min(self.low[w]);
                    self.low.insert(v, l);
                } else if self.on.contains(w) {
                    let l = self.low[v].min(self.index[w]);
                    self.low.insert(v, l);
                }
            }
            if self.low[v] == self.index[v] {
                let mut comp = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on.remove(w);
                    comp.push(w.to_owned());
                    if w == v {
                        break;
                    }
                }
                if comp.len() > 1 {
                    comp.sort();
                    self.out.push(comp);
                }
            }
        }
    }
    let mut t = Tarjan {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !t.index.contains_key(v.as_str()) {
            t.visit(v);
        }
    }
    t.out
}

fn describe(edges: &BTreeMap<String, BTreeSet<String>>, cycle: &[String]) -> String {
    cycle
        .iter()
        .map(|m| {
            let inside: Vec<&str> = edges[m]
                .iter()
                .filter(|t| cycle.contains(t))
                .map(String::as_str)
                .collect();
            format!("  {m} → {}", inside.join(", "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

#[test]
fn no_import_cycle_inside_any_crate() {
    let mut report = String::new();
    for krate in ["shm-layout", "ingest", "gateway"] {
        let mods = modules(&workspace().join(krate).join("src"));
        assert!(mods.len() > 3, "{krate}: too few modules found");
        let e = edges(&mods);
        for c in cycles(&e) {
            report.push_str(&format!(
                "{krate}: {}\n{}\n",
                c.join(" ↔ "),
                describe(&e, &c)
            ));
        }
    }
    assert!(report.is_empty(), "import cycles:\n{report}");
}

#[test]
fn the_check_finds_a_cycle_and_reads_use_trees() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir_all(src.join("store")).unwrap();
    std::fs::write(src.join("lib.rs"), "pub mod a;\npub mod store;\n").unwrap();
    // a → store::logs (a use tree), store::logs → a (inline), store::logs → store (an
    // ancestor: not counted), a comment and a string naming crate::x do not count.
    std::fs::write(
        src.join("a.rs"),
        "use crate::{store::{logs::Log, Other}, x};\n// crate::b\n",
    )
    .unwrap();
    std::fs::write(
        src.join("store/mod.rs"),
        "pub mod logs;\npub struct Other;\n",
    )
    .unwrap();
    std::fs::write(
        src.join("store/logs.rs"),
        "use super::Other;\npub fn f() { crate::a::g(); let _ = \"crate::b\"; }\n",
    )
    .unwrap();
    std::fs::write(src.join("b.rs"), "").unwrap();
    let mods = modules(src);
    let e = edges(&mods);
    assert_eq!(
        e["a"].iter().collect::<Vec<_>>(),
        ["store", "store::logs"],
        "{e:?}"
    );
    assert_eq!(e["store::logs"].iter().collect::<Vec<_>>(), ["a"]);
    assert_eq!(
        cycles(&e),
        vec![vec!["a".to_owned(), "store::logs".to_owned()]]
    );
    // Test modules are not the design.
    std::fs::write(
        src.join("a.rs"),
        "#[cfg(test)]\nmod tests { use crate::store::logs; }\n",
    )
    .unwrap();
    assert!(cycles(&edges(&modules(src))).is_empty());
}

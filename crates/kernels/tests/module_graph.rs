//! The crate's modules import each other without a circle, and the dispatch registry (`isa`)
//! imports no kernel family: read from the sources, so a new `use` that closes a loop fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// `crate::NAME` paths in `src` (comments and `#[cfg(test)]` modules left out), including the
/// names of a `use crate::{a, b::c}` group.
fn crate_paths(src: &str) -> BTreeSet<String> {
    let code: String = src
        .split("#[cfg(test)]")
        .next()
        .unwrap_or_default()
        .lines()
        .map(|l| l.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let (mut depth, mut start) = (0usize, 0usize);
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        out.insert(ident(&group[start..j]));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.insert(ident(&group[start..j]));
                        start = j + 1;
                    }
                    _ => {}
                }
            }
        } else {
            out.insert(ident(rest));
        }
    }
    out.remove("");
    out
}

/// Top-level module → the top-level modules it names.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![src.clone()];
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    while let Some(p) = files.pop() {
        if p.is_dir() {
            files.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        if p.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let rel = p.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let top = top.trim_end_matches(".rs").to_string();
        if top == "lib" {
            continue; // the crate root declares, re-exports and assembles everything
        }
        let deps = crate_paths(&std::fs::read_to_string(&p).unwrap());
        edges.entry(top).or_default().extend(deps);
    }
    let modules: BTreeSet<String> = edges.keys().cloned().collect();
    for (m, deps) in edges.iter_mut() {
        deps.retain(|d| modules.contains(d) && d != m);
    }
    edges
}

#[test]
fn parsing_sees_single_and_grouped_imports() {
    let src = "use crate::q8_0::X;\nuse crate::{block::{A, B}, tiling};\n// crate::gpu\nfn f() { crate::math::exp(1.0) }\n#[cfg(test)]\nmod t { use crate::rope; }";
    let got: Vec<String> = crate_paths(src).into_iter().collect();
    assert_eq!(got, ["block", "math", "q8_0", "tiling"]);
}

#[test]
fn the_registry_imports_no_family() {
    let g = graph();
    assert!(g.contains_key("isa") && g.contains_key("q8_0"), "{g:?}");
    assert_eq!(g["isa"], BTreeSet::new(), "isa imports {:?}", g["isa"]);
}

#[test]
fn no_module_imports_itself_through_others() {
    let g = graph();
    // Depth-first search with colours: reaching a module still on the stack closes a circle.
    fn visit<'a>(
        m: &'a str,
        g: &'a BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<&'a str, bool>,
        stack: &mut Vec<&'a str>,
    ) {
        state.insert(m, false);
        stack.push(m);
        for d in &g[m] {
            match state.get(d.as_str()) {
                Some(false) => panic!("import circle: {:?} -> {d}", stack),
                Some(true) => {}
                None => visit(d, g, state, stack),
            }
        }
        stack.pop();
        state.insert(m, true);
    }
    let mut state = BTreeMap::new();
    for m in g.keys() {
        if !state.contains_key(m.as_str()) {
            visit(m, &g, &mut state, &mut Vec::new());
        }
    }
}

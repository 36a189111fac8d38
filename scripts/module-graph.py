#!/usr/bin/env python3
"""Import circles between the modules of every workspace crate, read from the sources.

For each crate under crates/*/src, every module file's `crate::a::b` and `super::x` paths
(comments and `#[cfg(test)]` modules left out, `use crate::{a, b::c}` groups expanded) are
resolved to the deepest module that exists, and a depth-first search looks for a circle, at two
granularities: top-level modules (what crates/kernels/tests/module_graph.rs checks for the
kernels) and every module file (imports between a module and its own submodules are listed, not
searched: a child using its parent's types is one concept split in files). The crate root (lib.rs, main.rs) declares and re-exports everything and is left
out, as in the kernels' test. Exit status 1 on a circle.

    scripts/module-graph.py [CRATE_DIR ...]     (default: every crates/*)
"""
import re
import sys
from pathlib import Path


def code_of(text):
    text = text.split("#[cfg(test)]")[0]
    return "\n".join(line.split("//")[0] for line in text.splitlines())


def paths_in(code, prefix):
    """Module paths after `prefix` (`crate::` or `super::`), groups expanded."""
    out = []
    for m in re.finditer(re.escape(prefix), code):
        rest = code[m.end():]
        out.extend(expand(rest))
    return out


def expand(rest):
    if rest.startswith("{"):
        depth, start, items = 0, 1, []
        for j, c in enumerate(rest[1:], 1):
            if c == "{":
                depth += 1
            elif c == "}" and depth == 0:
                items.append(rest[start:j])
                break
            elif c == "}":
                depth -= 1
            elif c == "," and depth == 0:
                items.append(rest[start:j])
                start = j + 1
        out = []
        for it in items:
            out.extend(expand(it.strip()))
        return out
    m = re.match(r"[A-Za-z_][A-Za-z0-9_]*(?:::(?:[A-Za-z_][A-Za-z0-9_]*|\{))*", rest)
    if not m:
        return []
    p = m.group(0)
    if p.endswith("{"):
        head = p[:-1]
        return [head + s for s in expand(rest[len(head):])]
    return [p]


def modules(src):
    """Module path (tuple) → file, for every .rs file under src."""
    mods = {}
    for f in src.rglob("*.rs"):
        rel = f.relative_to(src).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "mod":
            parts = parts[:-1]
        if parts in (["lib"], ["main"]) or (parts and parts[0] == "bin"):
            continue
        mods[tuple(parts)] = f
    return mods


def resolve(path, mods):
    parts = tuple(p for p in path.split("::") if p)
    while parts and parts not in mods:
        parts = parts[:-1]
    return parts


def graph(src, top_only):
    mods = modules(src)
    edges = {}
    for m, f in mods.items():
        code = code_of(f.read_text(encoding="utf-8"))
        deps = set()
        for p in paths_in(code, "crate::"):
            deps.add(resolve(p, mods))
        # A parent's `use child::…` of a child module it declares.
        for child in re.findall(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+([A-Za-z0-9_]+)\s*;", code, re.M):
            if re.search(r"\buse\s+" + child + r"::", code):
                deps.add(m + (child,))
        parent = m[:-1]
        for p in paths_in(code, "super::"):
            if re.match(r"(?:super::)", p):
                continue  # super::super:: chains: resolved below from the grandparent
            deps.add(resolve("::".join(parent) + "::" + p, mods) or parent)
        deps.discard(())
        key = m[:1] if top_only else m
        if top_only:
            deps = {d[:1] for d in deps}
        edges.setdefault(key, set()).update(d for d in deps if d != key)
    for k in list(edges):
        edges[k] = {d for d in edges[k] if d in edges}
    nested = set()
    if not top_only:
        # A module and its own submodule (a child using its parent's types while the parent
        # re-exports the child's) are one concept split in files, not a circle between
        # modules: such pairs are reported, and the search runs on the other edges.
        for k in edges:
            for d in list(edges[k]):
                if d[: len(k)] == k or k[: len(d)] == d:
                    edges[k].discard(d)
                    nested.add(tuple(sorted((k, d))))
    return edges, nested


def circle(edges):
    state = {}

    def visit(m, stack):
        state[m] = False
        stack.append(m)
        for d in sorted(edges[m]):
            if state.get(d) is False:
                return stack[stack.index(d):] + [d]
            if d not in state:
                found = visit(d, stack)
                if found:
                    return found
        stack.pop()
        state[m] = True
        return None

    for m in sorted(edges):
        if m not in state:
            found = visit(m, [])
            if found:
                return found
    return None


def roots(crates):
    """(name, source root) of every library and binary crate."""
    for c in crates:
        src = c / "src"
        if not src.is_dir():
            continue
        yield c.name, src
        for b in sorted((src / "bin").glob("*/main.rs")) if (src / "bin").is_dir() else []:
            yield f"{c.name} (bin {b.parent.name})", b.parent


def main():
    root = Path(__file__).resolve().parent.parent
    crates = [Path(a) for a in sys.argv[1:]] or sorted((root / "crates").iterdir())
    bad = False
    for name_, src in roots(crates):
        c = type("C", (), {"name": name_})
        for top_only in (True, False):
            edges, nested = graph(src, top_only)
            n_edges = sum(len(v) for v in edges.values())
            found = circle(edges)
            what = "top-level modules" if top_only else "module files"
            name = lambda m: "::".join(m)
            if found:
                bad = True
                print(f"{c.name}: CIRCLE among {what}: {' -> '.join(map(name, found))}")
            else:
                print(f"{c.name}: {len(edges)} {what}, {n_edges} import edges, no circle")
            if nested:
                pairs = ", ".join(f"{name(a)} / {name(b)}" for a, b in sorted(nested))
                print(f"    (parent/submodule imports, left out: {pairs})")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()

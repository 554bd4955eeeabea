#!/usr/bin/env python3
"""Finds import circles between the files of a crate.

Usage: scripts/import-cycles.py CRATE_DIR [CRATE_DIR ...]

Each `.rs` file under CRATE_DIR/src is a module (`src/a/b.rs` and
`src/a/b/mod.rs` are both `a::b`). A file depends on another when its code
names a path into it: `crate::a::b::Item`, `super::b`, `self::c`, or, in a
`use` line, a child module it declares (`mod peer; pub use peer::TlsPeer;`).
A path is charged to the longest module prefix that is a file, so
`crate::tls::settings::TlsConfig` points at `tls/settings.rs` while
`crate::tls::TlsConfig` points at `tls.rs`. Declaring a child (`mod x;`) is
ownership, not use, and is not an edge; nor is a re-export (`pub use`)
of a name the file's own code does not use: both are a table of contents.
A name reached through a module that only imports or re-exports it is
charged to the file that defines it. A file naming itself (its own
`#[cfg(test)] mod tests { use super::*; }`) is no edge either.

Paths are read from the source text with comments, strings and character
literals blanked out; `super::` is resolved against inline `mod x { .. }`
blocks. Macro-generated paths are not seen.

Prints, per crate, the number of files and dependencies and every circle
(strongly connected component of two or more files), with the lines that
make each edge inside it. Exit status: 0 with no circle, 1 otherwise.
"""

import re
import sys
from pathlib import Path

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def module_of(src: Path, file: Path) -> tuple:
    """The module path of a file, as a tuple of names (the root is ())."""
    parts = list(file.relative_to(src).with_suffix("").parts)
    if parts[-1] == "mod":
        parts.pop()
    if parts in (["lib"], ["main"]):
        return ()
    return tuple(parts)


def blank(text: str) -> str:
    """Blanks comments, string and char literals, keeping line breaks and
    braces outside them, so that brace counting and path matching only see
    code."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif m := re.compile(r'b?r(#*)"').match(text, i):
            if i > 0 and re.match(r"[A-Za-z0-9_]", text[i - 1]):
                out.append(c)
                i += 1
                continue
            end = '"' + m.group(1)
            j = text.find(end, m.end())
            j = n if j < 0 else j + len(end)
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif m := re.compile(r"b?'(\\.[^']*|[^\\'])'").match(text, i):
            out.append(" " * (m.end() - i))
            i = m.end()
        else:
            out.append(c)
            i += 1
    return "".join(out)


def use_paths(tree: str) -> list:
    """Expands a `use` tree (`a::{b, c::{d as e}}`) into its paths, each
    with the name it binds after ` as ` when renamed."""
    tree = re.sub(r"\s+", "", re.sub(r"\s+as\s+", "@", tree))
    brace = tree.find("{")
    if brace < 0:
        return [tree.replace("@", " as ")]
    prefix, inner = tree[:brace], tree[brace + 1 : tree.rfind("}")]
    items, depth, start = [], 0, 0
    for k, ch in enumerate(inner):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(inner[start:k])
            start = k + 1
    items.append(inner[start:])
    return [p for item in items if item for p in use_paths(prefix + item)]


def references(code: str, children: set):
    """Yields (line, scope, path, alias, public) for every module path in
    `code`: scope is the inline-module nesting at that point, path a list
    of names starting with `crate`, `super`, `self` or a child module named
    in a `use`, alias the name a `use` binds (None elsewhere, and for
    globs), public whether that `use` re-exports (`pub use`)."""
    scope, opened, depth = [], [], 0
    line_starts = [0] + [m.end() for m in re.finditer("\n", code)]

    def line_of(pos):
        lo, hi = 0, len(line_starts)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if line_starts[mid] <= pos else (lo, mid)
        return lo + 1

    token = re.compile(
        rf"\bmod\s+({IDENT})\s*\{{|\b(pub(?:\([^)]*\))?\s+)?use\s+([^;]*);|\b((?:crate|super|self)(?:::{IDENT})+)|[{{}}]"
    )
    for m in token.finditer(code):
        if m.group(1):
            depth += 1
            scope.append(m.group(1))
            opened.append(depth)
        elif m.group(3) is not None:
            for path in use_paths(m.group(3)):
                path, _, alias = path.partition(" as ")
                names = [p for p in path.split("::") if p]
                if names and names[-1] == "self":
                    names.pop()
                if len(names) > 1 and names[-1] != "*":
                    alias = alias or names[-1]
                else:
                    alias = None
                if names and (names[0] in ("crate", "super", "self") or names[0] in children):
                    yield line_of(m.start()), tuple(scope), names, alias, bool(m.group(2))
        elif m.group(4):
            yield line_of(m.start()), tuple(scope), m.group(4).split("::"), None, False
        elif m.group(0) == "{":
            depth += 1
        else:
            if opened and opened[-1] == depth:
                opened.pop()
                scope.pop()
            depth -= 1


def locate(names: list, here: tuple, scope: tuple, children: set, modules: set):
    """The file a path points into and the names left after it, or None if
    the path leaves the crate."""
    head, rest = names[0], names[1:]
    if head == "crate":
        start = ()
    elif head == "self":
        start = here + scope
    elif head == "super":
        start = (here + scope)[:-1]
        while rest and rest[0] == "super":
            start, rest = start[:-1], rest[1:]
    elif head in children and not scope:
        start = here + (head,)
    else:
        return None
    path = start + tuple(rest)
    for k in range(len(path), -1, -1):
        if path[:k] in modules:
            return path[:k], list(path[k:])
    return None


def resolve(names, here, scope, info, modules, hops=0):
    """The file that defines what a path names. A name a module only
    imports or re-exports (`use`, `pub use`) is followed to its origin, so
    that a facade (`lib.rs`, a `mod.rs`) is not charged with everything it
    re-exports, nor its users with everything behind it. Glob imports
    cannot be followed and stop at the module."""
    found = locate(names, here, scope, info[here][0], modules)
    if found is None:
        return None
    module, rest = found
    aliases = info[module][1]
    if rest and rest[0] in aliases and hops < 16:
        target = resolve(aliases[rest[0]] + rest[1:], module, (), info, modules, hops + 1)
        if target is not None:
            return target
    return module


def graph(crate: Path):
    """The files of a crate by module path, and who depends on whom (with
    the line numbers that say so)."""
    src = crate / "src"
    files = {module_of(src, f): f for f in sorted(src.rglob("*.rs"))}
    modules = set(files)
    info, refs = {}, {}
    for here, file in files.items():
        code = blank(file.read_text())
        children = set(
            re.findall(rf"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+({IDENT})\s*;", code, re.M)
        )
        found = list(references(code, children))
        aliases = {}
        for _, scope, names, alias, _ in found:
            if alias and not scope:
                aliases[alias] = names
        used = set(re.findall(IDENT, re.sub(r"\buse\s+[^;]*;", "", code)))
        info[here] = (children, aliases)
        refs[here] = [
            (line, scope, names)
            for line, scope, names, alias, public in found
            if not public or alias in used
        ]
    edges = {}
    for here, found in refs.items():
        for line, scope, names in found:
            target = resolve(names, here, scope, info, modules)
            if target is not None and target != here:
                edges.setdefault(here, {}).setdefault(target, []).append(line)
    return files, edges


def circles(nodes, edges):
    """Strongly connected components of two or more nodes (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def name(module: tuple, files: dict, crate: Path) -> str:
    return str(files[module].relative_to(crate / "src"))


def main(crates):
    found = False
    for crate in map(Path, crates):
        files, edges = graph(crate)
        count = sum(len(t) for t in edges.values())
        found_here = circles(files, edges)
        print(f"== {crate}: {len(files)} files, {count} file-to-file dependencies, "
              f"{len(found_here)} circle(s)")
        for component in found_here:
            found = True
            members = set(component)
            print(f"  circle of {len(component)} files: "
                  + ", ".join(name(m, files, crate) for m in component))
            for a in component:
                for b, lines in sorted(edges.get(a, {}).items()):
                    if b in members:
                        at = ",".join(map(str, lines[:4])) + (",..." if len(lines) > 4 else "")
                        print(f"    {name(a, files, crate)} -> {name(b, files, crate)}  (line {at})")
    return 1 if found else 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1:]))

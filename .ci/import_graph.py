"""Figures of mlrail's import graph: modules, imports, imports between components, cycles.

import-linter (.ci/lint_imports.py) says whether the contracts hold; this counts what they are
about, for a before/after comparison.

Usage: python .ci/import_graph.py [--root REPO]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from stage import ROOT, staging_tree

# Run in a child Python whose sys.path starts at the staging tree (grimp imports to find it).
_COUNT = r"""
import grimp

graph = grimp.build_graph("mlrail")
modules = sorted(graph.modules)
edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in modules}


def component(module):
    parts = module.split(".")
    if len(parts) > 2 and parts[1] == "components" and not parts[2].startswith("_"):
        return parts[2]
    return None


cross = [
    (a, b) for a in modules for b in edges[a]
    if component(a) and component(b) and component(a) != component(b)
]
# Tarjan's strongly connected components: a group of two or more modules is a cycle
index, low, stack, on_stack, groups = {}, {}, [], set(), []


def visit(v):
    index[v] = low[v] = len(index)
    stack.append(v)
    on_stack.add(v)
    for w in edges[v]:
        if w not in index:
            visit(w)
            low[v] = min(low[v], low[w])
        elif w in on_stack:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        group = []
        while True:
            w = stack.pop()
            on_stack.discard(w)
            group.append(w)
            if w == v:
                break
        if len(group) > 1:
            groups.append(sorted(group))


for m in modules:
    if m not in index:
        visit(m)
print(f"modules {len(modules)}, imports {sum(map(len, edges.values()))}")
print(f"imports between components {len(cross)}")
for a, b in cross:
    print(f"  {a} -> {b}")
print(f"cycles {len(groups)}")
for g in groups:
    print("  " + " <-> ".join(g))
"""

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the repository to count")
    root = parser.parse_args().root.resolve()
    with staging_tree(root) as stage:
        env = {**os.environ, "PYTHONPATH": str(stage)}
        sys.exit(subprocess.call([sys.executable, "-c", _COUNT], cwd=stage, env=env))

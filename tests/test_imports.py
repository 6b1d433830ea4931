"""The package's import graph: no cycle among jcomp's modules, and coding needs no training code."""

from __future__ import annotations

import ast
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "jcomp"


def _module_graph(lazy: bool) -> dict[str, set[str]]:
  """{module: the jcomp modules it imports}; module level only, or also inside functions (`lazy`)."""
  files = {".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__"): p
           for p in PACKAGE.rglob("*.py")}
  graph = {}
  for name, path in files.items():
    tree = ast.parse(path.read_text())
    nodes = ast.walk(tree) if lazy else tree.body
    deps = set()
    for node in nodes:
      if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("jcomp"):
        deps |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in files else node.module
                 for a in node.names}
      elif isinstance(node, ast.Import):
        deps |= {a.name for a in node.names if a.name.startswith("jcomp")}
    graph[name] = {d for d in deps if d in files and d != name}
  return graph


def _cycle(graph: dict[str, set[str]]) -> list[str]:
  """One cycle of the graph, [] if none (depth-first search)."""
  state: dict[str, int] = {}  # 1 on the stack, 2 done
  stack: list[str] = []

  def visit(n: str) -> list[str]:
    state[n] = 1
    stack.append(n)
    for m in sorted(graph[n]):
      if state.get(m) == 1:
        return stack[stack.index(m):] + [m]
      if m not in state and (found := visit(m)):
        return found
    stack.pop()
    state[n] = 2
    return []

  for n in sorted(graph):
    if n not in state and (found := visit(n)):
      return found
  return []


def test_no_import_cycle_in_the_package_even_through_imports_inside_functions():
  for lazy in (False, True):
    cycle = _cycle(_module_graph(lazy))
    assert not cycle, " -> ".join(cycle)


def test_coding_reaches_no_training_code():
  graph = _module_graph(lazy=True)
  reached, todo = set(), ["jcomp.coding.codec", "jcomp.coding.code_codec"]
  while todo:
    n = todo.pop()
    if n not in reached:
      reached.add(n)
      todo += graph[n]
  assert not reached & {"jcomp.train", "jcomp.systems", "jcomp.data.sources"}, sorted(reached)

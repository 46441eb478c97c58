"""Layers point one way (docs/architecture.md): the kit at the bottom, then the domains, the unit
of work, HTTP, the web console and the entry points. This reads every import of service/ —
those inside functions too — and fails on a cycle, on an import that points up, and on
importing another module's `_private` name."""

import ast
from pathlib import Path

SERVICE = Path(__file__).resolve().parents[2] / "service"
KIT = {"catalogue", "clock", "config", "db", "errors", "ids", "money", "rows", "timestamps", "types",
       "uscc", "pagination"}
HTTP = {"api", "heavy", "middleware", "metrics", "problems", "logs", "ops", "openapi_doc"}
ENTRY = {"app", "cli", "demo", "main", "server", "openapi_export", "models"}


def layer(module: str) -> int:
    """0 kit, 1 domains, 2 unit of work, 3 HTTP, 4 web, 5 entry points."""
    parts = module.split(".")[1:]
    top = parts[0] if parts else ""
    if top == "kit" or top in KIT:
        return 0
    if top in ENTRY:
        return 5
    if top == "web":
        return 4
    if top in HTTP or parts[-1] == "router":
        return 3
    if top in ("uow", "idempotency_models"):
        return 2
    return 1


def _modules() -> dict[str, Path]:
    found = {}
    for path in SERVICE.rglob("*.py"):
        name = ".".join(("service", *path.relative_to(SERVICE).with_suffix("").parts))
        found[name.removesuffix(".__init__")] = path
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str) -> list[tuple[str, str | None]]:
    """(imported module, the name taken from it when that is not a module) for each import."""
    out = []
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        if isinstance(node, ast.Import):
            out += [(t, None) for a in node.names if (t := _resolve(a.name))]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                if full in MODULES:
                    out.append((full, None))
                elif target := _resolve(node.module):
                    out.append((target, alias.name))
    return [(t, name) for t, name in out if t != module and t.startswith("service")]


GRAPH = {m: _imports(m) for m in MODULES}


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w, _ in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycles():
    assert _cycles() == []


def test_no_import_points_up():
    upward = [(m, t) for m, imports in GRAPH.items() for t, _ in imports
              if layer(t) > layer(m)]
    assert upward == []


def test_no_private_name_from_another_module():
    private = [(m, f"{t}.{name}") for m, imports in GRAPH.items() for t, name in imports
               if name and name.startswith("_")]
    assert private == []

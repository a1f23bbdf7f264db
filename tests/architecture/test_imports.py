"""The import arrows of STYLE.md, enforced by parsing every module (ast): a wrong arrow or a cycle fails."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("webapp", "collection", "consent", "quality_gates", "anonymize")
ALLOWED = {
    "webapp": {"collection", "consent", "quality_gates", "anonymize"},
    "collection": {"consent", "quality_gates", "anonymize"},
    "consent": set(),
    "quality_gates": set(),
    "anonymize": set(),
}
WEB_ONLY = ("flask", "flask_wtf", "flask_login", "flask_babel", "wtforms", "werkzeug")
NO_DB = ("sqlalchemy", "alembic", "psycopg", "celery", "redis", "boto3")
PURE = ("quality_gates", "anonymize")


def _modules() -> dict[str, Path]:
    found = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imports(path: Path, module: str) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    _drop_type_checking_blocks(tree)
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: -node.level] if not path.name == "__init__.py" else module.split(".")
                if node.level > 1 and path.name == "__init__.py":
                    base = module.split(".")[: -(node.level - 1)]
                prefix = ".".join(base)
                names.add(f"{prefix}.{node.module}" if node.module else prefix)
            elif node.module:
                names.add(node.module)
    return names


def _drop_type_checking_blocks(tree: ast.Module) -> None:
    """Imports under `if TYPE_CHECKING:` never run, so they make neither an arrow nor a cycle."""
    for node in ast.walk(tree):
        for field in ("body", "orelse"):
            block = getattr(node, field, None)
            if isinstance(block, list):
                block[:] = [n for n in block if not _is_type_checking(n)]


def _is_type_checking(node: ast.AST) -> bool:
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


MODULES = _modules()
IMPORTS = {mod: _imports(path, mod) for mod, path in MODULES.items()}


def test_every_package_is_parsed() -> None:
    for pkg in PACKAGES:
        assert pkg in MODULES, f"{pkg}/__init__.py is missing"


def test_arrows_between_packages() -> None:
    wrong = []
    for mod, names in IMPORTS.items():
        src = mod.split(".")[0]
        for name in names:
            dst = name.split(".")[0]
            if dst in PACKAGES and dst != src and dst not in ALLOWED[src]:
                wrong.append(f"{mod} imports {name} ({src} -> {dst} is not an allowed arrow)")
    assert not wrong, "\n".join(wrong)


def test_only_webapp_imports_the_web_framework() -> None:
    wrong = [
        f"{m} imports {n}"
        for m, ns in IMPORTS.items()
        for n in ns
        if not m.startswith("webapp") and n.split(".")[0] in WEB_ONLY
    ]
    assert not wrong, "\n".join(wrong)


def test_pure_libraries_import_no_database_or_infrastructure() -> None:
    wrong = [
        f"{m} imports {n}"
        for m, ns in IMPORTS.items()
        for n in ns
        if m.split(".")[0] in PURE and n.split(".")[0] in NO_DB
    ]
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles_between_modules() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for mod, names in IMPORTS.items():
        for name in names:
            target = name
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            # importing a package's own __init__ from inside it is the normal re-export pattern, not a cycle
            if target and target != mod and not mod.startswith(target + "."):
                graph[mod].add(target)
    cycle = _find_cycle(graph)
    assert cycle is None, " -> ".join(cycle or [])


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_checker_catches_a_wrong_arrow(tmp_path: Path) -> None:
    bad = tmp_path / "x.py"
    bad.write_text("from webapp import create_app\nimport sqlalchemy\n")
    names = _imports(bad, "quality_gates.x")
    assert "webapp" in names and "sqlalchemy" in names
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]

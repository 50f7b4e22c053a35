"""Imports follow the layers of docs/ARCHITECTURE.md.

Every module under app/ is read with `ast` (nothing is imported). A domain imports the core
and the domains below it, never one above; the core imports no domain; a domain imports no
job. An import of another domain inside a function body hides a loop, so it needs a comment
on its line saying why.
"""

import ast
import io
import tokenize
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app"

# The layer table of docs/ARCHITECTURE.md, bottom up.
LAYERS = {
    "core": 0,
    "auth": 1,
    "machines": 2,
    "telemetry": 3,
    "notifications": 4,
    "production": 5,
    "logbook": 6,
    "alerts": 7,
    "tasks": 8,
    "andon": 9,
    "dashboard": 10, "api": 10, "ops": 10,
}
# Enqueueing by dotted name after commit is how a domain starts a job; it imports only core.
JOB_QUEUE = "app.jobs.queue"

# (module, imported module): known exceptions, each with the reason it may stay for now.
ALLOWED = {
    # create_app() is the application factory: it imports the domains when an app is made,
    # so `import app.core...` (tools, rq cron, migrations) stays light.
    ("app", "app.blueprints.auth.access"),
    ("app", "app.blueprints.auth.models"),
    ("app", "app.blueprints.auth.cli"),
    ("app", "app.blueprints.auth.roles"),
}


def module_name(path):
    parts = path.relative_to(APP.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules():
    for path in sorted(APP.rglob("*.py")):
        yield path, module_name(path)


def domain_of(name):
    """The domain a dotted module name belongs to ("core" for app.core), or None."""
    parts = name.split(".")
    if parts[:2] == ["app", "core"]:
        return "core"
    if parts[:2] == ["app", "blueprints"] and len(parts) > 2:
        return parts[2]
    return None


def imported(node, name, is_package):
    """Absolute names an Import/ImportFrom node brings in."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level == 0:
        base = node.module
    else:
        package = name.split(".") if is_package else name.split(".")[:-1]
        package = package[:len(package) - node.level + 1]
        base = ".".join(package + ([node.module] if node.module else []))
    # `from app.jobs import ai` names a module; `from app.jobs.ai import JOB` does not.
    return [f"{base}.{alias.name}" if is_module(f"{base}.{alias.name}") else base
            for alias in node.names]


def is_module(name):
    path = APP.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports(tree, name, is_package):
    """(node, imported name, inside a function body) for every import in the module."""
    found = []

    def walk(node, in_function):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.extend((child, target, in_function)
                             for target in imported(child, name, is_package))
            walk(child, in_function or isinstance(
                child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))
    walk(tree, False)
    return found


def says_why(source, node):
    """A comment on the import's lines that is more than a `noqa`."""
    lines = range(node.lineno, node.end_lineno + 1)
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT and token.start[0] in lines:
            text = token.string.lstrip("#").strip()
            if text.startswith("noqa"):
                text = text.partition(" ")[2].strip()
            if text:
                return True
    return False


def problems():
    found = []
    for path, name in modules():
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source, filename=str(path))
        own = domain_of(name)
        for node, target, in_function in imports(tree, name, path.name == "__init__.py"):
            if (name, target) in ALLOWED or not target.startswith("app"):
                continue
            where = f"{path.relative_to(APP.parent)}:{node.lineno} imports {target}"
            other = domain_of(target)
            if own is not None and other is not None and LAYERS[other] > LAYERS[own]:
                found.append(f"{where}: {other} is above {own}")
            elif own is not None and target.startswith("app.jobs") and target != JOB_QUEUE \
                    and own != "core":
                found.append(f"{where}: a domain enqueues jobs by name, never imports them")
            elif own == "core" and other not in (None, "core"):
                found.append(f"{where}: the core imports no domain")
            if in_function and other not in (None, "core", own) and not says_why(source, node):
                found.append(f"{where} inside a function, with no comment saying why")
    return found


def test_the_layer_table_matches_the_blueprints():
    packages = {p.name for p in (APP / "blueprints").iterdir() if (p / "__init__.py").exists()}
    assert packages == set(LAYERS) - {"core"}


def test_imports_follow_the_layers():
    assert problems() == []


def test_the_checker_sees_what_it_must_refuse():
    source = ("from app.blueprints.tasks import models\n"
              "from app.jobs.ai import write_issue_texts\n"
              "def f():\n"
              "    from app.blueprints.auth.models import User\n"
              "    from app.blueprints.machines import services  # why: test\n")
    tree = ast.parse(source)
    found = [(target, inside) for _, target, inside in
             imports(tree, "app.blueprints.logbook.views", False)]
    assert found == [("app.blueprints.tasks.models", False),
                     ("app.jobs.ai", False),
                     ("app.blueprints.auth.models", True),
                     ("app.blueprints.machines.services", True)]
    function_imports = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)][2:]
    assert [says_why(source, n) for n in function_imports] == [False, True]

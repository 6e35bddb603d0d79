"""Finding step and stream files under a project and importing them as Motia's runtime does.

A step module is imported as part of a package named after its path from the project's parent
folder, so relative imports work, and the project root is on `sys.path`, so absolute imports
from `src.` work. File and folder names need not be identifiers: module names are plain
strings to the import system. Every failure becomes a `StepError` with file and line.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import sys
import traceback
import types
from collections.abc import Iterator
from pathlib import Path

from engine.steps import Step, StepError, build_step

SEARCH_ROOTS = ("steps", "src")
SKIP_DIRS = {"node_modules", ".venv", "venv", "python_modules", "__pycache__"}
STEP_SUFFIXES = ("_step.py", ".step.py")
STREAM_SUFFIXES = ("_stream.py", ".stream.py")
NODE_EXTENSIONS = (".ts", ".mts", ".js", ".mjs")
NODE_STEP_SUFFIXES = tuple(f"{sep}step{ext}" for sep in (".", "_") for ext in NODE_EXTENSIONS)
NODE_CODE_SUFFIXES = (*NODE_EXTENSIONS, ".tsx", ".cts", ".cjs", ".json")
"""What a Node step may import from the project: a change to any of them reloads the steps."""


def is_step_file(path: Path) -> bool:
    return path.name.endswith(STEP_SUFFIXES)


def is_stream_file(path: Path) -> bool:
    return path.name.endswith(STREAM_SUFFIXES)


def is_node_step_file(path: Path) -> bool:
    return path.name.endswith(NODE_STEP_SUFFIXES) and not path.name.endswith(".d.ts")


def is_node_code(path: Path, project_dir: Path) -> bool:
    """A TypeScript or JavaScript file of the project's own (not vendored, not hidden)."""
    if not path.name.endswith(NODE_CODE_SUFFIXES) or path.name.endswith(".d.ts"):
        return False
    try:
        parts = path.relative_to(project_dir).parts
    except ValueError:
        return False
    return not any(part in SKIP_DIRS or part.startswith(".") for part in parts[:-1])


def _skipped(path: Path, project_dir: Path) -> bool:
    try:
        parts = path.relative_to(project_dir).parts
    except ValueError:
        return True
    if not parts or parts[0] not in SEARCH_ROOTS:
        return True
    return any(part in SKIP_DIRS or part.startswith(".") for part in parts[:-1])


def is_project_file(path: Path, project_dir: Path) -> bool:
    """Whether a path is a step or stream file the engine should load."""
    return (is_step_file(path) or is_stream_file(path)) and not _skipped(path, project_dir)


def find_files(project_dir: Path) -> Iterator[Path]:
    """Step and stream files in a stable order (sorted), so loading is deterministic."""
    for root in SEARCH_ROOTS:
        base = project_dir / root
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*.py")):
            if is_project_file(path, project_dir):
                yield path


def find_node_files(project_dir: Path) -> list[Path]:
    """TypeScript and JavaScript step files, sorted like the Python ones."""
    found: list[Path] = []
    for root in SEARCH_ROOTS:
        base = project_dir / root
        if base.is_dir():
            found.extend(
                path
                for path in sorted(base.rglob("*"))
                if is_node_step_file(path) and not _skipped(path, project_dir)
            )
    return found


def config_line(path: Path) -> int:
    """The line where `config` is assigned, for error messages that point at it."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (SyntaxError, ValueError, OSError):
        return 1
    for node in tree.body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        if any(isinstance(t, ast.Name) and t.id == "config" for t in targets):
            return node.lineno
    return 1


def module_name(path: Path, project_dir: Path) -> str:
    """The name a file is imported under: its path from the project's parent folder."""
    relative = path.relative_to(project_dir.parent)
    stem = path.name[: -len(".py")].replace(".", "_")
    return ".".join((*relative.parts[:-1], stem))


def _ensure_packages(path: Path, project_dir: Path) -> str:
    """Register the folders from the project's parent down to the file as packages."""
    folder = project_dir.parent
    name = ""
    for part in path.relative_to(folder).parts[:-1]:
        folder = folder / part
        name = f"{name}.{part}" if name else part
        module = sys.modules.get(name)
        if module is None or not hasattr(module, "__path__"):
            init = folder / "__init__.py"
            if init.is_file():
                spec = importlib.util.spec_from_file_location(
                    name, init, submodule_search_locations=[str(folder)]
                )
                assert spec is not None and spec.loader is not None
                module = importlib.util.module_from_spec(spec)
                sys.modules[name] = module
                spec.loader.exec_module(module)
            else:
                module = types.ModuleType(name)
                module.__path__ = [str(folder)]
                module.__package__ = name
                sys.modules[name] = module
    return name


def prepare_import_path(project_dir: Path) -> None:
    """Put the project root first on sys.path, as Motia's runner does."""
    root = str(project_dir)
    if root not in sys.path:
        sys.path.insert(0, root)


def import_file(path: Path, project_dir: Path, name: str | None = None) -> types.ModuleType:
    """Import (or re-import) one file, under `name` when given; raise StepError naming the
    file and failing line."""
    prepare_import_path(project_dir)
    name = name or module_name(path, project_dir)
    try:
        package = _ensure_packages(path, project_dir)
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise StepError(path, 1, "cannot be imported")
        module = importlib.util.module_from_spec(spec)
        module.__package__ = package
        sys.modules[name] = module
        spec.loader.exec_module(module)
    except StepError:
        raise
    except SyntaxError as exc:
        sys.modules.pop(name, None)
        where = Path(exc.filename).resolve() if exc.filename else path
        raise _located(where, exc.lineno, f"syntax error: {exc.msg}", path, project_dir) from None
    except BaseException as exc:
        sys.modules.pop(name, None)
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise StepError(path, 1, f"import raised {type(exc).__name__}") from None
        where, line = _failing_place(exc, path, project_dir)
        raise _located(where, line, f"import failed: {_describe(exc)}", path, project_dir) from None
    return module


def _located(
    where: Path, line: int | None, message: str, step_file: Path, project_dir: Path
) -> StepError:
    """The error at the file that failed: a helper module names the step that imported it,
    since the line to fix is in the helper, not in the step."""
    if where == step_file or not own_code(where, project_dir):
        return StepError(step_file, line, message)
    return StepError(where, line, message, (str(step_file.relative_to(project_dir)),))


def own_code(file: Path, project_dir: Path) -> bool:
    """In the project and not vendored (a virtualenv inside the project is a library)."""
    if not file.is_relative_to(project_dir):
        return False
    folders = file.relative_to(project_dir).parts[:-1]
    return not any(part in SKIP_DIRS or part.startswith(".") for part in folders)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _failing_place(exc: BaseException, path: Path, project_dir: Path) -> tuple[Path, int]:
    """The deepest frame in the project's own code: the step file or a helper it imported
    (never a library's frame, which the user cannot fix)."""
    where, line = path, 1
    for frame in traceback.extract_tb(exc.__traceback__):
        file = Path(frame.filename)
        if frame.lineno and (file == path or own_code(file, project_dir)):
            where, line = file, frame.lineno
    return where, line


def forget_bytecode(path: Path) -> None:
    """Drop a changed file's cached bytecode: the cache is checked by whole-second mtime and
    size, so an edit within the same second that keeps the size would load the old code."""
    with contextlib.suppress(OSError, ValueError, NotImplementedError):
        Path(importlib.util.cache_from_source(str(path))).unlink(missing_ok=True)


def forget_project_modules(project_dir: Path) -> None:
    """Drop the project's helper modules from sys.modules so the next import reads them anew.

    A package that stays keeps its forgotten submodule as an attribute, and `from package
    import module` would hand back the old one from there: that binding goes too."""
    root = str(project_dir)
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and file.startswith(root) and not hasattr(module, "__path__"):
            del sys.modules[name]
            parent_name, _, attribute = name.rpartition(".")
            parent = sys.modules.get(parent_name) if parent_name else None
            if parent is not None and getattr(parent, attribute, None) is module:
                delattr(parent, attribute)


def load_steps(project_dir: Path) -> tuple[list[Step], list[StepError]]:
    """Every step a project defines, imported without an engine (no store, no server): what
    `motia openapi` describes. Stream files are left out; a file that fails is reported."""
    steps: list[Step] = []
    errors: list[StepError] = []
    for path in find_files(project_dir):
        if is_stream_file(path):
            continue
        try:
            module = import_file(path, project_dir)
            config = getattr(module, "config", None)
            if config is None:
                raise StepError(path, 1, "no `config` defined")
            steps.append(
                build_step(config, module.__dict__.get("handler"), path, config_line(path))
            )
        except StepError as exc:
            errors.append(exc)
    return steps, errors

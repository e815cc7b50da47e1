"""The package's import rules (issue 15), kept by a scan of every module's source.

Each part of the package, a top-level module or subpackage (`liveify.evaluate` is evaluate.py or
evaluate/*), may import only the parts its row in MAY_IMPORT names, plus the shared leaves. The
never-rules are checked on everything a part can reach, so a lazy import inside a function, an
`importlib.import_module("...")`, a `require("torch", ...)` or a lazy-export table counts too.
"""

from __future__ import annotations

import ast
import re
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "liveify"

# --- the rules ------------------------------------------------------------------------------------

# Shared foundations: every part may import them, and they import only each other. Each is free of
# torch and librosa, so the render side may use them. The root package (`liveify`, for
# `__version__`) may be imported by every part as well.
LEAVES = {
    "liveify.errors": "the LiveifyError family and `require` for optional dependencies",
    "liveify.files": "atomic writes and locks",
    "liveify.config": "config dataclasses: validation and click options from field metadata",
    "liveify.audio": "reading, writing and checking audio files",
    "liveify.loudness": "LUFS and true-peak measurement",
    "liveify.mel": "MelConfig and the mel features that training and rendering share",
    "liveify.windows": "context windows and overlap-add, shared by training and rendering",
    "liveify.model_config": "ModelConfig, without torch",
    "liveify.model_file": "the ONNX model file's metadata and session, without torch",
    "liveify.dsp": "small signal-processing helpers: equal-power pans, one-pole low-passes",
    "liveify.cores": "CPU cores this process may use",
}

ANY = "any part"

# Who may import whom, besides the leaves. A part's own modules may always import each other, and
# `python -m` entry points (a `__main__` module anywhere) may import the CLI. A row's entry allows
# that module and everything under it. Entries beyond issue 15's arrows say why.
MAY_IMPORT: dict[str, str | set[str]] = {
    "liveify.__main__": {"liveify.cli"},
    "liveify.cli": ANY,
    # The public API, loaded lazily from a table of module names.
    "liveify": {"liveify.plugins", "liveify.presets"},
    "liveify.render": {"liveify.plugins", "liveify.presets", "liveify.analysis"},
    # The crowd follows the music's level, beats and ending.
    "liveify.plugins": {"liveify.analysis"},
    "liveify.presets": {"liveify.plugins"},
    "liveify.analysis": set(),
    "liveify.no_harm": set(),
    "liveify.model": set(),
    "liveify.checkpoint": {"liveify.model"},
    "liveify.export": {"liveify.model", "liveify.checkpoint"},
    "liveify.data": set(),
    "liveify.demo": set(),
    # `liveify train` ends by exporting its best checkpoint through the one exporter.
    "liveify.train": {"liveify.model", "liveify.checkpoint", "liveify.data", "liveify.export"},
    # Evaluation renders the preset chains and the model stage as `render` does, and looks up a
    # checkpoint's training split so that no trained-on song is scored.
    "liveify.evaluate": {
        "liveify.render",
        "liveify.data",
        "liveify.plugins",
        "liveify.presets",
        "liveify.checkpoint",
    },
    # `liveify batch` renders albums; `liveify prepare` fills the training alignment cache.
    "liveify.batch": {"liveify.render", "liveify.presets", "liveify.data"},
}

HEAVY = ("torch", "lightning", "pytorch_lightning", "whisper", "librosa", "numba")
# Installed only by the train, lyrics, wandb and ray extras: the render path runs without them.
EXTRAS_ONLY = ("onnx", "onnxscript", "matplotlib", "tensorboard", "wandb", "ray", "triton")

RENDER_SIDE = (
    "liveify",
    *LEAVES,
    "liveify.render",
    "liveify.plugins",
    "liveify.presets",
    "liveify.analysis",
    "liveify.no_harm",
)


@dataclass(frozen=True)
class Never:
    """Modules whose names start with one of `importers` never reach one of `forbidden`."""

    importers: tuple[str, ...]
    forbidden: tuple[str, ...]
    why: str


NEVER = (
    Never(
        RENDER_SIDE,
        (
            *HEAVY,
            *EXTRAS_ONLY,
            "liveify.model",
            "liveify.checkpoint",
            "liveify.train",
            "liveify.export",
            "liveify.data",
            "liveify.demo",
            "liveify.evaluate",
            "liveify.batch",
            "liveify.cli",
        ),
        "the render side starts fast and runs with only the inference dependencies installed",
    ),
    Never(
        ("liveify.model", "liveify.checkpoint", "liveify.export"),
        ("lightning", "pytorch_lightning", "whisper", "librosa", "liveify.train", "liveify.data"),
        "a checkpoint loads and exports with torch alone",
    ),
    Never(
        # liveify.data.demo* and data.synth until they move to liveify.demo.
        ("liveify.demo", "liveify.data.demo", "liveify.data.demo_takes", "liveify.data.synth"),
        ("liveify.presets",),
        "the demo's live takes never come from a preset chain, or the DSP-only baseline in "
        "evaluation would be right by construction",
    ),
)

# --- the scan -------------------------------------------------------------------------------------

MODULE_PATH = re.compile(r"liveify(\.\w+)+")
DYNAMIC_IMPORTERS = {"import_module", "__import__", "require"}


@dataclass(frozen=True)
class Import:
    importer: str
    target: str
    line: int
    # The name a lazy-export table loads `target` for: imported when that name is first used.
    lazy_name: str | None = None


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def part_of(name: str) -> str:
    """The rule-table key of a module: `liveify.render.album` -> `liveify.render`; external
    modules by their distribution's top-level name."""
    parts = name.split(".")
    return ".".join(parts[:2]) if parts[0] == "liveify" else parts[0]


def within(name: str, prefix: str) -> bool:
    """Whether module `name` is `prefix` or under it; `liveify` stands for the root package alone."""
    return name == prefix or (prefix != "liveify" and name.startswith(prefix + "."))


def imports_in(source: str, module: str, *, is_package: bool) -> list[Import]:
    """Every module `source` imports: statements at any depth (functions, TYPE_CHECKING blocks),
    literal `import_module`/`__import__`/`require` calls, and module-level dicts whose values are
    all liveify module names (lazy-export tables)."""
    package = module if is_package else module.rpartition(".")[0]
    tree = ast.parse(source)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [Import(module, alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            found.append(Import(module, base, node.lineno))
            # `from liveify.render import plan` imports the submodule as well.
            found += [Import(module, f"{base}.{alias.name}", node.lineno) for alias in node.names]
        elif isinstance(node, ast.Call):
            called = node.func.attr if isinstance(node.func, ast.Attribute) else None
            called = node.func.id if isinstance(node.func, ast.Name) else called
            first = node.args[0] if node.args else None
            if (
                called in DYNAMIC_IMPORTERS
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
            ):
                found.append(Import(module, first.value, node.lineno))
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Dict):
            values = node.value.values
            if values and all(
                isinstance(v, ast.Constant)
                and isinstance(v.value, str)
                and MODULE_PATH.fullmatch(v.value)
                for v in values
            ):
                found += [
                    Import(module, value.value, value.lineno, lazy_name=key.value)
                    for key, value in zip(node.value.keys, values, strict=True)
                    if isinstance(key, ast.Constant)
                ]
    return found


def scan_package() -> tuple[dict[str, Path], list[Import]]:
    files = {module_name(path): path for path in sorted(PACKAGE_DIR.rglob("*.py"))}
    imports = []
    for module, path in files.items():
        source = path.read_text(encoding="utf-8")
        imports += imports_in(source, module, is_package=path.name == "__init__.py")
    # `from liveify import Chain` loads what the root's lazy table names for Chain; `from
    # liveify.render import RenderSettings` names a class, not a module.
    lazy = {f"{i.importer}.{i.lazy_name}": i.target for i in imports if i.lazy_name}
    kept = []
    for item in imports:
        if item.target in lazy:
            kept.append(Import(item.importer, lazy[item.target], item.line))
        elif item.target in files or not item.target.startswith("liveify"):
            kept.append(item)
    return files, kept


FILES, IMPORTS = scan_package()
# What importing each module runs at once (lazy-export tables wait for their names' first use).
EAGER_EDGES: dict[str, list[Import]] = {
    module: [i for i in IMPORTS if i.importer == module and i.lazy_name is None] for module in FILES
}


def where(item: Import) -> str:
    path = FILES[item.importer].relative_to(PACKAGE_DIR.parent)
    return f"{path}:{item.line}" if item.line else f"{path} (its package)"


def allowed(importer: str, target: str) -> bool:
    if not target.startswith("liveify"):
        return True  # third-party modules: the never-rules judge those
    source, destination = part_of(importer), part_of(target)
    row = MAY_IMPORT.get(source, set())
    return (
        source == destination
        or target == "liveify"
        or destination in LEAVES
        or (importer.endswith("__main__") and destination == "liveify.cli")
        or row == ANY
        or any(within(target, entry) for entry in row)
    )


def disallowed_imports() -> list[Import]:
    return [i for i in IMPORTS if not allowed(i.importer, i.target)]


def describe(item: Import) -> str:
    source = part_of(item.importer)
    row = MAY_IMPORT.get(source, set())
    may = "anything" if row == ANY else ", ".join(sorted(row)) or "nothing"
    return (
        f"{where(item)}: {item.importer} imports {item.target}; {source} may import the leaves "
        f"and {may} (MAY_IMPORT in tests/test_import_rules.py)"
    )


def reach_path(start: str, forbidden: tuple[str, ...]) -> list[Import] | None:
    """The chain of imports by which `start` reaches a module under `forbidden`, or None.

    Importing a module runs its packages' __init__ first, so those count as reached; a
    lazy-export table's modules are reached only by importing the names they export."""
    came_by: dict[str, Import | None] = {start: None}
    queue = deque([start])
    while queue:
        module = queue.popleft()
        if any(within(module, name) for name in forbidden):
            chain = []
            while came_by[module] is not None:
                step = came_by[module]
                chain.append(step)
                module = step.importer
            return chain[::-1]
        parents = [module.rsplit(".", depth)[0] for depth in range(1, module.count(".") + 1)]
        steps = EAGER_EDGES.get(module, []) + [Import(module, parent, 0) for parent in parents]
        for step in steps:
            if step.target not in came_by:
                came_by[step.target] = step
                queue.append(step.target)
    return None


# --- the tests ------------------------------------------------------------------------------------


def test_every_part_of_the_package_has_a_rule():
    parts = {part_of(module) for module in FILES}
    missing = sorted(parts - set(MAY_IMPORT) - set(LEAVES))
    assert not missing, f"add a row for {missing} to MAY_IMPORT (or LEAVES) in {__file__}"


def test_imports_follow_the_arrows():
    broken = [describe(item) for item in disallowed_imports()]
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize("rule", NEVER, ids=lambda rule: rule.importers[0])
def test_never_rules_hold_through_every_import(rule):
    broken = []
    for module in sorted(FILES):
        if any(within(module, importer) for importer in rule.importers):
            chain = reach_path(module, rule.forbidden)
            if chain:
                route = " -> ".join([chain[0].importer] + [step.target for step in chain])
                broken.append(f"{where(chain[-1])}: {route} (never-rule: {rule.why})")
    assert not broken, "\n".join(broken)


def test_the_scan_sees_lazy_and_dynamic_imports():
    source = (
        "import importlib\n"
        "from liveify.errors import require\n"
        "TABLE = {'Stage': 'liveify.plugins.base'}\n"
        "def later():\n"
        "    import torch\n"
        "    from .recipe import live_blocks\n"
        "    importlib.import_module('librosa')\n"
        "    return require('whisper', 'lyrics')\n"
    )
    found = {
        (i.target, i.line) for i in imports_in(source, "liveify.render.album", is_package=False)
    }
    assert {
        ("liveify.errors", 2),
        ("liveify.plugins.base", 3),
        ("torch", 5),
        ("liveify.render.recipe", 6),
        ("librosa", 7),
        ("whisper", 8),
    } <= found
    assert not allowed("liveify.render.album", "liveify.export.onnx")
    assert allowed("liveify.render.album", "liveify.plugins.crowd.stage")
    assert allowed("liveify.train.__main__", "liveify.cli")

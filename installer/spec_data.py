"""What the PyInstaller build (``build.spec``) puts into the app, as plain functions so the
test suite can check it without running PyInstaller.

- the ``desktop`` package (every submodule: the UI may import some lazily);
- ``resources/`` (icons) as ``resources``;
- the starter model converted at build time (``build/staging/models``) as ``models``: the app
  finds it through ``desktop.config.bundled`` when the user has no model of their own;
- ONNX Runtime's shared libraries, provider libraries included (CUDA / DirectML flavours
  bring theirs); PyInstaller's hooks add Qt's plugins.
Heavy packages that Parley never imports at run time are excluded, so that a build machine
that has them installed (for the optional optimum export) does not ship them.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGING_MODELS = ROOT / "build" / "staging" / "models"

EXCLUDES = [
    "torch",
    "torchvision",
    "torchaudio",
    "transformers",
    "optimum",
    "onnxruntime_genai",
    "llama_cpp",
    "tensorflow",
    "jax",
    "scipy",
    "pandas",
    "matplotlib",
    "IPython",
    "tkinter",
    "pytest",
    "pytestqt",
    "mypy",
    "ruff",
    "importlinter",
    "pypdf",
    "PyInstaller",
    # Qt modules Parley does not use (PySide6's hook would otherwise follow them).
    "PySide6.QtQml",
    "PySide6.QtQuick",
    "PySide6.QtQuickWidgets",
    "PySide6.QtQuickControls2",
    "PySide6.QtDesigner",
    "PySide6.QtUiTools",
    "PySide6.QtHelp",
    "PySide6.QtSql",
    "PySide6.QtTest",
    "PySide6.QtOpenGLWidgets",
]


class MissingModelError(RuntimeError):
    """The starter model was not staged before the build."""


def model_datas(staging: Path = STAGING_MODELS, *, require: bool = True) -> list[tuple[str, str]]:
    """``(source, destination)`` pairs for every staged model bundle, keeping each bundle's
    folder under ``models/``. Raises :class:`MissingModelError` when ``require`` and none is
    staged (run ``installer/stage_model.py`` first)."""
    pairs: list[tuple[str, str]] = []
    if staging.is_dir():
        for bundle in sorted(staging.iterdir()):
            if (
                bundle.is_dir()
                and not bundle.name.startswith(".")
                and (bundle / "tokenizer.json").is_file()
            ):
                for item in sorted(bundle.iterdir()):
                    if item.is_file():
                        pairs.append((str(item), f"models/{bundle.name}"))
        default = staging / "default.json"
        if pairs and default.is_file():
            pairs.append((str(default), "models"))
    if require and not pairs:
        raise MissingModelError(
            f"no model staged in {staging}: run `python installer/stage_model.py` first "
            "(or set PARLEY_BUILD_WITHOUT_MODEL=1 for an app without a bundled model)"
        )
    return pairs


def resource_datas(root: Path = ROOT) -> list[tuple[str, str]]:
    """Every file under ``resources/``, same relative place."""
    base = root / "resources"
    return [
        (str(path), str(Path("resources") / path.parent.relative_to(base)))
        for path in sorted(base.rglob("*"))
        if path.is_file()
    ]


_LIBRARY_SUFFIXES = (".so", ".dll", ".dylib", ".pyd")


def onnxruntime_binaries() -> list[tuple[str, str]]:
    """ONNX Runtime's shared libraries, each to its place inside the package: the core, the
    Python binding and every provider library the installed flavour has (CPU: the shared
    provider bridge; onnxruntime-gpu: CUDA/TensorRT providers; -directml: DirectML.dll)."""
    import importlib.util

    spec = importlib.util.find_spec("onnxruntime")
    if spec is None or spec.origin is None:
        raise RuntimeError("onnxruntime is not installed in the build environment")
    package = Path(spec.origin).parent
    pairs = []
    for path in sorted(package.rglob("*")):
        name = path.name.lower()
        is_library = name.endswith(_LIBRARY_SUFFIXES) or ".so." in name
        if path.is_file() and is_library:
            destination = Path("onnxruntime") / path.parent.relative_to(package)
            pairs.append((str(path), destination.as_posix()))
    return pairs


def hidden_imports() -> list[str]:
    """Every module of the ``desktop`` package (some are imported lazily)."""
    import pkgutil

    import desktop

    names = ["desktop"]
    for module in pkgutil.walk_packages(desktop.__path__, "desktop."):
        names.append(module.name)
    return names

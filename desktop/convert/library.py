"""The installed models: one bundle folder each under ``models_dir()``, plus the default."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop.config.paths import models_dir
from desktop.convert.errors import ConversionError

if TYPE_CHECKING:  # the converter pulls in onnx and gguf: imported when a model is imported
    from desktop.convert.gguf_to_onnx import Progress

_DEFAULT_FILE = "default.json"
_NAME_RE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class InstalledModel:
    name: str
    path: Path
    manifest: dict[str, Any]
    is_default: bool

    @property
    def size_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.path.iterdir() if f.is_file())


def safe_name(text: str) -> str:
    name = _NAME_RE.sub("-", text).strip("-.").lower()
    return name or "model"


# A leftover of an interrupted install untouched this long is nobody's work in progress (a
# download or conversion writes into its folder all the time).
STALE_AFTER_S = 600.0


def older_than(path: Path, seconds: float) -> bool:
    """Whether nothing in ``path`` (the folder and what it directly holds) changed for
    ``seconds``."""
    try:
        newest = max(p.stat().st_mtime for p in [path, *path.iterdir()])
    except OSError:
        return False
    return time.time() - newest > seconds


def _looks_like_a_model(folder: Path) -> bool:
    """A model folder, whole or not: one that lost a file (a tokenizer deleted by hand) is
    still listed, so that loading it says what is missing and the user can remove it,
    instead of vanishing while its gigabytes stay on disk."""
    if (folder / "tokenizer.json").exists() or (folder / "parley.json").exists():
        return True
    return any(folder.glob("*.onnx"))


class ModelLibrary:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or models_dir()

    def _manifest(self, path: Path) -> dict[str, Any]:
        try:
            data = json.loads((path / "parley.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if p.is_dir() and not p.name.startswith(".") and _looks_like_a_model(p)
        )

    def default_name(self) -> str | None:
        try:
            data = json.loads((self.root / _DEFAULT_FILE).read_text(encoding="utf-8"))
            name = data.get("default") if isinstance(data, dict) else None
        except (OSError, ValueError):
            name = None
        names = self.names()
        if isinstance(name, str) and name in names:
            return name
        return names[0] if names else None

    def set_default(self, name: str) -> None:
        self.get(name)  # raises for an unknown name
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{_DEFAULT_FILE}.tmp"
        tmp.write_text(json.dumps({"default": name}) + "\n", encoding="utf-8")
        os.replace(tmp, self.root / _DEFAULT_FILE)

    def get(self, name: str) -> InstalledModel:
        path = self.root / name
        if name not in self.names():
            known = ", ".join(self.names()) or "none installed"
            raise ConversionError(f"no model named '{name}' (installed: {known})")
        return InstalledModel(name, path, self._manifest(path), name == self.default_name())

    def list(self) -> list[InstalledModel]:
        default = self.default_name()
        return [
            InstalledModel(n, self.root / n, self._manifest(self.root / n), n == default)
            for n in self.names()
        ]

    def remove(self, name: str) -> str | None:
        """Delete a model. When it was the default, the first one left becomes the default,
        written down (not left to whichever name sorts first after the next import); returns
        that new default, else None."""
        model = self.get(name)
        # Rename first so a half-deleted folder never looks like a model.
        trash = self.root / f".{name}.removing"
        shutil.rmtree(trash, ignore_errors=True)
        os.replace(model.path, trash)
        shutil.rmtree(trash, ignore_errors=True)
        if not model.is_default:
            return None
        left = self.names()
        if not left:
            (self.root / _DEFAULT_FILE).unlink(missing_ok=True)
            return None
        self.set_default(left[0])
        return left[0]

    def clean_partials(self) -> None:
        """Remove leftovers of interrupted conversions (hidden ``.*.partial-*`` folders), and
        those of a starter install or a removal that was killed (``.starter-*`` holding a
        93 MB model file, ``.*.removing``) once untouched for STALE_AFTER_S: a younger one
        may be another process's work in progress."""
        if not self.root.is_dir():
            return
        for p in self.root.glob(".*.partial-*"):
            shutil.rmtree(p, ignore_errors=True)
        for pattern in (".starter-*", ".*.removing"):
            for p in self.root.glob(pattern):
                if older_than(p, STALE_AFTER_S):
                    shutil.rmtree(p, ignore_errors=True)

    def import_gguf(
        self,
        gguf: Path,
        name: str | None = None,
        *,
        source: dict[str, Any] | None = None,
        progress: Progress | None = None,
        make_default: bool = False,
        sampling: dict[str, float] | None = None,
    ) -> InstalledModel:
        name = safe_name(name or gguf.stem)
        if name in self.names():
            raise ConversionError(f"a model named '{name}' is already installed")
        self.root.mkdir(parents=True, exist_ok=True)
        self.clean_partials()
        from desktop.convert.gguf_to_onnx import convert_gguf

        convert_gguf(
            gguf, self.root / name, name=name, source=source, progress=progress or _quiet,
            sampling=sampling,
        )  # fmt: skip
        if make_default or self.default_name() == name:
            self.set_default(name)
        return self.get(name)

    def import_path(
        self,
        path: Path,
        name: str | None = None,
        progress: Progress | None = None,
        *,
        precision: str | None = None,
    ) -> InstalledModel:
        """Import a GGUF file, a Hugging Face checkpoint folder (config.json + safetensors,
        converted at ``precision``, int4 by default) or an ONNX model folder (copied;
        ``parley.json`` written if missing)."""
        if path.is_file():
            if precision is not None:
                raise ConversionError(
                    "--precision applies to Hugging Face checkpoints; a GGUF keeps its own "
                    "quantization exactly"
                )
            return self.import_gguf(path, name, progress=progress)
        if path.is_dir():
            if is_checkpoint_folder(path):
                return self.import_checkpoint(path, name, precision or "int4", progress)
            if precision is not None:
                raise ConversionError(
                    f"{path.name} is already an ONNX model; --precision applies to checkpoints"
                )
            return self._import_folder(path, name)
        if path.exists():  # a device, a pipe, a socket
            raise ConversionError(f"{path} is not a model file or folder")
        raise ConversionError(f"{path}: no such file or folder")

    def import_checkpoint(
        self,
        folder: Path,
        name: str | None = None,
        precision: str = "int4",
        progress: Progress | None = None,
        *,
        make_default: bool = False,
    ) -> InstalledModel:
        """A Hugging Face checkpoint: the Llama family natively, anything else via optimum."""
        from desktop.convert import safetensors_source as st

        if precision not in st.PRECISIONS:
            raise ConversionError(
                f"precision '{precision}' is unknown (use {', '.join(st.PRECISIONS)})"
            )
        config = st.read_config(folder)
        st.refuse_code_and_pickles(folder, config)
        named = name is not None
        name = safe_name(name or folder.name)
        if not named and name in self.names():
            # the same checkpoint again at another precision: side by side, named for it
            name = safe_name(f"{name}-{precision}")
        if name in self.names():
            raise ConversionError(f"a model named '{name}' is already installed")
        self.root.mkdir(parents=True, exist_ok=True)
        self.clean_partials()
        dest = self.root / name
        if st.is_llama_family(config):
            st.convert_safetensors(
                folder, dest, precision=precision, name=name, progress=progress or _quiet
            )
        else:
            from desktop.convert.optimum_export import export_checkpoint

            export_checkpoint(
                folder, dest, precision=precision, name=name, progress=progress or _quiet
            )
        if make_default or self.default_name() == name:
            self.set_default(name)
        return self.get(name)

    def _import_folder(self, folder: Path, name: str | None) -> InstalledModel:
        from desktop.engine.bundle import open_bundle  # validates before copying
        from desktop.engine.integrity import bundle_damage

        # "has no tokenizer.json" said nothing useful (and the whole tree of a home folder
        # chosen by mistake is not walked: the model, or one folder down, as exports put it)
        if not any(folder.glob("*.onnx")) and not any(folder.glob("*/*.onnx")):
            raise ConversionError(
                f"{folder.name} is not a model folder: it has no config.json (a Hugging Face "
                "checkpoint) and no .onnx model; choose the folder that holds them, or a "
                ".gguf file"
            )
        bundle = open_bundle(folder)
        damage = bundle_damage(bundle)  # copied as it is: a cut-short copy would not load
        if damage is not None:
            raise ConversionError(f"{folder} cannot be imported: {damage}")
        name = safe_name(name or folder.name)
        if name in self.names():
            raise ConversionError(f"a model named '{name}' is already installed")
        for bad in ("*.bin", "*.pt", "*.pth", "*.pkl", "*.so", "*.dll", "*.dylib", "*.py"):
            found = next(folder.glob(bad), None)
            if found is not None:
                raise ConversionError(
                    f"{folder.name} contains {found.name}: pickled weights and code are never "
                    "loaded (they can run arbitrary programs); export to ONNX/safetensors"
                )
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{name}.partial-copy"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            shutil.copytree(folder, tmp)
            if not (tmp / "parley.json").exists():
                (tmp / "parley.json").write_text(
                    json.dumps(
                        {
                            "name": name,
                            "family": bundle.kind,
                            "graph": f"external-{bundle.kind}",
                            "source": {"kind": bundle.kind, "file": str(folder)},
                        },
                        indent=2,
                    )
                    + "\n",
                    encoding="utf-8",
                )
            os.replace(tmp, self.root / name)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise ConversionError(f"could not copy {folder} into the library: {exc}") from exc
        return self.get(name)


def _quiet(stage: str, fraction: float) -> None:
    pass


def is_model_source(path: Path) -> bool:
    """What ``import_path`` takes: a GGUF file, or a folder with an ONNX model (ours, an
    onnxruntime-genai or optimum export) or a Hugging Face checkpoint. Dropped files that are
    none of these are text to put into a message."""
    if path.is_file():
        return path.suffix.lower() == ".gguf"
    if not path.is_dir():
        return False
    markers = ("parley.json", "genai_config.json", "config.json")
    return any((path / m).is_file() for m in markers) or next(path.glob("*.onnx"), None) is not None


def is_checkpoint_folder(folder: Path) -> bool:
    """A Hugging Face checkpoint (to convert) rather than an ONNX model folder (to copy)."""
    if next(folder.glob("*.onnx"), None) is not None or (folder / "genai_config.json").exists():
        return False
    return (folder / "config.json").is_file()

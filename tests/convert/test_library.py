"""The model library: importing an ONNX model folder copies it only when it would load."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from desktop.convert.errors import ConversionError
from desktop.convert.library import ModelLibrary
from tests.ggufs import TinySpec
from tests.models import TinyModels


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        ("model.onnx.data", "model.onnx.data is incomplete"),
        ("tokenizer.json", "tokenizer.json is damaged"),
    ],
)
def test_a_damaged_model_folder_is_refused_and_leaves_nothing(
    tiny_models: TinyModels, tmp_path: Path, damage: str, reason: str
) -> None:
    _, bundle = tiny_models.get(TinySpec(weight_type="Q8_0"))
    copy = tmp_path / "copy"
    shutil.copytree(bundle, copy)
    if not (copy / damage).exists():
        pytest.fail(f"the tiny bundle has no {damage}: the test no longer damages anything")
    (copy / damage).write_bytes((copy / damage).read_bytes()[:100])
    library = ModelLibrary(tmp_path / "models")
    with pytest.raises(ConversionError, match=f"copy cannot be imported: {reason}"):
        library.import_path(copy, "mine")
    assert library.names() == []
    assert not (library.root / "mine").exists()


def test_a_whole_model_folder_is_copied_with_a_manifest(
    tiny_models: TinyModels, tmp_path: Path
) -> None:
    _, bundle = tiny_models.get(TinySpec(weight_type="Q8_0"))
    library = ModelLibrary(tmp_path / "models")
    model = library.import_path(bundle, "mine")
    assert library.names() == ["mine"]
    assert (Path(model.path) / "parley.json").is_file()
    assert [p.name for p in library.root.iterdir()] == ["mine"]  # no partial copy left


def test_removing_the_default_names_the_next_one_for_good(
    tiny_models: TinyModels, tmp_path: Path
) -> None:
    _, bundle = tiny_models.get(TinySpec(weight_type="Q8_0"))
    library = ModelLibrary(tmp_path / "models")
    for name in ("b-model", "c-model", "evil"):
        library.import_path(bundle, name)
    library.set_default("evil")
    assert library.remove("c-model") is None, "not the default: nothing else changes"
    assert library.default_name() == "evil"
    assert library.remove("evil") == "b-model"
    library.import_path(bundle, "a-model")  # sorts first: must not become the default
    assert library.default_name() == "b-model"
    library.import_path(bundle, "evil")  # the old name again: not the default either
    assert library.default_name() == "b-model"
    for name in ("a-model", "evil"):
        library.remove(name)
    assert library.remove("b-model") is None
    assert not (library.root / "default.json").exists()


def test_a_device_is_not_a_model_and_is_not_called_missing(tmp_path: Path) -> None:
    library = ModelLibrary(tmp_path / "models")
    with pytest.raises(ConversionError, match="/dev/null is not a model file or folder"):
        library.import_path(Path("/dev/null"))
    with pytest.raises(ConversionError, match="no such file or folder"):
        library.import_path(tmp_path / "nothing.gguf")


def test_what_counts_as_a_model_to_import_when_dropped(tmp_path: Path) -> None:
    from desktop.convert.library import is_model_source

    gguf = tmp_path / "Tiny.Q4_0.GGUF"
    gguf.write_bytes(b"GGUF")
    notes = tmp_path / "notes.md"
    notes.write_text("# notes", encoding="utf-8")
    checkpoint, exported, plain = (tmp_path / n for n in ("hf", "onnx", "photos"))
    for folder in (checkpoint, exported, plain):
        folder.mkdir()
    (checkpoint / "config.json").write_text("{}", encoding="utf-8")
    (exported / "model.onnx").write_bytes(b"")
    (plain / "cat.png").write_bytes(b"")
    assert [is_model_source(p) for p in (gguf, checkpoint, exported)] == [True, True, True]
    assert [is_model_source(p) for p in (notes, plain, tmp_path / "gone.gguf")] == [False] * 3


def test_leftovers_of_a_killed_install_go_once_nobody_works_on_them(tmp_path: Path) -> None:
    """An install killed midway left a hidden 93 MB folder that no later install removed."""
    import os
    import time

    from desktop.convert.library import STALE_AFTER_S

    library = ModelLibrary(tmp_path / "models")
    library.root.mkdir()
    old, young = library.root / ".starter-dead1234", library.root / ".starter-busy5678"
    for folder in (old, young):
        folder.mkdir()
        (folder / "model.gguf").write_bytes(b"\0" * 1024)
    (library.root / ".mine.removing").mkdir()
    then = time.time() - STALE_AFTER_S - 60
    for path in (old, old / "model.gguf", library.root / ".mine.removing"):
        os.utime(path, (then, then))
    library.clean_partials()
    assert sorted(p.name for p in library.root.iterdir()) == [".starter-busy5678"], (
        "the young one may be another process's install"
    )


def test_a_folder_that_is_no_model_says_so(tmp_path: Path) -> None:
    folder = tmp_path / "Documents"
    folder.mkdir()
    (folder / "notes.txt").write_text("not a model")
    library = ModelLibrary(tmp_path / "models")
    with pytest.raises(ConversionError, match="Documents is not a model folder: it has no"):
        library.import_path(folder)
    assert library.names() == []

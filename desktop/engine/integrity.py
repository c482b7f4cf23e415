"""Say which file of a model folder is damaged when ONNX Runtime refuses to load it.

ONNX Runtime reports a cut-short weights file as "Deserialize tensor blk.3.ffn_down.qweight
failed. ... External data ... out of bounds": true, but not what a user can act on. A copy
that ran out of disk space, or an interrupted download or sync, leaves exactly that. This
reads the graph (without its weights) and compares what each external-data file must hold
with what it holds. Called after a failed load, and for every model the model manager or
`parley models` lists (a few ms a model: nothing is read whole), never on a good load's path.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from desktop.engine.bundle import Bundle


def size_text(n: int) -> str:
    """Bytes as a user reads them: 741 kB, 1.5 MB, 118 MB."""
    if n < 10**6:
        return f"{n / 1e3:.0f} kB"
    return f"{n / 1e6:.1f} MB" if n < 10**8 else f"{n / 1e6:.0f} MB"


def damaged_files(model_file: Path) -> str | None:
    """One line naming the damaged or missing file of ``model_file``'s folder, or None when
    the files look whole (the refusal has another cause)."""
    import onnx

    if not model_file.is_file():
        return f"{model_file.name} is missing"
    try:
        model = onnx.load(str(model_file), load_external_data=False)
    except Exception:  # protobuf's DecodeError and friends: not a readable graph
        return f"{model_file.name} is damaged (it is not a readable ONNX graph)"
    needed: dict[str, int] = {}
    for tensor in model.graph.initializer:
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        info = {entry.key: entry.value for entry in tensor.external_data}
        location = info.get("location", "")
        try:
            end = int(info.get("offset", "0")) + int(info.get("length", "0"))
        except ValueError:
            return f"{model_file.name} is damaged (a weight has an unreadable location)"
        needed[location] = max(needed.get(location, 0), end)
    folder = model_file.parent
    for location, end in sorted(needed.items()):
        path = folder / location
        if not path.is_file():
            return f"{location} is missing"
        size = path.stat().st_size
        if size < end:
            have, need = size_text(size), size_text(end)
            return (
                f"{location} is incomplete: {have} of the {need} the model needs "
                "(a copy or download that was cut short)"
            )
    return None


def model_damage(folder: Path) -> str | None:
    """Why the model folder ``folder`` cannot load (unreadable files, a file missing or cut
    short), or None when its files look whole."""
    from desktop.engine.bundle import BundleError, open_bundle

    try:
        bundle = open_bundle(folder)
    except BundleError as exc:
        return str(exc)
    return bundle_damage(bundle)


def bundle_damage(bundle: Bundle) -> str | None:
    """:func:`model_damage` of a bundle already opened."""
    return damaged_files(bundle.model_file) or _tokenizer_damage(bundle.path / "tokenizer.json")


def _tokenizer_damage(path: Path) -> str | None:
    """A tokenizer file cut short or overwritten no longer looks like one JSON object: it
    must start with ``{`` and end with ``}``. Its ends only, as the model manager checks every
    model whenever it lists them (parsing the starter's 1.5 MB took 60 ms a model); loading
    the model reads it whole and names any other damage."""
    try:
        with path.open("rb") as f:
            head = f.read(64).lstrip()
            f.seek(max(0, path.stat().st_size - 64))
            tail = f.read().rstrip()
    except OSError:
        tail = head = b""
    if head.startswith(b"{") and tail.endswith(b"}"):
        return None
    return f"{path.name} is damaged (it is not a readable tokenizer)"

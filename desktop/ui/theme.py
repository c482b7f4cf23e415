"""Light and dark themes, and the application font size.

Each theme is a small table of colours (:class:`ThemeColors`) turned into a ``QPalette`` plus a few
stylesheet rules for things a palette cannot express (inline error and notice labels, tooltips).
:data:`TEXT_PAIRS` lists every foreground/background pair the app draws text with; a test holds
both themes to WCAG AA (contrast ratio >= 4.5:1) for all of them.

``ThemeController`` follows the ``appearance.theme`` and ``appearance.font_size`` settings (and the
system's light/dark switch when the theme is "system") and re-applies them live.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QGuiApplication, QPainter, QPalette
from PySide6.QtWidgets import (
    QApplication,
    QProxyStyle,
    QStyle,
    QStyleFactory,
    QStyleOption,
    QWidget,
)

from desktop.config.settings import Settings, SettingsChange

# AA for normal-size text (WCAG 2.x, success criterion 1.4.3).
AA_NORMAL_TEXT = 4.5

THEME_KEYS = ("appearance.theme", "appearance.font_size")

# Dynamic properties the widgets set on labels; the stylesheet colours them per theme.
ROLE_PROPERTY = "parleyRole"
ROLE_ERROR = "error"
ROLE_NOTICE = "notice"


@dataclass(frozen=True)
class ThemeColors:
    window: str
    window_text: str
    base: str
    alternate_base: str
    text: str
    placeholder_text: str
    button: str
    button_text: str
    highlight: str
    highlighted_text: str
    tooltip_base: str
    tooltip_text: str
    link: str
    link_visited: str
    disabled_text: str
    error_text: str  # inline "why this value was refused" labels
    notice_text: str  # inline "takes effect after the model is reloaded" notices
    border: str  # frames and separators; not text, so not contrast-checked as text
    control_frame: str  # the box of a check box or radio button: >= 3:1 (WCAG 1.4.11)


LIGHT = ThemeColors(
    window="#f4f4f6",
    window_text="#1c1c1f",
    base="#ffffff",
    alternate_base="#eef0f3",
    text="#1c1c1f",
    placeholder_text="#5c5f66",
    button="#e6e7eb",
    button_text="#1c1c1f",
    highlight="#0b5cc9",
    highlighted_text="#ffffff",
    tooltip_base="#ffffff",
    tooltip_text="#1c1c1f",
    link="#0a55ba",
    link_visited="#6a3ab2",
    disabled_text="#5d6067",
    error_text="#a61b14",
    notice_text="#7a4a00",
    border="#b9bcc4",
    control_frame="#6b6e76",
)

DARK = ThemeColors(
    window="#1d1e21",
    window_text="#e9e9ec",
    base="#25262a",
    alternate_base="#2c2d32",
    text="#e9e9ec",
    placeholder_text="#a3a6ad",
    button="#313339",
    button_text="#e9e9ec",
    highlight="#8ab4f8",
    highlighted_text="#0f1115",
    tooltip_base="#313339",
    tooltip_text="#e9e9ec",
    link="#8ab4f8",
    link_visited="#c6a8f5",
    disabled_text="#a0a3aa",
    error_text="#ff9b92",
    notice_text="#f2c46d",
    border="#4a4c53",
    control_frame="#8b8e96",
)

THEMES: dict[str, ThemeColors] = {"light": LIGHT, "dark": DARK}

# Every (text colour, background colour) combination the app paints text with.
TEXT_PAIRS: tuple[tuple[str, str], ...] = (
    ("window_text", "window"),
    ("text", "base"),
    ("text", "alternate_base"),
    ("placeholder_text", "base"),
    ("button_text", "button"),
    ("highlighted_text", "highlight"),
    ("tooltip_text", "tooltip_base"),
    ("link", "base"),
    ("link", "window"),
    ("link_visited", "base"),
    ("disabled_text", "window"),
    ("disabled_text", "base"),
    ("disabled_text", "button"),
    ("error_text", "window"),
    ("error_text", "base"),
    ("notice_text", "window"),
    ("notice_text", "base"),
)


def _channel(value: int) -> float:
    c = value / 255.0
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def relative_luminance(color: str) -> float:
    """WCAG relative luminance of an sRGB colour given as ``#rrggbb``."""
    text = color.lstrip("#")
    if len(text) != 6:
        raise ValueError(f"expected #rrggbb, got {color!r}")
    r, g, b = (int(text[i : i + 2], 16) for i in (0, 2, 4))
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast_ratio(fg: str, bg: str) -> float:
    """WCAG contrast ratio (1..21) between two ``#rrggbb`` colours; the order does not matter."""
    lighter, darker = sorted((relative_luminance(fg), relative_luminance(bg)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def build_palette(colors: ThemeColors) -> QPalette:
    palette = QPalette()
    role = QPalette.ColorRole
    assignments = {
        role.Window: colors.window,
        role.WindowText: colors.window_text,
        role.Base: colors.base,
        role.AlternateBase: colors.alternate_base,
        role.Text: colors.text,
        role.PlaceholderText: colors.placeholder_text,
        role.Button: colors.button,
        role.ButtonText: colors.button_text,
        role.BrightText: colors.error_text,
        role.Highlight: colors.highlight,
        role.HighlightedText: colors.highlighted_text,
        role.ToolTipBase: colors.tooltip_base,
        role.ToolTipText: colors.tooltip_text,
        role.Link: colors.link,
        role.LinkVisited: colors.link_visited,
        role.Accent: colors.highlight,
        # Bevel shades used by the Fusion style.
        role.Light: colors.base,
        role.Midlight: colors.alternate_base,
        role.Mid: colors.border,
        role.Dark: colors.border,
        role.Shadow: colors.border,
    }
    for palette_role, value in assignments.items():
        palette.setColor(palette_role, QColor(value))
    disabled = QPalette.ColorGroup.Disabled
    for text_role in (role.WindowText, role.Text, role.ButtonText, role.PlaceholderText):
        palette.setColor(disabled, text_role, QColor(colors.disabled_text))
    return palette


class _FramedControls(QProxyStyle):
    """Fusion, with the boxes of check boxes and radio buttons framed in the theme's
    ``control_frame`` colour: Fusion draws that frame a shade darker than the window, which
    on the dark theme is all but invisible (the box itself is the input's colour, as dark).
    Given to those widgets alone (:func:`frame_controls`): as the application's style its
    Python ``drawPrimitive`` would run for everything painted (measured: +2-5 ms a window)."""

    _FRAMED = (
        QStyle.PrimitiveElement.PE_IndicatorCheckBox,
        QStyle.PrimitiveElement.PE_IndicatorRadioButton,
    )
    frame = LIGHT.control_frame  # the theme applied last (apply_theme sets it)

    def __init__(self) -> None:
        super().__init__(QStyleFactory.create("Fusion"))

    def drawPrimitive(  # noqa: N802 (Qt override)
        self,
        element: QStyle.PrimitiveElement,
        option: QStyleOption,
        painter: QPainter,
        widget: QWidget | None = None,
    ) -> None:
        super().drawPrimitive(element, option, painter, widget)
        if element not in self._FRAMED:
            return
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QColor(self.frame))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        box = QRectF(option.rect).adjusted(0.5, 0.5, -0.5, -0.5)
        if element == QStyle.PrimitiveElement.PE_IndicatorRadioButton:
            painter.drawEllipse(box)
        else:
            painter.drawRoundedRect(box, 1.5, 1.5)
        painter.restore()


@functools.cache
def _framed_style() -> _FramedControls:
    """Made once, with the first control, and kept alive: widgets do not own their style."""
    return _FramedControls()


def frame_controls(*widgets: QWidget) -> None:
    """Check boxes and radio buttons drawn with a frame that stands out in either theme."""
    for widget in widgets:
        widget.setStyle(_framed_style())


def stylesheet(colors: ThemeColors) -> str:
    """Rules a palette cannot express. Sizes are left to the application font."""
    return f"""
QDialogButtonBox {{ dialogbuttonbox-buttons-have-icons: 0; }}
QLabel[{ROLE_PROPERTY}="{ROLE_ERROR}"] {{ color: {colors.error_text}; }}
QLabel[{ROLE_PROPERTY}="{ROLE_NOTICE}"] {{ color: {colors.notice_text}; }}
QToolButton[menuInText="true"]::menu-indicator {{ image: none; width: 0px; }}
QToolTip {{
    color: {colors.tooltip_text};
    background-color: {colors.tooltip_base};
    border: 1px solid {colors.border};
}}
"""


def resolve_theme(name: str, scheme: Qt.ColorScheme | None = None) -> ThemeColors:
    """``light``/``dark``, or ``system``: the platform's colour scheme (``scheme`` when given),
    light when the platform does not say."""
    if name == "system":
        if scheme is None:
            scheme = QGuiApplication.styleHints().colorScheme()
        return DARK if scheme == Qt.ColorScheme.Dark else LIGHT
    try:
        return THEMES[name]
    except KeyError:
        raise ValueError(f"unknown theme {name!r}") from None


def apply_theme(app: QApplication, name: str, scheme: Qt.ColorScheme | None = None) -> ThemeColors:
    """Give the whole application the palette and stylesheet of theme ``name``.

    The Fusion style is used because it paints with the palette on every platform (the native
    Windows and macOS styles ignore parts of it, which would break the contrast guarantees)."""
    colors = resolve_theme(name, scheme)
    # Set every time: once a stylesheet is active, app.style() no longer tells which style runs.
    app.setStyle("Fusion")
    _FramedControls.frame = colors.control_frame
    app.setPalette(build_palette(colors))
    app.setStyleSheet(stylesheet(colors))
    return colors


def apply_font_size(app: QApplication, point_size: int) -> None:
    """Scale all text: widgets without a font of their own follow the application font."""
    font = QFont(app.font())
    font.setPointSize(point_size)
    app.setFont(font)
    # With a stylesheet active, widgets already shown keep the font they were polished with
    # (new ones, menus, follow the new size): setting the sheet again polishes them anew.
    if app.styleSheet():
        app.setStyleSheet(app.styleSheet())


def line_height(font: QFont) -> int:
    """The height Qt lays a line of ``font`` out at: its fractional line spacing rounded up
    (16 px at 10 pt, where the integer ``QFontMetrics.lineSpacing`` says 15). Widgets sized
    to a number of lines use this, or their last line is cut off."""
    return math.ceil(QFontMetricsF(font).lineSpacing())


class ThemeController:
    """Keeps the application's theme and font size in step with the settings."""

    def __init__(self, app: QApplication, settings: Settings) -> None:
        self._app = app
        self._settings = settings
        self._unsubscribe: Callable[[], None] | None = settings.subscribe(
            self._on_settings_changed, keys=THEME_KEYS
        )
        QGuiApplication.styleHints().colorSchemeChanged.connect(self._on_scheme_changed)
        self.colors = apply_theme(app, settings.get_str("appearance.theme"))
        apply_font_size(app, settings.get_int("appearance.font_size"))

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
            QGuiApplication.styleHints().colorSchemeChanged.disconnect(self._on_scheme_changed)

    def _on_settings_changed(self, change: SettingsChange) -> None:
        if "appearance.theme" in change.keys:
            self.colors = apply_theme(self._app, self._settings.get_str("appearance.theme"))
        if "appearance.font_size" in change.keys:
            apply_font_size(self._app, self._settings.get_int("appearance.font_size"))

    def _on_scheme_changed(self, scheme: Qt.ColorScheme) -> None:
        if self._settings.get_str("appearance.theme") == "system":
            self.colors = apply_theme(self._app, "system", scheme)

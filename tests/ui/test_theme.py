from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QLabel

from desktop.config.settings import Settings
from desktop.ui.theme import (
    AA_NORMAL_TEXT,
    DARK,
    LIGHT,
    TEXT_PAIRS,
    THEMES,
    ThemeColors,
    ThemeController,
    apply_font_size,
    apply_theme,
    build_palette,
    contrast_ratio,
    resolve_theme,
    stylesheet,
)


@pytest.fixture
def app(qapp: QApplication) -> Iterator[QApplication]:
    """The application, with palette, stylesheet, style and font put back afterwards so other
    tests see the state they expect."""
    palette, sheet, font, style = (
        qapp.palette(),
        qapp.styleSheet(),
        qapp.font(),
        qapp.style().name(),
    )
    yield qapp
    qapp.setStyle(style)
    qapp.setPalette(palette)
    qapp.setStyleSheet(sheet)
    qapp.setFont(font)


def test_contrast_ratio_matches_the_wcag_formula() -> None:
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast_ratio("#ffffff", "#000000") == pytest.approx(21.0)
    assert contrast_ratio("#336699", "#336699") == pytest.approx(1.0)
    # Well-known reference values: #777 on white just fails AA, #767676 just passes.
    assert contrast_ratio("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    assert contrast_ratio("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)
    with pytest.raises(ValueError, match="rrggbb"):
        contrast_ratio("#fff", "#000000")


@pytest.mark.parametrize("name", sorted(THEMES))
def test_every_text_pair_meets_aa(name: str) -> None:
    colors = THEMES[name]
    failures = [
        (fg, bg, round(contrast_ratio(getattr(colors, fg), getattr(colors, bg)), 2))
        for fg, bg in TEXT_PAIRS
        if contrast_ratio(getattr(colors, fg), getattr(colors, bg)) < AA_NORMAL_TEXT
    ]
    assert failures == []


def test_every_text_colour_is_checked() -> None:
    """A new text colour added to the themes must be added to TEXT_PAIRS too."""
    checked = {fg for fg, _ in TEXT_PAIRS}
    backgrounds = {bg for _, bg in TEXT_PAIRS}
    not_text = {"border", "control_frame"}
    for f in fields(ThemeColors):
        assert f.name in checked | backgrounds | not_text, f.name


def test_palette_uses_the_theme_colours() -> None:
    palette = build_palette(DARK)
    role = QPalette.ColorRole
    assert palette.color(role.Window).name() == DARK.window
    assert palette.color(role.Text).name() == DARK.text
    assert palette.color(role.Highlight).name() == DARK.highlight
    assert palette.color(role.PlaceholderText).name() == DARK.placeholder_text
    disabled = palette.color(QPalette.ColorGroup.Disabled, role.Text)
    assert disabled.name() == DARK.disabled_text


def test_stylesheet_colours_error_and_notice_labels() -> None:
    sheet = stylesheet(LIGHT)
    assert LIGHT.error_text in sheet
    assert LIGHT.notice_text in sheet
    assert "font-size" not in sheet  # sizes come from the application font setting


def test_resolve_theme() -> None:
    assert resolve_theme("light") is LIGHT
    assert resolve_theme("dark") is DARK
    assert resolve_theme("system", Qt.ColorScheme.Dark) is DARK
    assert resolve_theme("system", Qt.ColorScheme.Light) is LIGHT
    assert resolve_theme("system", Qt.ColorScheme.Unknown) is LIGHT
    with pytest.raises(ValueError, match="unknown theme"):
        resolve_theme("sepia")


def test_apply_theme_sets_palette_and_style(app: QApplication) -> None:
    apply_theme(app, "dark")
    assert app.palette().color(QPalette.ColorRole.Window).name() == DARK.window
    assert app.styleSheet() == stylesheet(DARK)
    apply_theme(app, "light")
    assert app.palette().color(QPalette.ColorRole.Window).name() == LIGHT.window


def test_font_size_scales_widgets(app: QApplication) -> None:
    apply_font_size(app, 19)
    assert app.font().pointSize() == 19
    label = QLabel("text")
    assert label.font().pointSize() == 19


def test_a_new_font_size_reaches_the_widgets_already_shown_under_a_stylesheet(
    app: QApplication,
) -> None:
    apply_theme(app, "light")  # the stylesheet keeps shown widgets at their polished font
    apply_font_size(app, 10)
    label = QLabel("shown before the change")
    label.show()
    apply_font_size(app, 17)
    assert label.font().pointSize() == 17
    label.close()


def test_controller_follows_the_settings_live(app: QApplication) -> None:
    settings = Settings()
    settings.update({"appearance.theme": "light", "appearance.font_size": 12})
    controller = ThemeController(app, settings)
    try:
        assert app.palette().color(QPalette.ColorRole.Base).name() == LIGHT.base
        assert app.font().pointSize() == 12
        small = QLabel("before")
        settings.set("appearance.theme", "dark")
        assert app.palette().color(QPalette.ColorRole.Base).name() == DARK.base
        assert controller.colors is DARK
        settings.set("appearance.font_size", 24)
        assert app.font().pointSize() == 24
        app.processEvents()  # Qt delivers the font change to existing widgets as events
        assert small.font().pointSize() == 24
    finally:
        controller.close()
    settings.set("appearance.theme", "light")
    assert app.palette().color(QPalette.ColorRole.Base).name() == DARK.base, "closed: no effect"


def test_controller_follows_the_system_scheme_when_theme_is_system(app: QApplication) -> None:
    settings = Settings()
    controller = ThemeController(app, settings)
    hints = QGuiApplication.styleHints()
    try:
        hints.colorSchemeChanged.emit(Qt.ColorScheme.Dark)
        assert app.palette().color(QPalette.ColorRole.Window).name() == DARK.window
        hints.colorSchemeChanged.emit(Qt.ColorScheme.Light)
        assert app.palette().color(QPalette.ColorRole.Window).name() == LIGHT.window
        settings.set("appearance.theme", "dark")
        hints.colorSchemeChanged.emit(Qt.ColorScheme.Light)
        assert app.palette().color(QPalette.ColorRole.Window).name() == DARK.window
    finally:
        controller.close()


# Non-text contrast (WCAG 2.x, success criterion 1.4.11): what shows a control is there.
AA_NON_TEXT = 3.0


@pytest.mark.parametrize("name", sorted(THEMES))
def test_check_box_frames_stand_out_from_what_is_around_them(name: str) -> None:
    colors = THEMES[name]
    for background in (colors.window, colors.base, colors.alternate_base):
        assert contrast_ratio(colors.control_frame, background) >= AA_NON_TEXT, background


def test_a_check_box_is_drawn_with_its_frame_on_the_dark_theme(app: QApplication) -> None:
    from PySide6.QtWidgets import QCheckBox, QStyle, QStyleOptionButton

    from desktop.ui.theme import frame_controls

    apply_theme(app, "dark")
    box = QCheckBox("Send feedback")
    frame_controls(box)  # what every check box of Parley's gets
    box.resize(box.sizeHint())
    image = box.grab().toImage()
    option = QStyleOptionButton()
    option.initFrom(box)
    indicator = box.style().subElementRect(QStyle.SubElement.SE_CheckBoxIndicator, option, box)
    edge = image.pixelColor(indicator.left(), indicator.center().y()).name()
    # Fusion alone drew it a shade darker than the window: 1.1:1, not to be seen
    assert contrast_ratio(edge, DARK.window) >= AA_NON_TEXT - 0.5, edge

"""The entry point: which arguments open the window and which are the command line's."""

from __future__ import annotations

import pytest

from desktop import main as entry


@pytest.mark.parametrize(
    ("args", "window"),
    [
        ([], True),
        (["--quick-ask"], True),
        (["-platform", "offscreen"], True),
        (["-style", "fusion"], True),
        (["ask", "hi"], False),
        (["aks", "hi"], False),
        (["help"], False),
        (["--version"], False),
        (["--verbose"], False),
        (["-h"], False),
        (["--self-test"], False),
    ],
)
def test_only_no_arguments_quick_ask_and_qt_options_open_the_window(
    args: list[str], window: bool
) -> None:
    assert entry.for_window(args) is window


def test_a_mistyped_command_is_refused_with_the_commands_and_opens_no_window(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("desktop.app.run_app", lambda _argv: pytest.fail("the window opened"))
    with pytest.raises(SystemExit) as stopped:
        entry.main(["aks", "hi"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'aks'" in err
    assert "'ask'" in err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        entry.main(["--version"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out.startswith("parley ")


def test_with_no_display_the_window_says_so_in_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(entry.sys, "platform", "linux")
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("desktop.app.run_app", lambda _argv: pytest.fail("Qt would abort"))
    assert entry.main([]) == 1
    err = capsys.readouterr().err
    assert err.startswith("parley: error: there is no display to open the window on")
    assert "parley chat" in err
    assert entry.no_display(["-platform", "offscreen"], {}) is None
    assert entry.no_display([], {"WAYLAND_DISPLAY": "wayland-0"}) is None


def test_ctrl_c_while_starting_is_one_line_and_exit_130(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(_args: list[str]) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr("desktop.cli.main", interrupted)
    assert entry.main(["models", "list"]) == entry.EXIT_CANCELLED
    assert capsys.readouterr().err == "parley: cancelled\n"

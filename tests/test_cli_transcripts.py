"""``parley export`` / ``parley import`` end to end, in-process."""

from __future__ import annotations

import io
import json
import sys
import zipfile
from pathlib import Path

import pytest
from pypdf import PdfReader

from desktop.cli import main
from desktop.store import Store
from tests.transcripts.conftest import fill


@pytest.fixture
def history() -> list[int]:
    with Store.open() as store:
        return fill(store)


def test_list_and_export_every_format(
    history: list[int], tmp_path: Path, capsys: pytest.CaptureFixture[str], qapp: object
) -> None:
    """(``qapp``: the PDF export reuses the test session's application.)"""
    assert main(["export", "--list"]) == 0
    listing = capsys.readouterr().out
    assert "Résumé of <b>tricky</b> things ✓" in listing
    assert "Plain" in listing

    for fmt, suffix in [("md", ".md"), ("html", ".html"), ("txt", ".txt"), ("pdf", ".pdf")]:
        out = tmp_path / f"one{suffix}"
        assert main(["export", str(history[1]), "-f", fmt, "-o", str(out)]) == 0
        assert "Exported 1 conversation" in capsys.readouterr().out
        assert out.stat().st_size > 0
    assert b"Two paragraphs." in (tmp_path / "one.md").read_bytes()
    pdf_text = PdfReader(io.BytesIO((tmp_path / "one.pdf").read_bytes())).pages[0].extract_text()
    assert "Two" in pdf_text
    assert "paragraphs." in pdf_text

    assert main(["export", "--all", "-f", "pdf", "-o", str(tmp_path)]) == 0
    [archive] = tmp_path.glob("*.zip")
    with zipfile.ZipFile(archive) as z:
        assert sorted(n.rsplit(".", 1)[1] for n in z.namelist()) == ["pdf", "pdf"]

    assert main(["export", "--all", "-f", "chatgpt", "-o", str(tmp_path)]) == 0
    assert len(json.loads((tmp_path / "conversations.json").read_text("utf-8"))) == 2


def test_import_round_trip_through_the_cli(
    history: list[int],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    backup = tmp_path / "backup.parley.json"
    assert main(["export", "--all", "-f", "json", "-o", str(backup)]) == 0
    monkeypatch.setenv("PARLEY_DATA_DIR", str(tmp_path / "elsewhere"))
    capsys.readouterr()

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # on a terminal: a progress bar
    assert main(["import", str(backup)]) == 0
    out, err = capsys.readouterr()
    assert "2 new conversations (8 messages added)" in out
    assert "adding    [#########################] 100%" in err
    assert main(["import", str(backup)]) == 0
    assert "0 new conversations, 2 already present (0 messages added)" in capsys.readouterr().out


def test_import_says_what_it_left_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def message(key: str, role: str, words: str, **author: str) -> object:
        return {"id": key, "author": {"role": role, **author},
                "content": {"content_type": "text", "parts": [words]}}  # fmt: skip

    export = [{"title": "Searched", "create_time": 1700000000.0, "current_node": "b",
               "mapping": {
        "a": {"id": "a", "parent": None, "children": ["t"],
              "message": message("a", "user", "Weather in Oslo?")},
        "t": {"id": "t", "parent": "a", "children": ["b"],
              "message": message("t", "tool", "page text", name="browser")},
        "b": {"id": "b", "parent": "t", "children": [],
              "message": message("b", "assistant", "Cold.")},
    }}]  # fmt: skip
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps(export))
    assert main(["import", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "1 new conversation (2 messages added)" in lines[0]
    assert lines[1].startswith("  note: ")
    assert "browser" in lines[1]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["export"], "name conversation ids"),
        (["export", "999"], "no conversation 999"),
        (["import", "missing.json"], "cannot read"),
        (["import", "bad.json"], "not valid JSON"),
        (["import", "big.json", "--max-size", "1"], "larger than the import limit of 1 MB"),
    ],
)
def test_errors_are_one_line(
    argv: list[str],
    message: str,
    history: list[int],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.json").write_text("{oops", encoding="utf-8")
    (tmp_path / "big.json").write_bytes(b" " * (2 << 20))
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("parley: error: ")
    assert message in err
    assert err.count("\n") == 1


def test_export_never_replaces_a_device_and_writes_through_a_link(
    history: list[int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Run as root, the rename at the end of an export replaced /dev/stdout (a link) and
    would replace any device named with -o."""
    import os

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert main(["export", str(history[1]), "-f", "md", "-o", str(fifo)]) == 1
    assert "not a regular file or a folder" in capsys.readouterr().err
    assert fifo.is_fifo()
    target = tmp_path / "real.md"
    target.write_text("old")
    link = tmp_path / "link.md"
    link.symlink_to(target)
    assert main(["export", str(history[1]), "-f", "md", "-o", str(link)]) == 0
    assert link.is_symlink()
    assert "Two paragraphs." in target.read_text()


def test_an_output_ending_in_a_slash_is_a_folder_made_for_the_export(
    history: list[int],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = tmp_path / "exports" / "today"
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # on a terminal: a progress bar
    assert main(["export", "--all", "-f", "md", "-o", f"{folder}/"]) == 0
    [archive] = folder.iterdir()  # it was one zip named "today"
    assert archive.suffix == ".zip"
    out, err = capsys.readouterr()
    assert f"Exported 2 conversations to {archive}" in out
    assert "export    [#########################] 100%" in err


def test_the_output_name_says_the_format_and_a_wrong_one_is_refused(
    history: list[int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    page = out / "notes.html"
    assert main(["export", str(history[1]), "-o", str(page)]) == 0  # no -f: the name says
    assert page.read_text("utf-8").lstrip().lower().startswith("<!doctype html")
    capsys.readouterr()
    for argv, reason in [
        ([str(history[0]), str(history[1]), "-o", str(out / "x.md")], "a zip of markdown"),
        ([str(history[1]), "-f", "html", "-o", str(out / "x2.md")], "x2.md does not fit"),
        ([str(history[1]), "-o", str(out / "one.zip")], "name it ….md"),
    ]:
        assert main(["export", *argv]) == 1
        assert reason in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["notes.html"], "nothing written"
    own = out / "chat.bak"  # a name of the user's own: written as asked
    assert main(["export", str(history[1]), "-o", str(own)]) == 0
    assert own.read_text("utf-8").startswith("# ")
    twice = out / "twice.md"  # the same id twice: once, not a zip
    assert main(["export", str(history[1]), str(history[1]), "-o", str(twice)]) == 0
    assert twice.read_text("utf-8").startswith("# ")


def test_export_to_standard_output(history: list[int], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(history[1]), "-o", "-"]) == 0
    assert "Two paragraphs." in capsys.readouterr().out
    assert main(["export", *map(str, history), "-f", "json", "-o", "-"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert len(document["conversations"]) == 2
    assert main(["export", *map(str, history), "-o", "-"]) == 1
    assert "make a zip, which is not written to standard output" in capsys.readouterr().err
    assert main(["export", str(history[1]), "-f", "pdf", "-o", "-"]) == 1
    assert "a PDF is not written to standard output" in capsys.readouterr().err
    with Store.open() as store:
        store.delete_conversations(history[1])
    assert main(["export", str(history[1]), "-o", "-"]) == 1
    assert f"conversation {history[1]} was deleted" in capsys.readouterr().err

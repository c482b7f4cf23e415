"""Streaming into one message widget: parts, the tail, and code blocks being written."""

from __future__ import annotations

import pytest
from pytestqt.qtbot import QtBot

from desktop.ui.code_view import CodeBlockView, SliceQueue
from desktop.ui.markdown import LIGHT, split_stable
from desktop.ui.message_view import ConversationView, MessageWidget
from tests.fakes import MemEntry, MemMessage, MemSiblings


def streaming(qtbot: QtBot) -> MessageWidget:
    widget = MessageWidget(1, "assistant", "", "streaming", (1, 1), None, LIGHT)
    qtbot.addWidget(widget)
    widget.resize(600, 400)
    widget.show()
    return widget


def pump(widget: MessageWidget, text: str) -> None:
    widget.append(text)
    widget._repaint_timer.stop()
    widget._repaint_stream()  # what the throttle timer does


def test_an_open_code_block_grows_in_one_view_that_is_kept_when_it_closes(
    qtbot: QtBot,
) -> None:
    widget = streaming(qtbot)
    pump(widget, "Look:\n```python\nx = 1\n")
    open_view = widget.code_views()[0]
    assert not open_view.closed
    assert open_view.code == "x = 1"
    lines = "".join(f"y{i} = {i}\n" for i in range(200))
    pump(widget, lines + "``")  # the start of the closing fence is held back
    assert widget.code_views() == [open_view]
    assert open_view.code == "x = 1\n" + lines.rstrip("\n")
    assert open_view.text.document().blockCount() == 201
    pump(widget, "`\nAfter.")
    assert widget.code_views() == [open_view]  # the same widget, now a finished part
    assert open_view.closed
    assert open_view in widget.parts
    widget.finish("complete", None, widget.text)
    qtbot.waitUntil(lambda: not widget._finishing, timeout=5000)
    assert widget.plain_text() == "Look:\n" + open_view.code + "\nAfter."
    assert widget.code_blocks() == [open_view.code]


def test_closed_code_is_coloured_in_slices(qtbot: QtBot) -> None:
    queue = SliceQueue()
    view = CodeBlockView("python", LIGHT, queue)
    qtbot.addWidget(view)
    view.set_code("def f(x):\n    return x  # done\n" * 300)
    view.close_block()
    assert queue.pending() == 1
    queue._run()  # one slice does not colour 600 lines
    assert queue.pending() == 1
    queue.drain()
    assert queue.pending() == 0
    last = view.text.document().lastBlock().previous()
    assert last.text() == "    return x  # done"
    assert len(last.layout().formats()) >= 2  # 'return' and the comment are coloured


def test_a_code_block_deleted_while_it_is_coloured_leaves_the_queue_working(
    qtbot: QtBot,
) -> None:
    """A version switched or a chat reloaded while its code was coloured deleted the block
    and its highlighter: the job raised "Internal C++ object already deleted" on every
    turn after, in front of the others, and no code was coloured any more."""
    from shiboken6 import Shiboken

    queue = SliceQueue()
    gone = CodeBlockView("python", LIGHT, queue)
    gone.set_code("def f(x):\n    return x\n" * 300)
    gone.close_block()
    kept = CodeBlockView("python", LIGHT, queue)
    qtbot.addWidget(kept)
    kept.set_code("def g():\n    return 1  # kept\n")
    kept.close_block()
    assert queue.pending() == 2
    Shiboken.delete(gone)  # its document and highlighter with it
    queue.drain()
    assert queue.pending() == 0
    line = kept.text.document().firstBlock().next()
    assert len(line.layout().formats()) >= 2, "the other block is still coloured"

    def broken(_deadline: float) -> bool:
        raise ValueError("a bug in a job")

    queue.add(broken)
    with pytest.raises(ValueError, match="a bug in a job"):
        queue.drain()
    assert queue.pending() == 0, "a job that raised is not run again"


@pytest.mark.parametrize("points", [9.0, 10.0, 10.5, 14.0])
def test_a_code_block_is_as_tall_as_its_lines_at_any_font_size(qtbot: QtBot, points: float) -> None:
    """At 10 pt the lines are 16 px where the integer font metrics said 15: the block was
    7 px short and its last line cut off."""
    from PySide6.QtGui import QFont

    queue = SliceQueue()
    view = CodeBlockView("python", LIGHT, queue)
    qtbot.addWidget(view)
    font = QFont(view.font())
    font.setPointSizeF(points)
    view.setFont(font)
    view.resize(900, 200)
    view.set_code('import csv\n\n# read it\nwith open("a") as f:\n    print(next(csv.reader(f)))')
    view.close_block()
    queue.drain()
    view.show()
    qtbot.waitExposed(view)
    text = view.text
    heights, block = [], text.document().begin()
    while block.isValid():
        heights.append(text.blockBoundingRect(block).height())
        block = block.next()
    assert text.horizontalScrollBar().maximum() == 0
    assert text.height() == text.contentOffset().y() + sum(heights)


def test_a_burst_is_drained_over_several_turns_and_ends_like_a_full_render(
    qtbot: QtBot,
) -> None:
    text = "".join(f"Paragraph {i} with some words in it.\n\n" for i in range(400))
    text += "```\ncode\n```\n\nEnd."
    widget = streaming(qtbot)
    widget.append(text)
    widget.finish("complete", None, text)
    assert widget._finishing  # not everything in one turn
    qtbot.waitUntil(lambda: not widget._finishing, timeout=10000)
    full = MessageWidget(2, "assistant", text, "complete", (1, 1), None, LIGHT)
    qtbot.addWidget(full)
    assert widget.plain_text() == full.plain_text()
    assert widget.code_blocks() == full.code_blocks() == ["code"]


def test_a_closed_fence_at_the_margin_ends_a_stable_block() -> None:
    text = "Here:\n```py\nx\n```\nmore"
    assert text[: split_stable(text)] == "Here:\n```py\nx\n```\n"
    nested = "1. a\n   ```\n   x\n   ```\nmore"
    assert split_stable(nested) == 0


def test_the_next_turn_fills_in_widgets_made_ahead_and_shows_what_new_ones_would(
    qtbot: QtBot,
) -> None:
    view = ConversationView()
    qtbot.addWidget(view)
    view.resize(600, 400)
    view.show()
    view.set_entries([])
    qtbot.waitUntil(lambda: len(view._spares) == 2, timeout=5000)
    spares = dict(view._spares)
    user = MemMessage(1, 1, None, "user", "Hello *there*\n\nsecond line")
    answer = MemMessage(2, 1, 1, "assistant", "", status="streaming")
    entries = [MemEntry(user, MemSiblings(0, (1,))), MemEntry(answer, MemSiblings(0, (2,)))]
    view.set_entries(entries, live_id=2)
    shown = view.message_widgets()
    assert shown == [spares["user"], spares["assistant"]]  # filled in, not made now
    mine, reply = shown
    assert all(w.isVisible() for w in shown)
    fresh = MessageWidget(1, "user", user.content, "complete", (1, 1), None, LIGHT)
    qtbot.addWidget(fresh)
    assert mine.message_id == 1
    assert mine.plain_text() == fresh.plain_text() == "Hello *there*\n\nsecond line"
    assert mine.edit_button.isVisibleTo(mine)
    assert not mine.regen_button.isVisibleTo(mine)
    edits: list[int] = []
    mine.edit_requested.connect(edits.append)
    mine.edit_button.click()
    assert edits == [1]
    reply.append("The **answer**.")
    reply.finish("complete", {"generated_tokens": 3, "decode_tok_s": 9.0}, "The **answer**.")
    assert (reply.message_id, reply.plain_text()) == (2, "The answer.")
    assert reply.stats_label.text() == "3 tokens · 9 tok/s"
    reply.finish("stopped", {"generated_tokens": 3, "decode_tok_s": 9.0}, "The **answer**.")
    assert (reply.status_label.text(), reply.stats_label.text()) == (
        "stopped",
        "· 3 tokens · 9 tok/s",
    ), "set off from the status before it"
    done = MemMessage(2, 1, 1, "assistant", "The **answer**.")
    view.set_entries([entries[0], MemEntry(done, MemSiblings(0, (2,)))], live_id=2)
    assert view.message_widgets() == shown
    qtbot.waitUntil(lambda: len(view._spares) == 2, timeout=5000)  # ready for the turn after
    assert not set(view._spares.values()) & set(shown)


def test_a_long_block_goes_in_a_slice_at_a_time_and_is_coloured_once_complete(
    qtbot: QtBot,
) -> None:
    from desktop.ui.code_view import FILL_LINES

    queue = SliceQueue()
    view = CodeBlockView("python", LIGHT, queue)
    qtbot.addWidget(view)
    code = "\n".join(f"def f{i}(x):  # line {i}" for i in range(4 * FILL_LINES))
    view.set_code(code)
    view.close_block()
    assert view.code == code  # Copy copies the whole block at once
    assert view.text.document().blockCount() == FILL_LINES + 1  # the rest comes in slices
    assert queue.pending() == 1  # filling; colouring waits for the whole text
    queue.drain()
    assert view.text.toPlainText() == code
    assert view.highlighter.done
    last = view.text.document().lastBlock()
    assert last.text() == f"def f{4 * FILL_LINES - 1}(x):  # line {4 * FILL_LINES - 1}"
    assert len(last.layout().formats()) >= 2  # 'def' and the comment are coloured


def test_an_answer_that_failed_before_its_first_word_offers_no_rating_or_copy(
    qtbot: QtBot,
) -> None:
    failed = MessageWidget(3, "assistant", "", "error", (1, 1), {"error": "boom"}, LIGHT)
    qtbot.addWidget(failed)
    failed.feedback_enabled = True
    failed.finish("error", {"error": "boom"})
    failed.show()
    assert failed.status_label.text() == "failed: boom"
    assert failed.regen_button.isVisible(), "it can be asked again"
    for button in (failed.thumbs_up, failed.thumbs_down, failed.alternatives_button):
        assert not button.isVisible()
    assert not failed.copy_button.isVisible()
    partial = MessageWidget(4, "assistant", "Half an", "error", (1, 1), {"error": "x"}, LIGHT)
    qtbot.addWidget(partial)
    partial.feedback_enabled = True
    partial.finish("error", {"error": "x"})
    partial.show()
    assert partial.thumbs_down.isVisible(), "a partial answer can still be rated"
    assert partial.copy_button.isVisible()


def test_the_statistics_say_which_model_wrote_an_answer_and_how_fast() -> None:
    from desktop.ui.message_view import stats_tooltip

    stats = {
        "model": "smollm2-135m-instruct",
        "provider": "CUDAExecutionProvider",
        "generated_tokens": 211,
        "decode_tok_s": 80.94,
        "ttft_s": 0.1204,
        "prompt_tokens": 49,
        "reused_prompt_tokens": 30,
    }
    assert stats_tooltip(stats) == (
        "smollm2-135m-instruct on CUDA wrote 211 tokens at 80.9 tok/s; first token after "
        "120 ms (49 prompt tokens, 30 of them from the cache)"
    )
    assert stats_tooltip({"generated_tokens": 3, "decode_tok_s": 9.0}) == (
        "The model wrote 3 tokens at 9.0 tok/s"
    )


@pytest.mark.parametrize("ending", ["```", "```\n", "```python\n\n"])
def test_an_answer_that_ends_in_an_opening_fence_shows_no_empty_code_block(
    qtbot: QtBot, ending: str
) -> None:
    """SmolLM2 often ends an answer with a lone fence: it showed as an empty "code" box."""
    text = "Here:\n\n```python\nprint(1)\n```\n\nDone.\n" + ending
    widget = streaming(qtbot)
    for piece in (text[:20], text[20:45], text[45:]):
        pump(widget, piece)
    widget.finish("complete", None, text)
    qtbot.waitUntil(lambda: not widget._finishing, timeout=5000)
    full = MessageWidget(2, "assistant", text, "complete", (1, 1), None, LIGHT)
    qtbot.addWidget(full)
    for view in (widget, full):
        assert view.code_blocks() == ["print(1)"]
        assert len(view.code_views()) == 1
        assert view.plain_text().rstrip().endswith("Done.")


def test_an_answer_with_its_statistics_fits_a_narrow_pane(qtbot: QtBot) -> None:
    """Split view at the default window size gives a pane ~300 px: the header's statistics
    end in "…" there rather than widen the message past the pane (which cut its text)."""
    stats = {"generated_tokens": 105, "decode_tok_s": 23.0, "model": "smollm2-135m-instruct"}
    widget = MessageWidget(2, "assistant", "Short.", "complete", (5, 5), stats, LIGHT)
    qtbot.addWidget(widget)
    widget.show()
    assert widget.stats_label.text() == "105 tokens · 23 tok/s"
    assert widget.minimumSizeHint().width() < 260
    widget.resize(220, widget.heightForWidth(220) if widget.hasHeightForWidth() else 200)
    qtbot.waitUntil(lambda: widget.stats_label.is_elided(), timeout=2000)
    assert "105 tokens" in widget.stats_label.toolTip()

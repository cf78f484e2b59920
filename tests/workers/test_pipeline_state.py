"""Where a claimed job starts: a split document rescheduled between pieces goes on
from the piece after the last one extracted; progress that does not fit the job is
ignored (the job starts over, as it would without any)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from promptq.workers.pipeline import _State

TEXT = "first part. second part"


def claimed(progress: dict[str, Any] | None = None, attempts: int = 0) -> SimpleNamespace:
    return SimpleNamespace(model_index=0, consecutive_overloads=0, attempts=attempts, input_text=TEXT,
                           input_messages=None, progress=progress)


def test_a_job_without_progress_starts_with_the_whole_text_as_its_one_piece() -> None:
    state = _State.of(claimed(attempts=2))
    assert (state.current_piece, state.partials, state.spent_attempts) == (TEXT, [], 2)
    assert state.progress is None


def test_a_rescheduled_split_document_goes_on_from_the_next_piece() -> None:
    progress = {"spans": [[0, 11], [12, 23]], "partials": [{"n": 1}], "shrinks": 1}
    state = _State.of(claimed(progress, attempts=3))
    assert (state.current_piece, state.partials, state.shrinks) == ("second part", [{"n": 1}], 1)
    # the call that extracted the first piece does not count against the budget
    assert state.spent_attempts == 2
    assert state.progress == {"spans": [(0, 11), (12, 23)], "partials": [{"n": 1}], "shrinks": 1}


@pytest.mark.parametrize("progress", [
    {"spans": [[0, 11], [12, 99]], "partials": [{}]},          # pieces beyond the text
    {"spans": [[0, 11], [12, 23]], "partials": [{}, {}]},      # every piece already done
    {"spans": [[0, 11], [12, 23]], "partials": []},            # nothing done yet
    {"spans": [[0, 23]], "partials": [{}]},                    # not split
    [[0, 11], [12, 23]],                                       # not what progress looks like
], ids=["beyond-the-text", "all-done", "none-done", "one-piece", "not-an-object"])
def test_progress_that_does_not_fit_the_job_is_ignored(progress: Any) -> None:
    state = _State.of(claimed(progress))
    assert (state.current_piece, state.partials) == (TEXT, [])


def test_only_a_split_document_with_extracted_pieces_has_progress_to_keep() -> None:
    state = _State.of(claimed())
    state.spans = [(0, 11), (12, 23)]
    assert state.progress is None
    state.partials.append({"n": 1})
    assert state.progress == {"spans": [(0, 11), (12, 23)], "partials": [{"n": 1}], "shrinks": 0}

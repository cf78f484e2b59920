"""The ledger's unsettled bound must outlast any call in flight (issue 24 A)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from promptq.settings import Settings


@pytest.mark.parametrize(("unsettled_s", "call_timeout_s", "lease_s", "valid"), [
    (900, 120, 30, True),    # the defaults
    (151, 120, 30, True),
    (150, 120, 30, False),   # a call still in flight could be swept
    (12, 5, 6, True),        # the tests' timings
    (60, 120, 30, False),
])
def test_unsettled_rows_are_swept_only_after_their_call_must_have_ended(
        unsettled_s: float, call_timeout_s: float, lease_s: float, valid: bool) -> None:
    make = lambda: Settings(ledger_unsettled_s=unsettled_s, call_timeout_s=call_timeout_s,  # noqa: E731
                            job_lease_s=lease_s)
    if valid:
        assert make().ledger_unsettled_s == unsettled_s
    else:
        with pytest.raises(ValidationError, match="LEDGER_UNSETTLED_S"):
            make()

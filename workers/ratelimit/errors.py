"""The one exception of the rate limiter."""

from __future__ import annotations


class CapacityWait(Exception):
    """No capacity now: try again in ``wait_s`` seconds.

    Not a failure: the call was not sent, so re-scheduling the job for later
    must not count against its retry budget. ``reason`` names what is short:
    a dimension (``"requests"``, ``"input_tokens"``, ``"output_tokens"``,
    ``"tokens"``) or ``"cooldown"`` after a 429 or a provider saying 0 remain.
    """

    def __init__(self, wait_s: float, reason: str) -> None:
        super().__init__(wait_s, reason)  # keeps it picklable
        self.wait_s = wait_s
        self.reason = reason

    def __str__(self) -> str:
        return f"rate limited ({self.reason}): retry in {self.wait_s:.3f} s"

"""`promptq api|worker --loglevel`: per-call and per-task lines only at DEBUG."""

from __future__ import annotations

import logging

import pytest

from promptq import cli


@pytest.fixture
def chatty_levels():
    loggers = [logging.getLogger(name) for name in cli.CHATTY_LOGGERS]
    saved = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.NOTSET)
    yield loggers
    for logger, level in zip(loggers, saved, strict=True):
        logger.setLevel(level)


@pytest.mark.parametrize("level", ["INFO", "info", "WARNING"])
def test_below_debug_the_per_call_and_per_task_loggers_are_raised_to_warning(chatty_levels, level):
    cli._logging(level)
    assert [logger.level for logger in chatty_levels] == [logging.WARNING] * len(chatty_levels)


@pytest.mark.parametrize("level", ["DEBUG", "debug"])
def test_at_debug_they_are_left_alone_and_speak(chatty_levels, level):
    cli._logging(level)
    assert [logger.level for logger in chatty_levels] == [logging.NOTSET] * len(chatty_levels)
    names = {logger.name for logger in chatty_levels}
    assert {"httpx2", "celery.app.trace", "celery.worker.strategy"} <= names  # the SDKs' client, Celery's lines

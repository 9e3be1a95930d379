"""`up`'s SIGINT counting: the first press interrupts, the second only says cleanup goes on, the third abandons."""

from __future__ import annotations

import os
import signal
import time

import pytest

from aima.launch.up import CLEANING_UP, _counting_ctrl_c


def _press() -> None:
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.05)  # the handler runs in this (main) thread at the next bytecode


def test_first_interrupts_second_is_told_third_abandons(capfd):
    before = signal.getsignal(signal.SIGINT)
    with _counting_ctrl_c():
        with pytest.raises(KeyboardInterrupt):
            _press()
        _press()  # cleanup goes on
        assert CLEANING_UP in capfd.readouterr().err
        with pytest.raises(KeyboardInterrupt):
            _press()
    assert signal.getsignal(signal.SIGINT) is before  # restored after the run


def test_an_ignored_sigint_stays_ignored():
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with _counting_ctrl_c():
            _press()  # nothing happens: `nohup aima up &` must not become interruptible
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)

"""segbridge.stop_signals: SIGTERM and a first Ctrl-C set the stop event; a second Ctrl-C interrupts."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from segbridge.stop_signals import stop_on_signals

pytestmark = pytest.mark.unit


def test_sigterm_sets_the_event_and_the_old_handler_comes_back():
    before = signal.getsignal(signal.SIGTERM)
    with stop_on_signals() as stop:
        assert not stop.is_set()
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(5)
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_second_ctrl_c_interrupts_at_once():
    with pytest.raises(KeyboardInterrupt), stop_on_signals() as stop:  # noqa: PT012
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.wait(5)
        os.kill(os.getpid(), signal.SIGINT)
        pytest.fail("the second Ctrl-C did not interrupt")  # the handler raises before this line runs


def test_a_given_event_is_the_one_set():
    mine = threading.Event()
    with stop_on_signals(mine) as stop:
        assert stop is mine
        os.kill(os.getpid(), signal.SIGTERM)
        assert mine.wait(5)


def test_off_the_main_thread_no_handler_is_installed():
    seen: dict = {}

    def worker():
        with stop_on_signals() as stop:
            seen["handler"] = signal.getsignal(signal.SIGTERM)
            seen["stop"] = stop

    before = signal.getsignal(signal.SIGTERM)
    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen["handler"] is before and not seen["stop"].is_set()

"""The search's signal handling (`kt_wandb.tuners._signals`): one object owns it, from entry to exit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import keras
import pytest

from kt_wandb import WandbTuner
from kt_wandb.tuners._signals import Interruptions, SearchTerminated
from tests.helpers.environment import child_env
from tests.helpers.wandb_log import read_runs


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("sent", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=["SIGTERM", "Ctrl-C", "SIGHUP"])
def test_a_signal_that_lands_in_a_finalizer_is_raised_again(sent):
    # A Ctrl-C that code caught is not raised again; a SIGTERM or SIGHUP is (the search's to end).
    # Python prints and drops an exception raised in `__del__`; freeing a trial's graphs runs many of them.
    expected = KeyboardInterrupt if sent == signal.SIGINT else SearchTerminated

    class Freed:
        def __del__(self):
            os.kill(os.getpid(), sent)
            time.sleep(0.2)  # the handler runs here, inside the finalizer

    with Interruptions() as interruptions:
        with pytest.raises(expected):
            os.kill(os.getpid(), sent)
            time.sleep(0.2)
        if sent == signal.SIGINT:
            interruptions.raise_pending()  # a Ctrl-C that code caught: nothing pending (Python's rule)
        else:
            with pytest.raises(SearchTerminated):  # a SIGTERM caught comes back: the search's to end
                interruptions.raise_pending()
        Freed()  # freed at once: the handler's exception is dropped
        with pytest.raises(expected) as raised:
            interruptions.raise_pending()  # what the next epoch end or trial start does
        if sent != signal.SIGINT:
            assert raised.value.signum == sent
        interruptions.raise_pending()  # raised once, not at every epoch after


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_nothing_pending_is_carried_into_the_next_search_and_the_handlers_come_back():
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}
    hook = sys.unraisablehook
    interruptions = Interruptions()

    class Freed:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.2)

    with interruptions:
        Freed()  # dropped, then the search ends (by another exception, say) without raising it
    assert {s: signal.getsignal(s) for s in before} == before and sys.unraisablehook == hook
    with interruptions:  # the same tuner's next search()
        interruptions.raise_pending()  # the old interruption is gone


def test_a_handler_python_did_not_install_is_put_back_as_the_default(monkeypatch):
    # An embedding program's C handler reads as None in Python (signal.getsignal), and signal.signal(None)
    # raises TypeError. A C handler can't be installed from a test, so Python's answer is made to say None.
    real_signal = signal.signal

    def c_handler_found(signum, handler):
        previous = real_signal(signum, handler)
        return None if signum == signal.SIGTERM and handler is not signal.SIG_DFL else previous

    monkeypatch.setattr(signal, "signal", c_handler_found)
    with Interruptions():
        pass
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_sighup_stays_ignored_under_nohup(tmp_path):
    # `nohup` starts the process with SIGHUP ignored: the search must not undo that.
    script = textwrap.dedent("""
        import os, signal, time
        from kt_wandb.tuners._signals import Interruptions
        with Interruptions():
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(0.2)
            print("survived", signal.getsignal(signal.SIGHUP) is signal.SIG_IGN)
    """)
    result = subprocess.run(["nohup", sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                            env=child_env(), cwd=tmp_path)
    assert result.returncode == 0 and "survived True" in result.stdout, result.stderr  # a pipe: no nohup.out


class SendsAtFirstEpoch(keras.callbacks.Callback):
    """Sends this process `signum` at the end of the search's first epoch."""

    sent = False

    def __init__(self, signum: int) -> None:
        super().__init__()
        self.signum = signum

    def on_epoch_end(self, epoch, logs=None):
        if not SendsAtFirstEpoch.sent:
            SendsAtFirstEpoch.sent = True
            os.kill(os.getpid(), self.signum)
            time.sleep(0.2)


@pytest.mark.parametrize("kept", ["ignored", "the program's handler"])
def test_a_sigterm_the_program_ignores_or_handles_itself_is_left_to_it(tmp_path, digits, tiny_model, kept):
    # A cluster's preemption hook, or a program that ignores SIGTERM: as under plain KerasTuner, the search
    # neither ends nor takes the signal from it, and the handler is the program's again after the search.
    received: list[int] = []
    handler = signal.SIG_IGN if kept == "ignored" else (lambda signum, frame: received.append(signum))
    previous = signal.signal(signal.SIGTERM, handler)
    SendsAtFirstEpoch.sent = False
    try:
        tuner = WandbTuner(tiny_model, objective="val_accuracy", oracle="random", max_trials=2, seed=0,
                           wandb_mode="disabled", directory=str(tmp_path), project_name="kept")
        tuner.search(*digits, epochs=2, validation_split=0.25, verbose=0,
                     callbacks=[SendsAtFirstEpoch(signal.SIGTERM)])
        assert signal.getsignal(signal.SIGTERM) is handler
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert SendsAtFirstEpoch.sent
    assert [t.status for t in tuner.oracle.trials.values()] == ["COMPLETED"] * 2
    assert received == ([] if kept == "ignored" else [signal.SIGTERM])


class SwallowsSigtermAtFirstBatch(keras.callbacks.Callback):
    """Sends this process SIGTERM at the first batch inside a bare `except:`, as Keras's loss building has them."""

    def __init__(self, into_error: bool) -> None:
        super().__init__()
        self.into_error = into_error

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 0:
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.2)  # the handler raises here
            except:  # noqa: E722  # Keras's `compile_utils` swallows even a KeyboardInterrupt so
                if self.into_error:
                    raise ValueError("y_true and y_pred have different structures.") from None


@pytest.mark.parametrize("into_error", [True, False], ids=["turned into an error", "swallowed"])
def test_a_sigterm_that_library_code_swallows_still_ends_the_search(tmp_path, wandb_env, digits, tiny_model,
                                                                    into_error):
    # Seen in CI: a SIGHUP while Keras traced the first step failed the trial, and the search went on.
    tuner = WandbTuner(tiny_model, objective="val_accuracy", oracle="random", max_trials=3, seed=1,
                       directory=str(tmp_path), project_name="swallowed")
    with pytest.raises(SearchTerminated):
        tuner.search(*digits, epochs=2, validation_split=0.25, verbose=0,
                     callbacks=[SwallowsSigtermAtFirstBatch(into_error)])
    (trial,) = tuner.oracle.trials.values()  # the search ended in its first trial
    assert trial.status != "FAILED"  # left to run again on resume, as on any SIGTERM
    (run,) = read_runs(wandb_env).values()
    assert run.summary["trial/status"] == "INTERRUPTED" and run.exit_code == 255


def test_a_second_interruption_while_a_run_finishes_is_not_held_back():
    with Interruptions() as interruptions:
        with pytest.raises(SearchTerminated), interruptions.deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.2)  # held back
            with pytest.raises(KeyboardInterrupt):
                os.kill(os.getpid(), signal.SIGINT)  # the second: at once
                time.sleep(0.2)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_a_held_interruption_is_raised_also_where_an_error_ends_the_finish():
    with Interruptions() as interruptions:
        with pytest.raises(SearchTerminated) as raised, interruptions.deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.2)
            raise OSError("No space left on device")  # the run's record could not be written
        assert isinstance(raised.value.__cause__, OSError)  # exit code 143, as the signal asks, with the reason


def test_a_finish_cut_short_leaves_nothing_held_for_the_next_signal_or_search():
    interruptions = Interruptions()
    for _ in range(2):  # the same tuner's next search() too
        with interruptions:
            with pytest.raises(KeyboardInterrupt), interruptions.deferred():
                raise KeyboardInterrupt  # a second Ctrl-C in the middle of a run's finish
            with pytest.raises(SearchTerminated):
                os.kill(os.getpid(), signal.SIGTERM)  # not held: raised at once
                time.sleep(0.2)



def swapping_then(monkeypatch: pytest.MonkeyPatch, when: int, sent: signal.Signals) -> None:
    """A real `sent` to this process right after the handler of `when` is swapped (a signal can't be timed there)."""
    real = signal.signal
    done: list[bool] = []

    def swap(signum, handler):
        previous = real(signum, handler)
        if signum == when and not done:
            done.append(True)
            os.kill(os.getpid(), sent)
            time.sleep(0.05)  # its handler runs here, between two swaps
        return previous

    monkeypatch.setattr(signal, "signal", swap)


def test_a_signal_between_two_swaps_on_entry_waits_until_every_handler_is_in_place(monkeypatch):
    swapping_then(monkeypatch, signal.SIGTERM, signal.SIGTERM)  # before SIGHUP's and Ctrl-C's are swapped
    with Interruptions() as interruptions:
        assert signal.getsignal(signal.SIGINT) == interruptions._hold  # every handler in place
        with pytest.raises(SearchTerminated):
            interruptions.raise_pending()  # at the first look: the next epoch end or trial start
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_signal_between_two_swaps_on_exit_goes_to_the_handler_found_on_entry(monkeypatch):
    interruptions = Interruptions()
    with pytest.raises(KeyboardInterrupt):  # Python's own Ctrl-C, after the search
        with interruptions:
            swapping_then(monkeypatch, signal.SIGTERM, signal.SIGINT)  # Ctrl-C's not back yet
        time.sleep(0.2)
    monkeypatch.undo()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

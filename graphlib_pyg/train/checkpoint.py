"""Mid-run checkpoints of the fit loop: what is saved, how it is loaded, and interruptions.

A :class:`Checkpoint` is one run's file. The fit loop (:func:`~graphlib_pyg.train.base.fit`)
saves it every ``every`` epochs and when SIGINT or SIGTERM arrives, and a rerun of the same run
resumes from it. It holds, as tensors and plain containers only (``torch.load(...,
weights_only=True)`` reads it; no code ever runs from a checkpoint file):

- ``parts``: the state dicts of what the trainer registered (model, optimiser, its batching
  strategy's counters and generators: anything with ``state_dict``/``load_state_dict``);
- ``rng``: every global random stream: torch's CPU (and CUDA, when initialised) generator,
  NumPy's and Python's ``random``;
- ``loop``: the fit loop's own state (last epoch, selection, best result, curve, step times);
- ``config_id``: the run's identity (its options, seed and split); a checkpoint of another
  configuration is ignored with a warning naming the file.

Files are written atomically (a temporary file in the same folder, then ``os.replace``).

:class:`Interrupts` defers SIGINT/SIGTERM while the fit loop runs: the current epoch finishes,
the loop saves a checkpoint, then the signal is delivered to the handler that was there before
(SIGINT: ``KeyboardInterrupt``; SIGTERM: the process ends as it did without checkpoints). A
second signal abandons the epoch at once (the last saved checkpoint stays).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import random
import signal
import threading
import warnings
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

#: Version of the checkpoint layout; a file of another version is ignored with a warning.
FORMAT = 1


class Stateful(Protocol):
    """What a checkpoint can hold: ``state_dict()`` of tensors and plain containers, and its
    inverse."""

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> Any: ...


class GeneratorState:
    """A ``torch.Generator`` as checkpointable state."""

    def __init__(self, generator: torch.Generator) -> None:
        self.generator = generator

    def state_dict(self) -> dict:
        return {"state": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["state"])


class EpochCounter:
    """The epoch a step function is in, as checkpointable state: ``next()`` starts an epoch."""

    def __init__(self) -> None:
        self.epoch = 0

    def next(self) -> int:
        self.epoch += 1
        return self.epoch

    def state_dict(self) -> dict:
        return {"epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        self.epoch = int(state["epoch"])


class Record(dict):
    """A dict of plain values (numbers, strings, lists, dicts) as checkpointable state: what a
    trainer records per epoch outside the curve (e.g. per-step metrics of each evaluation)."""

    def state_dict(self) -> dict:
        return dict(self)

    def load_state_dict(self, state: dict) -> None:
        self.clear()
        self.update(state)


def rng_state() -> dict:
    """Every global random stream's state, as tensors and numbers."""
    keys, pos, has_gauss, gauss = np.random.get_state()[1:]
    version, internal, gauss_next = random.getstate()
    out = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos)},
        "python": {"version": version, "state": torch.tensor(internal, dtype=torch.int64)},
    }
    out["numpy"].update(has_gauss=int(has_gauss), gauss=float(gauss))
    out["python"]["gauss"] = gauss_next
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out["cuda"] = torch.cuda.get_rng_state_all()
    return out


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    keys = n["keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, n["pos"], n["has_gauss"], n["gauss"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"].tolist()), p["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def run_identity(ident: dict) -> str:
    """A checkpoint's ``config_id``: a short hash of ``ident`` (the trainer, model, task, every
    option that changes the result, the seed and the split), the same for equal dicts."""
    blob = json.dumps(ident, sort_keys=True, default=str)
    return hashlib.sha1(blob.encode("utf-8")).hexdigest()[:16]


class Checkpoint:
    """One run's checkpoint file.

    Args:
        path: the file (its folder is created on the first save).
        every: save every this many epochs (``>= 1``).
        config_id: the run's identity; a file saved under another one is ignored.
        parts: what to save and restore besides the random streams and the loop, by name.
        keep: keep the file when the run finishes (default: delete it).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        every: int,
        config_id: str,
        parts: dict[str, Stateful],
        keep: bool = False,
    ) -> None:
        if every < 1:
            raise ValueError(f"checkpoint every must be >= 1 epoch, got {every}")
        self.path, self.every, self.config_id = Path(path), int(every), config_id
        self.parts, self.keep = parts, keep

    def due(self, epoch: int) -> bool:
        return epoch % self.every == 0

    def load(self) -> dict | None:
        """Restore the parts and the random streams from the file; returns the loop state, or
        ``None`` when there is nothing to resume (no file, or one that is ignored with a
        warning: unreadable as weights-only, another layout or another configuration).

        Raises:
            ValueError: the file is this configuration's but its parts do not fit this run
                (e.g. saved by another version of the model's code); delete it to start over.
        """
        if not self.path.is_file():
            return None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, TypeError) as err:
            why = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            return self._ignore(f"it is not a weights-only checkpoint ({why})")
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            return self._ignore(f"it is not a graphlib checkpoint of format {FORMAT}")
        if state.get("config_id") != self.config_id:
            return self._ignore(
                f"it was saved by another configuration (config id {state.get('config_id')!r}, "
                f"this run {self.config_id!r})"
            )
        missing = sorted(set(self.parts) - set(state["parts"]))
        try:
            if missing:
                raise KeyError(f"no state for {', '.join(missing)}")
            for name, part in self.parts.items():
                part.load_state_dict(state["parts"][name])
            set_rng_state(state["rng"])
        except (KeyError, RuntimeError, ValueError, TypeError) as err:
            raise ValueError(
                f"checkpoint {self.path} does not fit this run ({err}); delete it to start the "
                "run over"
            ) from err
        return state["loop"]

    def _ignore(self, why: str) -> None:
        warnings.warn(
            f"ignoring checkpoint {self.path}: {why}; the run starts from epoch 1 and the file "
            "will be overwritten",
            stacklevel=3,
        )

    def save(self, loop: dict) -> None:
        """Write the parts, the random streams and ``loop`` atomically. A failure (e.g. a full
        disk) is a warning: the run goes on, the previous checkpoint stays."""
        state = {
            "format": FORMAT,
            "config_id": self.config_id,
            "parts": {name: part.state_dict() for name, part in self.parts.items()},
            "rng": rng_state(),
            "loop": loop,
        }
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as f:
                torch.save(state, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError as err:
            warnings.warn(f"could not save checkpoint {self.path}: {err}", stacklevel=2)
        finally:
            tmp.unlink(missing_ok=True)

    def finish(self) -> None:
        """The run finished: delete its file (unless ``keep``), and the folder once empty."""
        if self.keep:
            return
        self.path.unlink(missing_ok=True)
        try:
            self.path.parent.rmdir()
        except OSError:  # other runs' checkpoints are there (or it is gone)
            pass


class Interrupts:
    """A context that defers SIGINT and SIGTERM to the end of the current epoch.

    The first signal is recorded (``pending``); :meth:`deliver` (called by the fit loop once
    the epoch is saved) restores the previous handlers and raises the signal again, so it
    reaches them as if it had just arrived. A second signal does that at once. Outside the
    main thread, or for a signal that was ignored, nothing is installed.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.pending: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Interrupts:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                previous = signal.getsignal(sig)
                if previous not in (signal.SIG_IGN, None):
                    self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is None:
            self.deliver()  # a signal that came after the loop's last look
        self._restore()

    def _handle(self, signum: int, frame) -> None:
        if self.pending is None:
            self.pending = signum
            return
        self.pending = signum
        self.deliver()  # a second signal: stop now

    def _restore(self) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous = {}

    def deliver(self) -> None:
        """Hand a pending signal to the previous handlers (a no-op when none is pending)."""
        if self.pending is None:
            return
        signum, self.pending = self.pending, None
        self._restore()
        signal.raise_signal(signum)

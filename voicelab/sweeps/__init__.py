"""Sweeps: every scenario × variant × repeat, in this process or on a Ray cluster.

    >>> from voicelab import sweep
    >>> result = sweep("evals/sweeps/speech_timeout.yaml", ray="local")
    >>> result.compare()          # each variant against the first, with a bootstrap CI

The sweep file (:mod:`voicelab.sweeps._file`) names the scenarios, the variants (setting
overrides) and the repeats; the grid (:mod:`._grid`) gives each call a stable cell id;
each call's ``call.json`` records its cell under ``sweep`` and who played it under
``runner``, so a restart skips what the store holds. :mod:`._local` plays the grid in
this process, :mod:`._ray` on Ray actors that each host a lab of their own.
"""

from voicelab.sweeps._file import SweepFile, Variant, load_sweep
from voicelab.sweeps._grid import Cell
from voicelab.sweeps._play import CellOutcome
from voicelab.sweeps._run import SweepResult, sweep

__all__ = [
    "Cell",
    "CellOutcome",
    "SweepFile",
    "SweepResult",
    "Variant",
    "load_sweep",
    "sweep",
]

"""The start-up design: where the first trials go before the model has anything to fit.

Every start-up row continues one scrambled Sobol sequence (or, with startup="random", is a
uniform draw), so that 32 or 64 concurrent first trials still fill the space evenly; in a small
finite space a repeat of a tried row is redrawn.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import qmc

from tpe_plugins.sampler import rows_in
from tpe_plugins.space import Space


class Startup:
    """The start-up points of one optimiser: its Sobol seed and how many points it has used.

    The seed is drawn from the optimiser's generator when the optimiser is built, so a seeded
    run's start-up is fixed; `used` goes into a saved state so a restored run continues the
    same sequence.
    """

    def __init__(self, space: Space, n_startup: int, kind: str, rng: np.random.Generator):
        self.space = space
        self.n_startup = n_startup
        self.kind = kind
        self.seed = int(rng.integers(2**31))
        self.used = 0
        self._points: np.ndarray | None = None

    def row(self, X_seen: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The next start-up row, encoded; not one of X_seen where 32 redraws can avoid it."""
        D = len(self.space)
        if self.kind == "sobol":
            # also the rows drawn beyond n_startup while many trials run and fewer than 2
            # have finished continue the sequence
            need = max(self.n_startup, self.used + 1, 2)
            if self._points is None or len(self._points) < need:
                engine = qmc.Sobol(d=D, scramble=True, seed=self.seed)
                self._points = engine.random_base2(math.ceil(math.log2(need)))
            u = self._points[self.used]
            self.used += 1
        else:
            u = rng.random(D)
        row = self.space.snap(u[None, :])
        for _ in range(32):  # in a small finite space, do not start with repeats
            if not rows_in(row, X_seen).any():
                break
            row = self.space.snap(rng.random((1, D)))
        return row[0]

    def state_dict(self) -> dict:
        return {"sobol_seed": self.seed, "sobol_used": self.used}

    def load_state(self, state: dict) -> None:
        self.seed = int(state["sobol_seed"])
        self.used = int(state["sobol_used"])
        self._points = None

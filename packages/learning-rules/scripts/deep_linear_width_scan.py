"""Deep-linear (depth 2, GD, gamma0 = 1) closed-form DMFT vs many seeds of finite networks, per width and step.

The measurement behind the README's deep-linear rows (issue 21, section 2): is the gap between the
sampling-free DMFT (exact discrete map) and the seed-mean loss a finite-width (1/N) or a discretisation
offset? Same data and settings as the reproduce's deep-linear row (make_dataset(0, 6, 8)); networks are trained
with the package's own init_network / forward / train_steps (no kernel measurements, so ~0.05-1 s per seed).

    ORALS23_THREADS=1 python deep_linear_width_scan.py OUT.json 250:0.2:30:512,500:0.2:30:512,500:0.1:60:256

Each case is WIDTH:ETA:STEPS:SEEDS. OUT.json holds, per case, the theory, every seed's loss curve and summaries.
"""

import json
import sys
import time

import numpy as np

from orals23_shared.threads import set_threads

set_threads(1)

from learning_rules.cli import setup_jax  # noqa: E402

setup_jax("cpu", True)

import jax  # noqa: E402

from learning_rules.data import make_dataset  # noqa: E402
from learning_rules.dmft import solve_dmft  # noqa: E402
from learning_rules.model import NetSpec, forward, init_network  # noqa: E402
from learning_rules.reproduce import deep_linear_dmft_config  # noqa: E402
from learning_rules.train import train_steps  # noqa: E402


def scan(cases: list[tuple[int, float, int, int]], out: str) -> dict:
    X, y = make_dataset(0, 6, 8)
    res = {}
    for width, eta, T, n_seeds in cases:
        theory = np.asarray(solve_dmft(X, y, deep_linear_dmft_config(eta, T)).loss)  # as in the reproduce
        spec = NetSpec(d_in=8, width=width, depth=2, activation="linear", gamma0=1.0, rule="gd", rho=0.0)
        t0, losses = time.time(), []
        for k in range(n_seeds):
            params, fixed = init_network(jax.random.PRNGKey(10000 + k), spec, X.dtype)
            f0 = forward(params, fixed, X, spec).f
            params, d = train_steps(params, fixed, X, y, f0, spec, float(eta), T)
            d_end = y - (forward(params, fixed, X, spec).f - f0)
            deltas = np.concatenate([np.asarray(d), np.asarray(d_end)[None]], 0)
            losses.append(0.5 * np.mean(deltas**2, axis=1))
        L = np.array(losses)
        q = L / theory - 1  # each seed's relative deviation from the theory
        res[f"N={width},eta={eta},T={T}"] = {
            "width": width,
            "eta": eta,
            "steps": T,
            "seeds": n_seeds,
            "final_gap": float(q[:, -1].mean()),
            "final_gap_stderr": float(q[:, -1].std(ddof=1) / np.sqrt(n_seeds)),
            "time_mean_gap": float(q[:, 1:].mean()),
            "time_mean_gap_stderr": float(q[:, 1:].mean(1).std(ddof=1) / np.sqrt(n_seeds)),
            "seconds": round(time.time() - t0, 1),
            "theory": theory.tolist(),
            "losses": L.tolist(),
        }
        with open(out, "w") as f:
            json.dump(res, f)
        print({k: v for k, v in res[f"N={width},eta={eta},T={T}"].items() if k not in ("theory", "losses")}, flush=True)
    return res


if __name__ == "__main__":
    scan(
        [(int(w), float(e), int(t), int(s)) for w, e, t, s in (c.split(":") for c in sys.argv[2].split(","))],
        sys.argv[1],
    )

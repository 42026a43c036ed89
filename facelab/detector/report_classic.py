"""HTML for the classic checks in ``facelab detect``'s report: lip sync and motion fingerprint.

:mod:`facelab.detector.report` calls :func:`classic_rows` (rows of its signal table) and
:func:`classic_track_html` (per face: the lip-sync plot and the fingerprint line). Everything is
drawn from the signals' JSON-able ``details``, so a report rebuilt from a journal looks the same.
The plots are inline SVG (no JavaScript, no external files), as the rest of the report.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

from facelab.detector.results import SignalResult, TrackResult

__all__ = ["classic_rows", "classic_track_html"]

_SYNC = "#8250df"
_LAG = "#0969da"


def _e(v: Any) -> str:
    return html.escape(str(v), quote=True)


def _p(v: float | None) -> str:
    return "\u2014" if v is None or not math.isfinite(float(v)) else f"{float(v):.2f}"


def _note(sig: SignalResult) -> str:
    d = sig.details
    if not sig.ran:
        return f"skipped: {_e(sig.skipped_reason or 'no reason given')}"
    keys = ("windows_with_speech", "median_sync_corr", "median_best_lag_s", "mouth", "person", "identity_distance",
            "windows", "tracks_scored")
    return _e(", ".join(f"{k}: {d[k]}" for k in keys if k in d and d[k] is not None))


def classic_rows(lip_sync: SignalResult, fingerprint: SignalResult) -> str:
    """Rows ``<tr>`` for the signal table: lip sync always, the fingerprint when one was given."""
    rows = [("Lip sync (mouth vs speech)", lip_sync)]
    if fingerprint.ran or fingerprint.details or "--reference" not in (fingerprint.skipped_reason or ""):
        rows.append(("Motion fingerprint", fingerprint))
    return "".join(f"<tr><td>{label}</td><td>{'yes' if s.ran else 'no'}</td><td>{_p(s.probability)}</td>"
                   f"<td>{_note(s)}</td></tr>" for label, s in rows)


def _lip_plot(windows: Sequence[dict[str, Any]], lags: Sequence[float]) -> str:
    """Left: sync correlation of each window over time; right: correlation against lag per window."""
    ev = [w for w in windows if w.get("sync_corr") is not None]
    if not ev:
        return ""
    w0, w1 = min(w["start"] for w in ev), max(w["end"] for w in ev)
    left, top, pw, ph = 36.0, 8.0, 330.0, 100.0

    def x1(f: float) -> float:
        return left + (f - w0) / max(w1 - w0, 1) * pw

    def y(c: float) -> float:  # correlation -1..1
        return top + (1 - (max(-1.0, min(1.0, c)) + 1) / 2) * ph

    body = [f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fafbfc" stroke="#d0d7de"/>']
    for c in (-0.5, 0.0, 0.5):
        body.append(f'<path d="M{left} {y(c):.1f}h{pw}" stroke="#d0d7de" stroke-dasharray="3 3"/>'
                    f'<text x="{left - 4}" y="{y(c) + 3.5:.1f}" text-anchor="end">{c:g}</text>')
    for w in ev:
        colour = _SYNC if w.get("evidence") else "#8c959f"
        body.append(f'<path d="M{x1(w["start"]):.1f} {y(w["sync_corr"]):.1f}H{x1(w["end"]):.1f}" stroke="{colour}" '
                    f'stroke-width="3" opacity=".7"/>')
    body.append(f'<text x="{left}" y="{top + ph + 14}">frame {w0}</text>'
                f'<text x="{left + pw}" y="{top + ph + 14}" text-anchor="end">{w1}</text>')
    # correlation against lag
    l2 = left + pw + 50
    if lags:
        lo, hi = float(lags[0]), float(lags[-1])

        def x2(v: float) -> float:
            return l2 + (v - lo) / max(hi - lo, 1e-9) * pw

        body.append(f'<rect x="{l2}" y="{top}" width="{pw}" height="{ph}" fill="#fafbfc" stroke="#d0d7de"/>')
        body.append(f'<path d="M{x2(0.0):.1f} {top}v{ph}" stroke="#8c959f" stroke-dasharray="3 3"/>')
        for w in ev:
            pts = [(x2(float(lag)), y(float(c))) for lag, c in zip(lags, w.get("curve", [])) if c is not None]
            if len(pts) > 1:
                d = "M" + "L".join(f"{a:.1f} {b:.1f}" for a, b in pts)
                body.append(f'<path d="{d}" stroke="{_LAG if w.get("evidence") else "#8c959f"}" fill="none" opacity=".6"/>')
        body.append(f'<text x="{l2}" y="{top + ph + 14}">{lo:+.1f} s</text><text x="{x2(0.0):.1f}" y="{top + ph + 14}" '
                    f'text-anchor="middle">0</text><text x="{l2 + pw}" y="{top + ph + 14}" text-anchor="end">{hi:+.1f} s</text>')
    label = "Lip sync: correlation of mouth opening and speech per window, and against the audio lag"
    svg = (f'<svg viewBox="0 0 760 130" width="760" height="130" role="img" aria-label="{_e(label)}">'
           f"<title>{_e(label)}</title>" + "".join(body) + "</svg>")
    legend = (f'<div class="legend"><span><i style="border-top:2px solid {_SYNC}"></i>sync correlation per window '
              f'(grey: no speech)</span><span><i style="border-top:2px solid {_LAG}"></i>correlation against audio lag '
              f'(positive: sound after the mouth; real speech peaks near 0 to +0.2 s)</span></div>')
    return f'<div class="fig">{svg}{legend}</div>'


def classic_track_html(t: TrackResult) -> str:
    """The lip-sync plot and the fingerprint line of one face (empty when neither has anything)."""
    parts = []
    d = t.lip_sync.details
    if d.get("sync_windows"):
        head = (f"lip sync: p(fake) {_p(t.lip_sync.probability)}, median best lag "
                f"{d.get('median_best_lag_s')} s" if t.lip_sync.ran else f"lip sync: {t.lip_sync.skipped_reason}")
        parts.append(f'<p class="cap">{_e(head)}</p>' + _lip_plot(d["sync_windows"], d.get("lags_s", [])))
    fp = t.fingerprint
    if fp.ran:
        parts.append(f'<p class="cap">motion fingerprint of {_e(fp.details.get("person"))}: p(does not move like them) '
                     f'{_p(fp.probability)} over {fp.details.get("windows")} window(s); face distance '
                     f'{fp.details.get("identity_distance")}</p>')
    elif fp.details:
        parts.append(f'<p class="cap">motion fingerprint: {_e(fp.skipped_reason)}</p>')
    return "".join(parts)

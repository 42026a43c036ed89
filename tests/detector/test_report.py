"""Reports of ``facelab detect``: strict JSON, per-frame CSV, and a self-contained, escaped HTML page.

The results are built by hand from real arrays: a 224-px crop of ``samples/astronaut.jpg``, a
Gaussian Grad-CAM map, landmark traces with NaN gaps, and tracks of up to 5000 frames.
"""

from __future__ import annotations

import base64
import csv
import json
import math
import re
from html.parser import HTMLParser
from pathlib import Path

import cv2
import numpy as np
import pytest

from facelab.detector.report import (
    CSV_COLUMNS,
    MAX_POINTS,
    _decimate,
    _path_d,
    write_csv,
    write_html,
    write_json,
)
from facelab.detector.results import (
    SCHEMA,
    FrameRecord,
    MediaResult,
    SignalResult,
    SuspiciousFrame,
    TrackResult,
    WindowScore,
)
from facelab.errors import OutputError
from facelab.io.image import read_image

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
NASTY_PATH = 'clips/<b>&"odd\'name.mp4'
SKIP_REASON = ("no detector weights: train them with `facelab train detector DATA` or fetch them with "
               "`facelab weights pull detector.cnn`")
S = 224


# ----------------------------------------------------------------------------- building results


@pytest.fixture(scope="module")
def crop() -> np.ndarray:
    """A real 224x224 RGB face crop (the astronaut's face)."""
    img = read_image(SAMPLES / "astronaut.jpg")
    return np.ascontiguousarray(img[30:30 + S, 150:150 + S])


@pytest.fixture(scope="module")
def cam() -> np.ndarray:
    """A Gaussian Grad-CAM map, float32 (224, 224) in [0, 1], peak at (row 80, col 120)."""
    y, x = np.mgrid[0:S, 0:S].astype(np.float32)
    return np.exp(-((x - 120) ** 2 + (y - 80) ** 2) / (2 * 30.0 ** 2)).astype(np.float32)


def landmarks(n: int, seed: int, nan_every: int = 0) -> np.ndarray:
    """float32 (n, 5, 2) head-normalised landmarks with jitter; rows ``k * nan_every`` NaN."""
    rng = np.random.default_rng(seed)
    base = np.array([[-0.3, -0.2], [0.3, -0.2], [0.0, 0.05], [-0.22, 0.3], [0.22, 0.3]], np.float32)
    lm = base + rng.normal(0, 0.01, (n, 5, 2)).astype(np.float32)
    if nan_every:
        lm[::nan_every] = np.nan
        lm[n // 2: n // 2 + 10] = np.nan  # a long gap
    return lm


def track(tid: int, first: int, last: int, *, crop: np.ndarray | None, cam: np.ndarray | None,
          cnn: SignalResult, stride: int = 8, nan_every: int = 7) -> TrackResult:
    n = last - first + 1
    windows = [WindowScore(tid, s, s + 32, float(0.3 + 0.4 * math.sin(s / 50.0) ** 2), {"jitter": 0.01})
               for s in range(first, last - 31, stride)]
    suspicious = [] if crop is None else [
        SuspiciousFrame(first + 5, tid, 0.91, crop, cam), SuspiciousFrame(first + 9, tid, 0.77, crop, None)]
    return TrackResult(track=tid, first_frame=first, last_frame=last, frames=n, cnn=cnn,
                       motion=SignalResult(True, 0.55, details={"windows": len(windows)}),
                       fake_probability=0.82, verdict="FAKE", reasons=["CNN: 0.91 on frame 5"],
                       windows=windows, suspicious=suspicious,
                       landmark_frames=np.arange(first, last + 1), landmarks=landmarks(n, tid, nan_every))


def frame_records(t: TrackResult, fps: float, cnn_every: int = 1) -> list[FrameRecord]:
    return [FrameRecord(f, f / fps, t.track, [10.0 + f, 20.0, 110.0 + f, 140.0], f % 5 == 0,
                        cnn=(0.5 + 0.4 * math.sin(f / 9.0)) if f % cnn_every == 0 else None,
                        motion=0.4)
            for f in range(t.first_frame, t.last_frame + 1)]


def video_result(crop: np.ndarray, cam: np.ndarray, path: str = NASTY_PATH) -> MediaResult:
    """A 120-frame video, two tracks, NaN landmarks, a NaN CNN score and a NaN timing."""
    cnn = SignalResult(True, 0.9, details={"threshold": 0.62, "weights": "detector.cnn.v1"})
    t0 = track(0, 0, 119, crop=crop, cam=cam, cnn=cnn)
    t1 = track(1, 30, 99, crop=crop, cam=cam, cnn=cnn)
    frames = frame_records(t0, 25.0) + frame_records(t1, 25.0, cnn_every=3)
    frames[3].cnn = float("nan")
    return MediaResult(path=path, kind="video", verdict="FAKE", fake_probability=0.82,
                       reasons=["face 0 looks swapped"], cnn=cnn, motion=SignalResult(True, 0.55),
                       face_found_rate=0.97, frames_total=120, frames_analysed=120, width=640, height=360,
                       fps=25.0, tracks=[t0, t1], frames=frames, warnings=["variable frame rate"],
                       settings={"threshold": np.float32(0.62), "out": Path("/tmp/x"), "bad": float("inf")},
                       timings={"decode": 0.5, "cnn": 1.25, "nan": float("nan")})


def image_result(crop: np.ndarray, cam: np.ndarray) -> MediaResult:
    cnn = SignalResult(True, 0.12, details={"threshold": 0.5})
    motion = SignalResult(False, skipped_reason="a photo has no motion")
    t = TrackResult(0, 0, 0, 1, cnn, motion, 0.12, "REAL", ["CNN: 0.12"],
                    suspicious=[SuspiciousFrame(0, 0, 0.12, crop, cam)])
    frames = [FrameRecord(0, None, 0, [150.0, 30.0, 374.0, 254.0], True, cnn=0.12)]
    return MediaResult("photos/astronaut.jpg", "image", "REAL", 0.12, ["CNN says real"], cnn, motion, 1.0, 1, 1,
                       512, 512, tracks=[t], frames=frames)


def failed_result() -> MediaResult:
    skipped = SignalResult(False, skipped_reason="input failed")
    return MediaResult("broken/<script>.mp4", "video", "UNCERTAIN", None, [], skipped, skipped, 0.0, 0, 0, 0, 0,
                       error="cannot decode: moov atom not found <&>")


def skipped_cnn_result(crop: np.ndarray) -> MediaResult:
    """A video scored by landmark motion only: the CNN was skipped for lack of weights."""
    cnn = SignalResult(False, skipped_reason=SKIP_REASON)
    t = track(0, 0, 59, crop=None, cam=None, cnn=cnn)
    t.verdict, t.fake_probability = "UNCERTAIN", 0.55
    frames = [FrameRecord(f, f / 30.0, 0, [0, 0, 50, 50], True, motion=0.55) for f in range(60)]
    return MediaResult("clips/motion_only.mp4", "video", "UNCERTAIN", 0.55, ["landmark motion only"], cnn,
                       SignalResult(True, 0.55), 1.0, 60, 60, 320, 240, fps=30.0, tracks=[t], frames=frames)


@pytest.fixture(scope="module")
def results(crop: np.ndarray, cam: np.ndarray) -> list[MediaResult]:
    return [video_result(crop, cam), image_result(crop, cam), failed_result(), skipped_cnn_result(crop)]


# ----------------------------------------------------------------------------- HTML helpers

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class StrictParser(HTMLParser):
    """Records tag-nesting errors, every src/href value, and the attributes of every <img>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.urls: list[str] = []
        self.imgs: list[dict[str, str | None]] = []
        self.text: list[str] = []

    def _attrs(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [v or "" for k, v in attrs if k in ("src", "href")]
        if tag == "img":
            self.imgs.append(dict(attrs))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._attrs(tag, attrs)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._attrs(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(text: str) -> StrictParser:
    p = StrictParser()
    p.feed(text)
    p.close()
    return p


def decode_data_uri(uri: str) -> np.ndarray:
    """An ``data:image/...;base64`` URI as uint8 RGB."""
    m = re.fullmatch(r"data:image/(png|jpeg);base64,([A-Za-z0-9+/=]+)", uri)
    assert m, uri[:60]
    bgr = cv2.imdecode(np.frombuffer(base64.b64decode(m.group(2), validate=True), np.uint8), cv2.IMREAD_COLOR)
    assert bgr is not None
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def html_text(results: list[MediaResult], tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("html") / "report.html"
    write_html(results, out, title="Report <of> & stuff")
    return out.read_text(encoding="utf-8")


# ----------------------------------------------------------------------------- JSON


def test_json_is_strict_and_round_trips_the_schema(results: list[MediaResult], tmp_path: Path) -> None:
    out = tmp_path / "sub" / "report.json"
    write_json(results, out)
    text = out.read_text(encoding="utf-8")
    assert not re.search(r"\b(NaN|Infinity)\b", text)
    data = json.loads(text)
    assert isinstance(data, list) and len(data) == len(results)
    for rec, r in zip(data, results):
        assert rec["schema"] == SCHEMA == "facelab.detect/1"
        assert rec["path"] == r.path and rec["verdict"] == r.verdict
        assert set(rec["signals"]) >= {"cnn", "landmark_motion", "lip_sync", "fingerprint"}
        assert len(rec["per_frame"]) == len(r.frames)
    video, image, failed, skipped = data
    assert video["per_frame"][3]["cnn"] is None  # NaN -> null
    assert video["timings"]["nan"] is None and video["settings"]["bad"] is None
    assert video["settings"]["threshold"] == pytest.approx(0.62) and video["settings"]["out"] == "/tmp/x"
    assert video["fake_probability"] == pytest.approx(0.82) and video["signals"]["cnn"]["threshold"] == 0.62
    assert image["per_frame"][0]["time"] is None
    assert failed["error"].startswith("cannot decode") and failed["fake_probability"] is None
    assert skipped["signals"]["cnn"] == {"ran": False, "probability": None, "skipped_reason": SKIP_REASON}


# ----------------------------------------------------------------------------- CSV


def test_csv_one_row_per_frame_record(results: list[MediaResult], tmp_path: Path) -> None:
    out = tmp_path / "frames.csv"
    write_csv(results, out)
    with out.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == CSV_COLUMNS == (
        "path", "frame", "time", "track", "detected", "x1", "y1", "x2", "y2", "cnn", "motion",
        "track_verdict", "track_fake_probability", "lip_sync")
    body = [dict(zip(rows[0], r)) for r in rows[1:]]
    assert len(body) == sum(len(r.frames) for r in results)
    first = body[0]
    assert first["path"] == NASTY_PATH  # the csv module quotes, the value survives
    assert (first["frame"], first["time"], first["track"], first["detected"]) == ("0", "0.0", "0", "1")
    assert [float(first[k]) for k in ("x1", "y1", "x2", "y2")] == [10.0, 20.0, 110.0, 140.0]
    assert first["track_verdict"] == "FAKE" and float(first["track_fake_probability"]) == 0.82
    assert body[3]["cnn"] == ""  # NaN -> empty
    photo = [r for r in body if r["path"] == "photos/astronaut.jpg"]
    assert len(photo) == 1 and photo[0]["time"] == "" and float(photo[0]["cnn"]) == 0.12
    assert not any(r["path"].startswith("broken/") for r in body)  # a failed file has no frames


# ----------------------------------------------------------------------------- HTML


def test_html_is_well_formed(html_text: str) -> None:
    p = parse(html_text)
    assert p.errors == [] and p.stack == []
    assert html_text.startswith("<!DOCTYPE html>")


def test_html_is_self_contained(html_text: str) -> None:
    p = parse(html_text)
    assert "http://" not in html_text and "https://" not in html_text
    assert "<script" not in html_text.lower() and "<link" not in html_text.lower()
    assert "@import" not in html_text and "url(" not in html_text
    assert p.urls and all(u.startswith(("data:image/", "#m")) for u in p.urls)


def test_html_images_decode_to_crops_and_camoverlays(html_text: str, crop: np.ndarray, cam: np.ndarray) -> None:
    imgs = parse(html_text).imgs
    # video: 2 tracks x (crop+cam, crop) = 6; photo: crop+cam = 2; motion-only: none
    assert len(imgs) == 8
    decoded = [decode_data_uri(str(i["src"])) for i in imgs]
    assert all(d.shape == (S, S, 3) for d in decoded)
    plain = [d for d, i in zip(decoded, imgs) if "crop" in str(i["alt"])]
    overlays = [d for d, i in zip(decoded, imgs) if "Grad-CAM" in str(i["alt"])]
    assert len(plain) == 5 and len(overlays) == 3
    # colours survive (RGB in, RGB out: a swapped channel order would be far off)
    assert np.abs(plain[0].astype(float) - crop).mean() < 4.0
    heat = cv2.cvtColor(cv2.applyColorMap((cam * 255 + 0.5).astype(np.uint8), cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)
    expected = 0.5 * crop.astype(float) + 0.5 * heat
    assert np.abs(overlays[0].astype(float) - expected).mean() < 4.0
    assert overlays[0][80, 120, 0] > overlays[0][80, 120, 2]  # red at the CAM peak


def test_html_escapes_every_string(html_text: str) -> None:
    assert NASTY_PATH not in html_text and "<b>" not in html_text
    assert "clips/&lt;b&gt;&amp;&quot;odd&#x27;name.mp4" in html_text
    assert "&lt;script&gt;.mp4" in html_text and "moov atom not found &lt;&amp;&gt;" in html_text
    assert "<title>Report &lt;of&gt; &amp; stuff</title>" in html_text
    assert "".join(parse(html_text).text).count('<b>&"odd') >= 2  # name and full path, read back


def test_html_content(html_text: str) -> None:
    text = " ".join(parse(html_text).text)
    for badge in ("FAKE", "REAL", "UNCERTAIN", "FAILED"):
        assert f'class="badge {badge}"' in html_text
    assert "This file could not be analysed." in text
    assert "0.820" in text and "97 % of analysed frames" in text and "640 × 360 px" in text
    assert "variable frame rate" in text and "decode 0.50 s" in text
    assert "CNN threshold 0.620" in text  # the threshold line is in the legend
    assert "How to read this report" in text and "not proof" in text
    # each of the 3 video tracks gets a timeline and landmark traces; the photo neither
    assert html_text.count("<svg") == 3 * 2
    assert html_text.count('aria-label="Fake-probability timeline') == 3
    assert html_text.count('aria-label="Landmark traces') == 3


def test_html_shows_the_skipped_reason_prominently(html_text: str) -> None:
    callouts = re.findall(r'<div class="callout"><strong>The CNN did not run\.</strong> (.*?)</div>', html_text)
    assert SKIP_REASON in callouts  # nothing in it needs escaping: it must appear verbatim
    assert "The landmark-motion check did not run.</strong> a photo has no motion" in html_text


def test_landmark_gaps_lift_the_pen(html_text: str) -> None:
    start = html_text.index('aria-label="Landmark traces of face track 0"')
    svg = html_text[start:html_text.index("</svg>", start)]
    paths = re.findall(r'<path d="([^"]+)" stroke="#[0-9a-f]{6}" stroke-width="1" fill="none"', svg)
    assert len(paths) == 10  # 5 landmarks x (x, y)
    assert all(d.count("M") > 10 for d in paths)  # a NaN every 7th frame: many runs


def test_long_track_gives_a_bounded_page(crop: np.ndarray, cam: np.ndarray, tmp_path: Path) -> None:
    cnn = SignalResult(True, 0.7, details={"threshold": 0.4})
    t = track(0, 0, 4999, crop=crop, cam=cam, cnn=cnn, stride=2, nan_every=97)
    m = MediaResult("long.mp4", "video", "FAKE", 0.7, [], cnn, SignalResult(True, 0.5), 1.0, 5000, 5000,
                    1920, 1080, fps=30.0, tracks=[t], frames=frame_records(t, 30.0))
    out = tmp_path / "long.html"
    write_html([m], out)
    text = out.read_text(encoding="utf-8")
    assert len(text.encode()) < 600_000
    assert parse(text).errors == []
    for d in re.findall(r'<path d="([^"]+)"', text):
        assert len(re.findall(r"[MLH]", d)) <= MAX_POINTS + 2
    # the highest CNN value (0.9 at sin = 1) survives the decimation
    start = text.index('aria-label="Fake-probability timeline')
    svg = text[start:text.index("</svg>", start)]
    cnn_d = re.search(r'<path d="([^"]+)" stroke="#0969da"', svg).group(1)
    ys = [float(v) for v in re.findall(r"[ML][\d.]+ ([\d.]+)", cnn_d)]
    assert min(ys) == pytest.approx(8 + (1 - 0.9) * 110, abs=0.2)


def test_decimate_keeps_extremes_and_gaps() -> None:
    x = np.arange(10_000, dtype=float)
    y = np.sin(x / 300.0)
    y[5000] = 3.0
    y[7000:7100] = np.nan
    dx, dy = _decimate(x, y, 1000)
    assert len(dx) <= 1000
    assert np.nanmax(dy) == 3.0 and np.nanmin(dy) == pytest.approx(-1.0, abs=1e-4)
    assert np.isnan(dy).any() and np.all(np.diff(dx) > 0)
    short = np.array([0.0, 1.0, 2.0])
    assert _decimate(short, short)[0] is not None and len(_decimate(short, short)[0]) == 3
    assert _path_d(np.array([0.0, 1.0, 2.0, 3.0]), np.array([1.0, np.nan, 2.0, 3.0])) == "M0.0 1.0h.5M2.0 2.0L3.0 3.0"


def test_all_nan_landmarks_and_empty_results(crop: np.ndarray, tmp_path: Path) -> None:
    m = skipped_cnn_result(crop)
    m.tracks[0].landmarks = np.full_like(m.tracks[0].landmarks, np.nan)
    write_html([m], tmp_path / "a.html")
    assert "no landmarks were detected" in (tmp_path / "a.html").read_text(encoding="utf-8")
    for writer, name in ((write_html, "e.html"), (write_json, "e.json"), (write_csv, "e.csv")):
        writer([], tmp_path / name)
    assert json.loads((tmp_path / "e.json").read_text()) == []
    assert (tmp_path / "e.csv").read_text().splitlines() == [",".join(CSV_COLUMNS)]
    assert parse((tmp_path / "e.html").read_text()).errors == []


def test_writes_are_atomic(results: list[MediaResult], tmp_path: Path) -> None:
    for writer, name in ((write_json, "r.json"), (write_csv, "r.csv"), (write_html, "r.html")):
        (tmp_path / name).write_text("old")
        writer(results, tmp_path / name)
        assert (tmp_path / name).read_text(encoding="utf-8") != "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.csv", "r.html", "r.json"]
    blocked = tmp_path / "dir.json"
    blocked.mkdir()  # os.replace cannot put a file over a folder
    with pytest.raises(OutputError, match="dir.json"):
        write_json(results, blocked)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.json", "r.csv", "r.html", "r.json"]
    assert list(blocked.iterdir()) == []


def test_a_bad_crop_or_bad_landmarks_cost_only_themselves(crop: np.ndarray, cam: np.ndarray,
                                                          tmp_path: Path) -> None:
    m = video_result(crop, cam, path="ok.mp4")
    m.tracks[0].suspicious.append(SuspiciousFrame(50, 0, 0.99, np.zeros((0, 0, 3), np.uint8), None))
    m.tracks[1].landmarks = m.tracks[1].landmarks[:, :3]  # wrong shape: (n, 3, 2)
    write_html([m], tmp_path / "r.html")
    text = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert len(parse(text).imgs) == 6  # the empty crop is left out, the others remain
    assert text.count('aria-label="Landmark traces') == 1

"""Build a labelled real/fake face-crop data set from real footage with facelab's own swaps.

    summary = build_fakes(["talks/", "alice.mp4"], "data/fakes", FakesConfig(every=10, max_frames=16))
    summary.counts["train"]["fake"]["oneshot"], summary.failures

    summary = merge_fakes([Path("parts/1"), Path("parts/2")], Path("data/fakes"))   # --shard parts

The output is the data set of :mod:`facelab.detector.dataset` (``dataset.json``,
``manifest.csv``, ``crops/{real,fake}/<identity>/``, ``motion.csv``, ``motion/``). Steps:

1. **Plan**: each video or photo named, and each one found (recursively) in a named folder, is
   one source. A source that cannot be read is reported in ``failures`` and skipped; the rest
   goes on.
2. **Scan** (pass 1): faces are detected and tracked (:class:`~facelab.faces.track.FaceTracker`,
   MTCNN on every sampled frame ``0, every, 2 * every, ...``; a track ends after two misses). A
   video's track needs ``min_track`` detections (fewer: a false positive or a passer-by). The
   ``donors`` best faces of each track (large, frontal by the nose's offset from the eye
   midline) are kept as one-shot sources.
3. **Identities**: ``identity="track"`` (default): one per (source, track): ``<stem>`` when the
   source has one face track, else ``<stem>#t<track>`` (for a photo the track is the face index).
   ``identity="folder"``: the source's parent folder names the person; only the main face of
   each source is used (a photo's largest face, a video's longest track), since the others are
   probably someone else. The same person in two sources is two identities in track mode: put
   each person's media in a folder of their own and use folder mode when that matters.
4. **Split** by identity, seeded: ``round(val_fraction * n)`` identities go to ``val``, at least
   one; from four identities on, each split gets at least two, so every identity has a donor in
   its own split. A one-shot fake's donor is another identity **of the same split**, so no face
   seen in training, as target or as donor, is in validation. Fewer than two identities is an
   error; with two or three, one split has a single identity and gets no one-shot fakes (a
   warning; an error when that leaves no fake at all). A ``shard`` run (``--shard I/N``, which
   sees only its share of the inputs) splits each identity by a hash of its name instead, so all
   shards agree, and draws donors among its own identities (:mod:`facelab.detector.fakes.merge`).
5. **Fakes** (pass 2): for each track, ``max_frames`` sampled frames with a detection (evenly
   spread). Per frame the real crop and, per method, one manipulated frame (only the target face
   changes): ``oneshot`` (a face of a random same-split donor), ``learned`` (a ``facelab train
   swap`` run, :func:`~facelab.swap.learned.load_swap_model`), ``translate`` (any translator
   checkpoint applied to the aligned face, blended back). Quality varies per fake, seeded by
   ``(seed, source, frame, track, method)``: mask feather uniform in ``feather``, colour
   transfer reinhard / hist / none, blend alpha / poisson, and a JPEG re-encode of the whole
   frame (probability ``jpeg_share``, quality uniform in ``jpeg_quality``). Real frames get the
   same JPEG distribution, so "recompressed" does not mean "fake". The settings are in each
   row's ``params``. Learned and translated fakes name the model as donor (``learned:<run>``):
   who the model was trained on is not known here, so train it on people of the train split.
6. **Crops** are :func:`~facelab.detector.crops.face_crop` (224 px, margin 0.3) at landmarks
   **detected on the frame the crop is cut from**: the fake frame is re-detected (as it is at test
   time, where the detector never sees the target's true landmarks; a swapped face shifts them
   a little, and cropping at the target's points would teach an alignment the detector never
   gets). A fake whose face MTCNN no longer finds where the target was (IoU < 0.3) is dropped
   and counted under ``skipped``. A re-encoded real frame is re-detected too.
7. **Motion** (videos, ``motion_frames > 0``): one clip of ``motion_frames`` consecutive frames
   per video, starting at the sampled frame that puts the most kept detections inside it. The
   clip is tracked as the detector pipeline does (MTCNN on every frame, raw landmarks into
   :class:`~facelab.detector.landmark_motion.MotionExtractor`), its tracks tied to the scan's by
   box overlap on the sampled frames. Then, once per method, the clip is manipulated, every kept
   face swapped on every frame at its smoothed landmarks (as ``facelab swap`` does), each track
   with one donor and one quality setting for the whole clip, and tracked afresh on the fake
   frames; a target's fake track is the one overlapping it most. No JPEG here: the clip is
   video, whose coding noise real and fake share. Sequences shorter than
   ``min(16, motion_frames)`` frames are left out.
8. **Write** into a hidden work folder next to ``out`` (``.<out>.work``), renamed into place at
   the end: an interrupted run leaves no half data set. An existing ``out`` needs ``overwrite``
   (and must be a data set made here, holding ``dataset.json``). The work folder also records
   progress (:mod:`facelab.detector.fakes.state`): each source's pass-1 scan and, per source,
   that pass 2 is done, so ``resume=True`` after a crash or Ctrl-C skips that work and makes the
   same data set an uninterrupted run makes. Memory: what stays in memory per source is its
   tracks' boxes and landmarks on the sampled frames and its manifest rows; frames stream, and
   the donors' aligned faces are read back from the work folder when drawn (the last 32
   identities cached), so memory does not grow with the number of files.

Cost (one CPU thread, MTCNN): about 3 crops a second on a mix of 1080p video and 1-4 MP photos
(swap, JPEG round trip and re-detection of the whole frame per fake); the motion stage adds
``1 + len(methods)`` detections per clip frame: on the shared test media (5 videos, 20 photos:
38 identities) 258 crops in 78 s, and with 90-frame clips 24 motion sequences more in 249 s.

Crop names: ``crops/<label>/<identity>/<source key>_f<frame:06d>_t<track:02d>[_<method>].png``;
motion: ``motion/<source key>_t<track:02d>_<real|method>.npz``. The source key is the file stem,
made unique across sources.

Modules, in data-flow order: :mod:`.config` (settings, summary), :mod:`.records` (the values
passed between stages), :mod:`.plan` (steps 1, 3, 4), :mod:`.scan` (2), :mod:`.frames` (5, 6),
:mod:`.motion` (7), :mod:`.build` (the entry point and step 8), :mod:`.state` (the work folder
behind ``--resume``), :mod:`.merge` (``--merge`` of ``--shard`` parts).
"""

from facelab.detector.fakes.build import build_fakes
from facelab.detector.fakes.config import FORMAT, METHODS, FakesConfig, FakesSummary
from facelab.detector.fakes.merge import MergeSummary, merge_fakes
from facelab.detector.fakes.state import work_folder

__all__ = ["FORMAT", "METHODS", "FakesConfig", "FakesSummary", "MergeSummary", "build_fakes", "merge_fakes",
           "work_folder"]

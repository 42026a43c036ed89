"""How well a motion fingerprint built from a few seconds of a person separates them from others.

    python bench/classic_traces.py --out /tmp/traces CLIP... SWAP...     # once: face traces
    python bench/fingerprint_eval.py --traces /tmp/traces --people STEM... [--swaps STEM=SWAPSTEM...]

For each person (the main face track of one real clip of `--people`), the last `--test` seconds
of the track are held out. Fingerprints are built from the first T seconds (T = 3, 4, 6, 8 s as
the clip allows) and score: the held-out part of the same person (should be inside, p < 0.5),
the main track of every other real clip in the traces folder (other people; should be outside),
and the same held-out seconds of facelab's one-shot swap onto that clip (`facelab swap --source
PHOTO`; should be outside). The motion is scored without the identity gate here (other people
would otherwise stop at "not this person"); the identity check is reported apart. Prints one
Markdown table per T: window AUC (person's held-out windows vs others' windows), and the share
of tracks on the right side of 0.5.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from facelab.detector.facetrace import FaceTrace
from facelab.detector.fingerprint import SAME_PERSON, build_fingerprint, window_vectors

FAKE_STEMS = ("ff_fake", "dfo_fake", "ff_000_003", "_swap")


def main_track(path_stem: str, traces: Path) -> FaceTrace | None:
    found = [FaceTrace.load(p) for p in sorted(traces.glob(f"{path_stem}__t*.npz"))]
    return max(found, key=len) if found else None


def f(v: float | None) -> str:
    return "\u2014" if v is None else f"{v:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--traces", type=Path, required=True)
    ap.add_argument("--people", nargs="+", required=True, help="clip stems, one person each")
    ap.add_argument("--swaps", nargs="*", default=[], help="PERSON_STEM=SWAP_STEM pairs")
    ap.add_argument("--test", type=float, default=4.0, help="held-out seconds at the end of each clip")
    ap.add_argument("--footage", type=float, nargs="+", default=[3.0, 4.0, 6.0, 8.0])
    args = ap.parse_args()
    swaps = dict(s.split("=", 1) for s in args.swaps)
    stems = sorted({p.name.split("__t")[0] for p in args.traces.glob("*__t*.npz")})
    real = {s: t for s in stems if not any(k in s for k in FAKE_STEMS) and (t := main_track(s, args.traces)) is not None}
    print(f"{len(real)} real clips in the traces folder; people: {', '.join(args.people)}")
    for T in args.footage:
        rows = []
        for person in args.people:
            tr = real[person]
            fps = tr.fps or 25.0
            first, last = int(tr.frames[0]), int(tr.frames[-1])
            test_start = last + 1 - round(args.test * fps)
            if first + round(T * fps) > test_start:
                continue
            train = tr.between(first, first + round(T * fps))
            try:
                fp = build_fingerprint(person, [train])
            except Exception as exc:  # too few windows
                rows.append((person, T, None, None, None, None, None, str(exc)[:60]))
                continue
            motion = replace(fp, embedding=None)  # motion only, no identity gate
            test = tr.between(test_start, last + 1)
            own = motion.score(test)
            own_w = motion.window_probabilities(window_vectors(test, fp.window_s, fp.stride_s)[0])
            others = {s: motion.score(t) for s, t in real.items() if s != person}
            other_w = np.concatenate([motion.window_probabilities(window_vectors(t, fp.window_s, fp.stride_s)[0])
                                      for s, t in real.items() if s != person])
            auc = roc_auc_score([0] * len(own_w) + [1] * len(other_w), np.r_[own_w, other_w]) if len(own_w) else None
            outside = [r.probability > 0.5 for r in others.values() if r.probability is not None]
            sw = None
            if person in swaps and (st := main_track(swaps[person], args.traces)) is not None:
                sw_part = st.between(test_start, last + 1)
                sw_res = motion.score(sw_part)
                same = fp.score(sw_part)
                sw_w = motion.window_probabilities(window_vectors(sw_part, fp.window_s, fp.stride_s)[0])
                sw_auc = roc_auc_score([0] * len(own_w) + [1] * len(sw_w), np.r_[own_w, sw_w]) \
                    if len(own_w) and len(sw_w) else None
                sw = (sw_res.probability, same.distance, sw_auc)
            ids = [fp.score(t).same_person for s, t in real.items() if s != person]
            rows.append((person, T, own.probability, auc, sum(outside) / max(len(outside), 1), sw,
                         sum(1 for x in ids if x is False) / max(len(ids), 1), f"{fp.windows} windows"))
        print(f"\n### fingerprint from the first {T:g} s, tested on the last {args.test:g} s")
        print("| person | p own held-out | window AUC own vs others | others outside (p > 0.5) "
              "| swap p (window AUC vs own; face distance) "
              f"| others 'not this person' (distance > {SAME_PERSON}) |")
        print("|---|---|---|---|---|---|")
        for person, _, p_own, auc, out, sw, ids, note in rows:
            swap_txt = "\u2014" if sw is None else f"{f(sw[0])} ({f(sw[2])}; {f(sw[1])})"
            print(f"| {person} | {f(p_own)} | {f(auc)} | {f(out)} | {swap_txt} | {f(ids)} |"
                  + ("" if p_own is not None else f" {note}"))
        aucs = [r[3] for r in rows if r[3] is not None]
        if aucs:
            print(f"mean window AUC {np.mean(aucs):.3f} over {len(aucs)} people; own held-out inside "
                  f"{sum(r[2] is not None and r[2] < 0.5 for r in rows)}/{len(rows)}")


if __name__ == "__main__":
    main()

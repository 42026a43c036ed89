"""Make facelab/detector/mean_face68.json: dlib's 68 landmarks averaged over aligned real faces.

    python tools/make_mean_face.py ../shared/data/real_faces ../shared/data/faces

Each photo's faces are found with MTCNN, aligned to the 112 px ArcFace crop (margin 0), and
dlib's 68-point predictor (the `dlib` extra) runs on the crop at the crop's MTCNN box. The
mean of those shapes, in the 112 px ArcFace frame, is what :func:`facelab.detector.selfblend.
mean_face68` fits to five MTCNN points when dlib is not installed. Only the mean (136 numbers)
is kept; no image or per-face data.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from facelab.faces.align import align_face, transform_points
from facelab.faces.detect import Face, FaceDetector
from facelab.faces.landmarks import Dlib68
from facelab.io.image import is_image, read_image

OUT = Path(__file__).resolve().parents[1] / "facelab" / "detector" / "mean_face68.json"


def main(folders: list[str]) -> None:
    det, dlib68 = FaceDetector(device="cpu", min_face_size=60), Dlib68()
    shapes = []
    for folder in folders:
        for path in sorted(p for p in Path(folder).rglob("*") if is_image(p)):
            try:
                img = read_image(path)
            except Exception:
                continue
            for face in det.detect(img):
                al = align_face(img, face.landmarks, size=112, margin=0.0)
                box = transform_points(np.asarray(face.box, np.float64).reshape(2, 2), al.M).reshape(-1)
                lm = transform_points(np.asarray(face.landmarks, np.float64), al.M)
                shapes.append(dlib68(al.crop, [Face(box, face.score, lm)])[0])
    mean = np.mean(shapes, axis=0)
    OUT.write_text(json.dumps({"frame": "ArcFace 112x112 crop, margin 0, pixel centres at integers",
                               "faces": len(shapes), "made_by": "tools/make_mean_face.py",
                               "points": [[round(float(x), 3), round(float(y), 3)] for x, y in mean]}) + "\n")
    print(f"{OUT}: mean of {len(shapes)} faces")


if __name__ == "__main__":
    main(sys.argv[1:])

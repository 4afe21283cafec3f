"""MediaPipe FaceMesh landmark facts that the faces stage, the face models, the fitter and the
demo corpus all name: the landmark count and the lip, mouth and eye indices, defined once.

In `manifests` because every layer that names a landmark imports it (model/ may not import
stages/, and demo/ imports no stage).
"""

from __future__ import annotations

LANDMARKS = 478  # FaceMesh with refine_landmarks=True: 468 mesh points + 10 iris points

# Lip contours in drawing order (polygons): the occlusion cue's mouth region and the demo's mouth.
OUTER_LIPS = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181,
              91, 146)
INNER_LIPS = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178,
              88, 95)
# The upper and lower lip (outer and inner contour each): the lip vertex set of the open model and
# the landmarks the fitter weights higher, because lip motion is what the audio-driven model
# must learn.
UPPER_LIP = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 78, 191, 80, 81, 82, 13, 312, 311,
             310, 415, 308)
LOWER_LIP = (146, 91, 181, 84, 17, 314, 405, 321, 375, 95, 88, 178, 87, 14, 317, 402, 318, 324)
LIPS = tuple(sorted(set(UPPER_LIP) | set(LOWER_LIP)))

APERTURE = (13, 14)  # inner upper-lip and lower-lip midpoints: mouth opening
MOUTH_CORNERS = (61, 291)  # outer corners: the mouth width scales the mouth-closed threshold
INNER_MOUTH_CORNERS = (78, 308)
EYE_CORNERS = (33, 263)  # outer eye corners: the inter-ocular distance normalises residuals
# Eye contours with their iris points (left, right).
EYES = (
    (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246, *range(468, 473)),
    (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466,
     *range(473, 478)),
)
CHEEKS = (205, 425, 50, 280)  # below the eyes, beside the nose: rarely covered with the mouth
FOREHEAD, CHIN = 10, 152

# The face's outline (FaceMesh's silhouette, in drawing order): a "hand" whose landmarks all lie
# inside it may be the face itself, which MediaPipe Hands sometimes reports on a chin and mouth.
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400,
             377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67,
             109)
# Eyebrows (left, right as in `EYES`) and the upper forehead: with the eyes, the upper face that a
# hand over the forehead or an eye hides (its region is the convex hull of these points).
BROWS = ((46, 53, 52, 65, 55, 70, 63, 105, 66, 107),
         (276, 283, 282, 295, 285, 300, 293, 334, 296, 336))
UPPER_FOREHEAD = (10, 109, 67, 103, 338, 297, 332)

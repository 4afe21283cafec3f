"""MediaPipe FaceMesh landmark indices that the face models and the fitter name.

Kept here (not imported from stages/) because model/ must not import stages/.
"""

from __future__ import annotations

LANDMARKS = 478  # FaceMesh with refine_landmarks=True: 468 mesh points + 10 iris points

# Outer and inner lip contours: the lip vertex set of the open model and the landmarks the fitter
# weights higher, because lip motion is what the audio-driven model must learn.
UPPER_LIP = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 78, 191, 80, 81, 82, 13, 312, 311,
             310, 415, 308)
LOWER_LIP = (146, 91, 181, 84, 17, 314, 405, 321, 375, 95, 88, 178, 87, 14, 317, 402, 318, 324)
LIPS = tuple(sorted(set(UPPER_LIP) | set(LOWER_LIP)))

APERTURE = (13, 14)  # inner upper-lip and lower-lip midpoints: mouth opening
MOUTH_CORNERS = (61, 291)  # the mouth width scales the mouth-closed threshold
EYE_CORNERS = (33, 263)  # outer eye corners: the inter-ocular distance normalises residuals

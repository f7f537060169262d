"""The built-in demo dataset: a small FaceForensics++-shaped tree made offline and deterministically from the seed.

Originals are short videos of real face photos that ship with scikit-image — the 100 LFW faces of
``skimage.data.lfw_subset()`` (25×25 grey, tinted to a skin tone per identity) and the astronaut of
``skimage.data.astronaut()`` — upscaled to a 100-200 px head (dlib's HOG detector needs ~80 px faces) on a shoulders
and hair silhouette, in front of a procedural room (wall, furniture, astronaut-photo posters, grain, depth-of-field
blur). Each video moves: the camera pans (whole-pixel steps, which keeps lossless raw files small and fast to
encode), the head translates, turns and scales smoothly with sub-pixel precision, and the light on the subject drifts
in gain, colour and direction. Only identities that dlib finds in a reference rendering are used.

A fake ``a_b`` of a method replays target ``a``'s video frame for frame and changes only the inner face region
(see :mod:`add.data.demo.manipulations`), made by a process as face swaps are made, with no planted pattern:
``b``'s face warped to ``a``'s pose, colour-transferred part of the way and blended through a feathered mask
(``swap``), the same through a low-resolution generator (``swap_gen``), ``a``'s own face re-synthesised through that
generator (``resynth``), or ``a`` blended with a transformed copy of itself (``selfblend``). The traces are what
those steps leave: colour mismatch, alignment error, resampling blur, lost fine detail, the blend boundary.

Files: ``{root}/original_sequences/youtube/{q}/videos/{id}.mp4``, ``{root}/manipulated_sequences/{method}/{q}/videos/
{a}_{b}.mp4``, ``{root}/splits/{train,val,test}.json`` (FF++ format) and ``{root}/demo.json`` (the config, the photo
behind each id and the kind of each fake). raw is ``libx264rgb -crf 0`` (lossless), c23/c40 re-encode raw as FF++'s
compression script does (``add.data.video_io``).

Videos are made in parallel by ``jobs`` threads (0 = all cores): the encoders are ffmpeg processes and the rendering
is NumPy/OpenCV, which release the GIL, so threads keep the cores busy without the hazards of forking a process that
holds library threads (a forked worker can deadlock on a lock such a thread held) or spawn's re-imports.

Rebuilds are all-or-nothing: everything is written into a temporary folder beside ``root`` that replaces ``root``
in one rename at the end, so an interrupted build leaves the previous tree (or none) and never a partial one. An
existing ``root`` is only replaced when it is empty or holds a ``demo.json``, so a real FF++ tree is never deleted.


Modules (imported one by one; this file imports nothing):

- :mod:`add.data.demo.rendering`: the face photos, subjects, rooms and moving scenes, a fake's frames, the identities
  dlib finds;
- :mod:`add.data.demo.manipulations`: the process a fake's face region goes through (swap, generator, re-synthesis,
  self-blend) and its strength knobs;
- :mod:`add.data.demo.planning`: ``DemoConfig`` (the ``demo:`` params), the splits, identities and fake kinds drawn
  from the seed;
- :mod:`add.data.demo.build`: writing the tree (``build_demo``) and its config marker;
- :mod:`add.data.demo.calibration`: what a fake's process leaves, per quality (``artifact_energy``, ``kept_energy``).
"""

"""Stage ``extract``: detect the face in sampled frames and crop pixel-aligned raw/c23/c40 triplets.

Reads ``data/videos.parquet`` and writes, per video, ``data/faces/{method}/{video}.tar`` (docs/architecture.md),
``data/manifest.parquet`` (one row per frame decision) and flat totals in ``metrics/extract.json``.

Per video (a row of videos.parquet):

1. **Frame counts.** Every quality is probed (the probes run concurrently); qualities whose frame counts (or frame
   sizes) differ would not be frame-aligned, so the video is dropped (``dropped_video``, the counts in ``reason``).
   A file cut mid-stream usually lands here (ffmpeg counts only the frames that are there). A missing path, a file
   ffmpeg cannot read, a decode that stops before the last wanted frame: ``dropped_video`` with ffmpeg's message.
2. **Sampling.** ``data.frames_per_video`` indices out of the N frames: ``even`` takes the centres of N/k equal
   segments, ``random`` (as the paper) draws k distinct frames with a generator seeded by ``seed`` and
   ``crc32("original/{target}")`` — the target is the id whose footage the video shows, so a fake ``a_b`` samples
   the same frames as its original ``a`` and each target has its own stable draw.
3. **Decoding.** Every quality is decoded in one ffmpeg pass (the ``select`` filter passes only the sampled frames),
   the passes of all qualities running at once and read in lockstep, so the ffmpeg decoders work while the main
   process detects. Memory holds about one decoded frame per quality plus the small crops of one video, never a
   whole video. **Damaged data:** when a pass reports a decoder error (ffmpeg conceals the broken macroblocks,
   prints "error while decoding MB ..." and exits 0), the video is ``dropped_video`` with the quality and ffmpeg's
   first messages in ``reason``: the damage spreads through the predicted frames that follow it until the next
   keyframe and ffmpeg does not say which frames it touched, so no sampled frame of that video can be trusted.
4. **Detection** (:mod:`add.data.faces`) on the raw frames: dlib's HOG detector on the frame downscaled so its
   longer side is at most ``data.detect_max_side`` (a frame where that finds nothing is searched again at full
   resolution with one more level of upsampling, which finds faces down to ~40 px); detections scoring below
   ``data.detect_threshold`` or whose size is off the video's median face by more than
   ``data.detect_size_tolerance`` x are rejected; the largest face; a square box of side ``data.box_scale`` x
   max(w, h) kept inside the frame. Frames without a face borrow the box of the nearest frame (by index) with one:
   status ``fallback``, ``reason`` names that frame. No face at all: ``dropped_video``. Every candidate box is
   cropped from every quality as its frame streams by, so the crops of the chosen boxes are there at the end; only
   ``fallback`` frames are decoded a second time (all qualities, those frames only).
5. **Boxes of the original, reused by its fakes** (``data.reuse_boxes``, default true). A fake ``a_b`` shows the
   footage of original ``a`` with the face changed, so detecting again on it costs time and only adds box jitter
   between real and fake crops of the same frame. When ``a`` is listed in videos.parquet and kept, the fake is
   extracted after it and takes its boxes (status, score and fallback rule included: the manifest rows of the fake
   repeat those of the original; fallback reasons add "boxes of original/a") — provided the two are aligned:
   same frame count, frame size and sampled frames, and at every sampled frame the fake's raw frame equals the
   original's outside the face box. That last check compares 48-cell-wide grey thumbnails of the two frames (the
   original's are kept in its sidecar) over the cells wholly outside the box grown by one cell, and needs mean
   |diff| <= 1 and max |diff| <= 12 grey levels over at least 20% of the frame. A fake that fails any of it is
   detected on its own (and its sidecar says why). In the demo a fake equals its original outside the face box
   exactly (measured); FF++'s fakes were rendered from their originals' frames, so they should match there up to
   encoder rounding (not measured here: a fake that does not is simply detected on its own).
6. **Output.** The tar (sorted members, mtime 0, uid/gid 0, empty owner names, PNG at a fixed compression level:
   byte-identical on a rerun), then a sidecar ``{video}.decisions.json`` with the frame decisions, where the boxes
   came from, a fingerprint and the tar's size and sha256; both written atomically, the sidecar last.

**Resume.** A video is skipped (its decisions read back from the sidecar) when its sidecar's fingerprint matches —
a hash of the settings that shape the output and of the content (sha256, computed while the video is extracted) of
its input files, and for a fake that may reuse boxes, of its original's fingerprint — and, for a kept video, its
tar has the size and sha256 the sidecar recorded (a truncated or damaged tar is extracted again). Since the tar is
complete before the sidecar is written, a stage killed at any point resumes where it stopped and produces the same
bytes; ``--force`` ignores the sidecars. (DVC deletes the outputs of a stage before
it reruns it unless they are declared ``persist: true``.) At the end, tars and sidecars of videos that
videos.parquet no longer lists, and temp files of killed runs, are removed from the method folders.

Params (``data.*``; defaults in :class:`add.core.params_schema.Data`): ``qualities``,
``frames_per_video``, ``sampling`` (even | random), ``image_size`` (128), ``jobs`` (0), ``detect_threshold``
(0.2: dlib's boundary is 0; real frontal faces score ~0.3-2.5, the false hits we measured on skimage images score
< 0.15), ``detect_upsample`` (0), ``detect_max_side`` (640; 0: full resolution), ``detect_size_tolerance`` (2.0),
``box_scale`` (1.3), ``reuse_boxes`` (true); and the top-level ``seed`` (random sampling only).

Videos run in parallel in ``data.jobs`` processes (0: every core), each with its own dlib detector; a fake that may
reuse boxes is started once its original is done (so the result never depends on the number of processes or on
timing); results are merged in the order of videos.parquet, the manifest sorted by split, method, video, frame.

Modules (imported one by one; this file imports nothing, so the spawned workers load only what a video needs):

- :mod:`add.data.extract.config`: ``ExtractConfig`` (``data.*``), frame sampling, the constants;
- :mod:`add.data.extract.jobs`: ``VideoJob`` / ``VideoResult`` / ``Alignment`` / ``Reference``;
- :mod:`add.data.extract.per_video`: one video, from its files to its tar (``extract_video``);
- :mod:`add.data.extract.sidecar`: the resume record beside each tar (``fingerprint``);
- :mod:`add.data.extract.scheduler`: the process pool and the order of the videos (``extract_videos``), Ctrl-C;
- :mod:`add.data.extract.stage`: the stage: ``read_videos``, ``run``, ``main`` (manifest, metrics, stale tars).
"""

"""Reference worker commands for ``spoold work`` (the ``spoold[workers]`` extra).

Public API (each a module runnable with ``python -m``):

- :mod:`spoold.workers.preprocess` — Jetson class: GPS track (``gps.json``) and keyframes.
- :mod:`spoold.workers.detect` — GPU class: licence plates (``plates.json``) and objects
  (``detections.json``) on those keyframes, with a plug-in hook for your own detector
  (:mod:`spoold.workers.detectors`).

Building blocks: :mod:`spoold.workers._contract` (the task/result/storage-root contract,
atomic writes), :mod:`spoold.workers._command` (``main``, task params over flags, shared by
the commands), :mod:`spoold.workers.gps` (GPS extraction; its readers in
:mod:`~spoold.workers.gps_sidecar`, :mod:`~spoold.workers.gps_container`,
:mod:`~spoold.workers.gps_freegps`, :mod:`~spoold.workers.gps_gpmf`,
:mod:`~spoold.workers.gps_logs`, :mod:`~spoold.workers.gps_track`) and :mod:`spoold.workers.nmea` (NMEA 0183),
:mod:`spoold.workers.mp4box` (MP4 box walking), :mod:`spoold.workers.keyframes` (ffmpeg),
:mod:`spoold.workers.plates` (RapidOCR plate reader; bands and stickers masked by
:mod:`~spoold.workers.plate_bands`).  See ``docs/workers.md``.
Runs on Python 3.10.
"""

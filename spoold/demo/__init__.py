"""``spoold demo`` and the synthetic data it and the tests use.

:mod:`~spoold.demo.run` the demo itself; :mod:`~spoold.demo.media` the demo's dashcam clips
(with :mod:`~spoold.demo.route`, :mod:`~spoold.demo.render`, :mod:`~spoold.demo.gps_payloads`);
:mod:`~spoold.demo.samples` small real video files; :mod:`~spoold.demo.synth` worker output
files and index rows.
"""

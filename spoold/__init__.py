"""spoold: a filesystem-native spool-directory coordinator for a dashcam-processing pipeline.

Layers point one way: ``schemas`` <- ``spoold.spool`` <- daemon / worker <- CLI / API.
"""

__version__ = "0.1.0"

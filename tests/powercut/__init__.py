"""Power-cut testing: a FUSE filesystem that forgets what was not fsynced (``fs.py``, whose
docstring states the durability rules) and the harness that mounts it and cuts its power
(``mount.py``), and where the tests write their figures (``figures.py``).

Public API: :class:`PowerCutMount`, :class:`PowerCutError`, :func:`fuse_missing`,
:func:`write_figures`.
"""

from powercut.figures import write_figures
from powercut.mount import PowerCutError, PowerCutMount, fuse_missing

__all__ = ["PowerCutError", "PowerCutMount", "fuse_missing", "write_figures"]

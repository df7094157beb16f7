"""The runtime behind ``spoold work`` (worker side: runs on a device's Python 3.10).

:mod:`~spoold.worker.runtime` the claim-run-complete loop, :mod:`~spoold.worker.handler`
the handler contract and the COMMAND handler, :mod:`~spoold.worker.scratch` per-task
scratch folders.
"""

"""The light worker side: the runtime behind ``spoold work`` (runs on a device's Python 3.10)."""

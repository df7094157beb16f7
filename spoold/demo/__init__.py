"""``spoold demo`` and the synthetic data it and the tests use (clips, sample names, index rows)."""

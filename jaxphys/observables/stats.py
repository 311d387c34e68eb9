"""Statistics of Monte Carlo series (placeholder: filled in by the statistics work)."""

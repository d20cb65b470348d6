"""Benchmarking detectors on an exported dataset: metrics, built-in detectors, imported scores, runs, reports."""

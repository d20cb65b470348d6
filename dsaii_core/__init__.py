"""DSAII Studio core: every phase of the synthetic-anomaly pipeline, usable without Streamlit."""

__version__ = "0.1.0"

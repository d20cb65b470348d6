"""Object and anomaly masks."""

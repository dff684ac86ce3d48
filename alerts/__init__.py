"""Alerting: fingerprint -> decide (pure) -> render (pure) -> deliver -> record."""

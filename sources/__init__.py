"""Ports to what the canary reads (warehouse, IAM policies) and their adapters."""

"""Ports to what the canary reads (warehouse, IAM policies) and their adapters: production clients
(BigQuery, Cloud Run) and the embedded local default (DuckDB, JSON files). sources/tables.py names
every table the SQL reads.
"""

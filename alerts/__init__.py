"""Alerting: decide (pure) -> message (what to say) -> render (how Slack or a console shows it) ->
deliver (claim, send, record) through a Notifier, with the notification records in a StateStore.

Imports only core: alerts know findings and records, never monitors or sources.
"""

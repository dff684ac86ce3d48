"""The names of the monitors that other layers name in rules (alerts/causes.py): each monitor module's
NAME is its constant here, so a rename moves the rules with it (tests/alerts/test_causes_names.py)."""

ORCHESTRATOR_IAM = "orchestrator_iam"
PUSH_DELIVERY = "push_delivery"
PHASE_STALLS = "phase_stalls"
MISSING_PREDICTIONS = "missing_predictions"

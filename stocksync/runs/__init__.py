"""Runs and their units: the request spec, planning, the ledger, execution, finalisation
and steering."""

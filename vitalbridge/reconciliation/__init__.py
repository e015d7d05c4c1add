"""Reconciliation: finding and repairing what eventual consistency broke."""

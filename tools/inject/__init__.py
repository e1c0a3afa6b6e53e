"""Fault injection (SPEC section 8): fault types, triggers, campaigns, reports."""

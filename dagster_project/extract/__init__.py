"""Extraction: landing files → raw.*, quarantine.* and the batch log (audit.load_batches)."""

"""Publication: the BI contract, publish decisions, the versioned writer and atomic replacement."""

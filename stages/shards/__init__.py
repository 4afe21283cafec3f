"""The shards stage: versioned, deterministic WebDataset datasets built from the ledger."""

"""Curation stages: plain functions over batches of clips, never importing Prefect."""

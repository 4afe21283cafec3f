"""Prefect flows and the `cradle` CLI: wiring only, the one package that imports Prefect."""

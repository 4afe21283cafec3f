"""File formats shared by stages, model and review UI: tracks, fits, spools, shards, cards."""

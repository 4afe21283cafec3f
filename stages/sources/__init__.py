"""The sources stage: segment and URL lists read, labels selected, clips registered."""

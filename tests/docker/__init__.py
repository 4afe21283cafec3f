"""The container files (Dockerfiles, compose, prefect.yaml) agree with the project."""

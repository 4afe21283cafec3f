"""Times the offline demo corpus generation (target: under 60 s on 2 cores) and a no-op re-run.

Usage: .venv/bin/python bench/demo_corpus.py [--workers 2] [--seed 0]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

from demo.corpus import generate_corpus

log = logging.getLogger("bench.demo_corpus")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with tempfile.TemporaryDirectory(prefix="cradle-bench-") as tmp:
        out = Path(tmp)
        started = time.perf_counter()
        index = generate_corpus(out, seed=args.seed, workers=args.workers)
        first = time.perf_counter() - started
        started = time.perf_counter()
        generate_corpus(out, seed=args.seed, workers=args.workers)
        second = time.perf_counter() - started
        seconds = sum(c["duration_s"] for c in index["clips"])
    log.info("generated %d clips (%.0f s of media) in %.1f s with %d workers; re-run %.2f s",
             len(index["clips"]), seconds, first, args.workers, second)


if __name__ == "__main__":
    main()

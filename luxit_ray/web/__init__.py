"""People in the loop: the review page for native speakers and the blind model arena.

Two small FastAPI apps with Jinja templates and a plain-JavaScript front end (no build step),
served by uvicorn:

- ``review_app``: ``luxit review serve RUN_DIR`` scores the review sample pair by pair; every
  answer is an fsync'd line in ``RUN_DIR/review/web/answers.jsonl`` and each reviewer's latest
  answers are also an importable sheet (``RUN_DIR/review/web/sheet-<name>.jsonl``).
- ``arena_app``: ``luxit arena serve RUN_DIR`` shows two models' answers to one prompt side by
  side, blind; votes go to ``RUN_DIR/arena/votes.jsonl`` (see ``luxit_ray.arena``).
- ``server``: what both share: the durable append log, the token check and the uvicorn launch.
"""

"""``asr serve``: a transcription server (FastAPI + uvicorn) and a page to try a model in the browser."""

from asr.serve.service import RequestError, ServeLimits, TranscriptionService

__all__ = ["RequestError", "ServeLimits", "TranscriptionService"]

"""Server stage: the HTTP API (FastAPI) and the one-page web app that drive generation."""

from tunesmith.server.app import GenerateRequest, create_app, serve
from tunesmith.server.jobs import JobQueue, JobSpec, ServerConfig

__all__ = ["GenerateRequest", "JobQueue", "JobSpec", "ServerConfig", "create_app", "serve"]

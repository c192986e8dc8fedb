"""Server-rendered web pages for the people who use OneVisit (Chinese first, English one click away)."""

from gateway.web.routes import router

__all__ = ["router"]

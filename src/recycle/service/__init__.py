"""The HTTP service (Model-as-a-Service): a thin FastAPI shell over the library.

``create_app(settings, zoo=None)`` builds the app; ``recycle serve`` runs it with uvicorn;
``recycle keys create|list|revoke`` manages API keys. See :mod:`recycle.service.app`.
"""

from recycle.service.app import create_app
from recycle.service.config import Settings

__all__ = ["Settings", "create_app"]

"""``python -m ml_service``: serve the ML service on ``HOST``:``PORT`` (default 0.0.0.0:8080)."""

from clarity_common.serve import serve
from clarity_common.settings import ServiceSettings
from ml_service import SERVICE_NAME

serve("ml_service.main:app", ServiceSettings, SERVICE_NAME)

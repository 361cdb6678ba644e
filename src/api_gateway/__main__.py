"""``python -m api_gateway``: serve the gateway on ``HOST``:``PORT`` (default 0.0.0.0:8080)."""

from api_gateway import SERVICE_NAME
from api_gateway.settings import GatewaySettings
from clarity_common.serve import serve

serve("api_gateway.main:app", GatewaySettings, SERVICE_NAME)

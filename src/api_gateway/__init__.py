"""The Clarity API gateway: health, HealthKit ingestion, and the proxy to the ML service."""

SERVICE_NAME = "api-gateway"

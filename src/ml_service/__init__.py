"""The Clarity ML service: explainable, rule-based analysis of HealthKit samples."""

SERVICE_NAME = "ml-service"

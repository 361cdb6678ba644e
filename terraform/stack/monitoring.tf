# What every environment shows: the log-based metrics on the delivery library's deployment
# entries and the environment's dashboard. Metrics and dashboards cost nothing until used,
# so dev has them too.
module "observability" {
  source      = "../modules/observability"
  project_id  = var.settings.project_id
  environment = var.settings.environment
  depends_on  = [google_project_service.api]
}

# Alerts, where settings.json turns monitoring on (they need the notification channel).
module "monitoring" {
  source             = "../modules/monitoring"
  count              = var.settings.monitoring_enabled ? 1 : 0
  project_id         = var.settings.project_id
  notification_email = var.alert_notification_email
  deployment_metric  = module.observability.deployment_metrics.deployments
  services = {
    for key, service in local._services : key => {
      location = var.settings.region
      name     = service.name
    }
  }
  # The alert on deployment entries needs its log-based metric to exist.
  depends_on = [google_project_service.api, module.api_gateway, module.ml_service, module.observability]
}

module "monitoring" {
  source             = "../modules/monitoring"
  count              = var.settings.monitoring_enabled ? 1 : 0
  project_id         = var.settings.project_id
  notification_email = var.alert_notification_email
  services = {
    for key, service in local._services : key => {
      location = var.settings.region
      name     = service.name
    }
  }
  depends_on = [google_project_service.api, module.api_gateway, module.ml_service]
}
